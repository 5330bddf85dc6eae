"""Shared fixtures: settings, the real bank, the shared data folder and the real model.

The model fixture is session-scoped (loading it costs seconds), as sentence-transformers'
own test suite does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from quizsvc.bank import Bank, load_bank
from quizsvc.config import ConfigError, Settings
from quizsvc.embedding import CachedEncoder, HashingEncoder, SentenceTransformerEncoder


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def shared_dir(settings: Settings) -> Path:
    """The read-only shared data folder; a missing one fails the test with the setting's name."""
    try:
        return settings.require_shared_dir()
    except ConfigError as exc:
        pytest.fail(str(exc))


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
def model() -> SentenceTransformerEncoder:
    """The real all-MiniLM-L6-v2, loaded once per test session."""
    return SentenceTransformerEncoder(device="cpu")


@pytest.fixture(scope="session")
def bank_encoder(
    model: SentenceTransformerEncoder, tmp_path_factory: pytest.TempPathFactory
) -> CachedEncoder:
    """The real model behind an embedding cache in a per-session temporary file."""
    return CachedEncoder(model, tmp_path_factory.mktemp("cache") / "embeddings.sqlite3")


@pytest.fixture
def fake_encoder() -> HashingEncoder:
    return HashingEncoder()
