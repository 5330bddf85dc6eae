"""Per-key rate limiting (flask-limiter): 429 with ``Retry-After`` in the error envelope.

One limiter per app (no module-level state), so several apps in one process, such as test
replicas, each count with their own storage; replicas share counts through Redis.
"""

from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_limiter import Limiter

#: Probes, the spec and metrics are never limited: an orchestrator or scraper polls them.
UNLIMITED_PATHS = frozenset({"/v1/health", "/v1/ready", "/v1/openapi.json", "/metrics"})


def rate_limit_key() -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        # Hash so the limiter's storage (possibly Redis) never holds a usable key.
        return "key:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "ip:" + (request.remote_addr or "unknown")


def init_rate_limiting(app: Flask) -> Limiter:
    limiter = Limiter(key_func=rate_limit_key, app=app)
    limiter.request_filter(lambda: request.path in UNLIMITED_PATHS)
    return limiter
