"""The encoder interface shared by the real model and the null implementation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into unit-length vectors; cosine similarity is then a dot product."""

    @property
    def fingerprint(self) -> str:
        """Identifies the model and its weights; embeddings are cached under it."""
        ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One row per text, each of unit L2 norm, dtype float32."""
        ...


def similarity(left: Vectors, right: Vectors) -> NDArray[np.float32]:
    """Cosine similarity matrix of two batches of unit vectors (rows x rows)."""
    if left.ndim == 1:
        left = left[None, :]
    if right.ndim == 1:
        right = right[None, :]
    result: NDArray[np.float32] = np.clip(left @ right.T, -1.0, 1.0).astype(np.float32)
    return result


def normalize_rows(vectors: NDArray[np.floating]) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: Vectors = (vectors / norms).astype(np.float32)
    return result
