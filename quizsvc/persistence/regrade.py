"""Regrade jobs: an exam's graded attempts graded again from their stored answers.

A job is a ``regrade_jobs`` row (its options, the exam's questions it grades with, its
counters) and one outbox message per attempt (kind ``regrade``, idempotency key
``regrade:{job}:{attempt}``), written in one transaction. Workers claim the messages with a
lease like any other (``quizsvc.lms.outbox``); :func:`regrade_sender` regrades one attempt in
one transaction that also writes a ``regrade_job_items`` row, unique per job and attempt, and
counts it. A message delivered again (its worker died after the commit, before recording
the delivery; or two workers after a lease ran out) finds its item and does nothing, so
every attempt is regraded once per job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    case,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from quizsvc.attempts import GradeMany
from quizsvc.persistence.attempts import Attempt, Exam, Response
from quizsvc.persistence.base import Base, UTCDateTime, new_id
from quizsvc.persistence.lms import OutboxMessage, _outbox_message
from quizsvc.persistence.reviews import GradeChange, GradeReview, ReviewStore, automatic_grade
from quizsvc.regrade import (
    PERSON_KINDS,
    AttemptRegrade,
    RegradeOptions,
    change_comment,
    last_change,
    regrade_result,
)

JOB_STATUSES = ("queued", "running", "done", "failed")
#: Errors shown with a job (each attempt that could not be regraded is one).
MAX_JOB_ERRORS_SHOWN = 100


class RegradeJob(Base):
    __tablename__ = "regrade_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"), index=True)
    #: queued -> running -> done, or failed when some attempt could not be regraded.
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: ``RegradeOptions.to_dict()``: policy, question ids, include_overridden, refresh_keys.
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The exam's questions (delivery and key) as the job grades with them, fixed at start.
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    #: The API key that started it; None for the command line.
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RegradeJobItem(Base):
    """One attempt's regrade in one job: its primary key makes it happen once."""

    __tablename__ = "regrade_job_items"

    job_id: Mapped[str] = mapped_column(ForeignKey("regrade_jobs.id"), primary_key=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), primary_key=True)
    #: changed | unchanged | error
    outcome: Mapped[str] = mapped_column(String(16))
    questions_changed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class RegradePlan:
    """What a job's messages need, none of which changes after the job starts."""

    job_id: str
    exam_id: str
    options: RegradeOptions
    questions: list[dict[str, Any]]
    created_by: int | None

    @classmethod
    def of(cls, job: RegradeJob) -> RegradePlan:
        return cls(
            job.id,
            job.exam_id,
            RegradeOptions.from_dict(job.options),
            job.questions,
            job.created_by,
        )


def decided_questions(session: Session, attempt_ids: Sequence[str]) -> dict[str, set[str]]:
    """Per attempt, the exam question ids a person graded (override, review, appeal)."""
    found: dict[str, set[str]] = {}
    if not attempt_ids:
        return found
    rows = session.execute(
        select(GradeChange.attempt_id, GradeChange.question_id).where(
            GradeChange.attempt_id.in_(attempt_ids), GradeChange.kind.in_(sorted(PERSON_KINDS))
        )
    )
    for attempt_id, question_id in rows:
        found.setdefault(attempt_id, set()).add(question_id)
    return found


