"""API keys over the API (admin only): created once, listed without secrets, revoked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

import quizsvc.persistence.keys as keys_module
import quizsvc.store as store_module
from quizsvc.app import create_app
from quizsvc.cli import main
from quizsvc.config import Settings
from quizsvc.embedding import HashingEncoder
from quizsvc.store import PRINCIPAL_CACHE_SECONDS

MakeKey = Callable[..., dict[str, str]]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_admin_creates_a_key_that_works_and_is_shown_only_once(
    client: FlaskClient, make_key: MakeKey
) -> None:
    admin = make_key("admin")
    created = client.post(
        "/v1/keys",
        json={"role": "learner", "learner_id": "ada", "label": "ada's laptop"},
        headers=admin,
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["key"].startswith(body["prefix"])
    assert (body["role"], body["learner_id"], body["label"]) == ("learner", "ada", "ada's laptop")
    assert body["revoked_at"] is None
    assert client.get("/v1/exams", headers=bearer(body["key"])).status_code == 200

    listing = client.get("/v1/keys?role=learner", headers=admin)
    assert listing.status_code == 200
    assert [item["id"] for item in listing.get_json()["items"]] == [body["id"]]
    assert body["key"] not in listing.get_data(as_text=True)
    one = client.get(f"/v1/keys/{body['id']}", headers=admin).get_json()
    assert "key" not in one
    assert one["prefix"] == body["prefix"]


def test_a_revoked_key_is_refused_at_once_even_when_it_was_just_used(
    client: FlaskClient, make_key: MakeKey
) -> None:
    admin = make_key("admin")
    learner = client.post(
        "/v1/keys", json={"role": "learner", "learner_id": "bob"}, headers=admin
    ).get_json()
    assert client.get("/v1/exams", headers=bearer(learner["key"])).status_code == 200

    assert client.delete(f"/v1/keys/{learner['id']}", headers=admin).status_code == 204
    refused = client.get("/v1/exams", headers=bearer(learner["key"]))
    assert refused.status_code == 401
    assert refused.get_json()["message"] == "Invalid or revoked API key."
    # Revoking again changes nothing; the revoked key is listed only when asked for.
    assert client.delete(f"/v1/keys/{learner['id']}", headers=admin).status_code == 204
    active = client.get("/v1/keys?learner_id=bob", headers=admin).get_json()
    assert active["total"] == 0
    everything = client.get("/v1/keys?learner_id=bob&include_revoked=true", headers=admin)
    (revoked,) = everything.get_json()["items"]
    assert revoked["revoked_at"] is not None


def test_unknown_keys_are_404_and_bad_bodies_name_the_field(
    client: FlaskClient, make_key: MakeKey
) -> None:
    admin = make_key("admin")
    assert client.delete("/v1/keys/999999", headers=admin).status_code == 404
    assert client.get("/v1/keys/999999", headers=admin).status_code == 404
    # Past the database's integer range (found by schemathesis on PostgreSQL: it was a 500).
    for method in (client.get, client.delete):
        beyond = method("/v1/keys/99999999999999999999", headers=admin)
        assert beyond.status_code == 404
        assert beyond.get_json()["code"] == 404
    cases = [
        ({"role": "learner"}, "learner_id"),
        ({"role": "instructor", "learner_id": "ada"}, "learner_id"),
        ({"role": "superuser"}, "role"),
        ({"learner_id": "ada"}, "role"),
    ]
    for payload, field in cases:
        response = client.post("/v1/keys", json=payload, headers=admin)
        assert response.status_code == 422, payload
        assert field in response.get_json()["errors"]["json"], response.get_json()


@pytest.mark.parametrize("role", ["instructor", "learner"])
def test_only_admins_manage_keys(client: FlaskClient, make_key: MakeKey, role: str) -> None:
    caller = make_key(role, "ada" if role == "learner" else None)
    own_id = client.get("/v1/keys", headers=make_key("admin")).get_json()["items"][0]["id"]
    assert client.get("/v1/keys", headers=caller).status_code == 403
    assert client.get(f"/v1/keys/{own_id}", headers=caller).status_code == 403
    assert client.post("/v1/keys", json={"role": "admin"}, headers=caller).status_code == 403
    assert client.delete(f"/v1/keys/{own_id}", headers=caller).status_code == 403


def test_the_last_active_admin_key_cannot_be_revoked(
    client: FlaskClient, app: Flask, make_key: MakeKey
) -> None:
    first_admin = make_key("admin")
    (first,) = client.get("/v1/keys?role=admin", headers=first_admin).get_json()["items"]
    locked_out = client.delete(f"/v1/keys/{first['id']}", headers=first_admin)
    assert locked_out.status_code == 409
    assert "last active admin key" in locked_out.get_json()["message"]

    second = client.post("/v1/keys", json={"role": "admin"}, headers=first_admin).get_json()
    assert (
        client.delete(f"/v1/keys/{first['id']}", headers=bearer(second["key"])).status_code == 204
    )
    assert client.get("/v1/keys", headers=first_admin).status_code == 401


def test_other_replicas_refuse_a_revoked_key_within_the_cache_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path / 'shared.sqlite3'}"

    def replica(name: str) -> FlaskClient:
        settings = Settings.from_env(instance_dir=tmp_path / name, database_url=database)
        return create_app({"SETTINGS": settings, "ENCODER": HashingEncoder()}).test_client()

    revoking, other = replica("a"), replica("b")
    store = store_module.Store(database)
    admin = bearer(store.create_key("admin")[0])
    key, record = store.create_key("instructor")
    assert other.get("/v1/exams", headers=bearer(key)).status_code == 200  # now cached there
    assert revoking.delete(f"/v1/keys/{record.id}", headers=admin).status_code == 204
    assert revoking.get("/v1/exams", headers=bearer(key)).status_code == 401

    now = keys_module.time.monotonic()
    monkeypatch.setattr(keys_module.time, "monotonic", lambda: now + PRINCIPAL_CACHE_SECONDS + 1)
    assert other.get("/v1/exams", headers=bearer(key)).status_code == 401


def test_cli_lists_and_revokes_keys(tmp_path: Path) -> None:
    env = {
        "QUIZSVC_INSTANCE_DIR": str(tmp_path),
        "QUIZSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
    }
    runner = CliRunner()
    created = runner.invoke(
        main, ["keys", "create", "--role", "instructor", "--label", "ci"], env=env
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()

    listed = runner.invoke(main, ["keys", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    (line,) = listed.stdout.strip().splitlines()
    key_id, prefix, role, learner, label, _created, revoked = line.split("\t")
    assert (prefix, role, learner, label, revoked) == (
        key[:10],
        "instructor",
        "-",
        "ci",
        "revoked=-",
    )
    assert key not in listed.stdout

    revoked_run = runner.invoke(main, ["keys", "revoke", key_id], env=env)
    assert revoked_run.exit_code == 0, revoked_run.output
    assert store_module.Store(env["QUIZSVC_DATABASE_URL"]).principal_for(key) is None
    assert runner.invoke(main, ["keys", "list"], env=env).stdout.strip() == ""
    assert "revoked=20" in runner.invoke(main, ["keys", "list", "--all"], env=env).stdout
    missing = runner.invoke(main, ["keys", "revoke", "424242"], env=env)
    assert missing.exit_code == 1
    assert "no API key with id 424242" in missing.output
