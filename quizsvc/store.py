"""Persistence: every database read and write of the service goes through ``Store``.

SQLAlchemy 2 on SQLite (default, zero set-up) or PostgreSQL; the schema is owned by the
Alembic migrations in ``quizsvc/migrations``. Exams keep a frozen copy of their questions and
keys, so later bank edits never change a past exam or its grades.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.sql import Executable

ROLES = ("admin", "instructor", "learner")
#: Exams kept in memory per process (each holds its questions; a 65-question exam is ~60 KB).
EXAM_CACHE_SIZE = 256
#: Attempt headers (the fields that never change after start) kept per process.
ATTEMPT_HEADER_CACHE_SIZE = 10_000
#: How long a key this process verified counts as known. Known or not, a key is looked up on
#: every request (so a revocation applies at once); a known key is only exempt from being
#: refused unseen when its client's address is over the failed-authentication limit.
PRINCIPAL_CACHE_SECONDS = 30.0
AGS_SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
OUTBOX_KINDS = ("ags_score", "webhook")
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
    #: When learners may see score, verdicts, feedback and correct answers
    #: (``quizsvc.review_policy.ReviewOptions.to_dict``); None: the default for its kind.
    review: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True, default=None)
    #: No attempt starts after this; the exam is then closed for review (None: never).
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, default=None)


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


class LtiRegistration(Base):
    """An LMS platform this tool trusts (LTI 1.3), by issuer and client id."""

    __tablename__ = "lti_registrations"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500), index=True)
    client_id: Mapped[str] = mapped_column(String(200))
    deployment_ids: Mapped[list[str]] = mapped_column(JSON)
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    jwks_url: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LtiKey(Base):
    """The tool's own RSA signing keys; only the newest unretired one signs."""

    __tablename__ = "lti_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Retired keys stay published for a while so tokens signed just before still verify.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LtiLoginState(Base):
    """One OIDC login initiation: its ``state`` (bound to a browser cookie) and ``nonce``."""

    __tablename__ = "lti_login_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("lti_registrations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LtiLaunch(Base):
    """The LMS context of an attempt started by an LTI launch, for grade passback."""

    __tablename__ = "lti_launches"

    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), primary_key=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("lti_registrations.id"))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str | None] = mapped_column(String(255))
    lineitem_url: Mapped[str | None] = mapped_column(String(1000))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(1000))
    secret: Mapped[str] = mapped_column(String(200))
    #: None: every exam.
    exam_id: Mapped[str | None] = mapped_column(ForeignKey("exams.id"), index=True)
    events: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """A message to another system, written in the same transaction as what caused it.

    ``kind`` is ``ags_score`` or ``webhook``. A message is delivered at most once
    (``idempotency_key`` is unique and a worker claims a row before sending it) and is
    retried with backoff until it is delivered or its attempts run out (``failed``).
    """

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    attempt_id: Mapped[str | None] = mapped_column(ForeignKey("attempts.id"), index=True)
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("webhook_subscriptions.id"), index=True
    )
    target: Mapped[str] = mapped_column(String(1000))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: pending -> delivered | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    #: One entry per try: {"at", "status_code", "error"}.
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class AttemptHeader:
    """The parts of an attempt fixed when it starts, safe to keep in memory."""

    id: str
    exam_id: str
    learner_id: str
    started_at: datetime
    deadline: datetime
    #: Question order and the attempt's public ids (see ``quizsvc.attempts.make_layout``).
    layout: list[dict[str, Any]]


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


def restrict_sqlite_file(url: str) -> None:
    """Create the SQLite file owner-only (0600), or make an existing one so: it holds
    webhook secrets and LTI private keys. SQLite gives its -wal and -shm files the database
    file's permissions."""
    path = url.removeprefix("sqlite:///")
    if not url.startswith("sqlite:///") or not path or path == ":memory:":
        return
    database = Path(path)
    if not database.parent.is_dir():
        return
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    if database.stat().st_mode & 0o077:
        database.chmod(0o600)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        restrict_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # No pre-ping: it would cost every request (autosave above all) an extra round trip. A
    # connection found dead invalidates the whole pool instead; that request answers 503 with
    # Retry-After and the next reconnects. Recycling keeps idle connections younger than
    # typical server and proxy idle timeouts.
    return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)


