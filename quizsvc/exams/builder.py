"""Exams from the card bank: a blueprint in, questions in two views out.

``build_exam`` drafts every question each in-scope card can make (a card that cannot make a
good question of a kind is simply not eligible for it), assigns distinct cards to the
requested question slots at random, settles the drafts into one consistent exam (no option
may show what a fill-in or free-answer question of the same exam asks for), then shuffles
options and numbers the questions.

Everything random flows from the blueprint's seed through ``random.Random`` instances seeded
with sha256 digests (never ``hash()``, which is salted per process) and every collection is
iterated in a fixed order, so the same bank, blueprint and seed give byte-identical JSON in
any process.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import random
import re
import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any, TypeVar, overload

from quizsvc.bank.model import AuthoredQuestion, Card
from quizsvc.bank.synonyms import DeckGlossary, synonym_groups
from quizsvc.embedding.base import Encoder
from quizsvc.exams.cloze import BLANK, STOP_WORDS, FillIn, make_fill_in, word_rarity
from quizsvc.exams.distractors import (
    BRACKETED_REMARK,
    NOTHING_TO_AVOID,
    Avoid,
    CandidatePool,
    ChoicePlan,
    DistractorConfig,
    OptionSource,
    PhraseIndex,
    Rejection,
    Selector,
    SimilarityTable,
    Target,
    answer_forms,
    bracketed,
    compact,
    convergent_key,
    echoes_prompt,
    excluded_by_count,
    item_register,
    key_is_superset,
    list_length,
    mentions,
    misconception_sources,
    names_a_word_of,
    odd_frame,
    opposite_twin,
    overlaps,
    paired_key,
    shares_opening,
    term_forms,
    words,
)
from quizsvc.exams.kinds import (
    LIST_TAG,
    RECALL_ONLY_TAG,
    AnswerKind,
    OptionKind,
    answer_option_kind,
    term_option_kind,
)
from quizsvc.exams.model import DeliveredQuestion, Option, Question, QuestionKey, QuestionType
from quizsvc.exams.names import (
    glossary_variants,
    merged_glossary,
    names_answer,
    shows_name,
    spelled_out,
    spellings,
)

DIFFICULTIES = ("easy", "medium", "hard")
#: Seeds drawn when the blueprint has none; small enough to type back in.
SEED_RANGE = 2**32
_Remembered = TypeVar("_Remembered")
_OPTION_LABELS = "ABCDEFGHIJ"
_COUNT_WORDS = ("", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE", "TEN")
#: A prompt that asks for an order cannot be asked as "select N".
_ORDERED = re.compile(r"\bin (?:the )?(?:right |correct )?order\b", re.IGNORECASE)
#: The prompt of a reverse question, before the definition it shows.
REVERSE_PROMPT = "Which term matches this description?"
#: "What does the XGBoost hyperparameter lambda do?": whose hyperparameter the card asks about.
_HYPERPARAMETER_OWNER = re.compile(r"\bthe ((?:[A-Z][\w\-]*\s)+hyperparameter)\b")
#: Longest key point of a non-list card offered as a multiple-response wrong option.
MAX_ITEM_WORDS = 4
#: An open question's answer this short ("TN", "GPU") is everyday vocabulary of the deck, not a
#: give-away when it appears in another question.
MIN_SECRET_LENGTH = 4
#: Key points of an open question with at least this many words may not appear elsewhere.
MIN_SECRET_POINT_WORDS = 3
#: A misconception that lists several things ("Bagging and stacking") is no single item.
_LISTED = re.compile(r"[,;:]|\b(?:and|or|only|not|but)\b", re.IGNORECASE)
#: A misconception that qualifies its list ("Regression only; ...", "CNN ... but not text")
#: says more than which items it names: its parts are not read as named items.
_QUALIFIED = re.compile(
    r"[;:]|->|\b(?:only|not|but|cannot|no|although|because|instead|without)\b", re.IGNORECASE
)
_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.IGNORECASE)


def _listed_parts(text: str) -> list[str]:
    """The items a plain list misconception names ("subsample, eta, gamma, l1 and wd"),
    split at top-level commas, "and" and "or" (never inside brackets); none for a
    misconception that qualifies its list."""
    if _QUALIFIED.search(text):
        return []
    marked, depth = [], 0
    for char in text.strip().rstrip("."):
        depth += char == "("
        depth -= char == ")"
        marked.append("\0" if char == "," and depth == 0 else char)
    joined = "".join(marked)
    # " and "/" or " at top level only: blank out bracketed text while searching.
    flat = re.sub(r"\([^()]*\)", lambda m: "_" * len(m.group()), joined)
    cuts = [m.span() for m in re.finditer(r"\s+(?:and|or)\s+", flat)]
    for start, end in reversed(cuts):
        joined = joined[:start] + "\0" + joined[end:]
    parts = (_ARTICLE.sub("", part.strip()) for part in joined.split("\0"))
    return [part for part in parts if part]


_STATED_COUNT = re.compile(r"\b(two|three|four|five|six|seven|eight|nine|ten)\b", re.IGNORECASE)


class QuestionKind(StrEnum):
    """What a blueprint asks for; reverse multiple choice is delivered as multiple choice."""

    MULTIPLE_CHOICE = "multiple_choice"
    REVERSE_MULTIPLE_CHOICE = "reverse_multiple_choice"
    MULTIPLE_RESPONSE = "multiple_response"
    FILL_IN = "fill_in"
    FREE_ANSWER = "free_answer"

    @property
    def question_type(self) -> QuestionType:
        return _QUESTION_TYPES[self]

    @property
    def is_choice(self) -> bool:
        return self in _CHOICE_KINDS


_CHOICE_KINDS = frozenset(
    {
        QuestionKind.MULTIPLE_CHOICE,
        QuestionKind.REVERSE_MULTIPLE_CHOICE,
        QuestionKind.MULTIPLE_RESPONSE,
    }
)


#: Looked up once per question of every build: a dict, not an enum lookup by value.
_QUESTION_TYPES = {
    kind: QuestionType.MULTIPLE_CHOICE
    if kind is QuestionKind.REVERSE_MULTIPLE_CHOICE
    else QuestionType(kind.value)
    for kind in QuestionKind
}


class BlueprintError(ValueError):
    """The blueprint cannot be used with this bank (unknown deck or topic, bad count)."""


@dataclass(frozen=True)
class Blueprint:
    """What an exam is made of. ``topics`` empty means every topic of the deck(s)."""

    counts: Mapping[QuestionType, int] = field(default_factory=dict)
    #: Reverse multiple-choice questions (show a definition, pick the term).
    reverse: int = 0
    #: Authored scenario questions (the bank's questions/), beside the generated ones.
    scenario: int = 0
    deck: str | None = None
    topics: tuple[str, ...] = ()
    difficulty: str | None = None
    seed: int | None = None
    #: Wrong options per multiple-choice question.
    distractors: int = DistractorConfig.count

    def __post_init__(self) -> None:
        counts: dict[QuestionType, int] = {}
        known = {question_type.value for question_type in QuestionType}
        unknown = [str(kind) for kind in self.counts if str(kind) not in known]
        if unknown:
            raise BlueprintError(
                f"unknown question type(s) {', '.join(unknown)}; use {', '.join(sorted(known))}"
            )
        given = {QuestionType(kind): count for kind, count in self.counts.items()}
        for question_type in QuestionType:
            counts[question_type] = given.get(question_type, 0)
        for name, count in [
            *((str(t), n) for t, n in counts.items()),
            ("reverse", self.reverse),
            ("scenario", self.scenario),
        ]:
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise BlueprintError(f"the number of {name} questions must be >= 0, got {count!r}")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "topics", tuple(dict.fromkeys(self.topics)))
        if self.difficulty is not None and self.difficulty not in DIFFICULTIES:
            raise BlueprintError(
                f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {self.difficulty!r}"
            )
        if not 1 <= self.distractors < len(_OPTION_LABELS):
            raise BlueprintError(
                f"distractors must be between 1 and {len(_OPTION_LABELS) - 1}, "
                f"got {self.distractors}"
            )
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise BlueprintError(f"seed must be a non-negative integer, got {self.seed!r}")

    def requested(self) -> dict[QuestionKind, int]:
        """Questions asked for per kind, in exam order; kinds not asked for are left out."""
        wanted = {kind: self.counts[kind.question_type] for kind in QuestionKind}
        wanted[QuestionKind.REVERSE_MULTIPLE_CHOICE] = self.reverse
        return {kind: count for kind, count in wanted.items() if count}

    @property
    def total(self) -> int:
        return sum(self.requested().values()) + self.scenario

    def to_dict(self) -> dict[str, Any]:
        return {
            "deck": self.deck,
            "topics": list(self.topics),
            "counts": {question_type.value: n for question_type, n in self.counts.items()},
            "reverse": self.reverse,
            "scenario": self.scenario,
            "difficulty": self.difficulty,
            "seed": self.seed,
            "distractors": self.distractors,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Blueprint:
        return cls(
            counts={QuestionType(kind): n for kind, n in (data.get("counts") or {}).items()},
            reverse=data.get("reverse", 0),
            scenario=data.get("scenario", 0),
            deck=data.get("deck"),
            topics=tuple(data.get("topics") or ()),
            difficulty=data.get("difficulty"),
            seed=data.get("seed"),
            distractors=data.get("distractors", DistractorConfig.count),
        )


@dataclass(frozen=True)
class Exam:
    """A built exam. Its blueprint carries the seed that rebuilds it."""

    blueprint: Blueprint
    questions: tuple[Question, ...]

    def delivery_dict(self) -> dict[str, Any]:
        """What a learner receives: only :class:`DeliveredQuestion` data, no key."""
        return {
            "blueprint": self.blueprint.to_dict(),
            "questions": [question.delivery.to_dict() for question in self.questions],
        }

    def key_dict(self) -> dict[str, Any]:
        """For grading and review: each question as delivered, with its key."""
        return {
            "blueprint": self.blueprint.to_dict(),
            "questions": [
                {"question": question.delivery.to_dict(), "key": question.key.to_dict()}
                for question in self.questions
            ],
        }

    def key_for(self, question_id: str) -> QuestionKey:
        for question in self.questions:
            if question.id == question_id:
                return question.key
        raise KeyError(question_id)


class InsufficientQuestionsError(Exception):
    """The bank cannot give the questions asked for.

    ``available`` maps each question kind to the number of in-scope cards per topic that
    can make such a question; ``usable_together`` is how many of the requested questions
    could be built at once with distinct cards.
    """

    def __init__(
        self,
        scope: str,
        requested: Mapping[QuestionKind, int],
        available: Mapping[QuestionKind, Mapping[str, int]],
        usable_together: int,
    ) -> None:
        self.scope = scope
        self.requested = dict(requested)
        self.available = {kind: dict(topics) for kind, topics in available.items()}
        self.usable_together = usable_together
        lines = [f"not enough questions in the bank for {scope}:"]
        for kind in self.requested:
            by_topic = self.available.get(kind, {})
            total = sum(by_topic.values())
            asked = self.requested[kind]
            detail = ", ".join(f"{topic} {n}" for topic, n in by_topic.items() if n) or "none"
            marker = "  <- too many" if asked > total else ""
            lines.append(f"  {kind.value}: asked for {asked}, {total} available ({detail}){marker}")
        asked_total = sum(self.requested.values())
        if all(self.requested[kind] <= sum(self.available[kind].values()) for kind in requested):
            lines.append(
                f"  each kind alone is available, but a card appears only once per exam: "
                f"at most {usable_together} of the {asked_total} questions can be built together"
            )
        super().__init__("\n".join(lines))


def check_blueprint(
    cards: Iterable[Card], blueprint: Blueprint, authored: Sequence[AuthoredQuestion] = ()
) -> None:
    """Raise :class:`BlueprintError` if the blueprint names what the bank does not have."""
    if blueprint.deck is not None or blueprint.topics:
        _check_names(list(cards), blueprint, authored)
    if blueprint.total == 0:
        raise BlueprintError(
            "the blueprint asks for no questions: give a count for at least one question type"
        )


def _check_names(
    cards: list[Card], blueprint: Blueprint, authored: Sequence[AuthoredQuestion]
) -> None:
    """The deck and topics the blueprint names are in the bank (a scan of every card, so
    only when it names some)."""
    decks = sorted({card.deck for card in cards} | {question.deck for question in authored})
    if blueprint.deck is not None and blueprint.deck not in decks:
        raise BlueprintError(
            f"unknown deck {blueprint.deck!r}; the bank has: {', '.join(decks) or 'no decks'}"
        )
    known = list(
        dict.fromkeys(
            [
                *(card.topic for card in cards),
                *(question.topic for question in authored),
            ]
            if blueprint.deck is None
            else [
                *(card.topic for card in cards if card.deck == blueprint.deck),
                *(question.topic for question in authored if question.deck == blueprint.deck),
            ]
        )
    )
    unknown = [topic for topic in blueprint.topics if topic not in known]
    if unknown:
        raise BlueprintError(
            f"unknown topic(s) {', '.join(unknown)}; known topics: {', '.join(known)}"
        )


def build_exam(
    bank_cards: Iterable[Card],
    blueprint: Blueprint,
    bank_encoder: Encoder,
    config: DistractorConfig | None = None,
    authored: Sequence[AuthoredQuestion] = (),
    question_card_ids: Iterable[str] | None = None,
    glossaries: Mapping[str, Mapping[str, str]] | None = None,
    suppressed_distractors: Mapping[str, Iterable[str]] | None = None,
) -> Exam:
    """Build the exam ``blueprint`` describes from ``bank_cards`` (and, for its scenario
    count, from the ``authored`` questions).

    ``question_card_ids`` narrows the cards questions are asked about (a personal practice
    exam of the cards a learner should review); distractors still come from every card of
    the deck.

    ``glossaries`` maps a deck to its glossary (``Bank.glossary``), which extends the
    grader's default one: a reverse question never shows its term's abbreviation or
    expansion, and a fill-in accepts both.

    ``suppressed_distractors`` maps a card id to option texts an instructor took out of its
    questions (``quizsvc.statistics``: dead or wrongly discriminating distractors); they are
    applied when the exam is settled, after the drafts, so drafts stay independent of them.

    ``bank_encoder`` should be a cached encoder: every bank text it is given is encoded once.
    Raises :class:`BlueprintError` for an unusable blueprint and
    :class:`InsufficientQuestionsError` when the bank cannot give what is asked.
    """
    cards, source = _sorted_cards(bank_cards)
    check_blueprint(cards, blueprint, authored)
    seed = blueprint.seed if blueprint.seed is not None else secrets.randbelow(SEED_RANGE)
    blueprint = replace(blueprint, seed=seed)
    config = replace(config or DistractorConfig(), count=blueprint.distractors)
    if not blueprint.requested():
        return Exam(blueprint=blueprint, questions=authored_questions(authored, blueprint, 1))

    asked = None if question_card_ids is None else frozenset(question_card_ids)
    scope = _scope(cards, source, blueprint, asked)
    decks = _decks(scope)
    drafter = _drafter_for(
        _deck_cards(cards, source, scope, decks),
        bank_encoder,
        config,
        {deck: _merged((glossaries or {}).get(deck)) for deck in sorted(decks)},
    ).for_seed(seed)
    requested = blueprint.requested()
    scope_ids = tuple([card.id for card in scope])
    drafts = {kind: drafter.eligible(kind, scope, scope_ids) for kind in requested}
    drafter.prepare(drafts)

    preferred = {kind: by_card.preferred for kind, by_card in drafts.items()}
    clashes = _Clashes(drafts, drafter)
    excluded: set[tuple[QuestionKind, str]] = set()
    for attempt in range(len(scope) * len(requested) + 1):
        eligible = {
            kind: [card_id for card_id in by_card if (kind, card_id) not in excluded]
            if excluded
            else list(by_card.ids)
            for kind, by_card in drafts.items()
        }
        slots, usable = _assign(
            requested,
            eligible,
            _rng(seed, "assign", str(attempt)),
            preferred,
            clashes,
        )
        if slots is None:
            available = {
                kind: _per_topic(
                    scope,
                    drafts.get(kind) or drafter.eligible(kind, scope),
                    excluded,
                    kind,
                )
                for kind in QuestionKind
            }
            raise InsufficientQuestionsError(_describe(blueprint), requested, available, usable)
        final = _settle(
            slots,
            drafts,
            drafter,
            excluded,
            _rng(seed, "spare", str(attempt)),
            _suppressed_by_card(suppressed_distractors),
        )
        if final is not None:
            # One generator shuffles every question's options, in question order: seeding
            # one per question (sha256 and a Mersenne Twister each) was a sixth of a build.
            shuffler = _rng(seed, "options")
            questions = tuple(
                _finalize(f"q{number}", draft, shuffler) for number, draft in enumerate(final, 1)
            )
            scenarios = authored_questions(authored, blueprint, len(questions) + 1)
            return Exam(blueprint=blueprint, questions=questions + scenarios)
    raise AssertionError("every retry removes a candidate, so the loop ends before this")


def _settle(
    slots: Sequence[tuple[QuestionKind, str]],
    drafts: Mapping[QuestionKind, _Eligible],
    drafter: _Drafter,
    excluded: set[tuple[QuestionKind, str]],
    rng: random.Random,
    suppressed: Mapping[str, frozenset[str]] | None = None,
) -> list[_Draft] | None:
    """The drafts of the assigned slots, made consistent as one exam: no option shows what a
    fill-in or free-answer question of the exam asks for, and no text is a wrong option in
    more than ``max_option_reuse`` questions (later questions are redrafted without it;
    questions with the fewest candidates of their kind and topic come first, so that those
    with many adapt). A choice question that cannot be redrafted gives its slot to another
    card of its kind not yet in the exam (preferred cards first, in ``rng`` order). When
    none fits, a (kind, card) pair goes into ``excluded`` and None asks for a new
    assignment. ``suppressed`` (card id -> compact option texts) takes an instructor's
    suppressed distractors out of their card's questions the same way."""
    suppressed = suppressed or {}
    asked_open = {card_id: kind for kind, card_id in slots if not kind.is_choice}
    asked_answers: dict[str, tuple[QuestionKind, str]] = {}
    for card_id, kind in asked_open.items():
        for secret in drafter.secrets(drafts[kind][card_id]):
            asked_answers.setdefault(secret, (kind, card_id))
    avoid = Avoid(cards=frozenset(asked_open), texts=tuple(asked_answers), index=drafter.phrases)
    # Each answer asked (in compact form, as mentions() compares), with the open question
    # that asks it first: what revealed() finds by set lookups instead of a scan.
    asked_needles: dict[str, tuple[int, tuple[QuestionKind, str]]] = {}
    for rank, (secret, pair) in enumerate(asked_answers.items()):
        asked_needles.setdefault(compact(secret), (rank, pair))
    settled: dict[int, _Draft] = {}
    uses: Counter[str] = Counter()
    #: The texts of ``uses`` at the reuse cap, kept as they get there.
    overused: set[str] = set()
    in_exam = {card_id for _, card_id in slots}
    # Cards whose texts settled questions show as wrong options: asking one of them too
    # would let a learner read one question's answer off another.
    shown_as_wrong: set[str] = set()
    spares: dict[QuestionKind, _Shuffled] = {}

    def revealed(draft: _Draft) -> tuple[QuestionKind, str] | None:
        """The open question whose answer this choice question's right side shows."""
        # The first answer asked (in asked_answers' order) that a shown text mentions.
        found = [
            asked_needles[needle]
            for needle in drafter.shown_phrases(draft)
            if needle in asked_needles
        ]
        return min(found)[1] if found else None

    # What fit() avoids, per cards in the exam and reuse-capped texts (by count: both sets
    # only grow) and suppressed texts: Avoid indexes its answers when made, so each is made
    # once.
    avoiding: dict[tuple[int, int, frozenset[str]], Avoid] = {}

    def limits_for(cards: frozenset[str] | set[str], taken_out: frozenset[str]) -> Avoid:
        limit_key = (len(cards), len(overused), taken_out)
        limits = avoiding.get(limit_key)
        if limits is None:
            limits = replace(
                avoid, cards=frozenset(cards), overused=frozenset(overused), suppressed=taken_out
            )
            avoiding[limit_key] = limits
        return limits

    def fit(draft: _Draft, strict: bool = True) -> _Draft | None:
        """The draft, or a redraft of its card without what the exam rules out: no wrong
        option from an open question's card, none stating its answer, none at the reuse cap,
        none suppressed. ``strict``: none from any other card the exam asks about either: a
        choice question's key offered as another's wrong option, or two sibling questions
        swapping options, tells a learner both answers (review 15, round 5). Only when
        neither a strict redraft nor a strict spare card exists (a large exam of a small
        topic) is a question asked with such options."""
        taken_out = suppressed.get(draft.card.id, frozenset())
        ruled_out = bool(
            draft.sources & avoid.cards
            or drafter.wrong_reveals(draft, avoid)
            or not draft.wrong_compact.isdisjoint(overused)
            or not draft.wrong_compact.isdisjoint(taken_out)
        )
        if strict:
            if not ruled_out and (draft.sources - {draft.card.id}).isdisjoint(in_exam):
                return draft
            return drafter.draft(draft.kind, draft.card, limits_for(in_exam, taken_out))
        if not ruled_out:
            return draft
        return drafter.draft(draft.kind, draft.card, limits_for(avoid.cards, taken_out))

    def spare(kind: QuestionKind, strict: bool = True) -> _Draft | None:
        """Another card of ``kind`` for a slot whose card cannot be asked (``strict``: none
        that a settled question shows as a wrong option, and fitted strictly)."""
        if kind not in spares:
            by_card = drafts[kind]
            best = [card_id for card_id in by_card if card_id in by_card.preferred]
            rest = [card_id for card_id in by_card if card_id not in by_card.preferred]
            spares[kind] = _Shuffled(rng, best, rest)
        for card_id in spares[kind]:
            if card_id in in_exam or (kind, card_id) in excluded:
                continue
            if strict and card_id in shown_as_wrong:
                continue
            if revealed(drafts[kind][card_id]) is None:
                fitted = fit(drafts[kind][card_id], strict)
                if fitted is not None:
                    in_exam.add(card_id)
                    return fitted
        return None

    order = sorted(
        range(len(slots)),
        key=lambda index: drafter.room(slots[index][0], drafts[slots[index][0]][slots[index][1]]),
    )
    for index in order:
        kind, card_id = slots[index]
        draft = drafts[kind][card_id]
        if kind.is_choice:
            shows = revealed(draft)
            if shows is not None:
                # The right answer here answers an open question: that question must go.
                excluded.add(shows)
                return None
            fitted = (
                fit(draft) or spare(kind) or fit(draft, strict=False) or spare(kind, strict=False)
            )
            if fitted is None:
                excluded.add((kind, card_id))
                return None
            draft = fitted
            shown_as_wrong.update(draft.sources - {draft.card.id})
            for text in draft.wrong_compact:
                uses[text] += 1
                if uses[text] >= drafter.config.max_option_reuse:
                    overused.add(text)
        settled[index] = draft
    return [settled[index] for index in range(len(slots))]


