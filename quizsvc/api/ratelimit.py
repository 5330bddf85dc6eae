"""Per-key rate limiting (flask-limiter): 429 with ``Retry-After`` in the error envelope.

One limiter per app (no module-level state), so several apps in one process, such as test
replicas, each count with their own storage; replicas share counts through Redis.
"""

from __future__ import annotations

import hashlib

from flask import Flask, Response, g, request
from flask_limiter import Limiter

#: Probes, the spec and metrics are never limited: an orchestrator or scraper polls them.
UNLIMITED_PATHS = frozenset({"/v1/health", "/v1/ready", "/v1/openapi.json", "/metrics"})


def rate_limit_key() -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        # Hash so the limiter's storage (possibly Redis) never holds a usable key.
        return "key:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "ip:" + (request.remote_addr or "unknown")


def keep_retry_after_meaningful(response: Response) -> Response:
    """Retry-After only where it means something, with the value its handler chose.

    flask-limiter puts one on every limited response, the seconds left in its window: a 200
    then says "retry after 60", and a 503 that asked for a retry in 5 s is told 60 instead.
    """
    if response.status_code == 429:
        return response
    chosen = g.get("retry_after")
    if chosen is not None and response.status_code == 503:
        response.headers["Retry-After"] = str(chosen)
    else:
        response.headers.pop("Retry-After", None)
    return response


def init_rate_limiting(app: Flask) -> Limiter:
    # Registered before the limiter: Flask runs after-request functions last-registered
    # first, so this one sees the limiter's headers.
    app.after_request(keep_retry_after_meaningful)
    limiter = Limiter(key_func=rate_limit_key, app=app)
    limiter.request_filter(lambda: request.path in UNLIMITED_PATHS)
    return limiter
