"""The shipped migrations form one line and can be undone and redone on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from quizsvc.migrate import alembic_config, current_revision, upgrade
from tests.conftest import POSTGRES_ADMIN_URL


def test_the_migrations_have_one_head() -> None:
    # Parallel work that branches the history would make `upgrade head` fail on every server.
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    import psycopg

    name = f"quizsvc_migrations_{uuid.uuid4().hex[:8]}"
    plain = POSTGRES_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_every_migration_downgrades_and_upgrades_again(empty_database: str) -> None:
    upgrade(empty_database)
    head = ScriptDirectory.from_config(alembic_config(empty_database)).get_current_head()
    assert current_revision(empty_database) == head
    tables = _tables(empty_database)

    command.downgrade(alembic_config(empty_database), "base")
    assert _tables(empty_database) == set()

    upgrade(empty_database)
    assert current_revision(empty_database) == head
    assert _tables(empty_database) == tables