def stored_answers(session: Session, attempt_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if not attempt_ids:
        return found
    rows = session.execute(
        select(Response.attempt_id, Response.question_id, Response.answer).where(
            Response.attempt_id.in_(attempt_ids)
        )
    )
    for attempt_id, question_id, answer in rows:
        found.setdefault(attempt_id, {})[question_id] = answer
    return found


class RegradeStore(ReviewStore):
    """Regrade jobs; a job's attempts change through ``update_attempt_result`` (row lock,
    revision, AGS score and webhooks) like any other grade change."""

    def load_exam(self, exam_id: str) -> Exam | None:
        """The exam as stored now (not a cached copy)."""
        with self.session() as session:
            return session.get(Exam, exam_id)

    def graded_attempts(self, exam_id: str) -> list[Attempt]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(Attempt)
                    .where(Attempt.exam_id == exam_id, Attempt.status == "graded")
                    .order_by(Attempt.started_at, Attempt.id)
                )
            )

    def regrade_preview(
        self,
        exam: Exam,
        questions: list[dict[str, Any]],
        options: RegradeOptions,
        grade_many: GradeMany,
    ) -> list[tuple[Attempt, AttemptRegrade]]:
        """Every graded attempt of ``exam`` as ``options`` would regrade it with
        ``questions``; nothing is written."""
        attempts = self.graded_attempts(exam.id)
        previews: list[tuple[Attempt, AttemptRegrade]] = []
        chunk = 500
        for start in range(0, len(attempts), chunk):
            part = attempts[start : start + chunk]
            ids = [attempt.id for attempt in part]
            with self.session() as session:
                answers = stored_answers(session, ids)
                decided = decided_questions(session, ids)
            for attempt in part:
                regrade = regrade_result(
                    attempt.result or {},
                    questions,
                    attempt.layout,
                    answers.get(attempt.id, {}),
                    grade_many,
                    options,
                    decided.get(attempt.id, set()),
                )
                previews.append((attempt, regrade))
        return previews

    def create_regrade_job(
        self,
        exam_id: str,
        options: RegradeOptions,
        created_by: int | None,
        now: datetime,
        refresh: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    ) -> RegradeJob | None:
        """Start a job over every graded attempt of the exam (None: no such exam).

        ``refresh`` rebuilds the exam's questions (keys from the current bank); it runs on
        the locked exam row, whose questions are replaced in the same transaction that
        starts the job, so attempts graded from then on use the new keys and the job
        regrades every attempt graded before."""
        refreshed = False
        with self.write_session() as session:
            exam = session.scalar(select(Exam).where(Exam.id == exam_id).with_for_update())
            if exam is None:
                return None
            if refresh is not None:
                questions = refresh(list(exam.questions))
                if questions != exam.questions:
                    exam.questions = questions
                    exam.keys_revision = int(exam.keys_revision or 0) + 1
                    refreshed = True
            attempt_ids = list(
                session.scalars(
                    select(Attempt.id)
                    .where(Attempt.exam_id == exam_id, Attempt.status == "graded")
                    .order_by(Attempt.started_at, Attempt.id)
                )
            )
            job = RegradeJob(
                id=new_id(),
                exam_id=exam_id,
                status="queued" if attempt_ids else "done",
                options=options.to_dict(),
                questions=list(exam.questions),
                total=len(attempt_ids),
                done=0,
                changed=0,
                unchanged=0,
                error_count=0,
                created_by=created_by,
                created_at=now,
                finished_at=None if attempt_ids else now,
            )
            session.add(job)
            session.flush()
            session.add_all(
                _outbox_message(
                    "regrade",
                    f"regrade:{job.id}:{attempt_id}",
                    f"regrade_job:{job.id}",
                    {"job_id": job.id, "attempt_id": attempt_id},
                    now,
                    attempt_id=attempt_id,
                )
                for attempt_id in attempt_ids
            )
        if refreshed:
            self.exam_changed(exam_id)
        if attempt_ids:
            self._notify_outbox()
        return job

    def get_regrade_job(self, job_id: str) -> RegradeJob | None:
        with self.session() as session:
            return session.get(RegradeJob, job_id)

    def regrade_job_errors(
        self, job_id: str, limit: int = MAX_JOB_ERRORS_SHOWN
    ) -> list[RegradeJobItem]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(RegradeJobItem)
                    .where(RegradeJobItem.job_id == job_id, RegradeJobItem.outcome == "error")
                    .order_by(RegradeJobItem.processed_at, RegradeJobItem.attempt_id)
                    .limit(limit)
                )
            )

    def pending_regrade_messages(self, job_id: str) -> int:
        """The job's messages not yet delivered (pending; failed ones count as left)."""
        with self.session() as session:
            return (
                session.scalar(
                    select(func.count()).where(
                        OutboxMessage.kind == "regrade",
                        OutboxMessage.target == f"regrade_job:{job_id}",
                        OutboxMessage.status != "delivered",
                    )
                )
                or 0
            )

    def regrade_job_attempt(
        self, plan: RegradePlan, attempt_id: str, now: datetime, grade_many: GradeMany
    ) -> str:
        """Regrade one attempt for a job, once: in one transaction under the attempt's row
        lock, the new grades, their audit rows, the revision, the AGS score and the
        ``attempt.regraded`` webhooks, the job's item and its counters. Returns the
        outcome: changed, unchanged, error, or repeat (this job already did it)."""
        outcome = "repeat"

        def change(session: Session, attempt: Attempt) -> tuple[dict[str, Any], list[str]] | None:
            nonlocal outcome
            if session.get(RegradeJobItem, (plan.job_id, attempt.id)) is not None:
                outcome = "repeat"
                return None
            error: str | None = None
            regrade = AttemptRegrade(None)
            try:
                if attempt.status != "graded" or attempt.result is None:
                    raise ValueError("the attempt is not graded")
                regrade = regrade_result(
                    attempt.result,
                    plan.questions,
                    attempt.layout,
                    stored_answers(session, [attempt.id]).get(attempt.id, {}),
                    grade_many,
                    plan.options,
                    decided_questions(session, [attempt.id]).get(attempt.id, set()),
                )
            except (ValueError, KeyError, TypeError) as exc:
                # The answers or keys do not fit (a grading error, not an outage): recorded
                # with the job rather than retried.
                error = f"{type(exc).__name__}: {exc}"[:500]
            outcome = "error" if error else ("changed" if regrade.changed else "unchanged")
            session.add(
                RegradeJobItem(
                    job_id=plan.job_id,
                    attempt_id=attempt.id,
                    outcome=outcome,
                    questions_changed=len(regrade.changes),
                    error=error,
                    processed_at=now,
                )
            )
            _count(session, plan.job_id, outcome, now)
            if regrade.result is None:
                return None
            comment = change_comment(plan.job_id, plan.options.policy)
            pending = {
                review.question_id: review
                for review in session.scalars(
                    select(GradeReview).where(
                        GradeReview.attempt_id == attempt.id, GradeReview.status == "pending"
                    )
                )
            }
            for question in regrade.changes:
                session.add(
                    GradeChange(
                        id=new_id(),
                        attempt_id=attempt.id,
                        question_id=question.question_id,
                        kind="regrade",
                        changed_by=plan.created_by,
                        changed_at=now,
                        before=question.before,
                        after=question.after,
                        comment=comment,
                        grader_version=question.item.get("grader_version"),
                    )
                )
                review = pending.get(question.question_id)
                if review is not None:
                    # The queue shows the person the grade the machine gives now.
                    review.automatic = automatic_grade(question.item)
            result = dict(regrade.result)
            result["last_change"] = last_change(
                attempt.layout, regrade, plan.job_id, plan.options.policy
            )
            return result, ["attempt.regraded"]

        self.update_attempt_result(attempt_id, now, change)
        return outcome


