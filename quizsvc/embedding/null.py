"""A deterministic, model-free encoder for fast tests of logic around encoding.

Texts that share words and character trigrams get similar vectors, so nearest-neighbour code
behaves sensibly; it knows nothing of meaning, so it never stands in for the real model in
tests of grading or distractor quality.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from quizsvc.embedding.base import Vectors, normalize_rows

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEncoder:
    backend = "hashing"

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension
        self.calls = 0

    @property
    def fingerprint(self) -> str:
        return f"hashing-v1-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        matrix = np.zeros((len(texts), self._dimension), dtype=np.float64)
        for row, text in enumerate(texts):
            for feature, weight in _features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self._dimension
                sign = 1.0 if digest[4] & 1 else -1.0
                matrix[row, bucket] += sign * weight
        return normalize_rows(matrix)


def _features(text: str) -> list[tuple[str, float]]:
    words = _WORD.findall(text.casefold())
    features = [("w:" + word, 1.0) for word in words]
    for word in words:
        padded = f"#{word}#"
        features.extend(("c:" + padded[i : i + 3], 0.3) for i in range(len(padded) - 2))
    return features or [("empty", 1.0)]
