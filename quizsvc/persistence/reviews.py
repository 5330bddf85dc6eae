"""The review queue and the audit trail of grade changes.

A question a person must look at (the grader was unsure, or the learner appealed) has one
``GradeReview`` row per attempt and question; every change of a stored grade (an override, a
resolved review, a regrade) adds a ``GradeChange`` row saying who, when, before, after and why.
Both are written in the same transaction as the attempt's result they describe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from quizsvc.persistence.base import Base, StoreBase, UTCDateTime, new_id
from quizsvc.reviews import AWAITING_REVIEW

if TYPE_CHECKING:
    from quizsvc.persistence.attempts import Attempt

REVIEW_STATUSES = ("pending", "resolved")


class GradeReview(Base):
    __tablename__ = "grade_reviews"
    __table_args__ = (UniqueConstraint("attempt_id", "question_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), index=True)
    exam_id: Mapped[str] = mapped_column(String(32), index=True)
    learner_id: Mapped[str] = mapped_column(String(200), index=True)
    #: The exam's own question id (not the attempt's public one).
    question_id: Mapped[str] = mapped_column(String(32))
    #: pending -> resolved; an appeal of a resolved question opens it again.
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: Why it is here: the grader's review reasons, and "appeal".
    reasons: Mapped[list[str]] = mapped_column(JSON)
    #: The automatic grade as it was queued: score, verdict, confidence, feedback, evidence.
    automatic: Mapped[dict[str, Any]] = mapped_column(JSON)
    appealed: Mapped[bool] = mapped_column(Boolean, default=False)
    appeal_comment: Mapped[str | None] = mapped_column(Text)
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[int | None] = mapped_column(Integer)
    #: The person's decision: score, verdict, comment, and whether the grade changed.
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class GradeChange(Base):
    __tablename__ = "grade_changes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), index=True)
    question_id: Mapped[str] = mapped_column(String(32))
    #: override | review | appeal | regrade
    kind: Mapped[str] = mapped_column(String(16))
    #: The API key that made it; None for the system (a regrade from the command line).
    changed_by: Mapped[int | None] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text)
    grader_version: Mapped[str | None] = mapped_column(String(32))


def add_reviews_for_graded(session: Session, attempt: Attempt, now: datetime) -> int:
    """Queue the questions the result marks as awaiting review (at grading time)."""
    result = attempt.result or {}
    count = 0
    for item in result.get("questions", []):
        if (item.get("review") or {}).get("status") != AWAITING_REVIEW:
            continue
        session.add(
            GradeReview(
                id=new_id(),
                attempt_id=attempt.id,
                exam_id=attempt.exam_id,
                learner_id=attempt.learner_id,
                question_id=item["question_id"],
                status="pending",
                reasons=list(item.get("review_reasons") or ["low_confidence"]),
                automatic=automatic_grade(item),
                appealed=False,
                created_at=now,
            )
        )
        count += 1
    return count


def automatic_grade(item: dict[str, Any]) -> dict[str, Any]:
    """What the machine said about one question, kept beside the person's decision."""
    return {
        name: item.get(name)
        for name in (
            "score",
            "verdict",
            "confidence",
            "feedback",
            "evidence",
            "your_answer",
            "grader_version",
        )
    }


@dataclass(frozen=True)
class GradeChangeRequest:
    """One question's new grade, decided by a person (or a regrade)."""

    attempt_id: str
    question_id: str
    kind: str
    changed_by: int | None
    comment: str | None


class ReviewStore(StoreBase):
    def list_reviews(
        self, exam_id: str | None, status: str | None, offset: int, limit: int
    ) -> tuple[list[GradeReview], int]:
        """Reviews oldest first (the queue's order), and how many match in all."""
        query = select(GradeReview)
        if exam_id is not None:
            query = query.where(GradeReview.exam_id == exam_id)
        if status is not None:
            query = query.where(GradeReview.status == status)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(GradeReview.created_at, GradeReview.id).offset(offset).limit(limit)
            )
            return list(rows), total

    def get_review(self, review_id: str) -> GradeReview | None:
        with self.session() as session:
            return session.get(GradeReview, review_id)

    def reviews_of_attempt(self, attempt_id: str) -> list[GradeReview]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(GradeReview)
                    .where(GradeReview.attempt_id == attempt_id)
                    .order_by(GradeReview.created_at)
                )
            )

    def grade_changes(self, attempt_id: str) -> list[GradeChange]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(GradeChange)
                    .where(GradeChange.attempt_id == attempt_id)
                    .order_by(GradeChange.changed_at, GradeChange.id)
                )
            )

    def resolved_reviews(self, exam_id: str | None = None) -> list[GradeReview]:
        query = select(GradeReview).where(GradeReview.status == "resolved")
        if exam_id is not None:
            query = query.where(GradeReview.exam_id == exam_id)
        with self.session() as session:
            return list(session.scalars(query.order_by(GradeReview.resolved_at)))

    def update_attempt_result(
        self,
        attempt_id: str,
        now: datetime,
        change: Callable[[Session, Attempt], tuple[dict[str, Any], list[str]] | None],
    ) -> Attempt | None:
        """Change a graded attempt's result under its row lock: ``change`` gets the locked
        attempt and returns the new result and the webhook events to send (or None to change
        nothing). The result's ``revision`` goes up by one and the LMS gets the new score, in
        the same transaction, and so does the learning log (a changed grade supersedes its
        review and the learner's card is recomputed)."""
        from quizsvc.persistence.attempts import Attempt
        from quizsvc.persistence.learning import record_learning_reviews
        from quizsvc.persistence.lms import enqueue_result_messages

        enqueued = 0
        with self.write_session() as session:
            attempt = session.scalar(
                select(Attempt).where(Attempt.id == attempt_id).with_for_update()
            )
            if attempt is None:
                return None
            changed = change(session, attempt)
            if changed is None:
                return attempt
            result, events = changed
            result = {**result, "revision": int((attempt.result or {}).get("revision", 0)) + 1}
            attempt.result = result
            attempt.score = float(result["score"])
            record_learning_reviews(session, attempt, now)
            enqueued = enqueue_result_messages(
                session, attempt, now, events, result.get("last_change")
            )
        if enqueued:
            self._notify_outbox()
        return attempt