def _count(session: Session, job_id: str, outcome: str, now: datetime) -> None:
    """One more attempt done, in one statement (concurrent workers never lose a count)."""
    errors = int(outcome == "error")
    finishing = RegradeJob.done + 1 >= RegradeJob.total
    session.execute(
        update(RegradeJob)
        .where(RegradeJob.id == job_id)
        .values(
            done=RegradeJob.done + 1,
            changed=RegradeJob.changed + int(outcome == "changed"),
            unchanged=RegradeJob.unchanged + int(outcome == "unchanged"),
            error_count=RegradeJob.error_count + errors,
            status=case(
                (finishing & (RegradeJob.error_count + errors > 0), "failed"),
                (finishing, "done"),
                else_="running",
            ),
            started_at=func.coalesce(RegradeJob.started_at, now),
            finished_at=case((finishing, now), else_=RegradeJob.finished_at),
        )
    )


def regrade_sender(
    store: RegradeStore, grade_many: GradeMany, clock: Callable[[], datetime]
) -> Callable[[OutboxMessage], int]:
    """The outbox sender of ``regrade`` messages: one attempt of one job each. Jobs' plans
    are kept per process (they never change)."""
    plans: dict[str, RegradePlan] = {}
    lock = threading.Lock()

    def plan_of(job_id: str) -> RegradePlan:
        with lock:
            found = plans.get(job_id)
        if found is None:
            job = store.get_regrade_job(job_id)
            if job is None:
                raise LookupError(f"no regrade job {job_id!r}")
            found = RegradePlan.of(job)
            with lock:
                plans[job_id] = found
                while len(plans) > 64:
                    plans.pop(next(iter(plans)))
        return found

    def send(message: OutboxMessage) -> int:
        payload = message.payload
        plan = plan_of(str(payload["job_id"]))
        store.regrade_job_attempt(plan, str(payload["attempt_id"]), clock(), grade_many)
        return 200

    return send
