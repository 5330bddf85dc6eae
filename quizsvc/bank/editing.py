"""Editing cards and authored questions of a loaded bank: validation, field diffs, retiring,
and the bank that results from the stored edits.

An edit is checked by the same code as ``quizsvc bank validate``: the deck it lands in is
written to a temporary directory, with the edited item exactly as given, and loaded with
:func:`quizsvc.bank.loader.validate_bank`. What that reports (the schema, the semantic rules,
duplicate ids and prompts) is what an edit over the API is refused for, field by field.

Plain data in, plain data out: nothing here knows about Flask or the database.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from quizsvc.bank.loader import DECK_FILE, QUESTIONS_DIR, Problem, validate_bank
from quizsvc.bank.model import AuthoredQuestion, Bank, Card, Deck
from quizsvc.bank.writer import card_document

CARD = "card"
QUESTION = "question"
KINDS = (CARD, QUESTION)
#: The version a card or question read from the YAML bank has before its first edit.
BANK_FILE_VERSION = 1
#: Fields that place an item rather than describe it: set at creation, never changed.
FIXED_FIELDS = ("id", "deck")
#: The pseudo-field a retirement changes in a version's diff.
RETIRED_FIELD = "retired"
_STAGED_PLACE = re.compile(r" \((?:first defined at )?[^()]*\.yaml:\d+\)")
_ITEM_FIELD = re.compile(r"^(?:questions|cards)\[\d+\]\.?(.*)$")


class EditRejected(Exception):
    """The edit breaks a rule of the bank; ``errors`` maps each field to its messages."""

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        self.errors = {field: list(messages) for field, messages in errors.items()}
        fields = ", ".join(self.errors)
        super().__init__(f"The {_plural(len(self.errors), 'field')} {fields} would break the bank")


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


@dataclass(frozen=True)
class EditedItem:
    """A card or question as staff last saved it (its whole ``to_dict`` form)."""

    kind: str
    id: str
    data: Mapping[str, Any]
    version: int
    retired: bool


def effective_bank(base: Bank, edits: Iterable[EditedItem]) -> Bank:
    """``base`` (the YAML bank) with the stored edits applied: an edited item replaces the
    bank's in place, a created one follows the bank's items in the order given, a retired
    one stays readable but is no longer drawn."""
    cards_by_id: dict[str, EditedItem] = {}
    questions_by_id: dict[str, EditedItem] = {}
    for item in edits:
        (cards_by_id if item.kind == CARD else questions_by_id)[item.id] = item
    cards = [
        Card.from_dict(cards_by_id[card.id].data) if card.id in cards_by_id else card
        for card in base.cards
    ]
    known_cards = {card.id for card in base.cards}
    cards += [
        Card.from_dict(item.data) for item in cards_by_id.values() if item.id not in known_cards
    ]
    questions = [
        AuthoredQuestion.from_dict(questions_by_id[question.id].data)
        if question.id in questions_by_id
        else question
        for question in base.questions
    ]
    known_questions = {question.id for question in base.questions}
    questions += [
        AuthoredQuestion.from_dict(item.data)
        for item in questions_by_id.values()
        if item.id not in known_questions
    ]
    retired = frozenset(
        item.id for item in (*cards_by_id.values(), *questions_by_id.values()) if item.retired
    )
    return Bank(base.decks, tuple(cards), tuple(questions), retired=base.retired | retired)


def field_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: {"before": old, "after": new}}`` for each field whose value changed (a
    creation: every field that has a value)."""
    previous = before or {}
    changes: dict[str, Any] = {}
    for name in dict.fromkeys([*previous, *after]):
        old, new = previous.get(name), after.get(name)
        if old == new or (before is None and new in (None, [])):
            continue
        changes[name] = {"before": old, "after": new}
    return changes


def merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of the top-level fields: a given field replaces the current value,
    ``null`` clears it. ``id`` and ``deck`` cannot change."""
    errors = {
        name: [f"cannot be changed (it is {current[name]!r})"]
        for name in FIXED_FIELDS
        if name in changes and changes[name] != current.get(name)
    }
    if errors:
        raise EditRejected(errors)
    return {**current, **changes}


def check_card(bank: Bank, raw: Mapping[str, Any], *, replacing: str | None = None) -> Card:
    """The card ``raw`` describes, as the loader reads it, if the bank with it (in place of
    card ``replacing``, or added) passes ``bank validate``; else :class:`EditRejected`."""
    deck = _deck_of(bank, raw)
    staged = _StagedItem(CARD, raw, replacing)
    loaded = _validated(bank, deck, staged)
    card = loaded.get(str(raw["id"]))
    assert card is not None, "a card without problems is loaded"
    return card


def check_question(
    bank: Bank, raw: Mapping[str, Any], *, replacing: str | None = None
) -> AuthoredQuestion:
    """As :func:`check_card`, for an authored question."""
    deck = _deck_of(bank, raw)
    staged = _StagedItem(QUESTION, raw, replacing)
    loaded = _validated(bank, deck, staged)
    return loaded.question(str(raw["id"]))


def _deck_of(bank: Bank, raw: Mapping[str, Any]) -> Deck:
    """The deck an item goes to: the directory of its files, so it must exist already."""
    deck_id = raw.get("deck")
    if deck_id is None:
        raise EditRejected({"deck": ["is required"]})
    deck = bank.decks.get(deck_id) if isinstance(deck_id, str) else None
    if deck is None:
        raise EditRejected(
            {"deck": [f"{deck_id!r} is not a deck; the decks are: {', '.join(bank.decks)}"]}
        )
    return deck


@dataclass(frozen=True)
class _StagedItem:
    kind: str
    raw: Mapping[str, Any]
    #: The id of the item this one replaces (an edit); None for a new one.
    replacing: str | None

    @property
    def id(self) -> Any:
        return self.raw.get("id")

    def document(self) -> dict[str, Any]:
        """The item as written in its file: placed by its file, so without deck and topic;
        a cleared field (``null``) is left out, as a person editing the YAML would."""
        return {
            name: value
            for name, value in self.raw.items()
            if name not in ("deck", "topic") and value is not None
        }


def _validated(bank: Bank, deck: Deck, staged: _StagedItem) -> Bank:
    """Load the deck with ``staged`` in it from a temporary directory; raise
    :class:`EditRejected` with every problem the loader reports."""
    errors: dict[str, list[str]] = {}
    item_id = staged.id
    # Ids are unique across the whole bank, retired items and other decks included; the
    # staged deck holds only this deck's items that are still drawn.
    if (
        isinstance(item_id, str)
        and item_id != staged.replacing
        and _id_taken_outside(bank, deck, item_id)
    ):
        errors.setdefault("id", []).append(
            f"{item_id!r} is already used by a retired card or question, or in another deck"
        )
    with tempfile.TemporaryDirectory(prefix="quizsvc-edit-") as directory:
        deck_dir = Path(directory) / deck.id
        _write_staged_deck(bank, deck, staged, deck_dir)
        loaded, problems = validate_bank(deck_dir)
    for problem in problems:
        field, message = _field_message(problem, staged)
        errors.setdefault(field, []).append(message)
    if errors:
        raise EditRejected(errors)
    return loaded


def _id_taken_outside(bank: Bank, deck: Deck, item_id: str) -> bool:
    """Whether ``item_id`` is used where the staged deck does not show it (the loader finds
    duplicates among the deck's drawn items itself)."""
    card = bank.get(item_id)
    decks = [question.deck for question in bank.questions if question.id == item_id]
    if card is not None:
        decks.append(card.deck)
    return bool(decks) and (item_id in bank.retired or any(d != deck.id for d in decks))


def _field_message(problem: Problem, staged: _StagedItem) -> tuple[str, str]:
    """The field a loader problem names, and its message; a problem the edit causes in
    another item (the same prompt as the edited card) names that item."""
    field = problem.field or "body"
    # A question file's schema errors name the field from the file down: the staged item
    # is the only one that can have them.
    within = _ITEM_FIELD.match(field)
    if within:
        field = within.group(1) or "body"
    # The loader names an item without a usable id by its place ("#3"); only the staged
    # item can lack one.
    own = (
        problem.card_id is None
        or problem.card_id == staged.id
        or (not isinstance(staged.id, str) and problem.card_id.startswith("#"))
    )
    # Where the loader found it is a file of the temporary copy: meaningless to the caller.
    message = _STAGED_PLACE.sub("", problem.message)
    if own:
        return field, message
    return field, f"{problem.card_id}: {message}"


def _write_staged_deck(bank: Bank, deck: Deck, staged: _StagedItem, deck_dir: Path) -> None:
    """The deck's files as ``bank validate`` reads them, ``staged`` last in its topic's file
    (a topic the deck has no file for yet gets a file of its own)."""
    deck_dir.mkdir()
    (deck_dir / QUESTIONS_DIR).mkdir()
    # The item being replaced is left out; ``staged`` takes its place below.
    kept_cards = [
        card
        for card in bank.select(deck.id)
        if not (staged.kind == CARD and card.id == staged.replacing)
    ]
    kept_questions = [
        question
        for question in bank.select_questions(deck.id)
        if not (staged.kind == QUESTION and question.id == staged.replacing)
    ]
    cards = [card_document(card) for card in kept_cards]
    card_topics: list[Any] = [card.topic for card in kept_cards]
    questions = [_question_document(question) for question in kept_questions]
    question_topics: list[Any] = [question.topic for question in kept_questions]
    deck_document: dict[str, Any] = {"deck": deck.id, "title": deck.title}
    if deck.description:
        deck_document["description"] = deck.description
    if deck.source:
        deck_document["source"] = deck.source
    if deck.topics:
        deck_document["topics"] = dict(deck.topics)
    if deck.glossary:
        deck_document["glossary"] = dict(deck.glossary)
    if deck.synonyms:
        deck_document["synonyms"] = [list(group) for group in deck.synonyms]
    _dump(deck_dir / DECK_FILE, deck_document)

    staged_topic = staged.raw.get("topic")
    if staged.kind == CARD:
        cards.append(staged.document())
        card_topics.append(staged_topic)
    else:
        questions.append(staged.document())
        question_topics.append(staged_topic)
    for number, (topic, documents) in enumerate(_by_topic(card_topics, cards)):
        _dump(deck_dir / f"topic-{number}.yaml", _topic_file(topic, "cards", documents))
    for number, (topic, documents) in enumerate(_by_topic(question_topics, questions)):
        _dump(
            deck_dir / QUESTIONS_DIR / f"topic-{number}.yaml",
            _topic_file(topic, "questions", documents),
        )


def _by_topic(
    topics: Sequence[Any], documents: Sequence[dict[str, Any]]
) -> list[tuple[Any, list[dict[str, Any]]]]:
    groups: dict[str, tuple[Any, list[dict[str, Any]]]] = {}
    for topic, document in zip(topics, documents, strict=True):
        # repr: a topic given with the wrong type (a number, a list) gets a file of its own
        # and the loader names it.
        groups.setdefault(repr(topic), (topic, []))[1].append(document)
    return list(groups.values())


def _topic_file(topic: Any, key: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
    # A missing topic stays missing, so the loader says "topic: is required".
    return {"topic": topic, key: documents} if topic is not None else {key: documents}


def _question_document(question: AuthoredQuestion) -> dict[str, Any]:
    return {
        name: value
        for name, value in question.to_dict().items()
        if name not in ("deck", "topic") and value is not None and value != []
    }


def _dump(path: Path, document: Mapping[str, Any]) -> None:
    path.write_text(
        yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
