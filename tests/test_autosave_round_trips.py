"""The autosave hot path: one round trip for the answer, the upsert that checks the attempt
is open and writes it; the attempt's fixed fields and the frozen exam come from memory
after the first request. The API key is looked up on every request, by design (a revoked
key is refused at once by every worker and replica; see ``KeyStore.principal_for``), which
makes two statements per autosave in all. Counted with SQLAlchemy's
``before_cursor_execute`` event on the store's engine, on SQLite and PostgreSQL."""

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
    writes = [statement for statement in statements if "INSERT INTO responses" in statement]
    key_lookups = [statement for statement in statements if "FROM api_keys" in statement]
    assert len(writes) == 3, statements
    assert len(key_lookups) == 3, statements
    assert len(statements) == 6, statements
