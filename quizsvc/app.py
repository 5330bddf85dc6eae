"""The application factory: every piece of configuration enters through ``create_app``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask_smorest import Api

from quizsvc import __version__
from quizsvc.api import blueprints
from quizsvc.api.errors import register_error_handlers
from quizsvc.api.ratelimit import init_rate_limiting
from quizsvc.api.services import EXTENSION_KEY, Services
from quizsvc.bank import load_bank
from quizsvc.config import Settings
from quizsvc.embedding import CachedEncoder, Encoder, SentenceTransformerEncoder
from quizsvc.grading import Grader
from quizsvc.migrate import upgrade
from quizsvc.runtime import EMBEDDING_CACHE_FILE
from quizsvc.store import Store

log = logging.getLogger(__name__)

API_SPEC_OPTIONS: dict[str, Any] = {
    "API_TITLE": "quizsvc",
    "API_VERSION": __version__,
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Exam-prep service: card bank, timed practice exams, semantic grading.",
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "API key"}
            }
        },
        "security": [{"bearerAuth": []}],
    },
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app.

    ``config`` keys: ``SETTINGS`` (a :class:`Settings`; default from ``QUIZSVC_*``),
    ``ENCODER`` (an already loaded encoder, so tests and pre-forking servers load the model
    once), ``CLOCK`` (a function returning aware UTC now), ``MIGRATE`` (apply migrations at
    start, default True), plus any Flask setting.
    """
    config = dict(config or {})
    settings: Settings = config.pop("SETTINGS", None) or Settings.from_env()
    encoder: Encoder | None = config.pop("ENCODER", None)
    clock = config.pop("CLOCK", None) or (lambda: datetime.now(UTC))
    migrate = config.pop("MIGRATE", True)

    app = Flask(__name__, instance_path=str(settings.instance_dir.resolve()))
    app.config.update(API_SPEC_OPTIONS)
    app.config.update(
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage,
        RATELIMIT_DEFAULT=settings.rate_limit,
        RATELIMIT_HEADERS_ENABLED=True,
    )
    app.config.update(config)

    database_url = settings.resolved_database_url
    if migrate:
        upgrade(database_url)
    if encoder is None:
        encoder = SentenceTransformerEncoder(
            model=settings.model, device=settings.device, batch_size=settings.batch_size
        )
    bank = load_bank(settings.bank_dir)
    bank_encoder = CachedEncoder(encoder, settings.cache_dir / EMBEDDING_CACHE_FILE)
    app.extensions[EXTENSION_KEY] = Services(
        settings=settings,
        store=Store(database_url),
        bank=bank,
        encoder=encoder,
        bank_encoder=bank_encoder,
        grader=Grader.for_bank(bank, encoder, bank_encoder),
        clock=clock,
    )

    init_rate_limiting(app)
    api = Api(app)
    for blueprint in blueprints():
        api.register_blueprint(blueprint)
    # After Api(): flask-smorest installs its own HTTPException handler, which ours replaces
    # so that every error carries the same envelope.
    register_error_handlers(app)
    return app
