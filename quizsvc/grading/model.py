"""What grading returns: a score, a verdict, feedback for the learner and evidence for review."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from quizsvc.exams.model import QuestionType


class Verdict(StrEnum):
    CORRECT = "correct"
    PARTIAL = "partial"
    INCORRECT = "incorrect"

    @classmethod
    def for_score(cls, score: float, correct_at: float = 1.0, partial_at: float = 0.0) -> Verdict:
        """Correct at or above ``correct_at``; partial for any positive score at or above
        ``partial_at``; else incorrect. The defaults suit exact grading (choice, fill-in):
        full marks are correct, any partial credit is partial."""
        if score >= correct_at:
            return cls.CORRECT
        if score >= partial_at and score > 0:
            return cls.PARTIAL
        return cls.INCORRECT


class ResponseError(ValueError):
    """A response of the wrong shape for its question (e.g. a list for multiple choice), or
    an option id the question does not have."""


def _clause(text: str) -> str:
    return text.strip().rstrip(".").strip()


def _sentence(text: str) -> str:
    """One full stop at the end, whatever the text ended with ("...e.g.", "...?" kept)."""
    text = text.strip()
    return text if text.endswith(("?", "!")) else _clause(text) + "."


@dataclass(frozen=True)
class Feedback:
    """What the learner reads: a one-line summary, then what was right, what was missing or
    wrong, and the reference answer."""

    summary: str
    right: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    wrong: tuple[str, ...] = ()
    reference: str = ""
    explanation: str | None = None

    @property
    def text(self) -> str:
        """All of it as one paragraph: "...; You covered: ...; Missing: ...; Reference..."."""
        parts = [_sentence(self.summary)]
        if self.right:
            parts.append(_sentence("You covered: " + "; ".join(map(_clause, self.right))))
        if self.wrong:
            parts.append(_sentence("Not right: " + "; ".join(map(_clause, self.wrong))))
        if self.missing:
            parts.append(_sentence("Missing: " + "; ".join(map(_clause, self.missing))))
        if self.reference:
            parts.append(_sentence("Reference answer: " + self.reference))
        if self.explanation and _clause(self.explanation) != _clause(self.reference):
            parts.append(_sentence(self.explanation))
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "right": list(self.right),
            "missing": list(self.missing),
            "wrong": list(self.wrong),
            "reference": self.reference,
            "explanation": self.explanation,
            "text": self.text,
        }


@dataclass(frozen=True)
class Grade:
    question_id: str
    type: QuestionType
    #: In [0, 1].
    score: float
    verdict: Verdict
    feedback: Feedback
    #: JSON-ready details for review screens: similarities, matched and missed key points,
    #: the rule that accepted or refused an answer.
    evidence: Mapping[str, Any] = field(default_factory=dict)
    #: Probability that the verdict is right: 1 for exact grading (choice, fill-in), the
    #: verdict model's calibrated estimate for free answers.
    confidence: float = 1.0
    #: The grade is provisional: the grader was unsure, so a person should look at it.
    needs_review: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be in [0, 1], got {self.score}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")

    @property
    def correct(self) -> bool:
        return self.verdict is Verdict.CORRECT

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "type": self.type.value,
            "score": round(self.score, 4),
            "verdict": self.verdict.value,
            "confidence": round(self.confidence, 4),
            "needs_review": self.needs_review,
            "feedback": self.feedback.to_dict(),
            "evidence": dict(self.evidence),
        }
