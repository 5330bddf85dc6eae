"""The card bank's data types: plain, immutable, free of any web or storage concern."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from quizsvc.bank.synonyms import DeckGlossary


@dataclass(frozen=True)
class Misconception:
    """A wrong answer learners give to a card, with the line of feedback that explains it."""

    text: str
    explanation: str

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "explanation": self.explanation}


@dataclass(frozen=True)
class Card:
    id: str
    deck: str
    topic: str
    prompt: str
    answer: str
    key_points: tuple[str, ...]
    accept: tuple[str, ...] = ()
    term: str | None = None
    explanation: str | None = None
    tags: tuple[str, ...] = ()
    difficulty: str | None = None
    source_note: str | None = None
    #: Terse forms of the answer that deserve full credit ("harmonic mean of precision and
    #: recall"); graded as further right answers.
    short_answers: tuple[str, ...] = ()
    #: Wrong answers learners give; an answer nearer one of them than to the right side is
    #: incorrect, and the misconception's explanation is its feedback.
    misconceptions: tuple[Misconception, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with every field present, in schema order."""
        return {
            "id": self.id,
            "deck": self.deck,
            "topic": self.topic,
            "prompt": self.prompt,
            "answer": self.answer,
            "key_points": list(self.key_points),
            "accept": list(self.accept),
            "short_answers": list(self.short_answers),
            "misconceptions": [item.to_dict() for item in self.misconceptions],
            "term": self.term,
            "explanation": self.explanation,
            "tags": list(self.tags),
            "difficulty": self.difficulty,
            "source_note": self.source_note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Card:
        return cls(
            id=data["id"],
            deck=data["deck"],
            topic=data["topic"],
            prompt=data["prompt"],
            answer=data["answer"],
            key_points=tuple(data["key_points"]),
            accept=tuple(data.get("accept") or ()),
            short_answers=tuple(data.get("short_answers") or ()),
            misconceptions=tuple(
                Misconception(item["text"], item["explanation"])
                for item in data.get("misconceptions") or ()
            ),
            term=data.get("term"),
            explanation=data.get("explanation"),
            tags=tuple(data.get("tags") or ()),
            difficulty=data.get("difficulty"),
            source_note=data.get("source_note"),
        )


@dataclass(frozen=True)
class Deck:
    id: str
    title: str
    description: str | None = None
    source: str | None = None
    #: topic slug -> human title
    topics: Mapping[str, str] = field(default_factory=dict)
    #: abbreviation -> expansion, used by graders before comparing free answers
    glossary: Mapping[str, str] = field(default_factory=dict)
    #: groups of names that mean the same thing; a fill-in blank accepts each for the others
    synonyms: tuple[tuple[str, ...], ...] = ()

    def topic_title(self, topic: str) -> str:
        return self.topics.get(topic, topic.replace("-", " ").capitalize())


@dataclass(frozen=True)
class AuthoredOption:
    id: str
    text: str
    correct: bool
    #: Why this option is right or wrong; shown in review feedback.
    rationale: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "correct": self.correct,
            "rationale": self.rationale,
        }


@dataclass(frozen=True)
class AuthoredQuestion:
    """A choice question written by a person (a scenario in the exam's style), beside the
    cards: a stem, 4-6 options each with its rationale, and its sources."""

    id: str
    deck: str
    topic: str
    type: str
    stem: str
    options: tuple[AuthoredOption, ...]
    sources: tuple[str, ...]
    select: int | None = None
    explanation: str | None = None
    difficulty: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def correct_option_ids(self) -> tuple[str, ...]:
        return tuple(option.id for option in self.options if option.correct)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deck": self.deck,
            "topic": self.topic,
            "type": self.type,
            "stem": self.stem,
            "select": self.select,
            "options": [option.to_dict() for option in self.options],
            "explanation": self.explanation,
            "difficulty": self.difficulty,
            "tags": list(self.tags),
            "sources": list(self.sources),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuthoredQuestion:
        return cls(
            id=data["id"],
            deck=data["deck"],
            topic=data["topic"],
            type=data["type"],
            stem=data["stem"],
            options=tuple(
                AuthoredOption(
                    item["id"], item["text"], bool(item.get("correct", False)), item["rationale"]
                )
                for item in data["options"]
            ),
            sources=tuple(data["sources"]),
            select=data.get("select"),
            explanation=data.get("explanation"),
            difficulty=data.get("difficulty"),
            tags=tuple(data.get("tags") or ()),
        )


@dataclass(frozen=True)
class Bank:
    decks: Mapping[str, Deck]
    cards: tuple[Card, ...]
    #: Authored questions (scenarios), beside the cards.
    questions: tuple[AuthoredQuestion, ...] = ()
    #: Ids of cards and questions staff retired: still readable (past exams and results name
    #: them), never drawn again (``select`` and ``select_questions`` leave them out).
    retired: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {card.id: card for card in self.cards})
        object.__setattr__(
            self, "_questions_by_id", {question.id: question for question in self.questions}
        )

    def question(self, question_id: str) -> AuthoredQuestion:
        by_id: dict[str, AuthoredQuestion] = self._questions_by_id  # type: ignore[attr-defined]
        return by_id[question_id]

    def select_questions(
        self, deck: str | None = None, topics: Iterable[str] | None = None
    ) -> list[AuthoredQuestion]:
        """Authored questions of one deck (or all) and some topics (or all), in bank order;
        retired ones are left out."""
        wanted = set(topics) if topics is not None else None
        return [
            question
            for question in self.questions
            if (deck is None or question.deck == deck)
            and (wanted is None or question.topic in wanted)
            and question.id not in self.retired
        ]

    def __iter__(self) -> Iterator[Card]:
        return iter(self.cards)

    def __len__(self) -> int:
        return len(self.cards)

    def card(self, card_id: str) -> Card:
        by_id: dict[str, Card] = self._by_id  # type: ignore[attr-defined]
        return by_id[card_id]

    def get(self, card_id: str) -> Card | None:
        by_id: dict[str, Card] = self._by_id  # type: ignore[attr-defined]
        return by_id.get(card_id)

    def select(self, deck: str | None = None, topics: Iterable[str] | None = None) -> list[Card]:
        """Cards of one deck (or all) and some topics (or all), in bank order; retired
        cards are left out."""
        wanted = set(topics) if topics is not None else None
        return [
            card
            for card in self.cards
            if (deck is None or card.deck == deck)
            and (wanted is None or card.topic in wanted)
            and card.id not in self.retired
        ]

    def topics(self, deck: str | None = None) -> dict[str, int]:
        """Cards per topic, in order of first appearance."""
        counts: dict[str, int] = {}
        for card in self.select(deck):
            counts[card.topic] = counts.get(card.topic, 0) + 1
        return counts

    def glossary(self, deck: str) -> Mapping[str, str]:
        """The deck's abbreviations, carrying its synonym groups (a :class:`DeckGlossary`)."""
        found = self.decks.get(deck)
        return DeckGlossary(found.glossary, found.synonyms) if found else DeckGlossary()
