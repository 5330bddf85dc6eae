from __future__ import annotations

import socket
from pathlib import Path

from quizsvc.api.errors import RETRY_AFTER_SECONDS
from quizsvc.app import create_app
from quizsvc.config import Settings
from quizsvc.embedding import HashingEncoder


def test_requests_over_the_limit_get_429_with_retry_after(tmp_path: Path) -> None:
    settings = Settings.from_env(
        instance_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        rate_limit="3/minute",
    )
    # The null encoder: rate limiting never encodes anything.
    app = create_app({"SETTINGS": settings, "ENCODER": HashingEncoder()})
    store = app.extensions["quizsvc"].store
    first, _ = store.create_key("learner", "ada")
    second, _ = store.create_key("learner", "bob")
    client = app.test_client()

    def decks(key: str) -> int:
        return client.get("/v1/decks", headers={"Authorization": f"Bearer {key}"}).status_code

    allowed = client.get("/v1/decks", headers={"Authorization": f"Bearer {first}"})
    assert allowed.headers["X-RateLimit-Remaining"] == "2"
    assert "Retry-After" not in allowed.headers, "a 200 asks nobody to retry"
    assert [decks(first) for _ in range(2)] == [200, 200]
    limited = client.get("/v1/decks", headers={"Authorization": f"Bearer {first}"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    body = limited.get_json()
    assert body["code"] == 429
    assert set(body) == {"code", "status", "message", "errors"}
    # The limit is per key: another learner is unaffected, and health checks are exempt.
    assert decks(second) == 200
    assert all(client.get("/v1/health").status_code == 200 for _ in range(5))


def test_database_outage_is_503_with_its_own_retry_after(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on: every connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings.from_env(
        instance_dir=tmp_path,
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/absent",
    )
    app = create_app({"SETTINGS": settings, "ENCODER": HashingEncoder(), "MIGRATE": False})
    response = app.test_client().get("/v1/decks", headers={"Authorization": "Bearer qz_any"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.get_json()["code"] == 503
    assert "temporarily unavailable" in response.get_json()["message"]
