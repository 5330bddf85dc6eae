"""Questions in two views.

``DeliveredQuestion`` is what a learner sees; it has no field that could hold an answer, a
key point, an accept list or a reference, so serializing it cannot leak the key.
``QuestionKey`` is what grading and review use. ``Question`` pairs the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from quizsvc.bank.model import Misconception


class QuestionType(StrEnum):
    MULTIPLE_CHOICE = "multiple_choice"
    MULTIPLE_RESPONSE = "multiple_response"
    FILL_IN = "fill_in"
    FREE_ANSWER = "free_answer"


@dataclass(frozen=True)
class Option:
    id: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text}


@dataclass(frozen=True)
class DeliveredQuestion:
    """The learner's view: prompt and choices, nothing that reveals the answer."""

    id: str
    type: QuestionType
    topic: str
    prompt: str
    options: tuple[Option, ...] = ()
    #: For multiple response: how many options to select.
    select: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type.value,
            "topic": self.topic,
            "prompt": self.prompt,
        }
        if self.options:
            data["options"] = [option.to_dict() for option in self.options]
        if self.select is not None:
            data["select"] = self.select
        return data


@dataclass(frozen=True)
class QuestionKey:
    """Everything needed to grade and review one question."""

    question_id: str
    type: QuestionType
    card_id: str
    deck: str
    topic: str
    prompt: str
    #: The reference answer (for choice questions: the correct option text(s), joined).
    answer: str
    options: tuple[Option, ...] = ()
    correct_option_ids: tuple[str, ...] = ()
    #: Accepted forms for fill-in (the canonical answer first).
    accept: tuple[str, ...] = ()
    key_points: tuple[str, ...] = ()
    explanation: str | None = None
    #: For choice questions: the card each option's text was taken from, parallel to
    #: ``options`` (review and audit of distractors; never part of the delivery view).
    option_sources: tuple[str, ...] = ()
    #: Free answers: the card's terse right answers and the wrong answers learners give (kept
    #: with the frozen exam, so a later edit of the card does not change how a submitted
    #: attempt is graded).
    short_answers: tuple[str, ...] = ()
    misconceptions: tuple[Misconception, ...] = ()
    #: For choice questions: why each option is right or wrong, parallel to ``options``
    #: (authored questions write their own; generated ones say which card an option
    #: answers). Shown in review once the correct answers are.
    option_rationales: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "type": self.type.value,
            "card_id": self.card_id,
            "deck": self.deck,
            "topic": self.topic,
            "prompt": self.prompt,
            "answer": self.answer,
            "options": [option.to_dict() for option in self.options],
            "correct_option_ids": list(self.correct_option_ids),
            "accept": list(self.accept),
            "key_points": list(self.key_points),
            "explanation": self.explanation,
            "option_sources": list(self.option_sources),
            "short_answers": list(self.short_answers),
            "misconceptions": [item.to_dict() for item in self.misconceptions],
            "option_rationales": list(self.option_rationales),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuestionKey:
        return cls(
            question_id=data["question_id"],
            type=QuestionType(data["type"]),
            card_id=data["card_id"],
            deck=data["deck"],
            topic=data["topic"],
            prompt=data["prompt"],
            answer=data["answer"],
            options=tuple(Option(**option) for option in data.get("options", ())),
            correct_option_ids=tuple(data.get("correct_option_ids", ())),
            accept=tuple(data.get("accept", ())),
            key_points=tuple(data.get("key_points", ())),
            explanation=data.get("explanation"),
            option_sources=tuple(data.get("option_sources", ())),
            short_answers=tuple(data.get("short_answers", ())),
            misconceptions=tuple(Misconception(**item) for item in data.get("misconceptions", ())),
            option_rationales=tuple(data.get("option_rationales", ())),
        )


@dataclass(frozen=True)
class Question:
    delivery: DeliveredQuestion
    key: QuestionKey

    @property
    def id(self) -> str:
        return self.delivery.id
