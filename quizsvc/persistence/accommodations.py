"""Accommodations (per learner and exam) and their audit trail; moving the deadlines of
attempts in progress when an accommodation or an exam's window changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from quizsvc.accommodations import Accommodation
from quizsvc.persistence.attempts import LEARNER_AT_EXAM_LOCK, Attempt, AttemptStore, Exam
from quizsvc.persistence.base import Base, UTCDateTime

#: Computes an attempt's deadline under the given accommodation (None: the exam's rules).
DeadlineFor = Callable[[Attempt, Accommodation | None], datetime]


class AccommodationRow(Base):
    __tablename__ = "accommodations"

    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"), primary_key=True)
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    extra_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    time_multiplier: Mapped[float | None] = mapped_column(Float, nullable=True)
    extra_attempts: Mapped[int] = mapped_column(Integer)
    close_extension_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The API key of the staff member who made the latest change.
    updated_by: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))

    def accommodation(self) -> Accommodation:
        return Accommodation(
            extra_minutes=self.extra_minutes,
            time_multiplier=self.time_multiplier,
            extra_attempts=self.extra_attempts,
            close_extension_minutes=self.close_extension_minutes,
        )

    def values(self) -> dict[str, Any]:
        return {**self.accommodation().to_dict(), "note": self.note}


class AccommodationChange(Base):
    """One change to an accommodation: who, when, what it was and became, and which
    attempts in progress it moved."""

    __tablename__ = "accommodation_changes"

    #: Increasing: orders changes made within the same clock tick.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"), index=True)
    learner_id: Mapped[str] = mapped_column(String(200), index=True)
    #: ``set`` (created or changed) or ``delete``.
    action: Mapped[str] = mapped_column(String(16))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    changed_by: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    changed_by_role: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: [{"attempt_id", "deadline_before", "deadline_after"}] (ISO 8601 times).
    moved_attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


@dataclass(frozen=True)
class Actor:
    key_id: int
    role: str


class AccommodationStore(AttemptStore):
    def get_accommodation(self, exam_id: str, learner_id: str) -> AccommodationRow | None:
        with self.session() as session:
            return session.get(AccommodationRow, (exam_id, learner_id))

    def list_accommodations(
        self, exam_id: str, offset: int, limit: int
    ) -> tuple[list[AccommodationRow], int]:
        query = select(AccommodationRow).where(AccommodationRow.exam_id == exam_id)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(AccommodationRow.learner_id).offset(offset).limit(limit)
            )
            return list(rows), total

    def accommodation_history(
        self, exam_id: str, learner_id: str | None, offset: int, limit: int
    ) -> tuple[list[AccommodationChange], int]:
        """Changes to the exam's accommodations (one learner's, when given), newest first."""
        query = select(AccommodationChange).where(AccommodationChange.exam_id == exam_id)
        if learner_id is not None:
            query = query.where(AccommodationChange.learner_id == learner_id)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(AccommodationChange.changed_at.desc(), AccommodationChange.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return list(rows), total

    def set_accommodation(
        self,
        exam_id: str,
        learner_id: str,
        accommodation: Accommodation | None,
        note: str | None,
        actor: Actor,
        now: datetime,
        deadline_for: DeadlineFor,
    ) -> tuple[AccommodationRow | None, AccommodationChange | None]:
        """Create, change or (``accommodation`` None) remove the learner's accommodation,
        record the change and move the deadlines of their attempts in progress, all in one
        transaction. ``(row, change)``; the change is None when removing what is not there.

        Serialised with :meth:`start_or_resume` for the same (exam, learner), so an attempt
        starting meanwhile is either seen and moved here, or starts with the new values.
        """
        with self.write_session() as session:
            self._lock_learner_at_exam(session, exam_id, learner_id)
            row = session.get(AccommodationRow, (exam_id, learner_id))
            before = row.values() if row is not None else None
            if accommodation is None:
                if row is None:
                    return None, None
                session.delete(row)
                row = None
                after = None
            else:
                if row is None:
                    row = AccommodationRow(
                        exam_id=exam_id, learner_id=learner_id, created_at=now, extra_attempts=0
                    )
                    session.add(row)
                row.extra_minutes = accommodation.extra_minutes
                row.time_multiplier = accommodation.time_multiplier
                row.extra_attempts = accommodation.extra_attempts
                row.close_extension_minutes = accommodation.close_extension_minutes
                row.note = note
                row.updated_at = now
                row.updated_by = actor.key_id
                after = row.values()
            moved = self._move_deadlines(
                session, exam_id, learner_id, now, lambda _learner: accommodation, deadline_for
            )
            change = AccommodationChange(
                exam_id=exam_id,
                learner_id=learner_id,
                action="delete" if accommodation is None else "set",
                before=before,
                after=after,
                changed_by=actor.key_id,
                changed_by_role=actor.role,
                changed_at=now,
                moved_attempts=moved,
            )
            session.add(change)
        return row, change

    def exam_window(self, exam_id: str) -> tuple[datetime | None, datetime | None]:
        """The exam's ``(opens_at, closes_at)`` as stored now: staff may change them, and
        other processes' cached exams would not know."""
        with self.session() as session:
            row = session.execute(
                select(Exam.opens_at, Exam.closes_at).where(Exam.id == exam_id)
            ).one_or_none()
        return (row.opens_at, row.closes_at) if row is not None else (None, None)

    def set_exam_window(
        self,
        exam_id: str,
        opens_at: datetime | None,
        closes_at: datetime | None,
        now: datetime,
        deadline_for: DeadlineFor,
    ) -> list[dict[str, Any]]:
        """Change when the exam opens and closes, and move the deadlines of every attempt
        in progress at it (each under its learner's accommodation), in one transaction.
        Returns the attempts moved."""
        with self.write_session() as session:
            exam = session.scalar(select(Exam).where(Exam.id == exam_id).with_for_update())
            if exam is None:
                return []
            exam.opens_at = opens_at
            exam.closes_at = closes_at
            accommodations = {
                row.learner_id: row.accommodation()
                for row in session.scalars(
                    select(AccommodationRow).where(AccommodationRow.exam_id == exam_id)
                )
            }
            moved = self._move_deadlines(
                session, exam_id, None, now, accommodations.get, deadline_for
            )
        self.exam_changed(exam_id)
        return moved

    def _lock_learner_at_exam(self, session: Session, exam_id: str, learner_id: str) -> None:
        # The same advisory lock as start_or_resume (SQLite: write_session's write lock).
        if self.engine.dialect.name == "postgresql":
            session.execute(LEARNER_AT_EXAM_LOCK, {"exam_id": exam_id, "learner_id": learner_id})

    def _move_deadlines(
        self,
        session: Session,
        exam_id: str,
        learner_id: str | None,
        now: datetime,
        accommodation_of: Callable[[str], Accommodation | None],
        deadline_for: DeadlineFor,
    ) -> list[dict[str, Any]]:
        query = (
            select(Attempt)
            .where(Attempt.exam_id == exam_id, Attempt.status == "in_progress")
            .order_by(Attempt.started_at, Attempt.id)
            .with_for_update()
        )
        if learner_id is not None:
            query = query.where(Attempt.learner_id == learner_id)
        moved = []
        for attempt in session.scalars(query):
            deadline = deadline_for(attempt, accommodation_of(attempt.learner_id))
            if deadline == attempt.deadline:
                continue
            moved.append(
                {
                    "attempt_id": attempt.id,
                    "deadline_before": attempt.deadline.isoformat(),
                    "deadline_after": deadline.isoformat(),
                }
            )
            attempt.deadline = deadline
            self.forget_attempt_header(attempt.id)
        return moved
