"""Starting and submitting an attempt cost a bounded number of database statements.

The synchronized start of a class (everyone clicking "start" in the same seconds) and the
submits at the end wait on the database more than on the CPU (issue 19's capacity run), so
each of them is counted with SQLAlchemy's ``before_cursor_execute`` event on the store's
engine, on SQLite and PostgreSQL, with a learner's fresh key as in the load test. The
bounds are the counts achieved; the behaviour they must keep (one attempt under parallel
starts, accommodations, windows, revoked keys refused, reviews, learning log, outbox) is
tested in the files named beside each guarantee."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

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

    with counted_statements(app) as start_statements:
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
    # Key, advisory lock (SQLite: BEGIN IMMEDIATE), one read of window + accommodation +
    # attempts, the insert. Before: 10 (the attempts, window and accommodation read twice).
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
