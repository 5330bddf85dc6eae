"""The ONNX Runtime backend: exported from the same weights, it must embed like torch does."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from quizsvc.bank import Bank
from quizsvc.cli import main
from quizsvc.config import ConfigError, Settings
from quizsvc.embedding import Encoder, ModelLoadError
from quizsvc.embedding.factory import build_encoder, resolve_backend
from quizsvc.embedding.onnx import OnnxEncoder, OnnxVariant
from quizsvc.embedding.sentence import bundled_model_path

pytestmark = pytest.mark.model

AGREEMENT = 0.99


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export per session into an empty folder (fp32, then int8 from it), made by
    ``prepare`` in a child process as a server does, and shared by every test here."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    int8 = OnnxEncoder(variant="int8", cache_dir=cache)
    assert int8.prepare() == int8.onnx_path
    assert int8.onnx_path.is_file()
    assert OnnxEncoder(variant="fp32", cache_dir=cache).onnx_path.is_file()
    return cache


@pytest.fixture(scope="session")
def bank_texts(bank: Bank) -> list[str]:
    texts = [card.prompt for card in bank.cards] + [card.answer for card in bank.cards]
    assert len(texts) >= 20, "the bank is too small to compare encoders on"
    # A few shapes the bank lacks: one word, a long text past the 256-token limit, accents.
    return [*texts[:300], "Overfitting", "gradient boosting " * 200, "régularisation L2 à 0,1"]


@pytest.fixture(scope="session")
def torch_vectors(torch_model: Encoder, bank_texts: list[str]) -> np.ndarray:
    return torch_model.encode(bank_texts)


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_onnx_embeddings_agree_with_torch(
    variant: OnnxVariant,
    onnx_cache: Path,
    bank_texts: list[str],
    torch_vectors: np.ndarray,
) -> None:
    encoder = OnnxEncoder(variant=variant, cache_dir=onnx_cache, batch_size=32)
    vectors = encoder.encode(bank_texts)
    assert vectors.shape == torch_vectors.shape
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosine = np.sum(vectors * torch_vectors, axis=1)
    assert float(cosine.mean()) >= AGREEMENT
    # fp32 is the same computation, so every row must match closely; int8 may drift a little
    # on some texts but must never turn one text into another.
    assert float(cosine.min()) >= (0.999 if variant == "fp32" else 0.9)


def test_onnx_int8_keeps_torch_nearest_neighbours(
    onnx_cache: Path, bank_texts: list[str], torch_vectors: np.ndarray
) -> None:
    vectors = OnnxEncoder(variant="int8", cache_dir=onnx_cache).encode(bank_texts)
    torch_nearest = np.argsort(-(torch_vectors @ torch_vectors.T), axis=1)[:, 1]
    onnx_nearest = np.argsort(-(vectors @ vectors.T), axis=1)[:, 1]
    assert float(np.mean(torch_nearest == onnx_nearest)) >= 0.9


def test_fingerprints_differ_per_backend_and_name_the_weights(
    onnx_cache: Path, torch_model: Encoder
) -> None:
    fp32 = OnnxEncoder(variant="fp32", cache_dir=onnx_cache)
    int8 = OnnxEncoder(variant="int8", cache_dir=onnx_cache)
    fingerprints = {fp32.fingerprint, int8.fingerprint, torch_model.fingerprint}
    assert len(fingerprints) == 3
    assert torch_model.fingerprint in fp32.fingerprint
    assert torch_model.fingerprint in int8.fingerprint
    assert isinstance(fp32, Encoder)


def test_empty_input_gives_no_rows(onnx_cache: Path) -> None:
    encoder = OnnxEncoder(variant="int8", cache_dir=onnx_cache)
    vectors = encoder.encode([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_export_is_reused_not_repeated(onnx_cache: Path) -> None:
    encoder = OnnxEncoder(variant="int8", cache_dir=onnx_cache)
    before = encoder.onnx_path.stat().st_mtime_ns
    encoder.prepare()
    encoder.encode(["a text"])
    assert encoder.onnx_path.stat().st_mtime_ns == before


def test_a_failed_export_in_the_child_is_a_clear_error_here(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(bundled_model_path(), model_dir)
    (model_dir / "model.safetensors").write_bytes(b"not a safetensors file")
    encoder = OnnxEncoder(model=str(model_dir), variant="int8", cache_dir=tmp_path / "cache")
    with pytest.raises(ModelLoadError, match="could not export fp32 ONNX"):
        encoder.prepare()
    assert not encoder.onnx_path.exists()
    assert list((tmp_path / "cache" / "onnx").glob("*.onnx")) == []


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="variant"):
        OnnxEncoder(variant="int4", cache_dir=Path("unused"))  # type: ignore[arg-type]


def test_factory_builds_the_configured_backend(tmp_path: Path) -> None:
    settings = Settings(model_cache_dir=tmp_path, encoder_backend="onnx-fp32")
    encoder = build_encoder(settings)
    assert isinstance(encoder, OnnxEncoder)
    assert encoder.variant == "fp32"
    assert encoder.cache_dir == tmp_path
    assert not encoder.onnx_path.exists(), "without prepare, the export waits for a first encode"
    with pytest.raises(ConfigError, match="QUIZSVC_ENCODER_BACKEND"):
        build_encoder(Settings(encoder_backend="tensorflow"))


def test_auto_backend_is_int8_onnx_on_a_cpu_and_torch_on_a_gpu() -> None:
    auto = Settings(encoder_backend="auto")
    assert Settings().encoder_backend == "auto"
    assert resolve_backend(auto, cuda_available=lambda: False) == "onnx-int8"
    assert resolve_backend(auto, cuda_available=lambda: True) == "torch"
    forced = Settings(encoder_backend="onnx-fp32")
    assert resolve_backend(forced, cuda_available=lambda: True) == "onnx-fp32"


def test_default_encoder_here_is_int8_onnx_in_the_model_cache(tmp_path: Path) -> None:
    encoder = build_encoder(Settings(model_cache_dir=tmp_path, device="cpu"))
    assert isinstance(encoder, OnnxEncoder)
    assert (encoder.variant, encoder.backend, encoder.device) == ("int8", "onnx-int8", "cpu")
    assert encoder.onnx_path.is_relative_to(tmp_path)


def test_backend_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"QUIZSVC_ENCODER_BACKEND": "onnx-int8"})
    assert settings.encoder_backend == "onnx-int8"


def test_model_prepare_command_reports_the_ready_backend(onnx_cache: Path) -> None:
    env = {"QUIZSVC_MODEL_CACHE_DIR": str(onnx_cache), "QUIZSVC_ENCODER_BACKEND": "onnx-int8"}
    result = CliRunner().invoke(main, ["model", "prepare"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("onnx-int8: ready in ")
    assert "384-dimensional vectors" in result.output
    assert str(OnnxEncoder(variant="int8", cache_dir=onnx_cache).onnx_path) in result.output


def test_model_prepare_command_names_a_bad_backend() -> None:
    result = CliRunner().invoke(
        main, ["model", "prepare"], env={"QUIZSVC_ENCODER_BACKEND": "tensorflow"}
    )
    assert result.exit_code == 1
    assert "QUIZSVC_ENCODER_BACKEND='tensorflow' is not one of" in result.output


def test_an_unwritable_model_cache_names_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    encoder = OnnxEncoder(variant="int8", cache_dir=blocker / "cache")
    with pytest.raises(ModelLoadError, match="QUIZSVC_MODEL_CACHE_DIR to a writable folder"):
        encoder.prepare()