def _shown(draft: _Draft) -> tuple[str, ...]:
    """What a choice question shows as right: its right options, and a reverse question's
    definition (in its prompt)."""
    if draft.kind is QuestionKind.REVERSE_MULTIPLE_CHOICE:
        return (*draft.right, draft.prompt)
    return draft.right


class _Clashes:
    """Whether a card would clash with the slots an assignment has filled so far: a choice
    question whose right side shows what an open question (fill-in, free answer) asks for.

    :func:`_settle` would find the clash and exclude the open question from the exam, then
    ask for a new assignment; an average 65-question build did that 17 times, each a new
    shuffle of every eligible card. Passing over the card while assigning costs set
    lookups (the answers' and the options' phrases are indexed once per drafter)."""

    def __init__(self, drafts: Mapping[QuestionKind, _Eligible], drafter: _Drafter) -> None:
        self.drafts = drafts
        self.drafter = drafter
        self._needles: dict[tuple[QuestionKind, str], frozenset[str]] = {}
        self._shown: dict[tuple[QuestionKind, str], frozenset[str]] = {}
        self._state: object = None
        # What the slots filled so far ask for and show, as of the first ``_seen`` of them
        # in the list ``_filled``: a greedy pass only appends, so each is added once.
        self._filled: object = None
        self._seen = 0
        self._asked: set[str] = set()
        self._showing: set[str] = set()

    def needles(self, kind: QuestionKind, card_id: str) -> frozenset[str]:
        """What the open question asks for, in compact form."""
        pair = (kind, card_id)
        found = self._needles.get(pair)
        if found is None:
            found = self._needles[pair] = self.drafter.needles(self.drafts[kind][card_id])
        return found

    def shown(self, kind: QuestionKind, card_id: str) -> frozenset[str]:
        """The indexed phrases the choice question shows as right."""
        pair = (kind, card_id)
        found = self._shown.get(pair)
        if found is None:
            found = self._shown[pair] = self.drafter.shown_phrases(self.drafts[kind][card_id])
        return found

    def __call__(
        self, filled: Sequence[tuple[QuestionKind, str]], kind: QuestionKind, card_id: str
    ) -> bool:
        asked = self.needles(kind, card_id) if not kind.is_choice else frozenset()
        state = self.drafter.phrases.state
        if state is not self._state or filled is not self._filled or len(filled) < self._seen:
            # New phrases were indexed (what a text mentions may have grown), or this is
            # another assignment: start over.
            self._shown.clear()
            self._state, self._filled, self._seen = state, filled, 0
            self._asked.clear()
            self._showing.clear()
        for pair in filled[self._seen :]:
            if pair[0].is_choice:
                self._showing.update(self.shown(*pair))
            else:
                self._asked.update(self.needles(*pair))
        self._seen = len(filled)
        if self.drafter.phrases.state is not state:
            # needles() above indexed new phrases: judge this one from scratch.
            return self(filled, kind, card_id)
        if kind.is_choice:
            return not self._asked.isdisjoint(self.shown(kind, card_id))
        return not asked.isdisjoint(self._showing)


