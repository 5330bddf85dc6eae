"""Builds the configured services from ``Settings`` for the entry points (CLI, app factory)."""

from __future__ import annotations

from quizsvc.config import Settings
from quizsvc.embedding import CachedEncoder, SentenceTransformerEncoder

EMBEDDING_CACHE_FILE = "embeddings.sqlite3"


def build_bank_encoder(settings: Settings, show_progress: bool = False) -> CachedEncoder:
    """The configured model behind the on-disk bank embedding cache."""
    model = SentenceTransformerEncoder(
        model=settings.model,
        device=settings.device,
        batch_size=settings.batch_size,
        show_progress=show_progress,
    )
    return CachedEncoder(model, settings.cache_dir / EMBEDDING_CACHE_FILE)
