"""Bank embeddings are computed once: kept in memory and in an SQLite file keyed by
(model fingerprint, sha256 of the text), so a restart does not re-encode an unchanged bank.

Only bank text (answers, key points, prompts) goes through the cache; learners' answers are
encoded directly and never written to disk.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from quizsvc.embedding.base import Encoder, Vectors

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
)
"""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEncoder:
    """An :class:`Encoder` that encodes each distinct text once per model, ever.

    ``path=None`` keeps the cache in memory only.
    """

    def __init__(self, encoder: Encoder, path: Path | None = None) -> None:
        self.encoder = encoder
        self.path = path
        self._memory: dict[str, Vectors] = {}
        self._lock = threading.Lock()
        self.misses = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as connection:
                connection.execute(_SCHEMA)

    @property
    def fingerprint(self) -> str:
        return self.encoder.fingerprint

    @property
    def dimension(self) -> int:
        return self.encoder.dimension

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    def encode(self, texts: Sequence[str]) -> Vectors:
        hashes = [text_hash(text) for text in texts]
        with self._lock:
            wanted = {h for h in hashes if h not in self._memory}
            if wanted and self.path is not None:
                self._load_from_disk(wanted)
            missing: dict[str, str] = {}
            for text, digest in zip(texts, hashes, strict=True):
                if digest not in self._memory:
                    missing.setdefault(digest, text)
            if missing:
                vectors = self.encoder.encode(list(missing.values()))
                self.misses += len(missing)
                fresh = dict(zip(missing, vectors, strict=True))
                self._memory.update(fresh)
                if self.path is not None:
                    self._store(fresh)
            if not hashes:
                return np.zeros((0, self.dimension), dtype=np.float32)
            return np.stack([self._memory[digest] for digest in hashes]).astype(np.float32)

    def _load_from_disk(self, hashes: set[str]) -> None:
        model = self.fingerprint
        ordered = sorted(hashes)
        with self._connect() as connection:
            for start in range(0, len(ordered), 500):
                chunk = ordered[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    "SELECT text_hash, dimension, vector FROM embeddings "
                    f"WHERE model = ? AND text_hash IN ({marks})",
                    [model, *chunk],
                )
                for digest, dimension, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if dimension == self.dimension and vector.shape == (dimension,):
                        self._memory[digest] = vector

    def _store(self, vectors: dict[str, Vectors]) -> None:
        model = self.fingerprint
        with self._connect() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO embeddings (model, text_hash, dimension, vector) "
                "VALUES (?, ?, ?, ?)",
                [
                    (model, digest, int(vector.shape[0]), vector.astype(np.float32).tobytes())
                    for digest, vector in vectors.items()
                ],
            )
