"""GradingConfig: validated defaults, per-deck and per-card overrides."""

from __future__ import annotations

import pytest

from quizsvc.embedding import HashingEncoder
from quizsvc.grading import Grader, GradingConfig, GradingConfigError, MultipleResponsePolicy


def test_defaults_are_valid_and_serialisable() -> None:
    data = GradingConfig().to_dict()
    assert data["multiple_response"] == "right_minus_wrong"
    assert 0 < data["partial_at"] < data["correct_at"] <= 1


def test_overrides_convert_values_to_the_field_type() -> None:
    config = GradingConfig().with_overrides(
        {
            "correct_at": "0.9",
            "typo_max_edits": 1,
            "multiple_response": "all_or_nothing",
            "correct_needs_all_key_points": "false",
        }
    )
    assert config.correct_at == 0.9
    assert config.typo_max_edits == 1
    assert config.multiple_response is MultipleResponsePolicy.ALL_OR_NOTHING
    assert config.correct_needs_all_key_points is False
    assert GradingConfig().correct_at != 0.9


def test_no_overrides_returns_the_same_object() -> None:
    config = GradingConfig()
    assert config.with_overrides(None) is config
    assert config.with_overrides({}) is config


def test_unknown_setting_is_refused_with_the_known_names() -> None:
    with pytest.raises(GradingConfigError, match="unknown grading setting 'corect_at'"):
        GradingConfig().with_overrides({"corect_at": 0.9})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("correct_at", "high"),
        ("typo_max_edits", 1.5),
        ("multiple_response", "most"),
        ("correct_needs_all_key_points", "maybe"),
        ("lexical_weight", True),
    ],
)
def test_values_of_the_wrong_type_are_refused(name: str, value: object) -> None:
    with pytest.raises(GradingConfigError, match=name):
        GradingConfig().with_overrides({name: value})


@pytest.mark.parametrize(
    "overrides",
    [
        {"correct_at": 0.3, "partial_at": 0.5},
        {"reference_floor": 0.7, "reference_full": 0.5},
        {"key_point_floor": 0.9},
        {"reference_weight": 0, "key_point_weight": 0, "lexical_weight": 0},
        {"lexical_full": 0},
        {"prompt_demotion": 1.5},
        {"typo_letters_per_edit": 0},
        {"contradiction_cap": 2},
    ],
)
def test_inconsistent_settings_are_refused(overrides: dict[str, float]) -> None:
    with pytest.raises(GradingConfigError):
        GradingConfig().with_overrides(overrides)


def test_card_overrides_beat_deck_overrides_beat_the_base() -> None:
    encoder = HashingEncoder()
    grader = Grader(
        encoder,
        encoder,
        config=GradingConfig(correct_at=0.8),
        deck_overrides={"ml": {"correct_at": 0.85, "partial_at": 0.5}},
        card_overrides={"ml-f1": {"correct_at": 0.95}},
    )
    assert grader.config_for("other", "x").correct_at == 0.8
    assert grader.config_for("ml", "ml-precision").correct_at == 0.85
    card = grader.config_for("ml", "ml-f1")
    assert (card.correct_at, card.partial_at) == (0.95, 0.5)


def test_bad_override_fails_when_the_grader_is_built() -> None:
    encoder = HashingEncoder()
    with pytest.raises(GradingConfigError):
        Grader(encoder, encoder, card_overrides={"ml-f1": {"partial_at": 0.99}})
