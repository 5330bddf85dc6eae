"""Persistence: every database read and write of the service goes through ``Store``.

SQLAlchemy 2 on SQLite (default, zero set-up) or PostgreSQL; the schema is owned by the
Alembic migrations in ``quizsvc/migrations``. Exams keep a frozen copy of their questions and
keys, so later bank edits never change a past exam or its grades.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    TypeDecorator,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

ROLES = ("admin", "instructor", "learner")
KEY_PREFIX = "qz_"


class StoreUnavailable(RuntimeError):
    """The database cannot be reached right now; the request may be retried."""


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    learner_id: Mapped[str | None] = mapped_column(String(200), index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


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


@dataclass(frozen=True)
class Principal:
    key_id: int
    role: str
    learner_id: str | None


def hash_key(key: str) -> str:
    # API keys are 256-bit random tokens, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_id() -> str:
    return uuid.uuid4().hex


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction; database outages surface as :class:`StoreUnavailable`."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except (OperationalError, DBAPIError) as exc:
            session.rollback()
            if isinstance(exc, OperationalError) or exc.connection_invalidated:
                raise StoreUnavailable(str(exc.orig)) from exc
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> bool:
        try:
            with self.session() as session:
                session.execute(text("SELECT 1"))
        except StoreUnavailable:
            return False
        return True

    # -- API keys ---------------------------------------------------------------------------

    def create_key(
        self,
        role: str,
        learner_id: str | None = None,
        label: str | None = None,
        now: datetime | None = None,
    ) -> tuple[str, ApiKey]:
        """A new random key, returned once; only its hash is stored."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if role == "learner" and not learner_id:
            raise ValueError("a learner key needs a learner id")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(
            key_hash=hash_key(key),
            prefix=key[:10],
            role=role,
            learner_id=learner_id if role == "learner" else None,
            label=label,
            created_at=now or datetime.now(UTC),
        )
        with self.session() as session:
            session.add(record)
        return key, record

    def principal_for(self, key: str) -> Principal | None:
        with self.session() as session:
            record = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
            if record is None or record.revoked_at is not None:
                return None
            return Principal(record.id, record.role, record.learner_id)

    # -- exams ------------------------------------------------------------------------------

    def add_exam(self, exam: Exam) -> Exam:
        with self.session() as session:
            session.add(exam)
        return exam

    def get_exam(self, exam_id: str) -> Exam | None:
        with self.session() as session:
            return session.get(Exam, exam_id)

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

    def count_attempts(self, exam_id: str, learner_id: str) -> int:
        with self.session() as session:
            return (
                session.scalar(
                    select(func.count()).where(
                        Attempt.exam_id == exam_id, Attempt.learner_id == learner_id
                    )
                )
                or 0
            )

    def add_attempt(self, attempt: Attempt) -> Attempt:
        with self.session() as session:
            session.add(attempt)
        return attempt

    def get_attempt(self, attempt_id: str) -> Attempt | None:
        with self.session() as session:
            return session.get(Attempt, attempt_id)

    def responses(self, attempt_id: str) -> dict[str, Response]:
        with self.session() as session:
            rows = session.scalars(select(Response).where(Response.attempt_id == attempt_id))
            return {row.question_id: row for row in rows}

    def save_response(
        self, attempt_id: str, question_id: str, answer: Any, now: datetime, accept_until: datetime
    ) -> Response | None:
        """Upsert one answer (last write wins); None when the attempt is closed or past time.

        The status and time check and the write happen in one transaction, under a row lock
        on PostgreSQL, so a concurrent submit cannot grade without an answer that was
        acknowledged.
        """
        with self.session() as session:
            attempt = session.scalar(
                select(Attempt).where(Attempt.id == attempt_id).with_for_update()
            )
            if attempt is None or attempt.status != "in_progress" or now > accept_until:
                return None
            values = {
                "attempt_id": attempt_id,
                "question_id": question_id,
                "answer": answer,
                "saved_at": now,
                "revision": 1,
            }
            insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
            statement = insert(Response).values(**values)
            statement = statement.on_conflict_do_update(
                index_elements=[Response.attempt_id, Response.question_id],
                set_={
                    "answer": statement.excluded.answer,
                    "saved_at": statement.excluded.saved_at,
                    "revision": Response.revision + 1,
                },
            )
            session.execute(statement)
            return session.get(Response, (attempt_id, question_id), populate_existing=True)

    def finalize_attempt(
        self,
        attempt_id: str,
        now: datetime,
        finalized_by: str,
        grade: Callable[[Attempt, dict[str, Response]], dict[str, Any]],
    ) -> Attempt | None:
        """Grade an attempt exactly once.

        The attempt row is locked while grading, so concurrent submits (or a submit racing
        the expiry sweep) wait and then see the stored result instead of grading again.
        """
        with self.session() as session:
            attempt = session.scalar(
                select(Attempt).where(Attempt.id == attempt_id).with_for_update()
            )
            if attempt is None or attempt.status == "graded":
                return attempt
            rows = session.scalars(select(Response).where(Response.attempt_id == attempt_id))
            result = grade(attempt, {row.question_id: row for row in rows})
            attempt.status = "graded"
            attempt.submitted_at = now
            attempt.finalized_by = finalized_by
            attempt.score = float(result["score"])
            attempt.result = result
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

    def expired_attempt_ids(
        self, now: datetime, grace_seconds_max: int | None = None
    ) -> Sequence[str]:
        """In-progress attempts whose deadline has passed (grace is checked by the caller)."""
        with self.session() as session:
            return list(
                session.scalars(
                    select(Attempt.id).where(
                        Attempt.status == "in_progress", Attempt.deadline < now
                    )
                )
            )
