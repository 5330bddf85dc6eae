"""When a learner may see what about a graded attempt, as Moodle's review options have it.

Four things can be shown, each ``immediately`` (from submission), ``after_close`` (once the
exam has closed for this learner: its close time has passed, or the learner has used every
allowed attempt) or ``never``:

- ``score``: the attempt's total, percent, pass/fail and per-topic breakdown;
- ``verdicts``: each question's verdict and score;
- ``feedback``: what the grader says about each answer;
- ``correct_answers``: the right answers, the reference and the explanation.

Staff-built exams keep the correct answers (and the parts of feedback that would give them
away) hidden until the exam has closed for the learner, so that a blank first attempt cannot
be used to read the key and retake for full marks. Personal practice exams show everything.
Staff always see everything. Plain data in, plain data out: no web or storage concern.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class ReviewWhen(StrEnum):
    IMMEDIATELY = "immediately"
    AFTER_CLOSE = "after_close"
    NEVER = "never"

    def allows(self, closed: bool) -> bool:
        return self is ReviewWhen.IMMEDIATELY or (self is ReviewWhen.AFTER_CLOSE and closed)


REVIEW_ITEMS = ("score", "verdicts", "feedback", "correct_answers")


@dataclass(frozen=True)
class ReviewOptions:
    score: ReviewWhen = ReviewWhen.IMMEDIATELY
    verdicts: ReviewWhen = ReviewWhen.IMMEDIATELY
    feedback: ReviewWhen = ReviewWhen.IMMEDIATELY
    correct_answers: ReviewWhen = ReviewWhen.AFTER_CLOSE

    @classmethod
    def for_staff_exam(cls, given: Mapping[str, str] | None = None) -> ReviewOptions:
        """The default for instructors' exams, with any of the four set explicitly."""
        return cls.from_dict(given or {})

    @classmethod
    def for_practice(cls) -> ReviewOptions:
        return cls(*(ReviewWhen.IMMEDIATELY,) * len(REVIEW_ITEMS))

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> ReviewOptions:
        unknown = set(data) - set(REVIEW_ITEMS)
        if unknown:
            raise ValueError(f"unknown review option(s): {', '.join(sorted(unknown))}")
        return cls(**{name: ReviewWhen(value) for name, value in data.items()})

    def to_dict(self) -> dict[str, str]:
        return {name: getattr(self, name).value for name in REVIEW_ITEMS}


def exam_closed_for(
    now: datetime,
    closes_at: datetime | None,
    max_attempts: int | None,
    attempts_used: int,
    attempt_in_progress: bool,
) -> bool:
    """Closed for this learner: past the close time, or no attempt left to take."""
    if closes_at is not None and now >= closes_at:
        return True
    return max_attempts is not None and attempts_used >= max_attempts and not attempt_in_progress


def redact_result(
    result: Mapping[str, Any], options: ReviewOptions, closed: bool
) -> dict[str, Any]:
    """The learner's copy of a graded result with what they may not see yet removed, and a
    ``review`` block saying what is shown and what waits for the exam to close."""
    shown = {name: getattr(options, name).allows(closed) for name in REVIEW_ITEMS}
    redacted = copy.deepcopy(dict(result))
    # Which grader produced a grade is for staff (reviews, regrades), not for learners.
    redacted.pop("grader_versions", None)
    for question in redacted.get("questions", []):
        for staff_only in ("grader_version", "review_reasons", "evidence"):
            question.pop(staff_only, None)
    if not shown["score"]:
        for name in ("score", "percent", "passed"):
            redacted[name] = None
        redacted["topics"] = []
    questions = []
    for question in redacted.get("questions", []):
        if not shown["verdicts"]:
            question.update(score=None, verdict=None, confidence=None, needs_review=None)
        if not shown["correct_answers"]:
            question.update(
                correct_answer=None, correct_option_ids=[], explanation=None, rationales={}
            )
            question["missed_key_points"] = []
        if not shown["feedback"]:
            question["feedback"] = None
        elif not shown["correct_answers"] and question.get("feedback"):
            question["feedback"] = _feedback_without_answers(
                question["feedback"], question.get("verdict") if shown["verdicts"] else None
            )
        questions.append(question)
    redacted["questions"] = questions
    redacted["review"] = {
        **shown,
        "closed": closed,
        "options": options.to_dict(),
    }
    return redacted


#: What the learner reads while the answers are hidden: nothing of the reference.
_VERDICT_SUMMARY = {
    "correct": "Correct.",
    "partial": "Partly correct.",
    "incorrect": "Not correct.",
    None: "Graded.",
}
_HIDDEN_NOTE = "The correct answers are shown once the exam closes."


def _feedback_without_answers(feedback: Mapping[str, Any], verdict: str | None) -> dict[str, Any]:
    """Feedback that keeps only what the learner wrote and got right. The grader's summary,
    missed points, misconception explanations and the reference all name the right answer."""
    summary = f"{_VERDICT_SUMMARY.get(verdict, 'Graded.')} {_HIDDEN_NOTE}"
    right = list(feedback.get("right", []))
    text = summary + (f" You covered: {'; '.join(right)}." if right else "")
    return {
        "summary": summary,
        "right": right,
        "missing": [],
        "wrong": [],
        "reference": "",
        "explanation": None,
        "text": text,
    }