def _suppressed_by_card(
    suppressed: Mapping[str, Iterable[str]] | None,
) -> dict[str, frozenset[str]]:
    return {
        card_id: frozenset(map(compact, texts)) for card_id, texts in (suppressed or {}).items()
    }


def _secrets(draft: _Draft) -> list[str]:
    """What an open question asks for, as far as another question could show it: accepted
    answers, the reference and its longer key points; short or prompt-given texts excluded."""
    card = draft.card
    if draft.kind is QuestionKind.FILL_IN:
        texts = list(draft.accept)
    else:
        texts = [card.answer, *card.accept]
        texts += [point for point in card.key_points if len(words(point)) >= MIN_SECRET_POINT_WORDS]
    return [
        text
        for text in dict.fromkeys(texts)
        if len(text.strip()) >= MIN_SECRET_LENGTH and not mentions(card.prompt, text)
    ]


def bank_texts(cards: Iterable[Card]) -> list[str]:
    """Every card text that exams and grading embed, each once, in a fixed order: prompts,
    answers and their accepted forms, key points, misconceptions (wrong options of their
    card), terms and the parts of "name (expansion)" terms. Encoding these once warms the
    embedding cache for every exam build."""
    texts: dict[str, None] = {}
    for card in sorted(cards, key=lambda card: card.id):
        texts.update(dict.fromkeys((card.prompt, *answer_forms(card), *card.key_points)))
        texts.update(dict.fromkeys(source.text for source in misconception_sources(card)))
        if card.term:
            texts.update(dict.fromkeys(term_forms(card.term)))
    return list(texts)


#: The bank's cards in id order and the scopes of recent blueprints, per card tuple (the
#: bank's ``cards``, the same object from build to build; kept alive by the entry, so its
#: id is not reused while it is a key).
_SORTED_CACHE_SIZE = 64
_sorted: OrderedDict[tuple[Any, ...], tuple[object, list[Card]]] = OrderedDict()


def _cached_cards(
    key: tuple[Any, ...], pinned: object, make: Callable[[], list[Card]]
) -> list[Card]:
    found = _sorted.get(key)
    if found is not None and found[0] is pinned:
        return found[1]
    made = make()
    with _drafters_lock:
        _sorted[key] = (pinned, made)
        while len(_sorted) > _SORTED_CACHE_SIZE:
            _sorted.popitem(last=False)
    return made


def _sorted_cards(bank_cards: Iterable[Card]) -> tuple[list[Card], tuple[Card, ...] | None]:
    """The cards in id order (a cached list: not to be changed), and the tuple they came
    from when it can key later lookups (None for any other iterable)."""
    if not isinstance(bank_cards, tuple):
        return sorted(bank_cards, key=lambda card: card.id), None
    cards = bank_cards
    key = ("sorted", id(cards))
    return _cached_cards(key, cards, lambda: sorted(cards, key=lambda card: card.id)), cards


def _scope(
    cards: list[Card],
    source: tuple[Card, ...] | None,
    blueprint: Blueprint,
    asked: frozenset[str] | None,
) -> list[Card]:
    """The cards questions are asked about, in id order (remembered per blueprint scope
    when the cards came from a tuple)."""

    def make() -> list[Card]:
        return [
            card
            for card in cards
            if _in_scope(card, blueprint) and (asked is None or card.id in asked)
        ]

    if source is None:
        return make()
    key = ("scope", id(source), blueprint.deck, blueprint.topics, blueprint.difficulty, asked)
    return _cached_cards(key, source, make)


def _decks(scope: list[Card]) -> set[str]:
    return {card.deck for card in scope}


def _deck_cards(
    cards: list[Card], source: tuple[Card, ...] | None, scope: list[Card], decks: set[str]
) -> list[Card]:
    """The cards of the scope's decks, in id order (remembered per scope when the cards came
    from a tuple: the scope list is then itself remembered, and pinned by the entry)."""

    def make() -> list[Card]:
        return [card for card in cards if card.deck in decks]

    if source is None:
        return make()
    return _cached_cards(("decks", id(scope)), scope, make)


def _in_scope(card: Card, blueprint: Blueprint) -> bool:
    return (
        (blueprint.deck is None or card.deck == blueprint.deck)
        and (not blueprint.topics or card.topic in blueprint.topics)
        and (blueprint.difficulty is None or card.difficulty == blueprint.difficulty)
    )


def _describe(blueprint: Blueprint) -> str:
    parts = [f"deck {blueprint.deck}" if blueprint.deck else "all decks"]
    parts.append(f"topics {', '.join(blueprint.topics)}" if blueprint.topics else "all topics")
    if blueprint.difficulty:
        parts.append(f"difficulty {blueprint.difficulty}")
    return ", ".join(parts)


def _per_topic(
    scope: Sequence[Card],
    drafts: Mapping[str, _Draft],
    excluded: set[tuple[QuestionKind, str]],
    kind: QuestionKind,
) -> dict[str, int]:
    counts = {card.topic: 0 for card in scope}
    for card_id, draft in drafts.items():
        if (kind, card_id) not in excluded:
            counts[draft.card.topic] += 1
    return counts


