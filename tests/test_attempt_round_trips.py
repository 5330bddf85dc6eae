"""Starting and submitting an attempt cost a bounded number of database statements, and on
PostgreSQL a start a bounded number of round trips.

The synchronized start of a class (everyone clicking "start" in the same seconds) and the
submits at the end wait on the database more than on the CPU (issue 19's capacity run), so
each of them is counted with SQLAlchemy's ``before_cursor_execute`` event on the store's
engine, on SQLite and PostgreSQL, with a learner's fresh key as in the load test; on
PostgreSQL, where a start pipelines several statements into one round trip, libpq's protocol
trace counts the round trips themselves. The bounds are the counts achieved; the behaviour
they must keep (one attempt under parallel starts, accommodations, windows, revoked keys
refused, reviews, learning log, outbox) is tested in the files named beside each guarantee.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from quizsvc.api import bank_editing
from quizsvc.api.attempts import AttemptSchema, attempt_view
from tests.conftest import FakeClock


@contextmanager
def counted_statements(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app.extensions["quizsvc"].store.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@contextmanager
def counted_round_trips(app: Flask) -> Iterator[list[int]]:
    """PostgreSQL: the round trips of every connection checked out meanwhile, from libpq's
    protocol trace (one list item, filled at the end). A round trip is a message to the
    server followed by one from it: every wait for a reply is one, so the count is an upper
    bound on the waits (libpq may read a pipelined reply before sending the rest)."""
    import psycopg

    engine = app.extensions["quizsvc"].store.engine
    flags = psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
    counted: list[int] = []
    with tempfile.TemporaryFile(mode="w+") as trace:

        def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            dbapi_connection.pgconn.trace(trace.fileno())
            dbapi_connection.pgconn.set_trace_flags(flags)

        def checkin(dbapi_connection: Any, record: Any) -> None:
            if dbapi_connection is not None:
                dbapi_connection.pgconn.untrace()

        event.listen(engine.pool, "checkout", checkout)
        event.listen(engine.pool, "checkin", checkin)
        try:
            yield counted
        finally:
            event.remove(engine.pool, "checkout", checkout)
            event.remove(engine.pool, "checkin", checkin)
        trace.seek(0)
        sides = [line.split("\t", 1)[0] for line in trace.read().splitlines() if line.strip()]
    counted.append(sum(1 for pair in itertools.pairwise(sides) if pair == ("F", "B")))


def exam_like_the_load_test(client: FlaskClient, staff: dict[str, str]) -> dict[str, Any]:
    exam = client.post(
        "/v1/exams",
        json={"counts": {"multiple_choice": 4, "fill_in": 1, "free_answer": 1}, "seed": 3},
        headers=staff,
    )
    assert exam.status_code == 201, exam.get_json()
    body: dict[str, Any] = exam.get_json()
    return body


def test_a_start_and_a_submit_take_few_statements(
    app: Flask, client: FlaskClient, make_key: Callable[..., dict[str, str]]
) -> None:
    staff, learner = make_key("instructor"), make_key("learner", "ada")
    exam = exam_like_the_load_test(client, staff)
    # Another learner's start first: the exam is then in this worker's memory, as it is
    # for all but the first learner of a class.
    other = make_key("learner", "bo")
    assert client.post(f"/v1/exams/{exam['id']}/attempts", headers=other).status_code == 201

    postgresql = app.extensions["quizsvc"].store.engine.dialect.name == "postgresql"
    with counted_statements(app) as start_statements:
        if postgresql:
            with counted_round_trips(app) as start_round_trips:
                started = client.post(f"/v1/exams/{exam['id']}/attempts", headers=learner)
        else:
            started = client.post(f"/v1/exams/{exam['id']}/attempts", headers=learner)
    assert started.status_code == 201, started.get_json()
    attempt = started.get_json()
    for question in attempt["questions"]:
        answer: Any = (
            question["options"][0]["id"] if question["type"] == "multiple_choice" else "an answer"
        )
        saved = client.put(
            f"/v1/attempts/{attempt['id']}/responses/{question['id']}",
            json={"answer": answer},
            headers=learner,
        )
        assert saved.status_code == 200, saved.get_json()

    with counted_statements(app) as submit_statements:
        submitted = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner)
    assert submitted.status_code == 200, submitted.get_json()
    if postgresql:
        # Key; BEGIN with the advisory lock; one read of window + accommodation + attempts;
        # the insert with its COMMIT. Before: 6 (BEGIN, the lock, the insert
        # and the COMMIT each waited for).
        assert start_round_trips == [4], start_statements
        assert len(start_statements) <= 7, start_statements
    else:
        # Key, BEGIN IMMEDIATE, one read of window + accommodation + attempts, the insert.
        # Before: 10 (the attempts, window and accommodation read twice).
        assert len(start_statements) <= 4, start_statements
    # Key, the attempt locked with its exam's keys revision, the answers, the grade, the
    # learning log (learner lock, rows, card states), LTI launch, webhooks, and one read
    # for the review options' "closed". Before: 19.
    assert len(submit_statements) <= 12, submit_statements


def test_a_submit_after_the_time_is_graded_as_the_expiry_would_and_a_start_resumes_nothing(
    app: Flask,
    client: FlaskClient,
    make_key: Callable[..., dict[str, str]],
    clock: FakeClock,
) -> None:
    """A submit or a start no longer reads the attempt before its locked statement, so the
    expiry an earlier read did first is decided under the lock: same outcome."""
    staff, learner = make_key("instructor"), make_key("learner", "cy")
    exam = exam_like_the_load_test(client, staff)
    url = f"/v1/exams/{exam['id']}/attempts"
    late = client.post(url, headers=learner).get_json()
    question = late["questions"][0]
    answer = question["options"][0]["id"] if question.get("options") else "in time"
    saved = client.put(
        f"/v1/attempts/{late['id']}/responses/{question['id']}",
        json={"answer": answer},
        headers=learner,
    )
    assert saved.status_code == 200
    clock.advance(late["seconds_remaining"] + 3600)
    submitted = client.post(f"/v1/attempts/{late['id']}/submit", headers=learner)
    assert submitted.status_code == 200, submitted.get_json()
    result = submitted.get_json()
    assert result["finalized_by"] == "expiry"
    assert result["time_used_seconds"] <= late["seconds_remaining"] + 60
    assert result["questions"][0]["your_answer"] is not None

    # Expired while nobody looked: the next start grades it and starts afresh.
    forgotten = client.post(url, headers=learner).get_json()
    clock.advance(forgotten["seconds_remaining"] + 3600)
    fresh = client.post(url, headers=learner)
    assert fresh.status_code == 201, fresh.get_json()
    assert fresh.get_json()["id"] != forgotten["id"]
    graded = client.get(f"/v1/attempts/{forgotten['id']}", headers=learner).get_json()
    assert (graded["status"], graded["finalized_by"]) == ("graded", "expiry")
    # Another learner's submit finds nothing, and grades nothing.
    other = make_key("learner", "dee")
    foreign = client.post(f"/v1/attempts/{fresh.get_json()['id']}/submit", headers=other)
    assert foreign.status_code == 404
    mine = client.get(f"/v1/attempts/{fresh.get_json()['id']}", headers=learner).get_json()
    assert mine["status"] == "in_progress"


def test_a_start_answers_what_the_attempt_schema_dumps(
    app: Flask, client: FlaskClient, make_key: Callable[..., dict[str, str]]
) -> None:
    """The start's response is built from each exam's questions dumped once (not one
    marshmallow dump per learner): the same JSON as ``AttemptSchema`` made before, for a new
    attempt and for one resumed with saved answers, multiple response included."""
    staff, learner = make_key("instructor"), make_key("learner", "eve")
    exam = client.post(
        "/v1/exams",
        json={
            "counts": {
                "multiple_choice": 2,
                "multiple_response": 1,
                "fill_in": 1,
                "free_answer": 1,
            },
            "seed": 5,
        },
        headers=staff,
    ).get_json()
    store = app.extensions["quizsvc"].store
    url = f"/v1/exams/{exam['id']}/attempts"

    def as_the_schema_dumps(attempt_id: str) -> Any:
        attempt = store.get_attempt(attempt_id)
        with app.test_request_context():
            view = attempt_view(attempt, store.get_exam(attempt.exam_id))
            return json.loads(json.dumps(AttemptSchema().dump(view), default=str))

    started = client.post(url, headers=learner)
    assert started.status_code == 201
    body = started.get_json()
    assert body == as_the_schema_dumps(body["id"])
    assert [question["position"] for question in body["questions"]] == list(
        range(1, len(body["questions"]) + 1)
    )
    assert any(question.get("select") for question in body["questions"])
    for question in body["questions"]:
        answer: Any = "an answer"
        if question["type"] == "multiple_choice":
            answer = question["options"][-1]["id"]
        elif question["type"] == "multiple_response":
            answer = [option["id"] for option in question["options"][: question["select"]]]
        saved = client.put(
            f"/v1/attempts/{body['id']}/responses/{question['id']}",
            json={"answer": answer},
            headers=learner,
        )
        assert saved.status_code == 200, saved.get_json()
    resumed = client.post(url, headers=learner)
    assert resumed.status_code == 200
    assert resumed.headers["Location"].endswith(f"/v1/attempts/{body['id']}")
    assert resumed.get_json() == as_the_schema_dumps(body["id"])
    assert len(resumed.get_json()["responses"]) == len(body["questions"])
    assert resumed.get_json()["questions"] == body["questions"]


def test_the_attempt_hot_path_makes_no_bank_query_and_bank_reads_still_check(
    app: Flask,
    client: FlaskClient,
    make_key: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starting, resuming and autosaving read the exam's frozen copy, so they skip the check
    for other instances' bank edits that every request made once a second per worker (a
    query on the autosave hot path); a request that reads the bank still makes it."""
    staff, learner = make_key("instructor"), make_key("learner", "fay")
    exam = client.post(
        "/v1/exams", json={"counts": {"multiple_choice": 2}, "seed": 3}, headers=staff
    ).get_json()
    # Due on every request from now on.
    monkeypatch.setattr(bank_editing, "BANK_REFRESH_SECONDS", 0.0)
    with counted_statements(app) as statements:
        attempt = client.post(f"/v1/exams/{exam['id']}/attempts", headers=learner).get_json()
        question = attempt["questions"][0]
        for _ in range(2):
            saved = client.put(
                f"/v1/attempts/{attempt['id']}/responses/{question['id']}",
                json={"answer": question["options"][0]["id"]},
                headers=learner,
            )
            assert saved.status_code == 200
        assert client.get(f"/v1/attempts/{attempt['id']}", headers=learner).status_code == 200
    assert not [statement for statement in statements if "FROM bank_item_versions" in statement], (
        statements
    )
    with counted_statements(app) as statements:
        assert client.get("/v1/decks", headers=learner).status_code == 200
    assert [statement for statement in statements if "FROM bank_item_versions" in statement], (
        statements
    )
