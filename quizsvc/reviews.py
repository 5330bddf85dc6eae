"""People in the loop, as plain data: which graded questions wait for a person, and what a
person's decision (an override, a resolved appeal, a regrade) does to a result.

A result (``quizsvc.attempts.build_result``) is a dict with its per-question ``questions``;
these functions return a changed copy with the totals, pass/fail and topic breakdown
recomputed, and never import anything from the web or storage layers.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from quizsvc.grading.model import Verdict

AWAITING_REVIEW = "awaiting_review"
REVIEWED = "reviewed"
#: LTI AGS gradingProgress values: a person must still look / the grade is final.
PENDING_MANUAL = "PendingManual"
FULLY_GRADED = "FullyGraded"
VERDICTS = tuple(verdict.value for verdict in Verdict)


class GradeChangeError(ValueError):
    """A grade change that does not fit (unknown question, score and verdict disagree)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def questions_to_review(result: Mapping[str, Any], review_below: float | None) -> list[str]:
    """Free answers a person should look at: the grader asked for it (``needs_review``), or
    its confidence is below the exam's own threshold."""
    flagged = []
    for item in result.get("questions", []):
        if item.get("type") != "free_answer":
            continue
        confidence = item.get("confidence")
        below = review_below is not None and confidence is not None and confidence < review_below
        if item.get("needs_review") or below:
            flagged.append(item["question_id"])
    return flagged


def mark_awaiting_review(
    result: Mapping[str, Any], question_ids: Sequence[str], reason: str = "grader"
) -> dict[str, Any]:
    """A copy of ``result`` where these questions wait for a person (their grade is
    provisional) and ``grading_progress`` says so."""
    changed = copy.deepcopy(dict(result))
    wanted = set(question_ids)
    for item in changed.get("questions", []):
        if item["question_id"] in wanted:
            review = dict(item.get("review") or {})
            review.update(status=AWAITING_REVIEW, reason=reason)
            item["review"] = review
    changed["grading_progress"] = grading_progress(changed)
    return changed


def grading_progress(result: Mapping[str, Any]) -> str:
    pending = any(
        (item.get("review") or {}).get("status") == AWAITING_REVIEW
        for item in result.get("questions", [])
    )
    return PENDING_MANUAL if pending else FULLY_GRADED


def checked_grade(score: float, verdict: str | None) -> tuple[float, str]:
    """The score and the verdict a person set, agreeing with each other: correct is full
    marks, incorrect none, partial anything between."""
    if not 0.0 <= score <= 1.0:
        raise GradeChangeError("score", "must be between 0 and 1")
    expected = Verdict.for_score(score).value
    if verdict is None:
        return score, expected
    if verdict not in VERDICTS:
        raise GradeChangeError("verdict", f"must be one of {', '.join(VERDICTS)}")
    if verdict != expected:
        raise GradeChangeError(
            "verdict",
            f"{verdict!r} does not fit a score of {score:g}: correct is 1, incorrect is 0, "
            "partial is in between",
        )
    return score, verdict


def change_question_grade(
    result: Mapping[str, Any],
    question_id: str,
    score: float,
    verdict: str,
    review: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A copy of ``result`` with one question's grade set by a person (``review`` is what
    the learner reads about it: status, comment, when) and the totals recomputed."""
    changed = copy.deepcopy(dict(result))
    item = next(
        (item for item in changed.get("questions", []) if item["question_id"] == question_id),
        None,
    )
    if item is None:
        raise GradeChangeError("question_id", f"no question {question_id!r} in this attempt")
    item["score"] = round(float(score), 4)
    item["verdict"] = verdict
    # A person decided: the grade is no longer a machine's guess.
    item["confidence"] = 1.0
    item["needs_review"] = False
    if review is not None:
        item["review"] = {**(item.get("review") or {}), **review}
    return recompute_totals(changed)


def recompute_totals(result: Mapping[str, Any]) -> dict[str, Any]:
    """Score, percent, pass/fail and the topic breakdown from the per-question scores."""
    changed = copy.deepcopy(dict(result))
    items = changed.get("questions", [])
    total = sum(float(item["score"]) for item in items)
    count = len(items)
    percent = round(100.0 * total / count, 2) if count else 0.0
    topics: dict[str, dict[str, float]] = {}
    for item in items:
        bucket = topics.setdefault(item["topic"], {"score": 0.0, "questions": 0})
        bucket["score"] += float(item["score"])
        bucket["questions"] += 1
    titles = {topic["topic"]: topic["title"] for topic in changed.get("topics", [])}
    changed.update(
        score=round(total, 4),
        max_score=count,
        percent=percent,
        passed=percent >= float(changed.get("pass_mark", 0.0)),
        topics=[
            {
                "topic": topic,
                "title": titles.get(topic, topic),
                "score": round(values["score"], 4),
                "questions": int(values["questions"]),
                "percent": round(100.0 * values["score"] / values["questions"], 2),
            }
            for topic, values in topics.items()
        ],
    )
    changed["grading_progress"] = grading_progress(changed)
    return changed