def _rng(seed: int, *parts: str) -> random.Random:
    """An independent, reproducible stream per purpose (and per card where it matters)."""
    digest = hashlib.sha256(":".join((str(seed), *parts)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class _Shuffled(Sequence[str]):
    """A random order of ``first`` then of ``then``, drawn only as far as it is read (a
    Fisher-Yates shuffle done step by step): a build reads a few dozen of each kind's
    hundreds of eligible cards, and shuffling them all was a fifth of a cached build."""

    def __init__(self, rng: random.Random, first: Sequence[str], then: Sequence[str] = ()):
        self._draw = rng.random
        self._items = [*first, *then]
        #: Where the second group starts: its cards are drawn only after the first's.
        self._split = len(first)
        self._drawn = 0

    def _upto(self, count: int) -> None:
        items, draw = self._items, self._draw
        for position in range(self._drawn, min(count, len(items))):
            end = self._split if position < self._split else len(items)
            # int(random() * n) rather than randrange(n): a third of the cost; the bias is
            # below n / 2**53.
            other = position + int(draw() * (end - position))
            items[position], items[other] = items[other], items[position]
            self._drawn = position + 1

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            self._upto(len(self._items))
            return self._items[index]
        if index < 0:
            index += len(self._items)
        if index >= self._drawn:
            self._upto(index + 1)
        return self._items[index]

    def __iter__(self) -> Iterator[str]:
        position = 0
        while position < len(self._items):
            if position >= self._drawn:
                self._upto(position + 1)
            yield self._items[position]
            position += 1


def _assign(
    requested: Mapping[QuestionKind, int],
    eligible: Mapping[QuestionKind, Sequence[str]],
    rng: random.Random,
    preferred: Mapping[QuestionKind, frozenset[str]] | None = None,
    clashes: Callable[[Sequence[tuple[QuestionKind, str]], QuestionKind, str], bool] | None = None,
) -> tuple[list[tuple[QuestionKind, str]] | None, int]:
    """Distinct cards for every requested slot, drawn at random, and the number of slots that
    could be filled. Greedy in a shuffled order first, ``preferred`` cards before the others,
    passing over a card that ``clashes`` with the slots filled so far (it would show an
    answer another question asks for); a slot left empty then takes a card from another
    slot that can move (an augmenting path), so the only failure is a real one."""
    slots = [kind for kind, count in requested.items() for _ in range(count)]
    order: dict[QuestionKind, _Shuffled] = {}
    for kind in requested:
        first = (preferred or {}).get(kind)
        if first is None:
            order[kind] = _Shuffled(rng, eligible[kind])
        else:
            best = [card_id for card_id in eligible[kind] if card_id in first]
            rest = [card_id for card_id in eligible[kind] if card_id not in first]
            order[kind] = _Shuffled(rng, best, rest)
    holder: dict[str, int] = {}
    taken: list[str | None] = [None] * len(slots)
    filled_so_far: list[tuple[QuestionKind, str]] = []
    # Where each kind's greedy pass goes on: a card passed over stays out for the later
    # slots of its kind (it stays held, and what clashes only grows as slots fill).
    reached = dict.fromkeys(requested, 0)
    for slot, kind in enumerate(slots):
        cards = order[kind]
        position = reached[kind]
        while position < len(cards):
            card_id = cards[position]
            position += 1
            if card_id not in holder and (
                clashes is None or not clashes(filled_so_far, kind, card_id)
            ):
                holder[card_id], taken[slot] = slot, card_id
                filled_so_far.append((kind, card_id))
                break
        reached[kind] = position

    def augment(slot: int, visited: set[str]) -> bool:
        for card_id in order[slots[slot]]:
            if card_id in visited:
                continue
            visited.add(card_id)
            current = holder.get(card_id)
            if current is None or augment(current, visited):
                holder[card_id], taken[slot] = slot, card_id
                return True
        return False

    for slot in range(len(slots)):
        if taken[slot] is None:
            augment(slot, set())
    filled = [(kind, card_id) for kind, card_id in zip(slots, taken, strict=True) if card_id]
    return (filled if len(filled) == len(slots) else None), len(filled)


@dataclass(frozen=True)
class _Draft:
    """A question before numbering and shuffling."""

    kind: QuestionKind
    card: Card
    prompt: str
    #: Correct option texts (choice kinds).
    right: tuple[str, ...] = ()
    wrong: tuple[OptionSource, ...] = ()
    accept: tuple[str, ...] = ()
    answer: str = ""
    select: int | None = None
    #: Assigned before cards that are not (see DistractorConfig.preferred_same_topic).
    preferred: bool = True

    # Cached: a seed-free draft is the same object in every build that asks its card, and
    # settling and finalizing look these up once or more per question and build.
    @cached_property
    def sources(self) -> frozenset[str]:
        return frozenset(source.card.id for source in self.wrong)

    @cached_property
    def wrong_compact(self) -> frozenset[str]:
        """The wrong options' texts in compact form (as reuse and suppression count them)."""
        return frozenset(compact(source.text) for source in self.wrong)

    @cached_property
    def entries(self) -> tuple[tuple[str, str, bool, str], ...]:
        """The options before shuffling: text, source card id, right or not, rationale."""
        card = self.card
        right = _right_rationale(card)
        return (
            *((text, card.id, True, right) for text in self.right),
            *(
                (
                    source.text,
                    source.card.id,
                    False,
                    source.rationale or _wrong_rationale(source.card),
                )
                for source in self.wrong
            ),
        )


#: Kinds whose draft of a card no seed changes (multiple response draws its shown items,
#: fill-in its blank among equals).
_SEED_FREE_KINDS = frozenset(
    {
        QuestionKind.MULTIPLE_CHOICE,
        QuestionKind.REVERSE_MULTIPLE_CHOICE,
        QuestionKind.FREE_ANSWER,
    }
)

#: Scopes (the cards a blueprint asks about) whose eligible cards a drafter remembers.
ELIGIBLE_CACHE_SIZE = 64
#: Candidates judged ahead per choice question beyond the wrong options it needs: about
#: what the other questions of a large exam rule out (its open questions' cards and
#: answers, options at the reuse cap).
PREPARED_CANDIDATES = 8


class _Eligible(Mapping[str, "_Draft"]):
    """Card id -> draft of the eligible cards, in scope order; drafts made on first use."""

    def __init__(
        self,
        ids: tuple[str, ...],
        preferred: frozenset[str],
        make: Callable[[str], _Draft | None],
        cards: Mapping[str, Card],
        made: dict[str, _Draft] | None = None,
        known: frozenset[str] | None = None,
    ) -> None:
        self.ids = ids
        self.preferred = preferred
        self._make = make
        self._cards = cards
        self._known = known if known is not None else frozenset(ids)
        #: Drafts made so far: this build's, or (``made``) those of every build, where no
        #: seed changes them.
        self._made = {} if made is None else made

    def __getitem__(self, card_id: str) -> _Draft:
        made = self._made.get(card_id)
        if made is None:
            if card_id not in self._known:
                raise KeyError(card_id)
            draft = self._make(card_id)
            assert draft is not None, f"{card_id} was eligible"
            made = self._made[card_id] = draft
        return made

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, card_id: object) -> bool:
        return card_id in self._known

    def card(self, card_id: str) -> Card:
        return self._cards[card_id]


def _option_key(options: Sequence[OptionSource]) -> tuple[tuple[str, str, bool], ...]:
    """What tells chosen wrong options apart, for remembering what follows from them."""
    return tuple((option.text, option.card.id, option.is_misconception) for option in options)


#: Drafters of recent builds (see :func:`_drafter_for`): one per deck set, card versions,
#: model, distractor settings and glossaries in use.
DRAFTER_CACHE_SIZE = 16
_drafters: OrderedDict[tuple[Any, ...], tuple[tuple[Card, ...], _Drafter]] = OrderedDict()
_drafters_lock = threading.Lock()


def _merged(glossary: Mapping[str, str] | None) -> DeckGlossary:
    """:func:`merged_glossary`, made once per glossary content (every build asks for it)."""
    if not glossary:
        return _merged_content((), ())
    return _merged_content(tuple(sorted(glossary.items())), synonym_groups(glossary))


@lru_cache(maxsize=32)
def _merged_content(
    entries: tuple[tuple[str, str], ...], groups: tuple[tuple[str, ...], ...]
) -> DeckGlossary:
    return merged_glossary(DeckGlossary(dict(entries), groups) if entries or groups else None)


def _drafter_for(
    deck_cards: Sequence[Card],
    encoder: Encoder,
    config: DistractorConfig,
    glossaries: Mapping[str, Mapping[str, str]],
) -> _Drafter:
    """The seed-free drafter of these cards, made once and reused by later builds.

    The similarity table, the candidate pools and every draft that no seed changes depend
    only on the cards (their whole content: an edited card is a new version and a new
    key), the model (its fingerprint), the distractor settings and the glossaries, so those
    are the key. Suppressed distractors are not: they are applied when an exam is settled,
    after the drafts. Looked up first by the cards' identities (the bank's cards are the
    same objects from build to build; the entry keeps them alive, so an id is never
    reused while it is a key), then by their content.
    """
    # The synonym groups too: they change fill-in accept lists, so a deck glossary with
    # groups and a plain one with the same abbreviations are different drafters (sharing
    # one made a build depend on which came first in the process).
    glossary_key = tuple(
        (deck, tuple(sorted(terms.items())), synonym_groups(terms))
        for deck, terms in glossaries.items()
    )
    settings = (encoder.fingerprint, config, glossary_key)
    by_identity = (*settings, tuple(map(id, deck_cards)))
    with _drafters_lock:
        found = _drafters.get(by_identity)
        if found is not None:
            _drafters.move_to_end(by_identity)
            return found[1]
    pinned = tuple(deck_cards)
    by_content = (*settings, pinned)
    with _drafters_lock:
        found = _drafters.get(by_content)
    drafter = found[1] if found is not None else _Drafter(pinned, encoder, config, 0, glossaries)
    with _drafters_lock:
        for key in (by_content, by_identity):
            _drafters[key] = (pinned, drafter)
            _drafters.move_to_end(key)
        while len(_drafters) > DRAFTER_CACHE_SIZE:
            _drafters.popitem(last=False)
    return drafter


class _FillInChoices(Exception):
    """Raised by :class:`_RecordingRandom`: the blanks ``make_fill_in`` would choose among."""

    def __init__(self, options: Sequence[Any]) -> None:
        super().__init__("fill-in choices")
        self.options = tuple(options)


class _RecordingRandom(random.Random):
    """Stands in for the seeded generator of ``make_fill_in``, which calls ``choice`` once,
    last, among equally good blanks: instead of choosing, it hands them all back, so the
    seed-free work (finding blanks) is cached and only the choice is made per exam. Any
    other use of the generator fails loudly rather than going unseeded."""

    def choice(self, seq: Any) -> Any:
        raise _FillInChoices(seq)

    def random(self) -> float:
        raise AssertionError("make_fill_in drew from its generator other than by choice()")

    def getrandbits(self, k: int) -> int:
        raise AssertionError("make_fill_in drew from its generator other than by choice()")


class _Drafter:
    """Drafts questions; holds the similarity table of the decks in scope.

    One drafter serves every build of the same cards (:func:`_drafter_for`): drafts that no
    seed changes are kept in ``_memo``, and :meth:`for_seed` gives a build its own seed
    over the same tables and memo.
    """

    #: How many drafts judged per set of wrong options are kept.
    per_set_capacity = 16_384

    def __init__(
        self,
        deck_cards: Sequence[Card],
        encoder: Encoder,
        config: DistractorConfig,
        seed: int,
        glossaries: Mapping[str, Mapping[str, str]],
    ) -> None:
        self.config = config
        self.seed = seed
        self.glossaries = glossaries
        #: Seed-free drafts and draft parts, by (what, kind, card id, and a fill-in's
        #: blank where it matters): bounded by the cards; shared by every
        #: :meth:`for_seed` copy. Values are immutable; a race only computes one twice.
        self._memo: dict[tuple[Any, ...], Any] = {}  # values: what each key's make gives
        #: Drafts and draft parts judged per set of wrong options (see
        #: :meth:`_remembered_per_set`), most recently used last.
        self._per_set: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        #: Eligible card ids and preferred ones per (kind, scope), most recent last.
        self._eligible: OrderedDict[
            tuple[Any, ...],
            tuple[
                tuple[str, ...],
                frozenset[str],
                dict[str, Card],
                dict[str, _Draft] | None,
                frozenset[str],
            ],
        ]
        self._eligible = OrderedDict()
        #: The answers open questions ask for, found in option texts by set lookups.
        self.phrases = PhraseIndex()
        #: :meth:`shown_phrases` by shown texts, with the index state they were found in.
        self._shown_phrases: dict[tuple[str, ...], tuple[object, frozenset[str]]] = {}
        #: Sets of eligible-card lists already prepared (see :meth:`prepare`), most recent
        #: last: bounded, as learners' practice exams each have a scope of their own.
        self._prepared: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        list_items = {card.id: card_list_items(card) for card in deck_cards}
        texts: list[str] = []
        for card in deck_cards:
            texts.append(card.prompt)
            texts.extend(answer_forms(card))
            if card.term:
                texts.extend(term_forms(card.term))
            texts.extend(list_items[card.id])
            texts.extend(source.text for source in misconception_sources(card))
        self.table = SimilarityTable(texts, encoder, config.decimals)
        self.selector = Selector(self.table, config)

        by_deck: dict[str, list[Card]] = {}
        for card in deck_cards:
            by_deck.setdefault(card.deck, []).append(card)
        # Wrong options come only from answers of the key's kind (quizsvc.exams.kinds): an
        # answer of another kind is spotted without knowing anything. Answers are pooled by
        # shape too: a list answer among sentences (or a sentence among lists) is as easy.
        # A list card's items, and a card's named points, have the kind of its answer.
        self.answer_kinds = {card.id: answer_option_kind(card) for card in deck_cards}
        self.term_kinds = {card.id: term_option_kind(card) for card in deck_cards if card.term}
        answers: dict[tuple[str, bool, OptionKind], list[OptionSource]] = {}
        terms: dict[tuple[str, OptionKind], list[OptionSource]] = {}
        # Wrong options of multiple response (review 15: "Handwriting recognition" offered as
        # wrong for CNN uses, "Image classification" for Linear Learner): only items known to
        # be wrong for the card. Those are the items of the other lists of its topic whose
        # answer is of the same kind (DeepAR's required fields for its optional ones, L2's
        # properties for L1's), never another topic's list (CNN uses are not Linear Learner's
        # tasks, but may be true of it) nor a name another card answers with (LeNet-5 was
        # made for handwriting recognition, which is also a CNN use).
        item_sources: dict[tuple[str, str, OptionKind], list[OptionSource]] = {}
        for c in deck_cards:
            kind = self.answer_kinds[c.id]
            answers.setdefault((c.deck, bool(list_items[c.id]), kind), []).append(
                OptionSource(c.answer, c, c.prompt)
            )
            if c.term:
                terms.setdefault((c.deck, self.term_kinds[c.id]), []).append(
                    OptionSource(c.term, c, c.prompt)
                )
            for item in list_items[c.id]:
                item_sources.setdefault((c.deck, c.topic, kind), []).append(
                    OptionSource(item, c, c.prompt)
                )
        self.answers = {key: CandidatePool.of(found, self.table) for key, found in answers.items()}
        self.terms = {key: CandidatePool.of(found, self.table) for key, found in terms.items()}
        # Another topic's item is safe only where the card's author named it in a wrong
        # answer to this very prompt ("l1 and wd are Linear Learner names" for XGBoost's
        # overfitting controls), and it is an item of a list of the same kind elsewhere.
        item_pools: dict[str, CandidatePool] = {}
        for c in deck_cards:
            if not list_items[c.id]:
                continue
            kind = self.answer_kinds[c.id]
            named = {
                compact(part)
                for source in misconception_sources(c)
                for part in _listed_parts(source.text)
            }
            found = [
                source
                for (deck, topic, other_kind), sources in item_sources.items()
                if deck == c.deck and other_kind == kind
                for source in sources
                if source.card.id != c.id
                and (
                    topic == c.topic
                    or any(compact(form) in named for form in term_forms(source.text))
                )
            ]
            item_pools[c.id] = CandidatePool.of(found, self.table)
        self.item_pools = item_pools
        self.no_candidates = CandidatePool.of((), self.table)
        self.list_items = list_items
        self.lists = [card for card in deck_cards if list_items[card.id]]
        self.item_cards: dict[str, set[str]] = {}
        for card_id, items in list_items.items():
            for item in items:
                self.item_cards.setdefault(compact(item), set()).add(card_id)
        self.rarity = {deck: word_rarity(members) for deck, members in by_deck.items()}

    def room(self, kind: QuestionKind, draft: _Draft) -> int:
        """How many candidates of its kind the draft's topic has (none for open questions):
        the fewer, the sooner a wrong option it needs is used up by other questions."""
        return self._remembered("room", kind, draft.card, lambda: self._room(kind, draft.card))

    def _room(self, kind: QuestionKind, card: Card) -> int:
        if kind is QuestionKind.MULTIPLE_CHOICE:
            key = (card.deck, bool(self.list_items[card.id]), self.answer_kinds[card.id])
            pool = self.answers.get(key, self.no_candidates)
        elif kind is QuestionKind.REVERSE_MULTIPLE_CHOICE:
            pool = self.terms.get((card.deck, self.term_kinds[card.id]), self.no_candidates)
        elif kind is QuestionKind.MULTIPLE_RESPONSE:
            pool = self._item_pool(card)
        else:
            return -1
        return sum(topic == card.topic for topic in pool.topics)

    def _item_pool(self, card: Card) -> CandidatePool:
        """Items of other lists known to be wrong for the card: those of its topic's lists
        with answers of its kind, and those its misconceptions name (see ``__init__``)."""
        return self.item_pools.get(card.id, self.no_candidates)

    def _item_misconceptions(self, card: Card) -> tuple[OptionSource, ...]:
        """The card's own misconceptions that read as one item of its list. Most list cards'
        misconceptions are whole wrong lists ("subsample, eta, gamma, l1 and wd"): wrong as a
        whole, while single items of them may be right (subsample controls overfitting), so
        they are never split into items."""
        return tuple(
            source
            for source in misconception_sources(card)
            if len(words(source.text)) <= MAX_ITEM_WORDS and not _LISTED.search(source.text)
        )

    def eligible(
        self, kind: QuestionKind, scope: Sequence[Card], scope_ids: tuple[str, ...] = ()
    ) -> _Eligible:
        """Card id -> draft, for the cards in ``scope`` that make a good question of ``kind``
        (``scope_ids``, where given, are the ids of the scope's cards, in order).

        Which cards are eligible (and preferred) no seed changes, so it is remembered per
        scope; the drafts themselves are made when the build first needs them (a seeded
        draft costs a seeded generator, and most eligible cards are never drawn)."""
        key = (kind.value, scope_ids or tuple([card.id for card in scope]))
        found = self._eligible.get(key)
        if found is None:
            listed, best = [], set()
            for card in scope:
                draft = self.draft(kind, card)
                if draft is not None:
                    listed.append(card.id)
                    if draft.preferred:
                        best.add(card.id)
            by_id = {card.id: card for card in scope}
            # A seed-free kind's drafts are the same in every build: made once for all.
            shared: dict[str, _Draft] | None = {} if kind in _SEED_FREE_KINDS else None
            found = (tuple(listed), frozenset(best), by_id, shared, frozenset(listed))
            with _drafters_lock:
                self._eligible[key] = found
                while len(self._eligible) > ELIGIBLE_CACHE_SIZE:
                    self._eligible.popitem(last=False)
        ids, preferred, by_id, shared, known = found
        return _Eligible(
            ids, preferred, lambda card_id: self.draft(kind, by_id[card_id]), by_id, shared, known
        )

    def prepare(self, drafts: Mapping[QuestionKind, _Eligible]) -> None:
        """Do now the seed-independent work builds of these eligible cards would otherwise
        do as they first meet it, once per set of scopes: index every answer an open
        question can ask for (every blank of a fill-in), find them in every text a choice
        question can show, and judge the best candidates of every choice question beyond
        the ones it takes when nothing is ruled out (an exam rules some out). Later builds
        then only draw at random and look things up (issue 19: a 65-question build within
        10 health requests)."""
        key = tuple(sorted((kind.value, by_card.ids) for kind, by_card in drafts.items()))
        if key in self._prepared:
            with _drafters_lock:
                if key in self._prepared:
                    self._prepared.move_to_end(key)
            return
        texts: list[str] = []
        for kind, by_card in drafts.items():
            for card_id in by_card:
                card = by_card.card(card_id)
                if kind is QuestionKind.FILL_IN:
                    for made in self._fill_in_choices(card):
                        self.phrases.add(self.secrets(_fill_in_draft(card, made)))
                elif kind is QuestionKind.FREE_ANSWER:
                    self.phrases.add(self.secrets(by_card[card_id]))
                else:
                    plan = self._choice_plan(kind, card)
                    if plan is not None:
                        texts.extend(plan.warm(plan.count + PREPARED_CANDIDATES))
                    # Every item a multiple-response question may show as right.
                    texts.extend(self.list_items[card_id])
                    texts.extend(_shown(by_card[card_id]))
        for text in texts:
            self.phrases.found_in(text)
        with _drafters_lock:
            self._prepared[key] = None
            while len(self._prepared) > ELIGIBLE_CACHE_SIZE:
                self._prepared.popitem(last=False)

    def _choice_plan(self, kind: QuestionKind, card: Card) -> ChoicePlan | None:
        if kind is QuestionKind.MULTIPLE_CHOICE:
            return self._remembered("plan", kind, card, lambda: self._multiple_choice_plan(card))
        if kind is QuestionKind.REVERSE_MULTIPLE_CHOICE:
            reverse = self._remembered("plan", kind, card, lambda: self._reverse_plan(card))
            return None if reverse is None else reverse[0]
        response = self._remembered("plan", kind, card, lambda: self._multiple_response_plan(card))
        return None if response is None else response[0]

    def _fill_in_choices(self, card: Card) -> tuple[FillIn, ...]:
        return self._remembered(
            "fill-in", QuestionKind.FILL_IN, card, lambda: self._fill_in_options(card)
        )

    def for_seed(self, seed: int) -> _Drafter:
        """This drafter for one build: the same tables and memo, the build's seed."""
        seeded = copy.copy(self)
        seeded.seed = seed
        return seeded

    def _remembered(
        self,
        what: str,
        kind: QuestionKind,
        card: Card,
        make: Callable[[], _Remembered],
        *detail: Any,
    ) -> _Remembered:
        """What ``make`` gives for (``what``, ``kind``, ``card``, ``detail``), made once: it
        must depend on nothing else (no seed, no exam)."""
        key = (what, kind, card.id, *detail)
        try:
            remembered: _Remembered = self._memo[key]
        except KeyError:
            remembered = self._memo[key] = make()
        return remembered

    def _remembered_per_set(
        self,
        what: str,
        kind: QuestionKind,
        card: Card,
        make: Callable[[], _Remembered],
        wrong: Sequence[OptionSource],
    ) -> _Remembered:
        """:meth:`_remembered` for what depends on a set of wrong options as well: the
        sets an exam's constraints give keep coming (about two a build after a few hundred
        builds), so these are kept apart from the bounded tables, least recently used
        dropped first."""
        key = (what, kind, card.id, *_option_key(wrong))
        per_set = self._per_set
        try:
            remembered: _Remembered = per_set[key]
        except KeyError:
            remembered = per_set[key] = make()
            if len(per_set) > self.per_set_capacity:
                # Another thread may have emptied it meanwhile: losing the race only loses
                # a remembered draft.
                with contextlib.suppress(KeyError):
                    per_set.popitem(last=False)
        else:
            with contextlib.suppress(KeyError):
                per_set.move_to_end(key)
        return remembered

    def secrets(self, draft: _Draft) -> list[str]:
        """:func:`_secrets` of an open draft (a fill-in's depend on its blank)."""
        return self._remembered(
            "secrets", draft.kind, draft.card, lambda: _secrets(draft), draft.accept
        )

    def shown_phrases(self, draft: _Draft) -> frozenset[str]:
        """The indexed phrases a choice draft shows as right (see :func:`_shown`), as of the
        index's present phrases: remembered per shown texts across builds."""
        return self._phrases_in(_shown(draft))

    def _phrases_in(self, texts: tuple[str, ...]) -> frozenset[str]:
        """The indexed phrases ``texts`` mention, as of the index's present phrases:
        remembered per texts across builds."""
        state = self.phrases.state
        found = self._shown_phrases.get(texts)
        if found is None or found[0] is not state:
            found_in = self.phrases.found_in
            found = (state, frozenset().union(*map(found_in, texts)))
            self._shown_phrases[texts] = found
        return found[1]

    def wrong_reveals(self, draft: _Draft, avoid: Avoid) -> bool:
        """Whether a wrong option of the draft states what ``avoid`` asks for (as
        :meth:`Avoid.reveals` of each): one set test against the indexed phrases the wrong
        options mention, remembered per wrong texts as :meth:`shown_phrases` is."""
        if avoid.index is not self.phrases:
            return any(avoid.reveals(option.text) for option in draft.wrong)
        texts = tuple([option.text for option in draft.wrong])
        return not avoid.needles.isdisjoint(self._phrases_in(texts))

    def needles(self, draft: _Draft) -> frozenset[str]:
        """The open draft's secrets in compact form, indexed in :attr:`phrases` (once per
        card and blank: the index only grows, so they stay indexed)."""
        return self._remembered(
            "needles",
            draft.kind,
            draft.card,
            lambda: self.phrases.add(self.secrets(draft)),
            draft.accept,
        )

    def draft(
        self, kind: QuestionKind, card: Card, avoid: Avoid = NOTHING_TO_AVOID
    ) -> _Draft | None:
        if avoid is NOTHING_TO_AVOID and kind in _SEED_FREE_KINDS:
            return self._remembered("draft", kind, card, lambda: self._draft(kind, card, avoid))
        return self._draft(kind, card, avoid)

    def _draft(self, kind: QuestionKind, card: Card, avoid: Avoid) -> _Draft | None:
        if RECALL_ONLY_TAG in card.tags and kind.is_choice:
            return None
        if kind is QuestionKind.MULTIPLE_CHOICE:
            return self._multiple_choice(card, avoid)
        if kind is QuestionKind.REVERSE_MULTIPLE_CHOICE:
            return self._reverse(card, avoid)
        if kind is QuestionKind.MULTIPLE_RESPONSE:
            return self._multiple_response(card, avoid)
        if kind is QuestionKind.FILL_IN:
            return self._fill_in(card)
        return self._free_answer(card)

    def _multiple_choice(self, card: Card, avoid: Avoid) -> _Draft | None:
        kind = QuestionKind.MULTIPLE_CHOICE
        plan = self._remembered("plan", kind, card, lambda: self._multiple_choice_plan(card))
        wrong = None if plan is None else plan.choose(avoid)
        if wrong is None:
            return None
        # The rest depends only on the wrong options chosen.
        return self._remembered_per_set(
            "options", kind, card, lambda: self._multiple_choice_draft(card, wrong), wrong
        )

    def _multiple_choice_plan(self, card: Card) -> ChoicePlan | None:
        right = answer_forms(card)
        kind = self.answer_kinds[card.id]
        if kind.kind is AnswerKind.YES_NO or names_answer(
            card.prompt, right, self.glossaries[card.deck]
        ):
            # A yes/no answer has no wrong counterpart in the bank: the other yes/no answers
            # answer other questions, so they are no "No" to this one.
            return None
        is_list = bool(self.list_items[card.id])
        # An option that states one of the card's key facts is partly right; list answers
        # are the exception, since sibling lists share items by nature and are wrong as a
        # whole.
        facts = () if is_list else card.key_points
        # An option naming the card's own term points straight at itself.
        names = term_forms(card.term) if card.term else ()
        target = Target(
            card,
            right=right,
            guard=(*facts, *names, *self._kinds_of(card, right), card.explanation or ""),
            anchors=(card.answer,),
            context=card.prompt,
            answers_prompt=True,
            lists=is_list,
        )
        pool = self.answers.get((card.deck, is_list, kind), self.no_candidates)
        return self.selector.plan(target, pool, self.config.count, first=self._misconceptions(card))

    def _multiple_choice_draft(self, card: Card, wrong: tuple[OptionSource, ...]) -> _Draft | None:
        key = self._key_of_fair_length(card, wrong)
        if key is None:
            return None
        key, wrong = _in_one_style(key, wrong)
        return _Draft(
            QuestionKind.MULTIPLE_CHOICE,
            card,
            prompt=card.prompt,
            right=(key,),
            wrong=wrong,
            answer=key,
            preferred=self._preferred(card, wrong),
        )

    def _key_of_fair_length(self, card: Card, wrong: Sequence[OptionSource]) -> str | None:
        """The key to show among ``wrong``, or None when every way of showing it gives it
        away: by its length (:meth:`_key_by_length`), by a bracketed remark only it has,
        or by a cue of its words or form (:meth:`_gives_away`)."""
        key = self._key_by_length(card, wrong)
        if key is None:
            return None
        texts = [option.text for option in wrong]
        if bracketed(key) and not any(bracketed(text) for text in texts):
            # Only the key explains itself ("the optimal (correct) solution", "(e.g. a sign
            # anywhere in an image)"; review 15, pattern 3): shown without the remark,
            # unless the remark is a list of values the question is about.
            bare = _without_remarks(key)
            if bare != key and (len(words(bare)) < 2 or overlaps_any(bare, texts)):
                # Without it the key says what a wrong option says: not asked.
                return None
            key = bare
        return None if self._gives_away(card, key, texts) else key

    def _gives_away(self, card: Card, key: str, wrong: Sequence[str]) -> bool:
        """Whether the key is found without knowing the answer (review 15, round 4: 13 of
        30 choice questions too easy): it echoes the prompt's words more than any wrong
        option, a wrong option is its mere opposite, its parts are the options' common
        core or form the only twin pair, it is the one inclusive option among restricted
        ones, the prompt's own count rules a wrong option out, it is a list longer or
        shorter than every wrong one, or the wrong options share a frame it lacks. These
        look at the question's texts alone, so the verdict is remembered with the draft for
        every exam."""
        glossary = self.glossaries[card.deck]
        if self.list_items[card.id]:
            count = list_length(key)
            counts = [list_length(text) for text in wrong]
            if count > max(counts) or count < min(counts):
                return True
        return (
            echoes_prompt(card.prompt, key, wrong, glossary)
            or opposite_twin(key, wrong)
            or convergent_key(key, wrong)
            or paired_key(key, wrong)
            or key_is_superset(key, wrong)
            or excluded_by_count(card.prompt, wrong)
            or odd_frame(key, wrong)
        )

    def _key_by_length(self, card: Card, wrong: Sequence[OptionSource]) -> str | None:
        """The key to show among ``wrong`` by length: the answer, unless it is clearly the
        longest option (a test-wise learner picks the longest); then the card's shorter
        right form nearest the wrong options' length (a short answer, or the answer without
        its bracketed gloss); None when the answer is far the longest and no such form
        fits."""
        longest = max(len(option.text) for option in wrong)
        if len(card.answer) <= self.config.shorten_key_ratio * longest:
            return card.answer
        mean = sum(len(option.text) for option in wrong) / len(wrong)
        glossary = self.glossaries[card.deck]
        shorter = [
            form
            for form in dict.fromkeys((*card.short_answers, _without_gloss(card.answer)))
            if form
            and len(form) <= self.config.shorten_key_ratio * longest
            and len(words(form)) >= 2
            and not names_answer(card.prompt, (form,), glossary)
            and not any(overlaps(form, option.text) for option in wrong)
        ]
        fitting = [form for form in shorter if _reads_like(form, wrong)]
        if fitting:
            texts = [option.text for option in wrong]
            # A form opening like the wrong options ("To prevent overfitting" among three
            # "To ..." sentences) first: one opening otherwise is spotted unread.
            return min(
                fitting,
                key=lambda form: (not shares_opening(form, texts), abs(len(form) - mean), form),
            )
        if shorter:
            # The answer is too long and its short forms read as notes among sentences (or
            # the reverse): every way of asking it gives the key away, so it is not asked.
            return None
        if len(card.answer) > self.config.max_key_length_ratio * longest:
            return None
        return card.answer

    def _reverse(self, card: Card, avoid: Avoid) -> _Draft | None:
        kind = QuestionKind.REVERSE_MULTIPLE_CHOICE
        planned = self._remembered("plan", kind, card, lambda: self._reverse_plan(card))
        if planned is None or card.term is None:
            return None
        plan, definition = planned
        wrong = plan.choose(avoid)
        if wrong is None:
            return None
        # The rest depends only on the wrong options chosen: judged once per set.
        return self._remembered_per_set(
            "options", kind, card, lambda: self._reverse_draft(card, definition, wrong), wrong
        )

    def _reverse_draft(
        self, card: Card, definition: str, wrong: tuple[OptionSource, ...]
    ) -> _Draft | None:
        assert card.term is not None
        if odd_frame(card.term, [option.text for option in wrong]):
            # Three "... topology" terms against "GRU": the key's kind differs by its name
            # alone (review 15, pattern 2).
            return None
        if any(names_a_word_of(option.card.answer, card.term) for option in wrong):
            # A wrong term whose own definition names the key ("Bagging: ... combines them
            # into an ensemble" for Ensemble learning) is a kind of it, so the description
            # fits it too (review 15, pattern 6).
            return None
        # "It sets the L2 regularization term on the weights" is lambda in XGBoost but alpha
        # in scikit-learn: the question names whose hyperparameters it asks about (review 15,
        # round 9 found it ambiguous without).
        owner = _HYPERPARAMETER_OWNER.search(card.prompt)
        heading = REVERSE_PROMPT if owner is None else f"{REVERSE_PROMPT} ({owner.group(1)})"
        return _Draft(
            QuestionKind.REVERSE_MULTIPLE_CHOICE,
            card,
            prompt=f"{heading}\n{definition}",
            right=(card.term,),
            wrong=wrong,
            answer=card.term,
            preferred=self._preferred(card, wrong),
        )

    def _reverse_plan(self, card: Card) -> tuple[ChoicePlan, str] | None:
        """The plan of a reverse question's wrong options and the definition it shows."""
        if not card.term:
            return None
        glossary = self.glossaries[card.deck]
        # The term's every spelling: its parts, glossary abbreviation or expansion, hyphen
        # variants. The definition shows none of them, nor spells one out ("It is a
        # Residual Network" for ResNet).
        forms = spellings((card.term,), glossary)
        definition = _mask(card.answer, forms)
        if definition is None or shows_name(definition, forms, glossary):
            return None
        if any(names_a_word_of(definition, form) for form in forms):
            # "Both a long-term state and a short-term state" for Long Short-Term Memory.
            return None
        target = Target(
            card,
            right=forms,
            guard=(card.answer, *self._kinds_of(card, forms)),
            anchors=(card.term,),
            context=card.prompt,
            meaning=card.answer,
            weigh_length=False,
        )
        pool = self.terms.get((card.deck, self.term_kinds[card.id]), self.no_candidates)
        return self.selector.plan(target, pool, self.config.count), definition

    def _misconceptions(self, card: Card) -> tuple[OptionSource, ...]:
        """The card's own misconceptions: each was written as a wrong answer to this very
        prompt, so it is of the key's kind whatever a classifier of single texts says
        ("Yes, it can only train on CPU instances" for "Is SageMaker XGBoost CPU-only?",
        "Type II error" beside "False positive (FP)")."""
        return misconception_sources(card)

    def _preferred(self, card: Card, wrong: Sequence[OptionSource]) -> bool:
        """Whether enough wrong options come from the card's topic (see
        :attr:`DistractorConfig.preferred_same_topic`)."""
        needed = math.ceil(self.config.preferred_same_topic * len(wrong) - 1e-9)
        return sum(option.card.topic == card.topic for option in wrong) >= needed

    def _kinds_of(self, card: Card, right: Sequence[str]) -> tuple[str, ...]:
        """Items of list cards that enumerate kinds of the right answer: "Name the two common
        variants of the recurrent neural network cell" makes LSTM and GRU also right when
        the question asks for the type of network built for sequences."""
        kinds: list[str] = []
        for listing in self.lists:
            if (
                listing.deck == card.deck
                and listing.id != card.id
                and any(mentions(listing.prompt, form) for form in right)
            ):
                kinds.extend(self.list_items[listing.id])
        return tuple(kinds)

    def _multiple_response(self, card: Card, avoid: Avoid) -> _Draft | None:
        kind = QuestionKind.MULTIPLE_RESPONSE
        planned = self._remembered("plan", kind, card, lambda: self._multiple_response_plan(card))
        if planned is None:
            return None
        plan, select = planned
        # The wrong options need no seed; only which right items are shown does.
        wrong = (
            self._remembered("wrong", kind, card, plan.choose)
            if avoid is NOTHING_TO_AVOID
            else plan.choose(avoid)
        )
        if wrong is None:
            return None
        items = self.list_items[card.id]
        # An item of several lists (learning_rate, epochs) is a safe pick without knowing
        # the algorithm, so it is never shown as a right item (review 15, pattern 5); a
        # prompt that states its count needs them all.
        # An item with a list of values names its owner ("mode (batch_skipgram, skipgram,
        # cbow)" is Word2vec's): not shown as right either, and shown without the list as
        # a wrong item.
        telling, registers_of = self._remembered("telling", kind, card, lambda: self._telling(card))
        if len(telling) < len(items) and _STATED_COUNT.search(card.prompt):
            return None
        select = min(select, len(telling))
        if select < 2:
            return None
        rng = _rng(self.seed, "select", card.id)
        shown = tuple(telling[i] for i in sorted(rng.sample(range(len(telling)), select)))
        wrong, registers, echoing = self._remembered_per_set(
            "items", kind, card, lambda: self._wrong_items(card, wrong), wrong
        )
        if {registers_of[item] for item in shown}.isdisjoint(registers):
            # Right items in prose, wrong ones in code, or right ones instructions ("Use
            # fewer layers") and wrong ones properties ("Sparse weights"): the register
            # alone sorts them (review 15, patterns 2 and 3).
            return None
        if echoing:
            # "Word2vec word embeddings" for Word2vec's downstream tasks: no task, only the
            # prompt's words, so ruled out unread (review 15, pattern 6).
            return None
        return _Draft(
            QuestionKind.MULTIPLE_RESPONSE,
            card,
            prompt=f"{card.prompt} (Select {_COUNT_WORDS[select]}.)",
            right=shown,
            wrong=wrong,
            answer="; ".join(shown),
            select=select,
        )

    def _telling(self, card: Card) -> tuple[tuple[str, ...], dict[str, str]]:
        """The list card's items that may be shown as right, with their registers."""
        telling = tuple(
            [
                item
                for item in self.list_items[card.id]
                if len(self.item_cards.get(compact(item), ())) < self.config.generic_item_cards
                and _without_value_list(item) == item
            ]
        )
        return telling, {item: item_register(item) for item in telling}

    def _wrong_items(
        self, card: Card, wrong: tuple[OptionSource, ...]
    ) -> tuple[tuple[OptionSource, ...], frozenset[str], bool]:
        """A multiple-response question's wrong items as shown (without a value list that
        names their owner), their registers, and whether one is only the prompt's words."""
        shown = tuple(
            option
            if _without_value_list(option.text) == option.text
            else replace(option, text=_without_value_list(option.text))
            for option in wrong
        )
        registers = frozenset(item_register(option.text) for option in shown)
        echoing = any(_echoes_only(card.prompt, option.text) for option in shown)
        return shown, registers, echoing

    def _multiple_response_plan(self, card: Card) -> tuple[ChoicePlan, int] | None:
        """The plan of a multiple-response question's wrong items and how many right items
        it shows, or None when the card makes no such question."""
        items = self.list_items[card.id]
        if (
            len(items) < 2
            or _ORDERED.search(card.prompt)
            or names_answer(card.prompt, items, self.glossaries[card.deck])
        ):
            return None
        stated = _STATED_COUNT.search(card.prompt)
        if stated:
            select = _COUNT_WORDS.index(stated.group(1).upper())
            if select != len(items) or select > self.config.max_correct_responses:
                return None
        else:
            select = min(len(items), self.config.correct_responses)
        forms = tuple(dict.fromkeys(form for item in items for form in term_forms(item)))
        target = Target(
            card,
            right=forms,
            guard=(card.answer, card.explanation or "", *card.accept),
            anchors=items,
            context=card.prompt,
            weigh_length=False,
        )

        def too_generic(candidate: OptionSource) -> Rejection | None:
            holders = self.item_cards.get(compact(candidate.text), set())
            if len(holders) >= self.config.generic_item_cards:
                return Rejection.GENERIC_ITEM
            # "Number of decoder layers" comes from the card about num_layers_decoder.
            if any(mentions(candidate.card.prompt, form) for form in forms):
                return Rejection.ABOUT_ANSWER
            # "Long Short-Term Memory" is an LSTM, so part of "Bidirectional LSTM".
            glossary = self.glossaries[card.deck]
            if any(
                overlaps(variant, form)
                for variant in glossary_variants(candidate.text, glossary)
                for form in forms
            ):
                return Rejection.STATES_ANSWER
            # "Recurrent neural network (RNN)" is the genus of "Bidirectional LSTM": a list
            # of its kinds (the RNN cell variants LSTM and GRU) names a right item's part.
            if any(
                any(mentions(listing.prompt, name) for name in term_forms(candidate.text))
                and any(
                    overlaps(part, form)
                    for item in self.list_items[listing.id]
                    for part in term_forms(item)
                    for form in forms
                )
                for listing in self.lists
                if listing.deck == card.deck and listing.id != card.id
            ):
                return Rejection.STATES_ANSWER
            return None

        # Fewer safe wrong items than needed: the card makes no multiple-response question
        # (choose gives None) rather than fill up with items that may be right.
        plan = self.selector.plan(
            target,
            self._item_pool(card),
            self.config.response_distractors,
            extra=too_generic,
            first=self._item_misconceptions(card),
        )
        return plan, select

    def _fill_in_options(self, card: Card) -> tuple[FillIn, ...]:
        """The fill-ins ``make_fill_in`` chooses among with the seed (none, one or more)."""
        try:
            made = make_fill_in(
                card, _RecordingRandom(), self.rarity[card.deck], self.glossaries[card.deck]
            )
        except _FillInChoices as choices:
            return choices.options
        return () if made is None else (made,)

    def _fill_in(self, card: Card) -> _Draft | None:
        options = self._fill_in_choices(card)
        # As make_fill_in itself: the one blank, or the seed's choice among several.
        made = (
            None
            if not options
            else options[0]
            if len(options) == 1
            else _rng(self.seed, "fill", card.id).choice(options)
        )
        return None if made is None else _fill_in_draft(card, made)

    def _free_answer(self, card: Card) -> _Draft | None:
        if mentions(card.prompt, card.answer):
            return None
        return _Draft(
            QuestionKind.FREE_ANSWER,
            card,
            prompt=card.prompt,
            accept=card.accept,
            answer=card.answer,
        )


def _fill_in_draft(card: Card, made: FillIn) -> _Draft:
    return _Draft(
        QuestionKind.FILL_IN,
        card,
        prompt=made.prompt,
        accept=made.accept,
        answer=made.accept[0],
    )


def card_list_items(card: Card) -> tuple[str, ...]:
    """The distinct items of a list card (tagged ``list``), else nothing."""
    if LIST_TAG not in card.tags:
        return ()
    unique: dict[str, str] = {}
    for point in card.key_points:
        unique.setdefault(compact(point), point)
    return tuple(unique.values())


def _mask(definition: str, forms: Sequence[str]) -> str | None:
    """The definition with every form of its term blanked, or None if it still gives the term
    away or too little of it is left."""
    masked = definition
    for form in sorted(forms, key=len, reverse=True):
        words = re.findall(r"\w+", form)
        pattern = r"(?<!\w)" + r"[\W_]+".join(re.escape(word) for word in words) + r"(?!\w)"
        masked = re.sub(pattern, BLANK, masked, flags=re.IGNORECASE)
    for form in forms:
        # An expansion no glossary lists, spelled out word by word ("Residual Network").
        while (span := spelled_out(masked, form)) is not None:
            masked = masked[: span[0]] + BLANK + masked[span[1] :]
    if any(mentions(masked, form) for form in forms):
        return None
    content = [w for w in re.findall(r"\w+", masked) if w.casefold() not in STOP_WORDS]
    return masked if len(content) >= 3 else None


#: Options by (label, text): immutable, and the same few thousand recur in every exam.
_OPTIONS: dict[tuple[str, str], Option] = {}
_OPTIONS_SIZE = 65536


def _option(label: str, text: str) -> Option:
    found = _OPTIONS.get((label, text))
    if found is None:
        if len(_OPTIONS) >= _OPTIONS_SIZE:
            _OPTIONS.clear()
        found = _OPTIONS[label, text] = Option(id=label, text=text)
    return found


def _finalize(question_id: str, draft: _Draft, shuffler: random.Random) -> Question:
    card = draft.card
    options: tuple[Option, ...] = ()
    correct: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    rationales: tuple[str, ...] = ()
    if draft.entries:
        entries = list(draft.entries)
        shuffler.shuffle(entries)
        # The entries' columns in one transpose (texts, sources, right or not, rationales).
        texts, sources, rights, rationales = zip(*entries, strict=True)
        options = tuple(map(_option, _OPTION_LABELS, texts))
        correct = tuple(
            [label for label, right in zip(_OPTION_LABELS, rights, strict=False) if right]
        )
    question_type = draft.kind.question_type
    free = question_type is QuestionType.FREE_ANSWER
    # Filled in without the frozen dataclasses' __init__ (one object.__setattr__ per
    # field): 65 questions' worth of those was a fifth of a cached build. Every field is
    # given, as __init__ would set it; the classes have no __post_init__.
    delivery = _NEW(DeliveredQuestion)
    delivery.__dict__.update(
        id=question_id,
        type=question_type,
        topic=card.topic,
        prompt=draft.prompt,
        options=options,
        select=draft.select,
    )
    key = _NEW(QuestionKey)
    key.__dict__.update(
        question_id=question_id,
        type=question_type,
        card_id=card.id,
        deck=card.deck,
        topic=card.topic,
        prompt=draft.prompt,
        answer=draft.answer,
        options=options,
        correct_option_ids=correct,
        accept=draft.accept,
        key_points=card.key_points,
        explanation=card.explanation,
        option_sources=sources,
        short_answers=card.short_answers if free else (),
        misconceptions=card.misconceptions if free else (),
        option_rationales=rationales,
    )
    question = _NEW(Question)
    question.__dict__.update(delivery=delivery, key=key)
    return question


#: object.__new__, bound once; the builder's frozen model objects are made with it.
_NEW = object.__new__


def _is_sentence(text: str) -> bool:
    """Whether the option is written as a sentence (ends with a full stop, "?" or "!")
    rather than as a term or a note."""
    return text.rstrip().endswith((".", "?", "!"))


#: Fragments joined by semicolons or a colon ("Lookback window length; need not cover the
#: season"), or a "+" for "and later" ("1.2-2+"): note form, not a sentence.
_NOTE_FORM = re.compile(r";|:\s|\w\+(?!\w)")


def _reads_like(form: str, wrong: Sequence[OptionSource]) -> bool:
    """Whether a shortened key reads like the wrong options: a sentence among sentences
    (its full stop is added by :func:`_in_one_style`), a term or note among terms. A terse
    note ("Boosted trees; each tree corrects ...") among full sentences is spotted as the key
    by its style alone (review 15, seeds 7-9: 6 of 6 options without a full stop)."""
    sentences = sum(_is_sentence(option.text) for option in wrong)
    if 2 * sentences <= len(wrong):
        return True
    bare = BRACKETED_REMARK.sub("", form)
    # A bare list of names ("Accuracy (validation), BLEU, perplexity") is no sentence either.
    return _is_sentence(form) or (not _NOTE_FORM.search(bare) and len(words(bare)) >= 4)


#: A list of three or more items joined by commas alone ("Train sub-networks separately,
#: LSTM cells, residual nets, ReLU activation"), and one whose last item follows "and". An
#: item opening "or"/"and" after a serial comma ("..., or a better activation") has its
#: conjunction already.
_LIST_WITHOUT_AND = re.compile(
    r"(?:(?! and | or )[^,;:()])+(?:, (?!(?:and|or) )(?:(?! and | or )[^,;:()])+){2,}"
)
_LIST_WITH_AND = re.compile(r"[^;:]+, [^;:]+ and [^,;:]+")


def _in_one_style(key: str, wrong: Sequence[OptionSource]) -> tuple[str, tuple[OptionSource, ...]]:
    """Every option ending alike: with a full stop when most options are sentences, else
    none; a sentence begins with a capital. Which options end with a full stop would
    otherwise tell the key from wrong options drawn from other cards."""
    texts = [key, *(option.text for option in wrong)]
    as_sentences = 2 * sum(_is_sentence(text) for text in texts) > len(texts)
    if _LIST_WITHOUT_AND.fullmatch(key.rstrip(". ")) and (
        2 * sum(bool(_LIST_WITH_AND.fullmatch(o.text.rstrip(". "))) for o in wrong) > len(wrong)
    ):
        # "eta, gamma, alpha, lambda" among "subsample, eta, gamma, l1 and wd" (review 15,
        # pattern 3): the one list without a final "and" is the key.
        head, _, last = key.rstrip().rstrip(".").rpartition(", ")
        key = f"{head} and {last}" + ("." if key.rstrip().endswith(".") else "")
    if (
        ", and " in key
        and not any(", and " in o.text for o in wrong)
        and 2 * sum(" and " in o.text for o in wrong) > len(wrong)
    ):
        # A serial comma only the key has ("vector to sequence, and encoder-decoder").
        key = key.replace(", and ", " and ")

    def styled(text: str) -> str:
        text = text.rstrip()
        if not as_sentences:
            return text[:-1] if text.endswith(".") and not text.endswith("..") else text
        if not _is_sentence(text):
            text += "."
        first = text.split(maxsplit=1)[0]
        # Capitalised as a sentence, unless its first word is a name written in lower case
        # on purpose (``eta``, ``mini_batch_size``, ``k-means``).
        if first.isalpha() and first.islower() and len(first) > 3:
            text = text[0].upper() + text[1:]
        return text

    return styled(key), tuple(
        option if styled(option.text) == option.text else replace(option, text=styled(option.text))
        for option in wrong
    )


_REMARK = re.compile(r"\s*\(([^()]*)\)")


def _without_remarks(text: str) -> str:
    """The text without its bracketed remarks, except those listing values ("(auto, SGD,
    Adam, RMSProp)"), which are what the question asks about."""
    bare = _REMARK.sub(lambda found: found.group(0) if "," in found.group(1) else "", text)
    return re.sub(r"\s+([,.;:])", r"\1", bare).strip()


def overlaps_any(text: str, others: Sequence[str]) -> bool:
    return any(overlaps(text, other) for other in others)


def _without_value_list(item: str) -> str:
    """A list item without a bracketed list of values ("mode (batch_skipgram, skipgram,
    cbow)": "mode")."""
    bare = _REMARK.sub(lambda found: "" if "," in found.group(1) else found.group(0), item)
    return bare.strip() or item


def _echoes_only(prompt: str, item: str) -> bool:
    """Whether every word of ``item`` is a word of the prompt."""
    found = words(item)
    return bool(found) and set(found) <= set(words(prompt))


def _without_gloss(answer: str) -> str:
    """The answer without bracketed remarks ("inception modules (groups of convolution
    layers)"), or "" when it has none or they are all it says."""
    trimmed = BRACKETED_REMARK.sub("", answer).strip()
    return trimmed if trimmed != answer.strip() and len(words(trimmed)) >= 2 else ""


def _right_rationale(card: Card) -> str:
    return f"Right. {card.explanation}" if card.explanation else "Right."


def _wrong_rationale(card: Card) -> str:
    """A generated wrong option is another card's answer: say which question it answers."""
    return f"Not this one: it answers another question, “{card.prompt}”"


def authored_questions(
    candidates: Sequence[AuthoredQuestion], blueprint: Blueprint, first_number: int
) -> tuple[Question, ...]:
    """``blueprint.scenario`` authored questions in its scope (topics, difficulty), chosen
    with its seed, numbered from ``first_number``."""
    if not blueprint.scenario:
        return ()
    wanted = set(blueprint.topics)
    scope = sorted(
        (
            question
            for question in candidates
            if (not wanted or question.topic in wanted)
            and (blueprint.difficulty is None or question.difficulty == blueprint.difficulty)
        ),
        key=lambda question: question.id,
    )
    if len(scope) < blueprint.scenario:
        raise BlueprintError(
            f"only {len(scope)} authored scenario question(s) match these topics and "
            f"difficulty; {blueprint.scenario} were asked for"
        )
    assert blueprint.seed is not None
    chosen = _rng(blueprint.seed, "scenario").sample(scope, blueprint.scenario)
    return tuple(
        _authored(f"q{number}", question) for number, question in enumerate(chosen, first_number)
    )


def _authored(question_id: str, authored: AuthoredQuestion) -> Question:
    question_type = QuestionType(authored.type)
    options = tuple(Option(id=option.id, text=option.text) for option in authored.options)
    delivery = DeliveredQuestion(
        id=question_id,
        type=question_type,
        topic=authored.topic,
        prompt=authored.stem,
        options=options,
        select=authored.select,
    )
    key = QuestionKey(
        question_id=question_id,
        type=question_type,
        card_id=authored.id,
        deck=authored.deck,
        topic=authored.topic,
        prompt=authored.stem,
        answer="; ".join(option.text for option in authored.options if option.correct),
        options=options,
        correct_option_ids=authored.correct_option_ids,
        explanation=authored.explanation,
        option_sources=tuple(authored.id for _ in authored.options),
        option_rationales=tuple(option.rationale for option in authored.options),
    )
    return Question(delivery=delivery, key=key)
