"""The ONNX Runtime backend: exported from the same weights, it must embed like torch does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quizsvc.bank import Bank
from quizsvc.config import ConfigError, Settings
from quizsvc.embedding import Encoder, ModelLoadError, SentenceTransformerEncoder
from quizsvc.embedding.factory import build_encoder
from quizsvc.embedding.onnx import OnnxEncoder, OnnxVariant

pytestmark = pytest.mark.model

AGREEMENT = 0.99


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export per session (fp32, then int8 from it), shared by every test here."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    for variant in ("fp32", "int8"):
        OnnxEncoder(variant=variant, cache_dir=cache).warm_up()
    return cache


@pytest.fixture(scope="session")
def bank_texts(bank: Bank) -> list[str]:
    texts = [card.prompt for card in bank.cards] + [card.answer for card in bank.cards]
    assert len(texts) >= 20, "the bank is too small to compare encoders on"
    # A few shapes the bank lacks: one word, a long text past the 256-token limit, accents.
    return [*texts[:300], "Overfitting", "gradient boosting " * 200, "régularisation L2 à 0,1"]


@pytest.fixture(scope="session")
def torch_vectors(model: SentenceTransformerEncoder, bank_texts: list[str]) -> np.ndarray:
    return model.encode(bank_texts)


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
    onnx_cache: Path, model: SentenceTransformerEncoder
) -> None:
    fp32 = OnnxEncoder(variant="fp32", cache_dir=onnx_cache)
    int8 = OnnxEncoder(variant="int8", cache_dir=onnx_cache)
    fingerprints = {fp32.fingerprint, int8.fingerprint, model.fingerprint}
    assert len(fingerprints) == 3
    assert model.fingerprint in fp32.fingerprint
    assert model.fingerprint in int8.fingerprint
    assert isinstance(fp32, Encoder)


def test_empty_input_gives_no_rows(onnx_cache: Path) -> None:
    encoder = OnnxEncoder(variant="int8", cache_dir=onnx_cache)
    vectors = encoder.encode([])
    assert vectors.shape == (0, 384)
    assert vectors.dtype == np.float32


def test_export_is_reused_not_repeated(onnx_cache: Path) -> None:
    encoder = OnnxEncoder(variant="int8", cache_dir=onnx_cache)
    before = encoder.onnx_path.stat().st_mtime_ns
    encoder.encode(["a text"])
    assert encoder.onnx_path.stat().st_mtime_ns == before


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="variant"):
        OnnxEncoder(variant="int4", cache_dir=Path("unused"))  # type: ignore[arg-type]


def test_factory_builds_the_configured_backend(tmp_path: Path, onnx_cache: Path) -> None:
    settings = Settings(instance_dir=tmp_path, encoder_backend="onnx-fp32")
    encoder = build_encoder(settings)
    assert isinstance(encoder, OnnxEncoder)
    assert encoder.variant == "fp32"
    assert encoder.cache_dir == settings.cache_dir
    with pytest.raises(ConfigError, match="QUIZSVC_ENCODER_BACKEND"):
        build_encoder(Settings(instance_dir=tmp_path, encoder_backend="tensorflow"))


def test_backend_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"QUIZSVC_ENCODER_BACKEND": "onnx-int8"})
    assert settings.encoder_backend == "onnx-int8"