@contextmanager
def unavailable_on_outage() -> Iterator[None]:
    """Database outages (refused or dropped connections) surface as :class:`StoreUnavailable`."""
    try:
        yield
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise StoreUnavailable(str(exc.orig)) from exc
        raise


def upsert_open_response_statement(dialect: str) -> Executable:
    """Insert or overwrite one answer, only while its attempt is in progress.

    Built once per store: the autosave hot path then only binds parameters. On PostgreSQL
    the select takes a share lock on the attempt row, which waits for a submit in progress
    (that holds the row exclusively while grading) and then sees it graded, so a submit
    never grades without an answer that was acknowledged, while autosaves to one attempt do
    not queue behind each other. SQLite serialises writers anyway.
    """
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    open_attempt = (
        select(
            Attempt.id,
            bindparam("question_id", type_=String()),
            bindparam("answer", type_=JSON()),
            bindparam("saved_at", type_=UTCDateTime()),
            bindparam("first_revision", 1, type_=Integer()),
        )
        .where(Attempt.id == bindparam("attempt_id"), Attempt.status == "in_progress")
        .with_for_update(read=True)
    )
    statement = insert(Response).from_select(
        ["attempt_id", "question_id", "answer", "saved_at", "revision"], open_attempt
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


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: Called (without arguments) after a commit that added outbox messages.
        self.outbox_listeners: list[Callable[[], None]] = []
        # Exams never change once stored (their questions are frozen), so every replica may
        # keep them: autosave and attempt reads then skip the query and the JSON decoding.
        self._exams: OrderedDict[str, Exam] = OrderedDict()
        self._attempt_headers: OrderedDict[str, AttemptHeader] = OrderedDict()
        #: Key hash -> monotonic time until which the key counts as recently verified.
        self._recently_verified: dict[str, float] = {}
        self._principal_query = select(ApiKey.id, ApiKey.role, ApiKey.learner_id).where(
            ApiKey.key_hash == bindparam("digest"), ApiKey.revoked_at.is_(None)
        )
        self._memory_lock = threading.Lock()
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._upsert_open_response = upsert_open_response_statement(self.engine.dialect.name)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction; database outages surface as :class:`StoreUnavailable`."""
        session = self._sessions()
        try:
            with unavailable_on_outage():
                yield session
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """One transaction that reads, decides and writes with no other write in between.

        On SQLite it opens with ``BEGIN IMMEDIATE``, taking the database's single write lock
        before the first read: a concurrent writer (an autosave, another start) waits for the
        commit (``busy_timeout``) and then sees this transaction's outcome. The driver's own
        BEGIN comes only before the first INSERT/UPDATE, so what was read before could change
        before the write, and SQLite ignores ``FOR UPDATE``. On PostgreSQL it is a plain
        transaction: callers lock what they need (``FOR UPDATE``, an advisory lock), so
        unrelated writers are not held up.
        """
        with self.session() as session:
            if self.engine.dialect.name == "sqlite":
                # The driver, seeing a transaction open, adds no BEGIN of its own; the
                # session's commit or rollback ends this one.
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection whose every statement is its own transaction: for single-statement
        writes on hot paths, which then cost one round trip instead of BEGIN, the statement
        and COMMIT."""
        with unavailable_on_outage(), self._autocommit_engine.connect() as connection:
            yield connection

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
        """The key's principal; None when the key is unknown or revoked.

        Looked up on every call, so a revocation applies at once in every worker and replica.
        Keeping verified keys in memory let a revoked key work for up to 30 s on other
        workers, and checking a shared revocation counter instead would cost the same single
        round trip as this one-statement lookup (measured: about 60 us on SQLite, 160 us on a
        local PostgreSQL).
        """
        digest = hash_key(key)
        with self.autocommit() as connection:
            row = connection.execute(self._principal_query, {"digest": digest}).first()
        with self._memory_lock:
            if row is None:
                self._recently_verified.pop(digest, None)
                return None
            if len(self._recently_verified) > ATTEMPT_HEADER_CACHE_SIZE:
                self._recently_verified.clear()
            self._recently_verified[digest] = time.monotonic() + PRINCIPAL_CACHE_SECONDS
        key_id, role, learner_id = row
        return Principal(key_id, role, learner_id)

    def recently_verified(self, key: str) -> bool:
        """Whether this process verified ``key`` within :data:`PRINCIPAL_CACHE_SECONDS`.

        Memory only, no database access, and no proof the key is still valid: it tells a
        client that recently authenticated from one that is guessing.
        """
        with self._memory_lock:
            until = self._recently_verified.get(hash_key(key))
        return until is not None and until > time.monotonic()

    def get_key(self, key_id: int) -> ApiKey | None:
        with self.session() as session:
            return session.get(ApiKey, key_id)

    def list_keys(
        self,
        role: str | None,
        learner_id: str | None,
        include_revoked: bool,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[list[ApiKey], int]:
        """Keys by id, and how many match in all; ``limit`` None returns every one."""
        query = select(ApiKey)
        if role is not None:
            query = query.where(ApiKey.role == role)
        if learner_id is not None:
            query = query.where(ApiKey.learner_id == learner_id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(ApiKey.id).offset(offset).limit(limit))
            return list(rows), total

    def count_active_keys(self, role: str) -> int:
        with self.session() as session:
            count = session.scalar(
                select(func.count())
                .select_from(ApiKey)
                .where(ApiKey.role == role, ApiKey.revoked_at.is_(None))
            )
            return int(count or 0)

    def revoke_key(self, key_id: int, now: datetime) -> ApiKey | None:
        """Mark the key revoked (once); every worker and replica refuses it from its next
        request, since :meth:`principal_for` reads the database each time."""
        with self.session() as session:
            record = session.get(ApiKey, key_id)
            if record is None:
                return None
            if record.revoked_at is None:
                record.revoked_at = now
        with self._memory_lock:
            self._recently_verified.pop(record.key_hash, None)
        return record

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

    def start_attempt(
        self,
        exam_id: str,
        learner_id: str,
        max_attempts: int | None,
        new_attempt: Callable[[], Attempt],
    ) -> tuple[Attempt | None, bool]:
        """The learner's attempt in progress at this exam, or a new one from ``new_attempt``
        while ``max_attempts`` allows: ``(attempt, created)``, ``(None, False)`` when all
        are used.

        Counting and inserting are serialised per (exam, learner): otherwise parallel starts
        each see no attempt in progress and each insert one, past ``max_attempts``. On
        PostgreSQL a transaction-scoped advisory lock on the pair does it (there may be no
        row to lock yet, and locking the exam row would queue the whole class); on SQLite the
        write lock of :meth:`write_session`.
        """
        with self.write_session() as session:
            if self.engine.dialect.name == "postgresql":
                # hashtext collisions only make two pairs wait for each other.
                session.execute(
                    select(
                        func.pg_advisory_xact_lock(
                            func.hashtext(exam_id), func.hashtext(learner_id)
                        )
                    )
                )
            attempts = list(
                session.scalars(
                    select(Attempt)
                    .where(Attempt.exam_id == exam_id, Attempt.learner_id == learner_id)
                    .order_by(Attempt.started_at, Attempt.id)
                )
            )
            for attempt in attempts:
                if attempt.status == "in_progress":
                    return attempt, False
            if max_attempts is not None and len(attempts) >= max_attempts:
                return None, False
            created = new_attempt()
            session.add(created)
        return created, True

    def attempt_header(self, attempt_id: str) -> AttemptHeader | None:
        """Exam, learner, start and deadline of an attempt: from memory after the first read."""
        with self._memory_lock:
            cached = self._attempt_headers.get(attempt_id)
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
        self, attempt_id: str, question_id: str, answer: Any, now: datetime, accept_until: datetime
    ) -> Response | None:
        """Upsert one answer (last write wins); None when the attempt is closed or past time.

        One statement, in a transaction of its own, checks the attempt is open and writes the
        answer (see :func:`upsert_open_response_statement`).
        """
        if now > accept_until:
            return None
        with self.autocommit() as connection:
            row = connection.execute(
                self._upsert_open_response,
                {
                    "attempt_id": attempt_id,
                    "question_id": question_id,
                    "answer": answer,
                    "saved_at": now,
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
        finalized_by: str,
        grade: Callable[[Attempt, dict[str, Response]], dict[str, Any]],
    ) -> Attempt | None:
        """Grade an attempt exactly once, with every answer acknowledged before it.

        The attempt row is locked while grading, so concurrent submits (or a submit racing
        the expiry sweep) wait and then see the stored result instead of grading again, and
        an autosave that has not committed yet waits too and then finds the attempt graded
        (409). On PostgreSQL that is the row lock against the autosave's share lock; on
        SQLite it is the write lock that :meth:`write_session` takes before the answers are
        read (holding every other write back while this attempt is graded: SQLite has one
        writer at a time anyway).
        """
        with self.write_session() as session:
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
            # Same transaction as the grade: a grade is never stored without its messages.
            enqueued = self._enqueue_attempt_graded(session, attempt, now)
        if enqueued:
            self._notify_outbox()
        return attempt

    def _enqueue_attempt_graded(self, session: Session, attempt: Attempt, now: datetime) -> int:
        result = attempt.result or {}
        count = 0
        launch = session.get(LtiLaunch, attempt.id)
        if launch is not None and launch.lineitem_url and AGS_SCORE_SCOPE in launch.scopes:
            session.add(
                _outbox_message(
                    "ags_score",
                    f"ags_score:{attempt.id}",
                    launch.lineitem_url,
                    {
                        "registration_id": launch.registration_id,
                        "score": {
                            "userId": launch.subject,
                            "scoreGiven": float(result.get("score", 0.0)),
                            "scoreMaximum": float(result.get("max_score", 0) or 0),
                            "activityProgress": "Completed",
                            "gradingProgress": "FullyGraded",
                            "timestamp": now.isoformat(),
                            "comment": f"Finalized by {attempt.finalized_by}.",
                        },
                    },
                    now,
                    attempt_id=attempt.id,
                )
            )
            count += 1
        subscriptions = session.scalars(
            select(WebhookSubscription).where(
                WebhookSubscription.active.is_(True),
                (WebhookSubscription.exam_id == attempt.exam_id)
                | WebhookSubscription.exam_id.is_(None),
            )
        )
        event_id = new_id()
        event = {
            "id": event_id,
            "type": "attempt.graded",
            "created_at": now.isoformat(),
            "data": {
                "attempt_id": attempt.id,
                "exam_id": attempt.exam_id,
                "learner_id": attempt.learner_id,
                "finalized_by": attempt.finalized_by,
                "submitted_at": now.isoformat(),
                "score": float(result.get("score", 0.0)),
                "max_score": result.get("max_score"),
                "percent": result.get("percent"),
                "passed": result.get("passed"),
            },
        }
        for subscription in subscriptions:
            if "attempt.graded" not in subscription.events:
                continue
            session.add(
                _outbox_message(
                    "webhook",
                    f"webhook:{subscription.id}:{event_id}",
                    subscription.url,
                    {"event": event},
                    now,
                    attempt_id=attempt.id,
                    subscription_id=subscription.id,
                )
            )
            count += 1
        return count

    def _notify_outbox(self) -> None:
        for listener in list(self.outbox_listeners):
            listener()

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

    # -- LTI ------------------------------------------------------------------------------------

    def add_registration(self, registration: LtiRegistration) -> LtiRegistration:
        with self.session() as session:
            session.add(registration)
        return registration

    def list_registrations(self) -> list[LtiRegistration]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(LtiRegistration).order_by(LtiRegistration.created_at, LtiRegistration.id)
                )
            )

    def get_registration(self, registration_id: str) -> LtiRegistration | None:
        with self.session() as session:
            return session.get(LtiRegistration, registration_id)

    def find_registrations(self, issuer: str, client_id: str | None) -> list[LtiRegistration]:
        query = select(LtiRegistration).where(LtiRegistration.issuer == issuer)
        if client_id:
            query = query.where(LtiRegistration.client_id == client_id)
        with self.session() as session:
            return list(session.scalars(query.order_by(LtiRegistration.created_at)))

    def add_lti_key(self, kid: str, private_pem: str, now: datetime) -> LtiKey:
        """A new signing key; the ones before it are retired (still published)."""
        key = LtiKey(kid=kid, private_pem=private_pem, created_at=now)
        with self.session() as session:
            session.execute(
                update(LtiKey).where(LtiKey.retired_at.is_(None)).values(retired_at=now)
            )
            session.add(key)
        return key

    def lti_keys(self) -> list[LtiKey]:
        """Every stored key, newest first."""
        with self.session() as session:
            return list(
                session.scalars(select(LtiKey).order_by(LtiKey.created_at.desc(), LtiKey.kid))
            )

    def delete_lti_keys_retired_before(self, cutoff: datetime) -> int:
        with self.session() as session:
            keys = session.scalars(select(LtiKey).where(LtiKey.retired_at < cutoff))
            count = 0
            for key in keys:
                session.delete(key)
                count += 1
            return count

    def add_login_state(self, state: LtiLoginState) -> LtiLoginState:
        """Store a login's state and nonce, dropping ones expired long enough ago that any
        id_token carrying them has expired too."""
        with self.session() as session:
            session.execute(
                delete(LtiLoginState).where(
                    LtiLoginState.expires_at < state.created_at - timedelta(hours=2)
                )
            )
            session.add(state)
        return state

    def consume_login_state(self, state: str, now: datetime) -> tuple[LtiLoginState | None, str]:
        """Mark a login state used, once: (row, "") or (row or None, why it cannot be used)."""
        with self.session() as session:
            row = session.get(LtiLoginState, state)
            if row is None:
                return None, "unknown"
            if row.expires_at < now:
                return row, "expired"
            claimed = session.execute(
                update(LtiLoginState)
                .where(LtiLoginState.state == state, LtiLoginState.used_at.is_(None))
                .values(used_at=now)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return row, "used"
            return row, ""

    def add_lti_attempt(self, attempt: Attempt, launch: LtiLaunch) -> Attempt:
        with self.session() as session:
            session.add(attempt)
            session.flush()
            session.add(launch)
        return attempt

    def save_launch(self, launch: LtiLaunch) -> LtiLaunch:
        """Record (or refresh, on a later launch of the same attempt) an attempt's LMS context."""
        with self.session() as session:
            return session.merge(launch)

    def get_launch(self, attempt_id: str) -> LtiLaunch | None:
        with self.session() as session:
            return session.get(LtiLaunch, attempt_id)

    # -- webhooks -----------------------------------------------------------------------------

    def add_subscription(self, subscription: WebhookSubscription) -> WebhookSubscription:
        with self.session() as session:
            session.add(subscription)
        return subscription

    def list_subscriptions(self) -> list[WebhookSubscription]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(WebhookSubscription).order_by(
                        WebhookSubscription.created_at, WebhookSubscription.id
                    )
                )
            )

    def page_subscriptions(self, offset: int, limit: int) -> tuple[list[WebhookSubscription], int]:
        """One page of the subscriptions, oldest first, and how many there are in all."""
        query = select(WebhookSubscription)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(WebhookSubscription.created_at, WebhookSubscription.id)
                .offset(offset)
                .limit(limit)
            )
            return list(rows), total

    def page_deliveries(
        self, subscription_id: str, offset: int, limit: int
    ) -> tuple[list[OutboxMessage], int]:
        """One page of a subscription's webhook messages, oldest first, and the total."""
        query = select(OutboxMessage).where(
            OutboxMessage.kind == "webhook", OutboxMessage.subscription_id == subscription_id
        )
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(OutboxMessage.created_at, OutboxMessage.id)
                .offset(offset)
                .limit(limit)
            )
            return list(rows), total

    def get_subscription(self, subscription_id: str) -> WebhookSubscription | None:
        with self.session() as session:
            return session.get(WebhookSubscription, subscription_id)

    def deactivate_subscription(self, subscription_id: str) -> bool:
        with self.session() as session:
            found = session.get(WebhookSubscription, subscription_id)
            if found is None:
                return False
            found.active = False
            return True

    # -- outbox -------------------------------------------------------------------------------

    def claim_due_messages(
        self, now: datetime, lease_until: datetime, limit: int = 50
    ) -> list[OutboxMessage]:
        """Due pending messages, each claimed by moving its next try to ``lease_until``.

        The claim is a conditional update, so when several workers (threads, processes,
        replicas) poll the same outbox each message goes to exactly one of them.
        """
        with self.session() as session:
            due = list(
                session.scalars(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(limit)
                )
            )
        claimed: list[OutboxMessage] = []
        for message_id in due:
            with self.session() as session:
                result = session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == message_id,
                        OutboxMessage.status == "pending",
                        OutboxMessage.next_attempt_at <= now,
                    )
                    .values(next_attempt_at=lease_until)
                )
                if getattr(result, "rowcount", 0) == 1:
                    message = session.get(OutboxMessage, message_id, populate_existing=True)
                    assert message is not None
                    claimed.append(message)
        return claimed

    def record_delivery(
        self,
        message_id: str,
        now: datetime,
        status_code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> OutboxMessage | None:
        """One try's outcome: delivered (no error), retry at ``next_attempt_at``, or failed."""
        with self.session() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None:
                return None
            message.attempts += 1
            message.last_status_code = status_code
            message.last_error = error
            message.log = [
                *message.log,
                {"at": now.isoformat(), "status_code": status_code, "error": error},
            ]
            if error is None:
                message.status = "delivered"
                message.delivered_at = now
            elif next_attempt_at is None:
                message.status = "failed"
            else:
                message.next_attempt_at = next_attempt_at
            return message

    def retry_message(self, message_id: str, now: datetime) -> OutboxMessage | None:
        """Put a failed (or pending) message back in line to be sent now."""
        with self.session() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.status == "delivered":
                return message
            message.status = "pending"
            message.next_attempt_at = now
        self._notify_outbox()
        return message

    def list_outbox(
        self,
        kind: str | None = None,
        attempt_id: str | None = None,
        subscription_id: str | None = None,
        status: str | None = None,
    ) -> list[OutboxMessage]:
        query = select(OutboxMessage)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        if attempt_id is not None:
            query = query.where(OutboxMessage.attempt_id == attempt_id)
        if subscription_id is not None:
            query = query.where(OutboxMessage.subscription_id == subscription_id)
        if status is not None:
            query = query.where(OutboxMessage.status == status)
        with self.session() as session:
            return list(session.scalars(query.order_by(OutboxMessage.created_at, OutboxMessage.id)))

    def count_pending_messages(self) -> int:
        with self.session() as session:
            return (
                session.scalar(select(func.count()).where(OutboxMessage.status == "pending")) or 0
            )


def _outbox_message(
    kind: str,
    idempotency_key: str,
    target: str,
    payload: dict[str, Any],
    now: datetime,
    attempt_id: str | None = None,
    subscription_id: str | None = None,
) -> OutboxMessage:
    return OutboxMessage(
        id=new_id(),
        kind=kind,
        idempotency_key=idempotency_key,
        attempt_id=attempt_id,
        subscription_id=subscription_id,
        target=target,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        log=[],
        created_at=now,
    )
