"""Per-key rate limiting (flask-limiter): 429 with ``Retry-After`` in the error envelope.

One limiter per app (no module-level state), so several apps in one process, such as test
replicas, each count with their own storage; replicas share counts through Redis.

Two limits:

* ``QUIZSVC_RATE_LIMIT``: one budget per API key (per client address without a key) for all
  routes together, as an application limit; a per-route default would give a key the budget
  once for every route it calls.
* ``QUIZSVC_AUTH_FAILURE_LIMIT``: failed bearer authentications per client address. Every
  unknown token is a fresh key to the first limit, so without this one a client guessing
  keys is never limited, and each guess costs a database lookup.
"""

from __future__ import annotations

import hashlib
import math
import time

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse

#: Probes, the spec and metrics are never limited: an orchestrator or scraper polls them.
UNLIMITED_PATHS = frozenset({"/v1/health", "/v1/ready", "/v1/openapi.json", "/metrics"})

AUTH_FAILURES_KEY = "quizsvc.auth_failures"


def rate_limit_key() -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        # Hash so the limiter's storage (possibly Redis) never holds a usable key.
        return "key:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "ip:" + (request.remote_addr or "unknown")


class AuthFailureLimit:
    """Failed authentications per client address, counted in the limiter's own storage, so
    that with Redis every worker and replica counts together."""

    def __init__(self, limiter: Limiter, limit: str, key_prefix: str) -> None:
        self._limiter = limiter
        self._item: RateLimitItem = parse(limit)
        self._prefix = [key_prefix] if key_prefix else []

    def _identifiers(self) -> list[str]:
        return [*self._prefix, "auth-failure", request.remote_addr or "unknown"]

    def retry_after(self) -> int | None:
        """Seconds until this address may fail again; None while it is under the limit."""
        if not self._limiter.enabled:
            return None
        strategy = self._limiter.limiter
        identifiers = self._identifiers()
        if strategy.test(self._item, *identifiers):
            return None
        reset_at = strategy.get_window_stats(self._item, *identifiers).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def record(self) -> None:
        if self._limiter.enabled:
            self._limiter.limiter.hit(self._item, *self._identifiers())


def auth_failures() -> AuthFailureLimit:
    limit: AuthFailureLimit = current_app.extensions[AUTH_FAILURES_KEY]
    return limit


def keep_retry_after_meaningful(response: Response) -> Response:
    """Retry-After only where it means something, with the value its handler chose.

    flask-limiter puts one on every limited response, the seconds left in its window: a 200
    then says "retry after 60", and a 503 that asked for a retry in 5 s is told 60 instead;
    a 429 from the auth-failure limit would get the request limit's window, not its own.
    """
    chosen = g.get("retry_after")
    if chosen is not None and response.status_code in (429, 503):
        response.headers["Retry-After"] = str(chosen)
    elif response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def init_rate_limiting(app: Flask, rate_limit: str, auth_failure_limit: str) -> Limiter:
    # Registered before the limiter: Flask runs after-request functions last-registered
    # first, so this one sees the limiter's headers.
    app.after_request(keep_retry_after_meaningful)
    limiter = Limiter(key_func=rate_limit_key, app=app, application_limits=[rate_limit])
    limiter.request_filter(lambda: request.path in UNLIMITED_PATHS)
    app.extensions[AUTH_FAILURES_KEY] = AuthFailureLimit(
        limiter, auth_failure_limit, app.config.get("RATELIMIT_KEY_PREFIX", "")
    )
    return limiter
