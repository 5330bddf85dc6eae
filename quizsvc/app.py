"""The application factory: every piece of configuration enters through ``create_app``."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask_smorest import Api

from quizsvc import __version__
from quizsvc.api import blueprints, plain_blueprints
from quizsvc.api.errors import register_error_handlers
from quizsvc.api.guards import init_request_guards
from quizsvc.api.ratelimit import init_rate_limiting
from quizsvc.api.services import EXTENSION_KEY, Services
from quizsvc.bank import load_bank
from quizsvc.config import Settings
from quizsvc.embedding import CachedEncoder, Encoder
from quizsvc.embedding.factory import build_encoder
from quizsvc.grading import Grader, GradingConfig
from quizsvc.lms.ags import ags_sender
from quizsvc.lms.outbox import OutboxWorker
from quizsvc.lms.webhooks import webhook_sender
from quizsvc.migrate import upgrade
from quizsvc.observability import MeteredEncoder, Metrics, init_observability
from quizsvc.persistence.regrade import regrade_sender
from quizsvc.runtime import EMBEDDING_CACHE_FILE
from quizsvc.store import Store

log = logging.getLogger(__name__)

OUTBOX_WORKER_KEY = "quizsvc.outbox"
SECRET_KEY_FILE = "secret_key"

API_SPEC_OPTIONS: dict[str, Any] = {
    "API_TITLE": "quizsvc",
    "API_VERSION": __version__,
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Exam-prep service: card bank, timed practice exams, semantic grading."
            "\n\nInput limits (errors use the Error envelope): request bodies up to 1 MiB (413); "
            "a body must be JSON (415); malformed JSON, or JSON nested deeper than 32 levels, "
            "gets 400; the NUL character (U+0000) in any body field, query parameter or path "
            "segment gets 422 naming the field; answers up to QUIZSVC_MAX_ANSWER_CHARS "
            "characters (default 20000, 422 naming the field and the maximum). Any other "
            "text, control characters and all Unicode included, is stored and returned "
            "verbatim. Every response carries X-Request-ID (the client's, when it is 1-64 of "
            "A-Z a-z 0-9 . _ : -, else a new one).",
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
    poll_seconds = float(config.pop("OUTBOX_POLL_SECONDS", settings.outbox_poll_seconds))

    app = Flask(__name__, instance_path=str(settings.instance_dir.resolve()))
    app.config.update(API_SPEC_OPTIONS)
    app.config.update(
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_SORT_KEYS=False,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage,
        RATELIMIT_HEADERS_ENABLED=True,
        SECRET_KEY=settings.secret_key or _instance_secret_key(settings.instance_dir),
    )
    app.config.update(config)

    database_url = settings.resolved_database_url
    if migrate:
        upgrade(database_url)
    if encoder is None:
        encoder = build_encoder(settings, prepare=True)
    metrics = Metrics()
    encoder = MeteredEncoder(encoder, metrics)
    bank = load_bank(settings.bank_dir)
    bank_encoder = CachedEncoder(encoder, settings.cache_dir / EMBEDDING_CACHE_FILE)
    store = Store(database_url)
    app.extensions[EXTENSION_KEY] = Services(
        settings=settings,
        store=store,
        bank=bank,
        encoder=encoder,
        bank_encoder=bank_encoder,
        grader=Grader.for_bank(
            bank, encoder, bank_encoder, GradingConfig(review_below=settings.review_threshold)
        ),
        clock=clock,
    )

    worker = OutboxWorker(
        store,
        clock,
        {
            "ags_score": ags_sender(store, allow_hosts=settings.outbound_allow_hosts),
            "webhook": webhook_sender(store, allow_hosts=settings.outbound_allow_hosts),
            "regrade": regrade_sender(store, app.extensions[EXTENSION_KEY].grade_many, clock),
        },
        poll_seconds=poll_seconds,
    )
    store.outbox_listeners.append(worker.notify)
    app.extensions[OUTBOX_WORKER_KEY] = worker
    # Not at start: a pre-forking server builds the app in its master, which must start no
    # thread and open no connection its workers would share.
    app.before_request(worker.resume_pending)

    init_observability(app, metrics, settings.metrics_access)
    init_rate_limiting(app, settings.rate_limit, settings.auth_failure_limit)
    init_request_guards(app)
    api = Api(app)
    for blueprint in blueprints():
        api.register_blueprint(blueprint)
    for plain in plain_blueprints():
        app.register_blueprint(plain)
    # After Api(): flask-smorest installs its own HTTPException handler, which ours replaces
    # so that every error carries the same envelope.
    register_error_handlers(app)
    return app


def _instance_secret_key(instance_dir: Path) -> str:
    """A random key generated once into the instance folder, shared by every worker."""
    path = instance_dir / SECRET_KEY_FILE
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: when several workers start at once, one writes and the others read it.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48))
    for _ in range(50):
        key = path.read_text(encoding="ascii").strip()
        if key:
            return key
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty; delete it or set QUIZSVC_SECRET_KEY")
