"""Builds the configured encoder (``QUIZSVC_ENCODER_BACKEND``) from plain settings values."""

from __future__ import annotations

from collections.abc import Callable

from quizsvc.config import ConfigError, Settings
from quizsvc.embedding.base import Encoder

BACKENDS = ("auto", "torch", "onnx-fp32", "onnx-int8")
#: What ``auto`` runs on a CPU: the int8 ONNX model is over twice as fast as torch there and
#: agrees with it (bench/onnx_backend.py); on a GPU torch is faster than either.
CPU_BACKEND = "onnx-int8"


def resolve_backend(settings: Settings, cuda_available: Callable[[], bool] | None = None) -> str:
    """The backend ``settings`` asks for, with ``auto`` decided by the device."""
    backend = (settings.encoder_backend or "auto").strip().lower()
    if backend not in BACKENDS:
        raise ConfigError(
            f"QUIZSVC_ENCODER_BACKEND={settings.encoder_backend!r} is not one of "
            f"{', '.join(BACKENDS)}"
        )
    if backend != "auto":
        return backend
    from quizsvc.embedding.sentence import resolve_device

    on_gpu = resolve_device(settings.device, cuda_available).startswith("cuda")
    return "torch" if on_gpu else CPU_BACKEND


def build_encoder(
    settings: Settings,
    show_progress: bool = False,
    prepare: bool = False,
    before_fork: bool = False,
) -> Encoder:
    """The model of ``settings`` behind the chosen backend; the same weights either way.

    ``prepare`` makes derived model files (the ONNX export) now, in a child process, instead
    of on the first encode: a server does it before it forks and before it reports ready.

    ``before_fork`` is for a pre-forking server's master, which must never initialise CUDA:
    whether a GPU is there is asked of a child process, and torch weights load on the CPU
    until each worker calls ``attach_device`` on the encoder.
    """
    from quizsvc.embedding.sentence import cuda_available_in_child

    backend = resolve_backend(settings, cuda_available_in_child if before_fork else None)
    if backend == "torch":
        from quizsvc.embedding.sentence import SentenceTransformerEncoder

        return SentenceTransformerEncoder(
            model=settings.model,
            device=settings.device,
            batch_size=settings.batch_size,
            show_progress=show_progress,
            defer_device=before_fork,
        )
    from quizsvc.embedding.onnx import OnnxEncoder

    encoder = OnnxEncoder(
        model=settings.model,
        variant="fp32" if backend == "onnx-fp32" else "int8",
        cache_dir=settings.model_cache_dir,
        batch_size=settings.batch_size,
    )
    if prepare:
        encoder.prepare()
    return encoder
