"""Write cards as a deck directory (``deck.yaml`` + one ``<topic>.yaml`` per topic).

The deck is staged in a hidden directory beside its destination, validated there with the
same loader the service uses, and only then moved into place, so a failed write leaves
nothing half-written in the bank.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import yaml

from quizsvc.bank.loader import DECK_FILE, QUESTIONS_DIR, BankError, Problem, validate_bank
from quizsvc.bank.model import AuthoredQuestion, Card, Deck

#: Order of the keys of a card in a topic file; empty optional fields are left out.
CARD_KEY_ORDER = (
    "id",
    "prompt",
    "answer",
    "term",
    "key_points",
    "accept",
    "short_answers",
    "misconceptions",
    "explanation",
    "tags",
    "difficulty",
    "source_note",
)
#: Order of the keys of an authored question in a questions file.
QUESTION_KEY_ORDER = (
    "id",
    "type",
    "difficulty",
    "stem",
    "select",
    "options",
    "explanation",
    "tags",
    "sources",
)
YAML_WIDTH = 100


class DeckWriteError(Exception):
    """The deck could not be written; the bank was left as it was."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class DeckExistsError(DeckWriteError):
    """The deck directory exists and replacing it was not asked for."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"deck directory {path} already exists")
        self.path = path


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists, as the hand-written bank files are."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Multi-line text reads best as a literal block; PyYAML falls back to quoting by itself
    # when the text cannot be written that way (trailing spaces, control characters).
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump(document: dict[str, Any]) -> str:
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=YAML_WIDTH,
    )


def card_document(card: Card) -> dict[str, Any]:
    """A card as it appears in a topic file: deck and topic come from the files around it."""
    values = card.to_dict()
    document: dict[str, Any] = {}
    for key in CARD_KEY_ORDER:
        value = values[key]
        if value is None or value == []:
            continue
        document[key] = value
    return document


def question_document(question: AuthoredQuestion) -> dict[str, Any]:
    """An authored question as it appears in a questions file, empty optional fields left out."""
    values = question.to_dict()
    return {
        key: values[key]
        for key in QUESTION_KEY_ORDER
        if values[key] is not None and values[key] != []
    }


def topic_file_name(topic: str) -> str:
    # A topic named "deck" must not overwrite deck.yaml; the loader does not care about
    # topic file names, so any other name works.
    name = f"{topic}.yaml"
    return f"topic-{name}" if name == DECK_FILE else name


def render_deck_file(deck: Deck, topics: Sequence[str]) -> str:
    document: dict[str, Any] = {"deck": deck.id, "title": deck.title}
    if deck.description:
        document["description"] = deck.description
    if deck.source:
        document["source"] = deck.source
    document["topics"] = {topic: deck.topic_title(topic) for topic in topics}
    if deck.glossary:
        document["glossary"] = dict(deck.glossary)
    if deck.synonyms:
        document["synonyms"] = [list(group) for group in deck.synonyms]
    return _dump(document)


def render_topic_file(deck: Deck, topic: str, cards: Sequence[Card]) -> str:
    header = f"# {deck.topic_title(topic)}\n# Part of the {deck.id} deck.\n"
    body = _dump({"topic": topic, "cards": [card_document(card) for card in cards]})
    # A blank line before each card, as in the hand-written files. Only a card starts a line
    # with exactly two spaces and "- ": deeper lists and block text are indented further.
    body = body.replace("\n  - ", "\n\n  - ")
    return header + body


def deck_files(
    deck: Deck, cards: Sequence[Card], questions: Sequence[AuthoredQuestion] = ()
) -> dict[str, str]:
    """File name -> YAML text of every file of the deck directory, topics in card order;
    authored questions go to ``questions/<topic>.yaml``."""
    by_topic: dict[str, list[Card]] = {}
    for card in cards:
        if card.deck != deck.id:
            raise ValueError(f"card {card.id} belongs to deck {card.deck!r}, not {deck.id!r}")
        by_topic.setdefault(card.topic, []).append(card)
    questions_by_topic: dict[str, list[AuthoredQuestion]] = {}
    for question in questions:
        if question.deck != deck.id:
            raise ValueError(
                f"question {question.id} belongs to deck {question.deck!r}, not {deck.id!r}"
            )
        questions_by_topic.setdefault(question.topic, []).append(question)
    # Topics the deck declares without cards (those of its authored questions) stay declared.
    topics = list(dict.fromkeys([*by_topic, *questions_by_topic, *deck.topics]))
    files = {DECK_FILE: render_deck_file(deck, topics)}
    for topic, topic_cards in by_topic.items():
        files[topic_file_name(topic)] = render_topic_file(deck, topic, topic_cards)
    for topic, topic_questions in questions_by_topic.items():
        document = {
            "topic": topic,
            "questions": [question_document(question) for question in topic_questions],
        }
        files[f"{QUESTIONS_DIR}/{topic}.yaml"] = (
            f"# {deck.topic_title(topic)}: authored questions\n# Part of the {deck.id} deck.\n"
            + _dump(document).replace("\n  - ", "\n\n  - ")
        )
    return files


def write_deck(
    deck: Deck,
    cards: Sequence[Card],
    bank_dir: Path,
    *,
    force: bool = False,
    taken_ids: Collection[str] = (),
    questions: Sequence[AuthoredQuestion] = (),
) -> Path:
    """Write ``cards`` (and authored ``questions``) as the deck directory
    ``bank_dir/<deck.id>`` and return its path.

    ``taken_ids`` are card and question ids used by the bank's other decks; a clash is
    refused because ids must be unique across the bank. An existing deck directory is
    replaced only with ``force``. Raises :class:`DeckWriteError` (with the loader's
    problems, if any) and then leaves ``bank_dir`` untouched.
    """
    if not cards and not questions:
        raise DeckWriteError(f"deck {deck.id} has no cards to write")
    own_ids = {card.id for card in cards} | {question.id for question in questions}
    clashes = sorted(own_ids & set(taken_ids))
    if clashes:
        raise DeckWriteError(
            f"card id(s) already used by another deck in {bank_dir}: {', '.join(clashes)}"
        )
    files = deck_files(deck, cards, questions)
    target = bank_dir / deck.id
    if target.exists() and not force:
        raise DeckExistsError(target)
    if target.exists() and not target.is_dir():
        raise DeckWriteError(f"{target} exists and is not a directory")

    bank_dir.mkdir(parents=True, exist_ok=True)
    # The staging directory is hidden (the loader skips dot-directories) and on the same file
    # system as the target, so the final move is a rename.
    staging = Path(tempfile.mkdtemp(prefix=f".{deck.id}-", suffix=".tmp", dir=bank_dir))
    try:
        staged_deck = staging / deck.id
        staged_deck.mkdir()
        for name, text in files.items():
            (staged_deck / name).parent.mkdir(exist_ok=True)
            (staged_deck / name).write_text(text, encoding="utf-8")
        _, problems = validate_bank(staged_deck)
        if problems:
            raise DeckWriteError(str(BankError(problems)), problems)
        if target.exists():
            previous = staging / "previous"
            os.replace(target, previous)
            try:
                os.replace(staged_deck, target)
            except OSError:
                os.replace(previous, target)
                raise
        else:
            os.replace(staged_deck, target)
    except OSError as exc:
        raise DeckWriteError(f"cannot write deck {deck.id} to {bank_dir}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
