"""``quizsvc exam build`` and ``quizsvc bank embed``."""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from quizsvc.bank import Bank
from quizsvc.cli import main
from quizsvc.config import Settings
from quizsvc.embedding import CachedEncoder, HashingEncoder
from quizsvc.exams import bank_texts
from quizsvc.runtime import EMBEDDING_CACHE_FILE

#: The module, not the ``exam`` command that shadows it on the package.
EXAM_CLI = importlib.import_module("quizsvc.cli.exam")
COMMON_CLI = importlib.import_module("quizsvc.cli.common")
BUILD = ["exam", "build", "--topics", "metrics,xgboost", "--mc", "4", "--fill", "2", "--free", "2"]


@pytest.fixture
def fake_cli_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI with the model-free encoder, for tests of the command itself."""
    monkeypatch.setattr(
        EXAM_CLI,
        "configured_encoder",
        lambda settings, show_progress=True: CachedEncoder(HashingEncoder()),
    )


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def loads(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.usefixtures("fake_cli_encoder")
def test_build_prints_the_delivery_view_and_with_key_the_keys(bank: Bank) -> None:
    delivery = loads(run(*BUILD, "--seed", "7"))
    assert delivery["blueprint"]["seed"] == 7
    assert delivery["blueprint"]["topics"] == ["metrics", "xgboost"]
    questions = delivery["questions"]
    assert [q["type"] for q in questions] == ["multiple_choice"] * 4 + ["fill_in"] * 2 + [
        "free_answer"
    ] * 2
    assert all(q["topic"] in {"metrics", "xgboost"} for q in questions)
    assert not any("key" in q or "answer" in q for q in questions)

    keyed = loads(run(*BUILD, "--seed", "7", "--key"))
    assert [entry["question"] for entry in keyed["questions"]] == questions
    for entry in keyed["questions"]:
        card = bank.card(entry["key"]["card_id"])
        assert entry["key"]["question_id"] == entry["question"]["id"]
        assert card.topic == entry["question"]["topic"]
    assert run(*BUILD, "--seed", "7").stdout == run(*BUILD, "--seed", "7").stdout


@pytest.mark.usefixtures("fake_cli_encoder")
def test_build_without_seed_prints_the_seed_that_rebuilds_it() -> None:
    first = loads(run(*BUILD))
    seed = first["blueprint"]["seed"]
    assert isinstance(seed, int)
    assert loads(run(*BUILD, "--seed", str(seed))) == first


@pytest.mark.usefixtures("fake_cli_encoder")
def test_build_reverse_multiple_response_difficulty_and_distractor_count(bank: Bank) -> None:
    # One multiple-response question: few list cards of one level have enough items known
    # to be wrong for them (exams/builder.py's multiple-response rules).
    level = next(card.difficulty for card in bank.cards if card.difficulty)
    data = loads(
        run(
            "exam",
            "build",
            "--mr",
            "1",
            "--reverse",
            "2",
            "--mc",
            "2",
            "--distractors",
            "4",
            "--difficulty",
            level,
            "--seed",
            "3",
            "--key",
        )
    )
    questions = data["questions"]
    assert [q["question"]["type"] for q in questions] == ["multiple_choice"] * 4 + [
        "multiple_response"
    ]
    assert all(bank.card(q["key"]["card_id"]).difficulty == level for q in questions)
    assert all(len(q["question"]["options"]) == 5 for q in questions[:4])
    reverse = questions[2:4]
    for entry in reverse:
        assert entry["key"]["answer"] == bank.card(entry["key"]["card_id"]).term
    for entry in questions[4:]:
        assert entry["question"]["select"] == len(entry["key"]["correct_option_ids"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--topics", "metrix", "--mc", "1"], "unknown topic(s) metrix; known topics:"),
        (["--deck", "nope", "--mc", "1"], "unknown deck 'nope'"),
        (["--topics", "metrics"], "asks for no questions"),
        (["--topics", "metrics", "--mr", "40"], "multiple_response: asked for 40, "),
        (["--mc", "-1"], "-1 is not in the range x>=0"),
    ],
)
@pytest.mark.usefixtures("fake_cli_encoder")
def test_build_errors_are_clear(args: list[str], message: str) -> None:
    result = run("exam", "build", *args)
    assert result.exit_code != 0
    assert message in result.output


def test_bank_embed_encodes_once_then_reports_everything_cached(
    bank: Bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUIZSVC_INSTANCE_DIR", str(tmp_path))
    cache = tmp_path / "cache" / EMBEDDING_CACHE_FILE
    encoders: list[HashingEncoder] = []

    def fake_encoder(settings: Settings, show_progress: bool = True) -> CachedEncoder:
        assert settings.cache_dir / EMBEDDING_CACHE_FILE == cache
        encoders.append(HashingEncoder())
        return CachedEncoder(encoders[-1], cache)

    monkeypatch.setattr(COMMON_CLI, "configured_encoder", fake_encoder)
    total = len(bank_texts(bank.cards))
    first = run("bank", "embed", "--batch", "100")
    assert first.exit_code == 0, first.output
    assert f"{total} bank texts: {total} encoded, 0 already cached" in first.stdout
    assert "Embedding bank" in first.stderr
    assert encoders[0].calls == -(-total // 100)
    second = run("bank", "embed")
    assert f"{total} bank texts: 0 encoded, {total} already cached" in second.stdout
    assert encoders[1].calls == 0


@pytest.mark.model
def test_same_seed_gives_byte_identical_output_in_another_process(
    bank_encoder: CachedEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real model end to end: this process and a fresh one (another hash salt) agree."""
    monkeypatch.setattr(
        EXAM_CLI, "configured_encoder", lambda settings, show_progress=True: bank_encoder
    )
    args = [*BUILD, "--mr", "1", "--reverse", "2", "--seed", "11", "--key"]
    here = run(*args)
    assert here.exit_code == 0, here.output
    # The fresh process reads the embeddings this session cached instead of encoding again.
    assert bank_encoder.path is not None
    cache = tmp_path / "cache" / EMBEDDING_CACHE_FILE
    cache.parent.mkdir()
    with sqlite3.connect(bank_encoder.path) as source, sqlite3.connect(cache) as target:
        source.backup(target)
    env = {
        **os.environ,
        "QUIZSVC_INSTANCE_DIR": str(tmp_path),
        "QUIZSVC_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
        "PYTHONHASHSEED": "4242",
    }
    there = subprocess.run(
        [sys.executable, "-c", "from quizsvc.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert there.stdout == here.stdout


@pytest.mark.usefixtures("fake_cli_encoder")
def test_build_mixes_in_authored_scenario_questions(bank: Bank) -> None:
    keyed = loads(
        run(
            "exam",
            "build",
            "--topics",
            "metrics",
            "--mc",
            "1",
            "--scenario",
            "2",
            "--seed",
            "4",
            "--key",
        )
    )
    keys = [entry["key"] for entry in keyed["questions"]]
    assert [key["question_id"] for key in keys] == ["q1", "q2", "q3"]
    authored = [key for key in keys if key["card_id"].startswith("scn-")]
    assert len(authored) == 2
    for key in authored:
        question = bank.question(key["card_id"])
        assert key["option_rationales"] == [option.rationale for option in question.options]
    assert keyed["blueprint"]["scenario"] == 2
