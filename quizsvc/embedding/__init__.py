"""Sentence embeddings behind one small interface.

``Encoder`` is the interface; ``SentenceTransformerEncoder`` the real implementation;
``HashingEncoder`` the null one for fast tests of surrounding logic; ``CachedEncoder`` wraps
either to encode bank text once.
"""

from quizsvc.embedding.base import Encoder, Vectors, similarity
from quizsvc.embedding.cache import CachedEncoder
from quizsvc.embedding.null import HashingEncoder
from quizsvc.embedding.sentence import (
    ModelLoadError,
    SentenceTransformerEncoder,
    resolve_device,
)

__all__ = [
    "CachedEncoder",
    "Encoder",
    "HashingEncoder",
    "ModelLoadError",
    "SentenceTransformerEncoder",
    "Vectors",
    "resolve_device",
    "similarity",
]
