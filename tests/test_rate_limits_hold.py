"""The limits the README documents hold: one budget per key for all routes, a per-address limit
on failed authentication that spares the database, revocation that applies at once in every
worker, and counts shared across workers through Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from quizsvc.app import create_app
from quizsvc.config import Settings
from quizsvc.embedding import HashingEncoder
from quizsvc.store import Principal, Store

REDIS_URL = "redis://127.0.0.1:6379"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def worker(tmp_path: Path, name: str, database_url: str, prefix: str = "", **options: Any) -> Flask:
    """One app, as one gunicorn worker builds it: apps on one database are the workers of
    one instance. ``prefix`` (the limiter's key prefix) keeps Redis counts of other runs apart."""
    settings = Settings.from_env(instance_dir=tmp_path / name, database_url=database_url, **options)
    # The null encoder: nothing here encodes text.
    config: dict[str, Any] = {"SETTINGS": settings, "ENCODER": HashingEncoder()}
    if prefix:
        config["RATELIMIT_KEY_PREFIX"] = prefix
    return create_app(config)


def store_of(app: Flask) -> Store:
    store: Store = app.extensions["quizsvc"].store
    return store


def count_lookups(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every key ``principal_for`` is asked about (each one a database query)."""
    store = store_of(app)
    original: Callable[[str], Principal | None] = store.principal_for
    calls: list[str] = []

    def counting(key: str) -> Principal | None:
        calls.append(key)
        return original(key)

    monkeypatch.setattr(store, "principal_for", counting)
    return calls


def assert_too_many(response: TestResponse) -> int:
    assert response.status_code == 429, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"}
    assert body["code"] == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60
    return retry_after


def test_one_keys_budget_is_shared_by_all_routes(tmp_path: Path) -> None:
    app = worker(tmp_path, "a", f"sqlite:///{tmp_path / 'db.sqlite3'}", rate_limit="5/minute")
    key, _ = store_of(app).create_key("instructor")
    client = app.test_client()

    def get(path: str) -> TestResponse:
        return client.get(path, headers=bearer(key))

    first = [get("/v1/decks") for _ in range(3)]
    second = [get("/v1/exams") for _ in range(2)]
    assert [r.status_code for r in first + second] == [200] * 5
    # The remaining count falls across routes: one budget, not one per route.
    assert [r.headers["X-RateLimit-Remaining"] for r in first + second] == list("43210")
    assert_too_many(get("/v1/exams"))
    assert_too_many(get("/v1/decks"))
    # Probes, the spec and metrics stay unlimited.
    for path in ("/v1/health", "/v1/openapi.json", "/metrics"):
        assert client.get(path, headers=bearer(key)).status_code == 200, path


def test_failed_authentication_is_limited_per_address_without_a_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = worker(
        tmp_path,
        "a",
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        rate_limit="1000/minute",
        auth_failure_limit="3/minute",
    )
    store = store_of(app)
    known, _ = store.create_key("learner", "ada")
    unseen, _ = store.create_key("learner", "bob")
    client = app.test_client()
    assert client.get("/v1/decks", headers=bearer(known)).status_code == 200
    lookups = count_lookups(app, monkeypatch)

    # Each guess is a fresh key to the request limit; the failure limit counts the address.
    guesses = [client.get("/v1/decks", headers=bearer(f"qz_guess{n}")) for n in range(3)]
    assert [r.status_code for r in guesses] == [401, 401, 401]
    assert len(lookups) == 3
    limited = client.get("/v1/decks", headers=bearer("qz_guess3"))
    retry_after = assert_too_many(limited)
    assert f"retry in {retry_after} s" in limited.get_json()["message"]
    assert_too_many(client.get("/v1/decks"))  # no key at all counts as a failure too
    assert len(lookups) == 3, "over the limit, a failed authentication costs no query"

    # A key this worker verified recently still works from the blocked address (one lookup,
    # its own); one it has not seen cannot be told from a guess without a query, so it waits.
    assert client.get("/v1/decks", headers=bearer(known)).status_code == 200
    assert lookups[3:] == [known]
    assert_too_many(client.get("/v1/decks", headers=bearer(unseen)))
    # Another address is not affected.
    other = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get("/v1/decks", headers=bearer(unseen), environ_base=other).status_code == 200
    assert (
        client.get("/v1/decks", headers=bearer("qz_guess4"), environ_base=other).status_code == 401
    )


def test_a_revoked_key_is_refused_at_once_by_another_worker(
    tmp_path: Path, database_url: str
) -> None:
    """Two apps on one database: the two workers of ``make run``'s gunicorn, on SQLite and
    on PostgreSQL. The other worker had just verified the key."""
    revoking = worker(tmp_path, "a", database_url).test_client()
    other = worker(tmp_path, "b", database_url).test_client()
    store = Store(database_url)
    admin = bearer(store.create_key("admin")[0])
    key, record = store.create_key("learner", "ada")
    assert other.get("/v1/decks", headers=bearer(key)).status_code == 200
    assert other.get("/v1/exams", headers=bearer(key)).status_code == 200

    assert revoking.delete(f"/v1/keys/{record.id}", headers=admin).status_code == 204
    for client in (other, revoking):
        refused = client.get("/v1/decks", headers=bearer(key))
        assert refused.status_code == 401
        assert refused.get_json()["message"] == "Invalid or revoked API key."
    store.engine.dispose()


def test_limits_are_shared_by_workers_through_redis(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    prefix = uuid.uuid4().hex  # every count of this run is under its own keys in Redis
    workers: list[FlaskClient] = [
        worker(
            tmp_path,
            name,
            database_url,
            prefix,
            rate_limit="5/minute",
            auth_failure_limit="2/minute",
            ratelimit_storage=REDIS_URL,
        ).test_client()
        for name in ("a", "b")
    ]
    store = Store(database_url)
    key, _ = store.create_key("instructor")
    # Alternating workers and routes: one budget of 5 for the key, wherever it is spent.
    responses = [
        workers[n % 2].get(("/v1/decks", "/v1/exams")[n // 2 % 2], headers=bearer(key))
        for n in range(7)
    ]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 2
    # Each worker's headers tell the shared count, from the hit's own read of the window.
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == list("4321000")
    assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"5"}
    resets = [int(r.headers["X-RateLimit-Reset"]) for r in responses]
    assert max(resets) - min(resets) <= 1, "one window, whichever worker answers"
    assert_too_many(responses[-1])

    # Failed authentications from one address add up across workers too.
    assert workers[0].get("/v1/decks", headers=bearer("qz_guess0")).status_code == 401
    assert workers[1].get("/v1/decks", headers=bearer("qz_guess1")).status_code == 401
    assert_too_many(workers[0].get("/v1/decks", headers=bearer("qz_guess2")))
    assert_too_many(workers[1].get("/v1/decks", headers=bearer("qz_guess3")))
    store.engine.dispose()
