"""Shared fixtures: settings, the real bank, the shared data folder and the real model.

The model fixture is session-scoped (loading it costs seconds), as sentence-transformers'
own test suite does.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from quizsvc.bank import Bank, load_bank
from quizsvc.config import ConfigError, Settings
from quizsvc.embedding import CachedEncoder, Encoder, HashingEncoder, SentenceTransformerEncoder
from quizsvc.embedding.factory import build_encoder
from quizsvc.exams.cloze import word_rarity
from quizsvc.exams.names import merged_glossary
from tests.lti_platform import Platform


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def shared_dir(settings: Settings) -> Path:
    """The read-only shared data folder. A fresh clone may not have one beside it: then the
    test is skipped with the setting's name, unless QUIZSVC_REQUIRE_SHARED=1 (set by CI),
    which makes its absence a failure."""
    try:
        return settings.require_shared_dir()
    except ConfigError as exc:
        if os.environ.get("QUIZSVC_REQUIRE_SHARED") == "1":
            pytest.fail(f"{exc} (QUIZSVC_REQUIRE_SHARED=1)")
        pytest.skip(f"{exc}; QUIZSVC_REQUIRE_SHARED=1 makes this a failure")


@pytest.fixture(scope="session")
def seed_path(shared_dir: Path) -> Path:
    path = shared_dir / "seeds" / "000_0a18b5b45fc26763.txt"
    if not path.is_file():
        pytest.fail(f"seed file {path} is missing from the shared data folder")
    return path


@pytest.fixture(scope="session")
def bank(settings: Settings) -> Bank:
    return load_bank(settings.bank_dir)


@pytest.fixture(scope="session")
def glossary(bank: Bank) -> dict[str, str]:
    """The bank deck's glossary under the default one, with its synonym groups, as exam
    building and grading see it."""
    return merged_glossary(bank.glossary("aws-ml-modeling"))


@pytest.fixture(scope="session")
def rarity(bank: Bank) -> dict[str, int]:
    """How rare each word is in the bank deck (the fill-in's choice of blank)."""
    return word_rarity(bank.select("aws-ml-modeling"))


@pytest.fixture(scope="session")
def model(settings: Settings) -> Encoder:
    """The real all-MiniLM-L6-v2 behind the configured backend, as the service runs it (on a
    CPU by default: ONNX Runtime, int8), loaded once per test session."""
    return build_encoder(settings, prepare=True)


@pytest.fixture(scope="session")
def torch_model() -> SentenceTransformerEncoder:
    """The real all-MiniLM-L6-v2 in sentence-transformers (the GPU backend)."""
    return SentenceTransformerEncoder(device="cpu")


@pytest.fixture(scope="session")
def bank_encoder(model: Encoder, tmp_path_factory: pytest.TempPathFactory) -> CachedEncoder:
    """The real model behind an embedding cache in a per-session temporary file."""
    return CachedEncoder(model, tmp_path_factory.mktemp("cache") / "embeddings.sqlite3")


@pytest.fixture
def fake_encoder() -> HashingEncoder:
    return HashingEncoder()


# -- the web app ------------------------------------------------------------------------------

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class FakeClock:
    """The server's clock, moved by tests instead of waiting."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    import psycopg

    admin = os.environ.get("QUIZSVC_TEST_POSTGRES_URL", POSTGRES_ADMIN_URL)
    name = f"quizsvc_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    plain = admin.replace("postgresql+psycopg://", "postgresql://")
    try:
        connection = psycopg.connect(plain, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {plain} (start it; .ci/run does): {exc}")
    with connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    from quizsvc.migrate import upgrade

    upgrade(url)
    yield url
    from sqlalchemy import create_engine

    create_engine(url).dispose()
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    from quizsvc.store import Base

    # Every table the service defines, so that a new aggregate's rows never leak between tests.
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each API test runs on a fresh SQLite file and on a clean PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'quizsvc.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture(scope="session")
def shared_instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One instance folder per session, so the bank embedding cache is filled once."""
    return tmp_path_factory.mktemp("instance")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(
    database_url: str,
    shared_instance_dir: Path,
    model: Encoder,
    clock: FakeClock,
) -> Flask:
    from quizsvc.app import create_app

    settings = Settings.from_env(
        instance_dir=shared_instance_dir, database_url=database_url, rate_limit="100000/minute"
    )
    return create_app({"SETTINGS": settings, "ENCODER": model, "CLOCK": clock, "TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_key(app: Flask) -> Callable[..., dict[str, str]]:
    """Creates an API key and returns the Authorization header for it."""

    def make(role: str, learner_id: str | None = None) -> dict[str, str]:
        key, _ = app.extensions["quizsvc"].store.create_key(role, learner_id)
        return {"Authorization": f"Bearer {key}"}

    return make


# -- outbox, webhooks and LTI -----------------------------------------------------------------


@pytest.fixture
def fast_outbox_app(
    database_url: str,
    shared_instance_dir: Path,
    model: Encoder,
    clock: FakeClock,
) -> Iterator[Flask]:
    """The app with an outbox worker that polls every 50 ms, stopped after the test."""
    from quizsvc.app import OUTBOX_WORKER_KEY, create_app

    settings = Settings.from_env(
        instance_dir=shared_instance_dir,
        database_url=database_url,
        rate_limit="100000/minute",
        insecure_cookies=True,
        # The test receivers and LMS platform listen on 127.0.0.1, which is refused by
        # default (SSRF guard); the default itself is tested in test_outbound_ssrf.py.
        outbound_allow_hosts="127.0.0.1",
    )
    app = create_app(
        {
            "SETTINGS": settings,
            "ENCODER": model,
            "CLOCK": clock,
            "TESTING": True,
            "OUTBOX_POLL_SECONDS": 0.05,
        }
    )
    yield app
    app.extensions[OUTBOX_WORKER_KEY].stop()


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.02)


# -- real HTTP servers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: Flask) -> Iterator[str]:
    """The app on a threaded werkzeug server on a free localhost port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def platform() -> Iterator[Platform]:
    """A test LMS (LTI 1.3 platform) over real HTTP, with its own signing key."""
    found = Platform()
    found.start()
    yield found
    found.stop()
