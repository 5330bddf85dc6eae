"""With Redis-backed limits, a limited request costs one Redis round trip: the hit returns the
window's count and expiry for the X-RateLimit-* headers, and reads the address's failed
authentications in the same round trip when the key must be checked against them. Counted
at redis-py's socket writes (each is a round trip: a command or a whole pipeline is sent,
then its replies are read before the next is sent)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from redis.connection import AbstractConnection

from quizsvc.store import Store
from tests.test_rate_limits_hold import REDIS_URL, bearer, count_lookups, worker


def redis_worker(tmp_path: Path, **options: Any) -> Flask:
    """One worker on its own SQLite file with its limits in Redis, under a key prefix of its
    own (counts of other runs stay apart)."""
    return worker(
        tmp_path,
        "instance",
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        prefix=uuid.uuid4().hex,
        ratelimit_storage=REDIS_URL,
        **options,
    )


@contextmanager
def redis_round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The first command of each write to Redis ("MULTI" for a transaction)."""
    sent: list[str] = []
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        first = command[0] if isinstance(command, list) else command
        sent.append(bytes(first).split(b"\r\n")[2].decode() if first else "?")
        original(self, command, check_health)

    with monkeypatch.context() as patch:
        patch.setattr(AbstractConnection, "send_packed_command", counting)
        yield sent


def assert_headers(response: Any, limit: int, remaining: int) -> None:
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == str(remaining)
    reset = int(response.headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 61
    assert "Retry-After" not in response.headers


def test_a_start_and_an_autosave_take_one_redis_round_trip_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = redis_worker(tmp_path, rate_limit="1000/minute")
    store: Store = app.extensions["quizsvc"].store
    staff = bearer(store.create_key("instructor")[0])
    learner = bearer(store.create_key("learner", "ada")[0])
    client = app.test_client()
    exam = client.post(
        "/v1/exams",
        json={"counts": {"multiple_choice": 2, "free_answer": 1}, "seed": 3},
        headers=staff,
    )
    assert exam.status_code == 201, exam.get_json()

    # The learner's key is new to this worker: its start is checked against the address's
    # failed authentications, in the same round trip as the hit.
    with redis_round_trips(monkeypatch) as sent:
        started = client.post(f"/v1/exams/{exam.get_json()['id']}/attempts", headers=learner)
    assert started.status_code == 201, started.get_json()
    assert sent == ["MULTI"], sent
    assert_headers(started, 1000, 999)

    attempt = started.get_json()
    free = next(q for q in attempt["questions"] if q["type"] == "free_answer")
    url = f"/v1/attempts/{attempt['id']}/responses/{free['id']}"
    with redis_round_trips(monkeypatch) as sent:
        saves = [client.put(url, json={"answer": f"draft {n}"}, headers=learner) for n in range(3)]
    assert [save.status_code for save in saves] == [200] * 3
    assert sent == ["MULTI"] * 3, sent
    for remaining, save in zip((998, 997, 996), saves, strict=True):
        assert_headers(save, 1000, remaining)
    # One window: its reset does not move with each hit (a second may tick over).
    resets = [int(r.headers["X-RateLimit-Reset"]) for r in (started, *saves)]
    assert max(resets) - min(resets) <= 1, resets
    store.engine.dispose()


def test_failed_authentications_through_redis_cost_one_round_trip_more_and_no_lookup_over_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = redis_worker(tmp_path, rate_limit="1000/minute", auth_failure_limit="2/minute")
    store: Store = app.extensions["quizsvc"].store
    client = app.test_client()
    client.get("/v1/decks", headers=bearer("qz_warm_up"))  # connects; a first failure
    lookups = count_lookups(app, monkeypatch)

    with redis_round_trips(monkeypatch) as sent:
        refused = client.get("/v1/decks", headers=bearer("qz_guess1"))
    assert refused.status_code == 401
    assert sent == ["MULTI", "MULTI"], "the hit with the failures read, then the failure counted"
    assert lookups == ["qz_guess1"]

    with redis_round_trips(monkeypatch) as sent:
        limited = client.get("/v1/decks", headers=bearer("qz_guess2"))
    assert limited.status_code == 429
    assert sent == ["MULTI"], sent
    assert lookups == ["qz_guess1"], "over the limit, a failed authentication costs no query"
    retry_after = int(limited.headers["Retry-After"])
    assert 0 < retry_after <= 60
    assert f"retry in {retry_after} s" in limited.get_json()["message"]
    store.engine.dispose()


def test_the_request_limits_429_through_redis_has_its_headers(tmp_path: Path) -> None:
    app = redis_worker(tmp_path, rate_limit="2/minute")
    store: Store = app.extensions["quizsvc"].store
    key = bearer(store.create_key("instructor")[0])
    client = app.test_client()
    responses = [client.get("/v1/decks", headers=key) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
    limited = responses[-1]
    reset = int(limited.headers["X-RateLimit-Reset"])
    retry_after = int(limited.headers["Retry-After"])
    assert 0 < retry_after <= 60
    assert abs(reset - (time.time() + retry_after)) <= 2
    store.engine.dispose()


def test_the_one_trip_window_is_the_one_limits_counts(tmp_path: Path) -> None:
    """The same Redis key and count as limits' own fixed window, so workers running either
    (a rolling upgrade) share one budget."""
    from limits import parse
    from limits.strategies import FixedWindowRateLimiter

    from quizsvc.api.ratelimit import rate_limit_key

    app = redis_worker(tmp_path, rate_limit="10/minute")
    store: Store = app.extensions["quizsvc"].store
    key = bearer(store.create_key("instructor")[0])
    client = app.test_client()
    assert [client.get("/v1/decks", headers=key).status_code for _ in range(3)] == [200] * 3
    limiter = app.extensions["limiter"]
    plain = FixedWindowRateLimiter(next(iter(limiter)).storage)
    with app.test_request_context(headers=key):
        identifiers = [app.config["RATELIMIT_KEY_PREFIX"], rate_limit_key(), "global"]
    assert plain.get_window_stats(parse("10/minute"), *identifiers).remaining == 7
    assert plain.hit(parse("10/minute"), *identifiers)
    assert client.get("/v1/decks", headers=key).headers["X-RateLimit-Remaining"] == "5"
    store.engine.dispose()
