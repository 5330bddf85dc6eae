from __future__ import annotations

from pathlib import Path

import pytest

from quizsvc.config import PROJECT_ROOT, ConfigError, Settings


def test_defaults_point_inside_the_project_and_beside_it() -> None:
    settings = Settings.from_env({})
    assert settings.bank_dir == PROJECT_ROOT / "bank"
    assert settings.shared_dir == PROJECT_ROOT.parent / "shared"
    assert settings.device == "auto"
    assert settings.cache_dir == settings.instance_dir / "cache"
    assert settings.encoder_backend == "auto"


def test_model_cache_is_per_machine_and_follows_xdg(tmp_path: Path) -> None:
    home = Settings.from_env({})
    assert home.model_cache_dir == Path("~/.cache/quizsvc").expanduser()
    xdg = Settings.from_env({"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert xdg.model_cache_dir == tmp_path / "xdg" / "quizsvc"
    explicit = Settings.from_env(
        {"XDG_CACHE_HOME": str(tmp_path / "xdg"), "QUIZSVC_MODEL_CACHE_DIR": str(tmp_path / "m")}
    )
    assert explicit.model_cache_dir == tmp_path / "m"


def test_environment_variables_override_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "QUIZSVC_BANK_DIR": str(tmp_path),
            "QUIZSVC_DEVICE": "cuda",
            "QUIZSVC_BATCH_SIZE": "16",
            "QUIZSVC_MODEL": "",
        }
    )
    assert settings.bank_dir == tmp_path
    assert settings.device == "cuda"
    assert settings.batch_size == 16
    assert settings.model == ""


def test_explicit_overrides_win_over_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({"QUIZSVC_DEVICE": "cuda"}, device="cpu")
    assert settings.device == "cpu"


@pytest.mark.parametrize("raw", ["many", "-1", "1.5"])
def test_bad_integer_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="QUIZSVC_BATCH_SIZE"):
        Settings.from_env({"QUIZSVC_BATCH_SIZE": raw})


def test_missing_shared_dir_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings.from_env({"QUIZSVC_SHARED_DIR": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match="QUIZSVC_SHARED_DIR"):
        settings.require_shared_dir()


def test_review_threshold_defaults_to_the_fitted_one_and_is_validated() -> None:
    assert Settings.from_env({}).review_threshold is None
    assert Settings.from_env({"QUIZSVC_REVIEW_BELOW": "0.7"}).review_threshold == 0.7
    for raw in ("high", "1.5", "-0.1"):
        with pytest.raises(ConfigError, match="QUIZSVC_REVIEW_BELOW"):
            _ = Settings.from_env({"QUIZSVC_REVIEW_BELOW": raw}).review_threshold
