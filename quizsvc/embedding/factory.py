"""Builds the configured encoder (``QUIZSVC_ENCODER_BACKEND``) from plain settings values."""

from __future__ import annotations

from quizsvc.config import ConfigError, Settings
from quizsvc.embedding.base import Encoder

BACKENDS = ("torch", "onnx-fp32", "onnx-int8")


def build_encoder(settings: Settings, show_progress: bool = False) -> Encoder:
    """The model of ``settings`` behind the chosen backend; the same weights either way."""
    backend = (settings.encoder_backend or "torch").strip().lower()
    if backend == "torch":
        from quizsvc.embedding.sentence import SentenceTransformerEncoder

        return SentenceTransformerEncoder(
            model=settings.model,
            device=settings.device,
            batch_size=settings.batch_size,
            show_progress=show_progress,
        )
    if backend in ("onnx-fp32", "onnx-int8"):
        from quizsvc.embedding.onnx import OnnxEncoder

        return OnnxEncoder(
            model=settings.model,
            variant="fp32" if backend == "onnx-fp32" else "int8",
            cache_dir=settings.cache_dir,
            batch_size=settings.batch_size,
        )
    raise ConfigError(
        f"QUIZSVC_ENCODER_BACKEND={settings.encoder_backend!r} is not one of {', '.join(BACKENDS)}"
    )
