"""Exams (frozen questions and keys), attempts and their saved answers."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Integer,
    String,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    text,
)
from sqlalchemy import insert as insert_into
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import Executable

from quizsvc.accommodations import Accommodation
from quizsvc.persistence.base import (
    Base,
    StoreBase,
    StoreUnavailable,
    UTCDateTime,
    unavailable_on_outage,
)
from quizsvc.persistence.keys import ApiKey
from quizsvc.persistence.learning import record_learning_reviews
from quizsvc.persistence.lms import enqueue_result_messages
from quizsvc.persistence.reviews import add_reviews_for_graded

#: Exams kept in memory per process (each holds its questions; a 65-question exam is ~60 KB).
EXAM_CACHE_SIZE = 256
#: Attempt headers (the fields that never change after start) kept per process.
ATTEMPT_HEADER_CACHE_SIZE = 10_000
#: The deadline check of callers that give no grace: every deadline is after it.
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


class Exam(Base):
    __tablename__ = "exams"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    deck: Mapped[str] = mapped_column(String(80))
    #: The learner whose personal practice exam this is; None for instructor exams.
    owner_learner_id: Mapped[str | None] = mapped_column(String(200), index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    blueprint: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Frozen questions: a list of {"delivery": ..., "key": ...}.
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    time_limit_seconds: Mapped[int] = mapped_column(Integer)
    grace_seconds: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    pass_mark: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When learners may see score, verdicts, feedback and correct answers
    #: (``quizsvc.review_policy.ReviewOptions.to_dict``); None: the default for its kind.
    review: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True, default=None)
    #: No attempt starts before this (None: from creation).
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, default=None)
    #: No attempt starts after this, and attempts in progress end at it at the latest
    #: (``quizsvc.accommodations``); the exam is then closed for review (None: never).
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, default=None)
    #: Free answers graded with a confidence below this go to the review queue (None: only
    #: those the grader itself flags).
    review_below: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    #: Days after grading during which a learner may appeal a question (None: the default).
    appeal_days: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    #: Goes up each time a regrade rebuilds the frozen keys from the bank, so that every
    #: process notices its cached copy is stale before it grades with it.
    keys_revision: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class Attempt(Base):
    __tablename__ = "attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    exam_id: Mapped[str] = mapped_column(ForeignKey("exams.id"), index=True)
    learner_id: Mapped[str] = mapped_column(String(200), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: in_progress -> graded; ``finalized_by`` says whether by submit or by expiry.
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: Per-attempt order: [{"question_id": ..., "option_ids": [...]}, ...]
    layout: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finalized_by: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Response(Base):
    __tablename__ = "responses"

    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), primary_key=True)
    question_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[Any] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revision: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    #: The first autosave (None for answers saved before it was recorded): with
    #: ``saved_at``, how long the learner took over the question (``quizsvc.learning``).
    first_saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


@dataclass(frozen=True)
class AttemptHeader:
    """The parts of an attempt fixed when it starts, safe to keep in memory. The deadline
    is the one exception: an accommodation or a window change may move it, so a cached
    header is read again before an answer is refused for lateness, and the autosave
    statement checks the stored deadline itself."""

    id: str
    exam_id: str
    learner_id: str
    started_at: datetime
    deadline: datetime
    #: Question order and the attempt's public ids (see ``quizsvc.attempts.make_layout``).
    layout: list[dict[str, Any]]


@dataclass(frozen=True)
class LearnerExamState:
    """What decides whether a learner may start an attempt at an exam, and whether the exam
    has closed for them: their attempts (oldest first), their accommodation (None: none)
    and the exam's window as stored now (staff may change it; a cached exam would not
    know)."""

    attempts: list[Attempt]
    accommodation: Accommodation | None
    opens_at: datetime | None
    closes_at: datetime | None


def _in_progress_or_new(
    state: LearnerExamState, new_attempt: Callable[[LearnerExamState], Attempt | None]
) -> tuple[Attempt | None, bool]:
    """The learner's attempt in progress (``(attempt, False)``), else a new one from
    ``new_attempt`` (``(attempt, True)``), or ``(None, False)`` when none may be started."""
    for attempt in state.attempts:
        if attempt.status == "in_progress":
            return attempt, False
    created = new_attempt(state)
    return created, created is not None


def _learner_exam_state(session: Session, exam_id: str, learner_id: str) -> LearnerExamState:
    """One statement: the exam's window joined to the learner's accommodation and attempts
    (a row per attempt, or one row with none)."""
    from quizsvc.persistence.accommodations import AccommodationRow

    rows = session.execute(
        select(Exam.opens_at, Exam.closes_at, AccommodationRow, Attempt)
        .select_from(Exam)
        .outerjoin(
            AccommodationRow,
            and_(AccommodationRow.exam_id == Exam.id, AccommodationRow.learner_id == learner_id),
        )
        .outerjoin(Attempt, and_(Attempt.exam_id == Exam.id, Attempt.learner_id == learner_id))
        .where(Exam.id == exam_id)
        .order_by(Attempt.started_at, Attempt.id)
    ).all()
    if not rows:
        return LearnerExamState([], None, None, None)
    accommodation = rows[0][2]
    return LearnerExamState(
        attempts=[row[3] for row in rows if row[3] is not None],
        accommodation=accommodation.accommodation() if accommodation is not None else None,
        opens_at=rows[0][0],
        closes_at=rows[0][1],
    )


def upsert_open_response_statement(dialect: str) -> Executable:
    """Insert or overwrite one answer, only while its attempt is in progress.

    Built once per store: the autosave hot path then only binds parameters. On PostgreSQL
    the select takes a share lock on the attempt row, which waits for a submit in progress
    (that holds the row exclusively while grading) and then sees it graded, so a submit
    never grades without an answer that was acknowledged, while autosaves to one attempt do
    not queue behind each other. SQLite serialises writers anyway.

    ``key_id`` (or NULL) makes the write hold only while that API key is unrevoked: the
    autosave takes a key its worker verified moments ago from memory and lets this same
    statement confirm it, so the hot path stays one round trip and a revocation still
    applies at once.
    """
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    key_id = bindparam("key_id", type_=Integer())
    key_unrevoked = exists(
        select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    )
    open_attempt = (
        select(
            Attempt.id,
            bindparam("question_id", type_=String()),
            bindparam("answer", type_=JSON()),
            bindparam("saved_at", type_=UTCDateTime()),
            bindparam("first_revision", 1, type_=Integer()),
            bindparam("saved_at", type_=UTCDateTime()),
        )
        .where(
            Attempt.id == bindparam("attempt_id"),
            Attempt.status == "in_progress",
            # The stored deadline decides, not a cached one: staff may have moved it.
            Attempt.deadline >= bindparam("deadline_not_before", type_=UTCDateTime()),
            or_(key_id.is_(None), key_unrevoked),
        )
        .with_for_update(read=True)
    )
    statement = insert(Response).from_select(
        ["attempt_id", "question_id", "answer", "saved_at", "revision", "first_saved_at"],
        open_attempt,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Response.attempt_id, Response.question_id],
        set_={
            "answer": statement.excluded.answer,
            "saved_at": statement.excluded.saved_at,
            "revision": Response.revision + 1,
        },
    )
    return statement.returning(
        Response.attempt_id,
        Response.question_id,
        Response.answer,
        Response.saved_at,
        Response.revision,
    )


#: The per-(exam, learner) lock of a start (the accommodations' changes take the same one).
LEARNER_AT_EXAM_LOCK = select(
    func.pg_advisory_xact_lock(
        func.hashtext(bindparam("exam_id", type_=String())),
        func.hashtext(bindparam("learner_id", type_=String())),
    )
)
_BEGIN = text("BEGIN ISOLATION LEVEL READ COMMITTED")
_COMMIT = text("COMMIT")
_ATTEMPT_COLUMNS = tuple(column.key for column in Attempt.__table__.columns)
_INSERT_ATTEMPT = insert_into(Attempt)


@contextmanager
def _pipelined(connection: Connection) -> Iterator[None]:
    """The statements executed inside go to PostgreSQL together (libpq's pipeline mode) and
    their replies are read at the end: one round trip. Only statements whose rows nobody
    reads may run inside (SQLAlchemy reads a result's columns as soon as it executes).
    Errors come at the end, from psycopg itself: a lost connection is then invalidated and
    reported as an outage, as SQLAlchemy does for the statements it runs."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.pipeline():
            yield
    except psycopg.OperationalError as exc:
        connection.invalidate(exc)
        raise StoreUnavailable(str(exc)) from exc


class AttemptStore(StoreBase):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        # Exams' questions are frozen when stored (only a regrade that refreshes the keys
        # changes them, bumping ``keys_revision``), so every replica may keep them: autosave
        # and attempt reads then skip the query and the JSON decoding. Grading checks the
        # revision first (see ``finalize_attempt``).
        self._exams: OrderedDict[str, Exam] = OrderedDict()
        self._attempt_headers: OrderedDict[str, AttemptHeader] = OrderedDict()
        self._upsert_open_response = upsert_open_response_statement(self.engine.dialect.name)

    # -- exams ------------------------------------------------------------------------------

    def add_exam(self, exam: Exam) -> Exam:
        with self.session() as session:
            session.add(exam)
        return exam

    def get_exam(self, exam_id: str) -> Exam | None:
        with self._memory_lock:
            cached = self._exams.get(exam_id)
            if cached is not None:
                self._exams.move_to_end(exam_id)
                return cached
        with self.session() as session:
            exam = session.get(Exam, exam_id)
        if exam is not None:
            with self._memory_lock:
                self._exams[exam_id] = exam
                while len(self._exams) > EXAM_CACHE_SIZE:
                    self._exams.popitem(last=False)
        return exam

    def exam_changed(self, exam_id: str) -> None:
        with self._memory_lock:
            self._exams.pop(exam_id, None)
        super().exam_changed(exam_id)

    def _forget_stale_exam(self, exam_id: str, keys_revision: int) -> None:
        """Drop the cached exam when another process refreshed its keys (a regrade). The
        caller read ``keys_revision`` with a share lock on the exam row (PostgreSQL): it waits
        for a refresh in progress, and holds the next one off until the transaction ends, so
        an attempt is never graded with keys a regrade job started meanwhile has replaced."""
        with self._memory_lock:
            cached = self._exams.get(exam_id)
            if cached is not None and cached.keys_revision != keys_revision:
                del self._exams[exam_id]

    def list_exams(
        self, owner_learner_id: str | None, include_shared: bool, offset: int, limit: int
    ) -> tuple[list[Exam], int]:
        query = select(Exam)
        if owner_learner_id is not None:
            condition = Exam.owner_learner_id == owner_learner_id
            if include_shared:
                condition = condition | Exam.owner_learner_id.is_(None)
            query = query.where(condition)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(Exam.created_at.desc(), Exam.id).offset(offset).limit(limit)
            )
            return list(rows), total

    # -- attempts ---------------------------------------------------------------------------

    def add_attempt(self, attempt: Attempt) -> Attempt:
        with self.session() as session:
            session.add(attempt)
        return attempt

    def start_or_resume(
        self,
        exam_id: str,
        learner_id: str,
        new_attempt: Callable[[LearnerExamState], Attempt | None],
    ) -> tuple[Attempt | None, bool]:
        """The learner's attempt in progress at this exam, or the one ``new_attempt`` makes
        from the learner's attempts, accommodation and the exam's window as stored now
        (None: none may start): ``(attempt, created)``, ``(None, False)`` when none starts.

        Reading and inserting are serialised per (exam, learner): otherwise parallel starts
        each see no attempt in progress and each insert one, past the attempts allowed. On
        PostgreSQL a transaction-scoped advisory lock on the pair does it (there may be no
        row to lock yet, and locking the exam row would queue the whole class); on SQLite the
        write lock of :meth:`write_session`. An accommodation or window changed meanwhile
        waits for the same lock. After the lock, one statement reads all that decides (on
        PostgreSQL in three round trips in all: :meth:`_start_or_resume_postgresql`).
        """
        if self.engine.dialect.name == "postgresql":
            return self._start_or_resume_postgresql(exam_id, learner_id, new_attempt)
        with self.write_session() as session:
            state = _learner_exam_state(session, exam_id, learner_id)
            attempt, created = _in_progress_or_new(state, new_attempt)
            if not created:
                return attempt, False
            session.add(attempt)
        return attempt, True

    def _start_or_resume_postgresql(
        self,
        exam_id: str,
        learner_id: str,
        new_attempt: Callable[[LearnerExamState], Attempt | None],
    ) -> tuple[Attempt | None, bool]:
        """:meth:`start_or_resume` in three round trips instead of five.

        A class starting together waits on round trips more than on anything else (issue
        19's synchronized start): each blocks a sync worker, and on a busy machine each
        wake-up waits for a CPU. libpq's pipeline mode sends statements without waiting for
        each reply, so BEGIN goes with the advisory lock, and the INSERT with its COMMIT
        (the connection is in autocommit mode and the transaction is begun by a statement,
        since psycopg waits for a BEGIN of its own before sending more). The read stays a
        statement of its own after the lock: in READ COMMITTED a statement sees what was
        committed before it began, so only a read that begins once the lock is held sees
        the attempt that the start holding it before has just committed.

        The COMMIT stays synchronous: an acknowledged start (its deadline running) is not
        lost in a crash of PostgreSQL any more than an acknowledged answer is.
        """
        with (
            unavailable_on_outage(),
            self._autocommit_engine.connect() as connection,
            # Only for SQLAlchemy (it issues nothing in autocommit mode): the session below
            # joins it, and an exception before the COMMIT ends in a ROLLBACK.
            connection.begin(),
        ):
            with _pipelined(connection):
                connection.execute(_BEGIN)
                # hashtext collisions only make two pairs wait for each other.
                connection.execute(
                    LEARNER_AT_EXAM_LOCK, {"exam_id": exam_id, "learner_id": learner_id}
                )
            # The session reads the attempts as objects, inside the transaction above.
            with Session(bind=connection, expire_on_commit=False) as session:
                state = _learner_exam_state(session, exam_id, learner_id)
            created, new = _in_progress_or_new(state, new_attempt)
            if not new or created is None:
                return created, False
            with _pipelined(connection):
                connection.execute(
                    _INSERT_ATTEMPT,
                    {column: getattr(created, column) for column in _ATTEMPT_COLUMNS},
                )
                connection.execute(_COMMIT)
        return created, True

    def learner_exam_state(self, exam_id: str, learner_id: str) -> LearnerExamState:
        """The learner's attempts at the exam, their accommodation and the exam's window as
        stored now, in one statement."""
        with self.session() as session:
            return _learner_exam_state(session, exam_id, learner_id)

    def forget_attempt_header(self, attempt_id: str) -> None:
        """Drop the cached header (its deadline moved)."""
        with self._memory_lock:
            self._attempt_headers.pop(attempt_id, None)

    def attempt_header(self, attempt_id: str, fresh: bool = False) -> AttemptHeader | None:
        """Exam, learner, start and deadline of an attempt: from memory after the first read
        (``fresh``: from the database, e.g. when another process may have moved the deadline)."""
        with self._memory_lock:
            cached = None if fresh else self._attempt_headers.get(attempt_id)
            if cached is not None:
                return cached
        with self.session() as session:
            row = session.execute(
                select(
                    Attempt.exam_id,
                    Attempt.learner_id,
                    Attempt.started_at,
                    Attempt.deadline,
                    Attempt.layout,
                ).where(Attempt.id == attempt_id)
            ).one_or_none()
        if row is None:
            return None
        header = AttemptHeader(attempt_id, *row)
        with self._memory_lock:
            self._attempt_headers[attempt_id] = header
            while len(self._attempt_headers) > ATTEMPT_HEADER_CACHE_SIZE:
                self._attempt_headers.popitem(last=False)
        return header

    def get_attempt(self, attempt_id: str) -> Attempt | None:
        with self.session() as session:
            return session.get(Attempt, attempt_id)

    def responses(self, attempt_id: str) -> dict[str, Response]:
        with self.session() as session:
            rows = session.scalars(select(Response).where(Response.attempt_id == attempt_id))
            return {row.question_id: row for row in rows}

    def save_response(
        self,
        attempt_id: str,
        question_id: str,
        answer: Any,
        now: datetime,
        accept_until: datetime,
        grace_seconds: int | None = None,
        key_id: int | None = None,
    ) -> Response | None:
        """Upsert one answer (last write wins); None when the attempt is closed or past time.

        One statement, in a transaction of its own, checks the attempt is open and writes the
        answer (see :func:`upsert_open_response_statement`). With ``grace_seconds`` it also
        checks the stored deadline (which staff may have moved since ``accept_until`` was read);
        with ``key_id``, that this API key is not revoked (None then too).
        """
        if now > accept_until:
            return None
        deadline_not_before = (
            now - timedelta(seconds=grace_seconds) if grace_seconds is not None else _LONG_AGO
        )
        with self.autocommit() as connection:
            row = connection.execute(
                self._upsert_open_response,
                {
                    "attempt_id": attempt_id,
                    "question_id": question_id,
                    "answer": answer,
                    "saved_at": now,
                    "deadline_not_before": deadline_not_before,
                    "key_id": key_id,
                },
            ).one_or_none()
        if row is None:
            return None
        return Response(
            attempt_id=row.attempt_id,
            question_id=row.question_id,
            answer=row.answer,
            saved_at=row.saved_at,
            revision=row.revision,
        )

    def finalize_attempt(
        self,
        attempt_id: str,
        now: datetime,
        finalized_by: str | Callable[[Attempt], str],
        grade: Callable[[Attempt, dict[str, Response]], dict[str, Any]],
        learner_id: str | None = None,
    ) -> Attempt | None:
        """Grade an attempt exactly once, with every answer acknowledged before it.

        The attempt row is locked while grading, so concurrent submits (or a submit racing
        the expiry sweep) wait and then see the stored result instead of grading again, and
        an autosave that has not committed yet waits too and then finds the attempt graded
        (409). On PostgreSQL that is the row lock against the autosave's share lock; on
        SQLite it is the write lock that :meth:`write_session` takes before the answers are
        read (holding every other write back while this attempt is graded: SQLite has one
        writer at a time anyway).

        ``finalized_by`` may be decided from the locked attempt (a submit that comes after
        the attempt's time is an expiry); with ``learner_id``, another learner's attempt is
        None, as a missing one, so that a submit needs no read of its own before this one.
        """
        with self.write_session() as session:
            # The exam row's share lock, in the same statement, waits for a regrade
            # refreshing its keys and holds the next one off (see _forget_stale_exam).
            locked = session.execute(
                select(Attempt, Exam.keys_revision)
                .join(Exam, Exam.id == Attempt.exam_id)
                .where(Attempt.id == attempt_id)
                .with_for_update(of=Attempt)
                .suffix_with("FOR SHARE OF exams", dialect="postgresql")
            ).one_or_none()
            if locked is None:
                return None
            attempt, keys_revision = locked
            if learner_id is not None and attempt.learner_id != learner_id:
                return None
            if attempt.status == "graded":
                return attempt
            self._forget_stale_exam(attempt.exam_id, keys_revision)
            responses = {
                row.question_id: row
                for row in session.scalars(
                    select(Response).where(Response.attempt_id == attempt_id)
                )
            }
            result = grade(attempt, responses)
            attempt.status = "graded"
            attempt.submitted_at = now
            attempt.finalized_by = (
                finalized_by if isinstance(finalized_by, str) else finalized_by(attempt)
            )
            attempt.score = float(result["score"])
            attempt.result = result
            # Same transaction as the grade: a grade is never stored without its messages,
            # nor a question a person must look at without its place in the review queue.
            add_reviews_for_graded(session, attempt, now)
            # The questions it was graded with (cached by the grade) and the answers read
            # above: the learning log needs no read of its own for them.
            graded_with = self.get_exam(attempt.exam_id)
            record_learning_reviews(
                session,
                attempt,
                now,
                newly_graded=True,
                questions=graded_with.questions if graded_with is not None else None,
                responses=responses.values(),
            )
            enqueued = enqueue_result_messages(session, attempt, now, "attempt.graded")
        if enqueued:
            self._notify_outbox()
        return attempt

    def list_attempts(
        self, exam_id: str | None = None, learner_id: str | None = None
    ) -> list[Attempt]:
        query = select(Attempt)
        if exam_id is not None:
            query = query.where(Attempt.exam_id == exam_id)
        if learner_id is not None:
            query = query.where(Attempt.learner_id == learner_id)
        with self.session() as session:
            return list(session.scalars(query.order_by(Attempt.started_at, Attempt.id)))

    def page_attempts(self, exam_id: str, offset: int, limit: int) -> tuple[list[Attempt], int]:
        """One page of an exam's attempts, oldest first, and how many there are in all."""
        query = select(Attempt).where(Attempt.exam_id == exam_id)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(Attempt.started_at, Attempt.id).offset(offset).limit(limit)
            )
            return list(rows), total

    def learner_known(self, learner_id: str) -> bool:
        """Whether a learner id has a key or an attempt (revoked keys count: their
        learner's results stay readable)."""
        with self.session() as session:
            return (
                session.scalar(select(ApiKey.id).where(ApiKey.learner_id == learner_id).limit(1))
                is not None
                or session.scalar(
                    select(Attempt.id).where(Attempt.learner_id == learner_id).limit(1)
                )
                is not None
            )

    def expired_attempt_ids(self, now: datetime) -> Sequence[str]:
        """In-progress attempts whose deadline has passed (grace is checked by the caller)."""
        with self.session() as session:
            return list(
                session.scalars(
                    select(Attempt.id).where(
                        Attempt.status == "in_progress", Attempt.deadline < now
                    )
                )
            )
