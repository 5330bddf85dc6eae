from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from quizsvc.cli import main
from quizsvc.migrate import current_revision
from quizsvc.store import Attempt, Exam, Store, hash_key


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "QUIZSVC_INSTANCE_DIR": str(tmp_path),
        "QUIZSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
    }


def test_db_upgrade_reaches_head(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert current_revision(env["QUIZSVC_DATABASE_URL"]) in result.output


def test_keys_are_printed_once_and_stored_hashed(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["keys", "create", "--role", "learner", "--learner", "ada"], env=env
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    store = Store(env["QUIZSVC_DATABASE_URL"])
    principal = store.principal_for(key)
    assert principal is not None
    assert (principal.role, principal.learner_id) == ("learner", "ada")
    with sqlite3.connect(env["QUIZSVC_DATABASE_URL"].removeprefix("sqlite:///")) as db:
        rows = db.execute("SELECT * FROM api_keys").fetchall()
    stored = " ".join(str(value) for row in rows for value in row)
    assert key not in stored
    assert hash_key(key) in stored


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "learner"], "--learner is required"),
        (["--role", "instructor", "--learner", "ada"], "only to learner keys"),
        (["--role", "owner"], "Invalid value for '--role'"),
    ],
)
def test_key_creation_errors_are_readable(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["keys", "create", *args], env=env)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.model
def test_finalize_expired_grades_attempts_whose_time_is_over(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    store = Store(env["QUIZSVC_DATABASE_URL"])
    _, staff = store.create_key("instructor")
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    question = {
        "delivery": {
            "id": "q1",
            "type": "fill_in",
            "topic": "metrics",
            "prompt": "F1 is the ___ mean.",
        },
        "key": {
            "question_id": "q1",
            "type": "fill_in",
            "card_id": "c1",
            "deck": "aws-ml-modeling",
            "topic": "metrics",
            "prompt": "F1 is the ___ mean.",
            "answer": "harmonic",
            "accept": ["harmonic"],
            "key_points": ["harmonic"],
        },
    }
    store.add_exam(
        Exam(
            id="e1",
            title="t",
            deck="aws-ml-modeling",
            owner_learner_id=None,
            created_by=staff.id,
            blueprint={"counts": {"fill_in": 1}, "seed": 1},
            questions=[question],
            time_limit_seconds=60,
            grace_seconds=0,
            max_attempts=None,
            pass_mark=50.0,
            created_at=long_ago,
        )
    )
    for attempt_id, deadline in [
        ("late", long_ago + timedelta(minutes=1)),
        ("running", datetime.now(UTC) + timedelta(hours=1)),
    ]:
        store.add_attempt(
            Attempt(
                id=attempt_id,
                exam_id="e1",
                learner_id="ada",
                started_at=long_ago,
                deadline=deadline,
                status="in_progress",
                layout=[{"question_id": "q1", "option_ids": []}],
            )
        )
    store.save_response("late", "q1", "Harmonic", long_ago, long_ago + timedelta(minutes=1))

    result = runner.invoke(main, ["attempts", "finalize-expired"], env=env)
    assert result.exit_code == 0, result.output
    assert "finalized 1 expired attempt" in result.output
    late = store.get_attempt("late")
    assert late is not None
    assert (late.status, late.finalized_by, late.score) == ("graded", "expiry", 1.0)
    running = store.get_attempt("running")
    assert running is not None
    assert running.status == "in_progress"


def test_serve_explains_a_model_it_cannot_load_instead_of_a_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    # One worker: with more, serve switches this process's metrics to multiprocess mode.
    result = CliRunner().invoke(
        main,
        ["serve", "--workers", "1"],
        env={**env, "QUIZSVC_MODEL": str(tmp_path / "no-such-model")},
    )
    assert result.exit_code == 1
    assert "is not a local model directory" in result.output
    assert "Traceback" not in result.output
