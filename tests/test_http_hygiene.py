"""Small things a security review found: headers every response carries, and the SQLite
file (which holds webhook secrets and LTI private keys) readable by its owner only."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from quizsvc.migrate import upgrade
from quizsvc.store import Store


def test_every_response_says_nosniff_and_no_referrer(client: FlaskClient) -> None:
    for response in (
        client.get("/v1/health"),
        client.get("/v1/cards"),  # 401, the JSON error envelope
        client.get("/v1/nowhere"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_sqlite_file_is_created_owner_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'quizsvc.sqlite3'}"
    upgrade(url)
    Store(url).ping()
    for path in (tmp_path / "fresh").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_existing_world_readable_sqlite_file_is_made_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    url = f"sqlite:///{database}"
    upgrade(url)
    database.chmod(0o644)
    Store(url).ping()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_every_201_in_the_spec_declares_location(client: FlaskClient) -> None:
    spec = client.get("/v1/openapi.json").get_json()
    created = [
        (path, method)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "201" in operation.get("responses", {})
    ]
    assert len(created) >= 5, created
    for path, method in created:
        headers = spec["paths"][path][method]["responses"]["201"].get("headers", {})
        assert "Location" in headers, (path, method)


@pytest.mark.model
def test_every_201_has_a_location_that_answers(
    client: FlaskClient, make_key: Callable[..., dict[str, str]]
) -> None:
    admin, staff, learner = make_key("admin"), make_key("instructor"), make_key("learner", "ada")
    exam = client.post("/v1/exams", json={"counts": {"fill_in": 1}, "seed": 1}, headers=staff)
    attempt = client.post(f"/v1/exams/{exam.get_json()['id']}/attempts", headers=learner)
    key = client.post("/v1/keys", json={"role": "instructor"}, headers=admin)
    created = [(exam, staff), (attempt, learner), (key, admin)]
    for response, headers in created:
        assert response.status_code == 201, response.get_json()
        location = response.headers["Location"]
        assert location.endswith(f"/{response.get_json()['id']}"), location
        assert location.startswith(("/v1/exams/", "/v1/attempts/", "/v1/keys/")), location
        followed = client.get(location, headers=headers)
        assert followed.status_code == 200, location
        assert followed.get_json()["id"] == response.get_json()["id"]
    # Resuming an attempt is 200 and still says where it is.
    resumed = client.post(f"/v1/exams/{exam.get_json()['id']}/attempts", headers=learner)
    assert resumed.status_code == 200
    assert resumed.headers["Location"] == attempt.headers["Location"]


def test_webhook_lists_are_paginated(
    client: FlaskClient, make_key: Callable[..., dict[str, str]]
) -> None:
    staff = make_key("instructor")
    created = [
        client.post("/v1/webhooks", json={"url": f"https://93.184.216.34/hook/{n}"}, headers=staff)
        for n in range(3)
    ]
    assert [response.status_code for response in created] == [201, 201, 201]
    assert all(r.headers["Location"].endswith(r.get_json()["id"]) for r in created)
    pages = [
        client.get(f"/v1/webhooks?page={page}&page_size=2", headers=staff).get_json()
        for page in (1, 2)
    ]
    assert [page["total"] for page in pages] == [3, 3]
    listed = [item["id"] for page in pages for item in page["items"]]
    assert sorted(listed) == sorted(r.get_json()["id"] for r in created)
    deliveries = client.get(
        f"/v1/webhooks/{created[0].get_json()['id']}/deliveries?page_size=5", headers=staff
    ).get_json()
    assert (deliveries["items"], deliveries["total"], deliveries["page_size"]) == ([], 0, 5)
    too_big = client.get("/v1/webhooks?page_size=101", headers=staff)
    assert too_big.status_code == 422
    assert "page_size" in too_big.get_json()["errors"]["query"]
