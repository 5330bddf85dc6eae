"""``quizsvc grade``: JSON out, for a bank card or an ad-hoc reference."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from quizsvc.bank import Bank
from quizsvc.cli import main
from quizsvc.embedding import CachedEncoder, Encoder


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model: Encoder) -> CliRunner:
    """The CLI with the session's model (not loaded again) and a throwaway instance dir."""
    monkeypatch.setenv("QUIZSVC_INSTANCE_DIR", str(tmp_path / "instance"))
    # The package attribute "grade" is the click command; the module is in sys.modules.
    module = importlib.import_module("quizsvc.cli.grade")
    monkeypatch.setattr(
        module,
        "configured_encoder",
        lambda settings, show_progress=False: CachedEncoder(
            model, settings.cache_dir / "embeddings.sqlite3"
        ),
    )
    return CliRunner()


def a_card_with_key_points(bank: Bank) -> tuple[str, str, tuple[str, ...]]:
    card = next(card for card in bank if len(card.key_points) >= 2)
    return card.id, card.answer, card.key_points


@pytest.mark.model
def test_grade_card_prints_grade_and_feedback_json(runner: CliRunner, bank: Bank) -> None:
    card_id, answer, key_points = a_card_with_key_points(bank)
    result = runner.invoke(main, ["grade", "--card", card_id, answer])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question_id"] == card_id
    assert data["type"] == "free_answer"
    assert data["score"] >= 0.8
    assert data["feedback"]["reference"] == answer
    assert [point["text"] for point in data["evidence"]["key_points"]] == list(key_points)


@pytest.mark.model
def test_grade_card_names_missing_key_points_of_a_wrong_answer(
    runner: CliRunner, bank: Bank
) -> None:
    card_id, _, key_points = a_card_with_key_points(bank)
    result = runner.invoke(main, ["grade", "--card", card_id, "I don't know"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["score"], data["verdict"]) == (0, "incorrect")
    assert data["feedback"]["missing"] == list(key_points)


@pytest.mark.model
def test_grade_ad_hoc_reference_with_key_points(runner: CliRunner) -> None:
    result = runner.invoke(
        main,
        [
            "grade",
            "--reference",
            "Bagging trains models in parallel; boosting trains them sequentially.",
            "--key-point",
            "Bagging trains models in parallel",
            "--key-point",
            "Boosting trains models sequentially",
            "Bagging trains its models in parallel.",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "partial"
    assert data["feedback"]["missing"] == ["Boosting trains models sequentially"]


def test_grade_card_as_fill_in(runner: CliRunner, bank: Bank) -> None:
    card = next(card for card in bank if card.accept)
    result = runner.invoke(
        main, ["grade", "--card", card.id, "--type", "fill_in", card.accept[0].upper()]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["type"], data["verdict"]) == ("fill_in", "correct")


def test_grade_needs_a_card_or_a_reference(runner: CliRunner) -> None:
    result = runner.invoke(main, ["grade", "some answer"])
    assert result.exit_code == 2
    assert "--card ID or --reference TEXT" in result.output
    both = runner.invoke(main, ["grade", "--card", "x", "--reference", "y", "answer"])
    assert both.exit_code == 2


def test_grade_unknown_card_is_a_clear_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["grade", "--card", "no-such-card", "answer"])
    assert result.exit_code == 1
    assert "no card 'no-such-card'" in result.output
