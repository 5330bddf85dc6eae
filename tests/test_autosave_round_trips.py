"""The autosave hot path is one database round trip: the upsert that checks the attempt is
open, the API key unrevoked, and writes the answer. The key's principal (verified by this
worker moments ago), the attempt's fixed fields and the frozen exam come from memory.
Counted with SQLAlchemy's ``before_cursor_execute`` event on the store's engine, on SQLite
and PostgreSQL; a revoked key is still refused at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event


def test_an_autosave_is_one_database_round_trip(
    app: Flask, client: FlaskClient, make_key: Callable[..., dict[str, str]]
) -> None:
    staff, learner = make_key("instructor"), make_key("learner", "ada")
    exam = client.post(
        "/v1/exams",
        json={"counts": {"multiple_choice": 2, "free_answer": 2}, "seed": 3},
        headers=staff,
    ).get_json()
    attempt = client.post(f"/v1/exams/{exam['id']}/attempts", headers=learner).get_json()
    free = next(q for q in attempt["questions"] if q["type"] == "free_answer")
    url = f"/v1/attempts/{attempt['id']}/responses/{free['id']}"
    assert client.put(url, json={"answer": "a first draft"}, headers=learner).status_code == 200

    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app.extensions["quizsvc"].store.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for draft in range(3):
            saved = client.put(url, json={"answer": f"draft {draft}"}, headers=learner)
            assert saved.status_code == 200, saved.get_json()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 3, statements
    assert all("INSERT INTO responses" in statement for statement in statements), statements


def test_a_revoked_key_cannot_autosave_even_from_a_worker_that_just_verified_it(
    app: Flask, client: FlaskClient, make_key: Callable[..., dict[str, str]]
) -> None:
    staff, learner = make_key("instructor"), make_key("learner", "bo")
    exam = client.post(
        "/v1/exams", json={"counts": {"free_answer": 1}, "seed": 3}, headers=staff
    ).get_json()
    attempt = client.post(f"/v1/exams/{exam['id']}/attempts", headers=learner).get_json()
    url = f"/v1/attempts/{attempt['id']}/responses/{attempt['questions'][0]['id']}"
    assert client.put(url, json={"answer": "kept"}, headers=learner).status_code == 200

    store = app.extensions["quizsvc"].store
    key = learner["Authorization"].removeprefix("Bearer ")
    principal = store.principal_for(key)
    assert principal is not None
    # Revoked in the database only, as another replica would: this worker still remembers it.
    from datetime import UTC, datetime

    from sqlalchemy import update

    from quizsvc.persistence.keys import ApiKey

    with store.session() as session:
        session.execute(
            update(ApiKey).where(ApiKey.id == principal.key_id).values(revoked_at=datetime.now(UTC))
        )
    assert store.remembered_principal(key) is not None
    refused = client.put(url, json={"answer": "after revocation"}, headers=learner)
    assert refused.status_code == 401, refused.get_json()
    assert store.responses(attempt["id"])[next(iter(store.responses(attempt["id"])))].answer == (
        "kept"
    )
