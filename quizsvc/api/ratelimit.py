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

With Redis, a limited request costs one round trip (:class:`OneTripFixedWindow`): the hit
returns what the X-RateLimit-* headers and the failed-authentication check need, instead of
flask-limiter reading the window back (two more) and the check reading the address's count
(one more).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse
from limits.storage import RedisClusterStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from limits.util import WindowStats

from quizsvc.api.services import services

if TYPE_CHECKING:
    from redis import Redis

#: Probes, the spec and metrics are never limited: an orchestrator or scraper polls them.
UNLIMITED_PATHS = frozenset({"/v1/health", "/v1/ready", "/v1/openapi.json", "/metrics"})

AUTH_FAILURES_KEY = "quizsvc.auth_failures"

#: ``g`` attribute: limit key -> the window's stats as this request's round trip left them.
WINDOWS_READ = "quizsvc_rate_windows"

#: Windows a request's first hit also reads: (limit, identifiers) pairs.
Companions = Callable[[], Sequence[tuple[RateLimitItem, Sequence[str]]]]


def rate_limit_key() -> str:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        # Hash so the limiter's storage (possibly Redis) never holds a usable key.
        return "key:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "ip:" + (request.remote_addr or "unknown")


class OneTripFixedWindow(FixedWindowRateLimiter):
    """flask-limiter's default fixed window on Redis, with the same keys and counts, in one
    round trip per request.

    The hit is a MULTI/EXEC transaction: it creates the window's key with its expiry when
    absent and adds the cost (what limits' own increment script does), and also reads the
    key's expiry and the ``companions``' windows. flask-limiter then asks
    :meth:`get_window_stats` for the headers, and the failed-authentication check asks
    :meth:`test`: both are answered from what the hit read, for the rest of the request.
    A read microseconds old is as good as a fresh one: another worker may hit in between
    either way.
    """

    storage: RedisStorage

    def __init__(self, storage: RedisStorage, companions: Companions) -> None:
        super().__init__(storage)
        self._companions = companions

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        in_request = has_request_context()
        windows: dict[str, WindowStats] = g.setdefault(WINDOWS_READ, {}) if in_request else {}
        # Only the request's first hit: a later one (a failure counted) needs no more reads.
        reads = list(self._companions()) if in_request and not windows else []
        key = item.key_for(*identifiers)
        prefixed = self.storage.prefixed_key(key)
        connection = cast("Redis", self.storage.get_connection())
        with connection.pipeline(transaction=True) as pipe:
            pipe.set(prefixed, 0, ex=item.get_expiry(), nx=True)
            pipe.incrby(prefixed, cost)
            pipe.pttl(prefixed)
            for other, other_identifiers in reads:
                other_key = self.storage.prefixed_key(other.key_for(*other_identifiers))
                pipe.get(other_key)
                pipe.pttl(other_key)
            replies = pipe.execute()
        now = time.time()
        count = int(replies[1])
        windows[key] = _window(item, count, replies[2], now)
        for n, (other, other_identifiers) in enumerate(reads):
            value, ttl = replies[3 + 2 * n], replies[4 + 2 * n]
            windows[other.key_for(*other_identifiers)] = _window(other, int(value or 0), ttl, now)
        return count <= item.amount

    def _read(self, item: RateLimitItem, identifiers: Sequence[str]) -> WindowStats | None:
        if not has_request_context():
            return None
        windows: dict[str, WindowStats] = g.get(WINDOWS_READ, {})
        return windows.get(item.key_for(*identifiers))

    def test(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        read = self._read(item, identifiers)
        if read is None:
            return super().test(item, *identifiers, cost=cost)
        return read.remaining >= cost

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        read = self._read(item, identifiers)
        return read if read is not None else super().get_window_stats(item, *identifiers)


def _window(item: RateLimitItem, count: int, ttl_ms: int, now: float) -> WindowStats:
    """As limits' fixed window reports it: the reset time and what is left (a missing key,
    PTTL -2, is an empty window resetting now)."""
    return WindowStats(now + max(ttl_ms, 0) / 1000, max(0, item.amount - count))


class QuizLimiter(Limiter):
    """flask-limiter with :class:`OneTripFixedWindow` where the storage is one Redis (or a
    Sentinel-managed one); its own strategy elsewhere. A Redis Cluster keeps limits' own
    strategy: one transaction cannot span the keys of two hash slots."""

    _one_trip: RateLimiter | None = None

    def __init__(
        self,
        companions: Companions,
        key_func: Callable[[], str],
        application_limit: str,
        app: Flask,
    ) -> None:
        self._quiz_companions = companions  # before the base class's init_app needs it
        super().__init__(key_func=key_func, application_limits=[application_limit], app=app)

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        self._one_trip = None
        if not self.enabled or app.config.get("RATELIMIT_STRATEGY") != "fixed-window":
            return
        storage = self.storage
        if isinstance(storage, RedisStorage) and not isinstance(storage, RedisClusterStorage):
            self._one_trip = OneTripFixedWindow(storage, self._quiz_companions)

    @property
    def limiter(self) -> RateLimiter:
        return self._one_trip or super().limiter


class AuthFailureLimit:
    """Failed authentications per client address, counted in the limiter's own storage, so
    that with Redis every worker and replica counts together."""

    def __init__(self, limiter: Limiter, limit: str, key_prefix: str) -> None:
        self._limiter = limiter
        self._item: RateLimitItem = parse(limit)
        self._prefix = [key_prefix] if key_prefix else []

    def _identifiers(self) -> list[str]:
        return [*self._prefix, "auth-failure", request.remote_addr or "unknown"]

    def companions(self) -> list[tuple[RateLimitItem, Sequence[str]]]:
        """The window :meth:`retry_after` will read in this request, for the request's hit
        to read beforehand: none for a bearer key this worker verified recently, which
        authentication does not check. A wrong guess costs a round trip or a wasted read,
        never a wrong answer: :meth:`retry_after` reads the window itself when it must."""
        _, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if key and services().store.recently_verified(key):
            return []
        return [(self._item, self._identifiers())]

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
    limiter = QuizLimiter(lambda: auth_failures().companions(), rate_limit_key, rate_limit, app)
    limiter.request_filter(lambda: request.path in UNLIMITED_PATHS)
    app.extensions[AUTH_FAILURES_KEY] = AuthFailureLimit(
        limiter, auth_failure_limit, app.config.get("RATELIMIT_KEY_PREFIX", "")
    )
    return limiter
