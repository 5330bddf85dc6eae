"""The engine and transactions every part of the store shares, and the column types.

Persistence is split by aggregate (API keys, exams and attempts, LMS and outbox), each a mixin
of :class:`StoreBase` in its own module; :class:`quizsvc.store.Store` combines them behind
one engine. The schema is owned by the Alembic migrations in ``quizsvc/migrations``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


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
    if not database.exists():
        # Never an existing file: closing any descriptor of a file drops every POSIX lock
        # this process holds on it, the locks of its SQLite connections (another Store on
        # the same file) included; a second process would then take the file for unused and
        # delete its WAL and shared memory under them (sqlite.org/howtocorrupt.html, 2.2).
        with contextlib.suppress(FileExistsError):
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
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


class StoreBase:
    """One engine and its sessions; the aggregate mixins add their tables' reads and writes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: Called (without arguments) after a commit that added outbox messages.
        self.outbox_listeners: list[Callable[[], None]] = []
        self._memory_lock = threading.Lock()
        self._autocommit_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")

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

    def exam_changed(self, exam_id: str) -> None:
        """Called after an exam's stored questions changed (a regrade refreshed its keys):
        the parts that keep exams in memory forget this one."""

    def _notify_outbox(self) -> None:
        for listener in list(self.outbox_listeners):
            listener()
