"""Builds the configured services from ``Settings`` for the entry points (CLI, app factory)."""

from __future__ import annotations

from quizsvc.config import Settings
from quizsvc.embedding import CachedEncoder
from quizsvc.embedding.factory import build_encoder

EMBEDDING_CACHE_FILE = "embeddings.sqlite3"


def build_bank_encoder(settings: Settings, show_progress: bool = False) -> CachedEncoder:
    """The configured model behind the on-disk bank embedding cache."""
    model = build_encoder(settings, show_progress=show_progress)
    return CachedEncoder(model, settings.cache_dir / EMBEDDING_CACHE_FILE)
