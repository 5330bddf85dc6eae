"""Timed attempts through the API: autosave, resume, submit, expiry, review, isolation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import FakeClock

Headers = dict[str, str]

BLUEPRINT = {
    "title": "Metrics and XGBoost",
    "topics": ["metrics", "xgboost"],
    "counts": {"multiple_choice": 3, "multiple_response": 1, "fill_in": 2, "free_answer": 2},
    "seed": 11,
    "time_limit_seconds": 600,
    "grace_seconds": 10,
}


def create_exam(client: FlaskClient, staff: Headers, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/exams", json={**BLUEPRINT, **overrides}, headers=staff)
    assert response.status_code == 201, response.get_json()
    exam: dict[str, Any] = response.get_json()
    return exam


def start(client: FlaskClient, exam_id: str, learner: Headers) -> dict[str, Any]:
    response = client.post(f"/v1/exams/{exam_id}/attempts", headers=learner)
    assert response.status_code == 201, response.get_json()
    attempt: dict[str, Any] = response.get_json()
    return attempt


def attempt_keys(client: FlaskClient, attempt_id: str, staff: Headers) -> dict[str, Any]:
    """The answer keys in one attempt's own ids, as an instructor reads them."""
    response = client.get(f"/v1/attempts/{attempt_id}?include=key", headers=staff)
    assert response.status_code == 200, response.get_json()
    return {key["question_id"]: key for key in response.get_json()["key"]}


def correct_answer(key: dict[str, Any]) -> Any:
    kind = key["type"]
    if kind == "multiple_choice":
        return key["correct_option_ids"][0]
    if kind == "multiple_response":
        return list(key["correct_option_ids"])
    if kind == "fill_in":
        return key["accept"][0]
    return key["answer"]


def save(
    client: FlaskClient, attempt_id: str, question_id: str, answer: Any, learner: Headers
) -> Any:
    return client.put(
        f"/v1/attempts/{attempt_id}/responses/{question_id}",
        json={"answer": answer},
        headers=learner,
    )


@pytest.fixture
def staff(make_key: Callable[..., Headers]) -> Headers:
    return make_key("instructor")


@pytest.fixture
def learner(make_key: Callable[..., Headers]) -> Headers:
    return make_key("learner", "ada")


@pytest.mark.model
def test_full_attempt_with_correct_answers_scores_full_marks(
    client: FlaskClient, staff: Headers, learner: Headers
) -> None:
    exam = create_exam(client, staff)
    attempt = start(client, exam["id"], learner)
    keys = attempt_keys(client, attempt["id"], staff)
    assert attempt["seconds_remaining"] == 600
    assert len(attempt["questions"]) == 8

    for question in attempt["questions"]:
        response = save(
            client, attempt["id"], question["id"], correct_answer(keys[question["id"]]), learner
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["seconds_remaining"] == 600

    result = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner).get_json()
    assert result["percent"] >= 99.0, [
        (q["type"], q["your_answer"], q["score"]) for q in result["questions"]
    ]
    assert result["passed"] is True
    assert {topic["topic"] for topic in result["topics"]} == {"metrics", "xgboost"}


@pytest.mark.model
def test_resume_returns_saved_answers_and_last_write_wins(
    client: FlaskClient, staff: Headers, learner: Headers
) -> None:
    exam = create_exam(client, staff)
    attempt = start(client, exam["id"], learner)
    free = next(q for q in attempt["questions"] if q["type"] == "free_answer")
    save(client, attempt["id"], free["id"], "first draft", learner)
    saved = save(client, attempt["id"], free["id"], "second draft", learner).get_json()
    assert saved["revision"] == 2

    resumed = client.post(f"/v1/exams/{exam['id']}/attempts", headers=learner)
    assert resumed.status_code == 200
    body = resumed.get_json()
    assert body["id"] == attempt["id"]
    assert body["responses"][free["id"]]["answer"] == "second draft"
    assert [q["id"] for q in body["questions"]] == [q["id"] for q in attempt["questions"]]


@pytest.mark.model
def test_question_and_option_order_differs_per_attempt_but_not_per_read(
    client: FlaskClient, staff: Headers, make_key: Callable[..., Headers]
) -> None:
    exam = create_exam(client, staff)
    orders = []
    for learner_id in ("ada", "bob", "cyd", "dee"):
        headers = make_key("learner", learner_id)
        attempt = start(client, exam["id"], headers)
        again = client.get(f"/v1/attempts/{attempt['id']}", headers=headers).get_json()
        assert again["questions"] == attempt["questions"]
        orders.append(tuple(q["id"] for q in attempt["questions"]))
    assert len(set(orders)) > 1


@pytest.mark.model
def test_answers_after_deadline_plus_grace_are_rejected(
    client: FlaskClient, staff: Headers, learner: Headers, clock: FakeClock
) -> None:
    exam = create_exam(client, staff)
    attempt = start(client, exam["id"], learner)
    question = attempt["questions"][0]["id"]
    clock.advance(605)
    in_grace = save(client, attempt["id"], question, None, learner)
    assert in_grace.status_code == 200
    assert in_grace.get_json()["seconds_remaining"] == 0
    clock.advance(10)
    late = save(client, attempt["id"], question, "too late", learner)
    assert late.status_code == 409
    assert "Time is up" in late.get_json()["message"]


@pytest.mark.model
def test_expired_attempt_is_graded_with_answers_saved_in_time(
    client: FlaskClient, staff: Headers, learner: Headers, clock: FakeClock
) -> None:
    exam = create_exam(client, staff)
    attempt = start(client, exam["id"], learner)
    keys = attempt_keys(client, attempt["id"], staff)
    first, second = attempt["questions"][0]["id"], attempt["questions"][1]["id"]
    assert (
        save(client, attempt["id"], first, correct_answer(keys[first]), learner).status_code == 200
    )
    clock.advance(700)
    assert (
        save(client, attempt["id"], second, correct_answer(keys[second]), learner).status_code
        == 409
    )

    view = client.get(f"/v1/attempts/{attempt['id']}", headers=learner).get_json()
    assert view["status"] == "graded"
    assert view["finalized_by"] == "expiry"
    result = client.get(f"/v1/attempts/{attempt['id']}/result", headers=learner).get_json()
    scored = {q["question_id"]: q for q in result["questions"]}
    assert scored[first]["score"] == pytest.approx(1.0)
    assert scored[second]["your_answer"] is None
    assert scored[second]["score"] == 0
    assert result["time_used_seconds"] <= 610


@pytest.mark.model
def test_double_submit_grades_once(
    app: Flask, client: FlaskClient, staff: Headers, learner: Headers
) -> None:
    exam = create_exam(client, staff)
    attempt = start(client, exam["id"], learner)
    calls = []
    services = app.extensions["quizsvc"]
    original = services.grade_many

    def counting(pairs: Any) -> Any:
        calls.append(len(pairs))
        return original(pairs)

    services.grade_many = counting
    save(client, attempt["id"], attempt["questions"][0]["id"], None, learner)
    first = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner)
    second = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert len(calls) <= 1
    assert (
        save(client, attempt["id"], attempt["questions"][0]["id"], "x", learner).status_code == 409
    )


@pytest.mark.model
def test_learner_cannot_see_another_learners_attempt(
    client: FlaskClient, staff: Headers, learner: Headers, make_key: Callable[..., Headers]
) -> None:
    exam = create_exam(client, staff)
    attempt = start(client, exam["id"], learner)
    other = make_key("learner", "eve")
    for method, url in [
        ("get", f"/v1/attempts/{attempt['id']}"),
        ("get", f"/v1/attempts/{attempt['id']}/result"),
        ("post", f"/v1/attempts/{attempt['id']}/submit"),
        ("get", "/v1/learners/ada/results"),
    ]:
        response = getattr(client, method)(url, headers=other)
        assert response.status_code == 404, (url, response.get_json())
    response = save(client, attempt["id"], attempt["questions"][0]["id"], "x", other)
    assert response.status_code == 404
    assert client.get(f"/v1/attempts/{attempt['id']}", headers=staff).status_code == 200


@pytest.mark.model
def test_invalid_answers_are_422_naming_the_problem(
    client: FlaskClient, staff: Headers, learner: Headers
) -> None:
    exam = create_exam(client, staff)
    attempt = start(client, exam["id"], learner)
    by_type = {q["type"]: q for q in attempt["questions"]}
    mc = by_type["multiple_choice"]["id"]
    bad = save(client, attempt["id"], mc, "no-such-option", learner)
    assert bad.status_code == 422
    assert "not an option" in bad.get_json()["errors"]["json"]["answer"][0]
    free = by_type["free_answer"]["id"]
    too_long = save(client, attempt["id"], free, "x" * 20001, learner)
    assert too_long.status_code == 422
    assert "maximum" in too_long.get_json()["message"]
    missing = client.put(f"/v1/attempts/{attempt['id']}/responses/{free}", json={}, headers=learner)
    assert missing.status_code == 422
    assert "answer" in missing.get_json()["errors"]["json"]
    unknown = save(client, attempt["id"], "q-unknown", "x", learner)
    assert unknown.status_code == 404


KEY_FIELDS = {
    "correct_option_ids",
    "correct_answer",
    "accept",
    "key_points",
    "reference",
    "option_sources",
    "card_id",
    "key",
}


def question_secrets(key: dict[str, Any]) -> set[str]:
    """Texts that would give this question away: its reference, accepted forms, key points."""
    prompt = key["prompt"].casefold()
    texts = [key["answer"], *key["accept"], *key["key_points"]]
    return {text.casefold() for text in texts if len(text) >= 4 and text.casefold() not in prompt}


def field_names(body: Any) -> set[str]:
    if isinstance(body, dict):
        return set(body) | {name for value in body.values() for name in field_names(value)}
    if isinstance(body, list):
        return {name for value in body for name in field_names(value)}
    return set()


def delivered_questions(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        found = [body] if {"id", "type", "prompt"} <= body.keys() else []
        for value in body.values():
            found.extend(delivered_questions(value))
        return found
    if isinstance(body, list):
        return [item for value in body for item in delivered_questions(value)]
    return []


@pytest.mark.model
def test_no_learner_facing_response_contains_an_answer_key(
    client: FlaskClient, staff: Headers, learner: Headers
) -> None:
    exam = create_exam(
        client,
        staff,
        topics=None,
        counts={"multiple_choice": 10, "multiple_response": 3, "fill_in": 8, "free_answer": 6},
    )
    free_references = {k["answer"].casefold() for k in exam["key"] if k["type"] == "free_answer"}
    seen = []
    learner_exam = client.get(f"/v1/exams/{exam['id']}", headers=learner)
    seen.append(learner_exam.get_json())
    # The seed and the public bank would rebuild the key.
    assert learner_exam.get_json()["seed"] is None
    assert exam["seed"] is not None
    assert client.get(f"/v1/exams/{exam['id']}?include=key", headers=learner).status_code == 403
    attempt = start(client, exam["id"], learner)
    keys = attempt_keys(client, attempt["id"], staff)
    assert (
        client.get(f"/v1/attempts/{attempt['id']}?include=key", headers=learner).status_code == 403
    )
    seen.append(attempt)
    for question in attempt["questions"]:
        answer: Any = "a guess"
        if question["type"] == "multiple_choice":
            answer = question["options"][0]["id"]
        elif question["type"] == "multiple_response":
            answer = [question["options"][0]["id"]]
        seen.append(save(client, attempt["id"], question["id"], answer, learner).get_json())
    seen.append(client.get(f"/v1/attempts/{attempt['id']}", headers=learner).get_json())
    cards = client.get("/v1/cards?page_size=100", headers=learner).get_json()
    assert all(set(card) == {"id", "deck", "topic", "prompt"} for card in cards["items"])

    checked = 0
    for body in seen:
        names = field_names(body)
        assert not names & KEY_FIELDS, names & KEY_FIELDS
        for question in delivered_questions(body):
            key = keys[question["id"]]
            # Choice questions show their right option among the others by design; what must
            # never show is which one it is, or the answer to a text question in its prompt.
            leaked = [s for s in question_secrets(key) if s in question["prompt"].casefold()]
            assert not leaked, (question, leaked)
            # Nor may an option of one question hand over another question's reference answer.
            options = [o["text"].casefold() for o in question.get("options", [])]
            for other in free_references - {key["answer"].casefold()}:
                assert other not in options, (question, other)
            checked += 1
    assert checked >= 2 * len(keys)


@pytest.mark.model
def test_results_history_and_instructor_csv(
    client: FlaskClient, staff: Headers, learner: Headers
) -> None:
    exam = create_exam(client, staff)
    for _ in range(2):
        attempt = start(client, exam["id"], learner)
        client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner)
    history = client.get("/v1/learners/ada/results", headers=learner).get_json()
    assert len(history["attempts"]) == 2
    assert {t["topic"] for t in history["topics"]} == {"metrics", "xgboost"}
    assert all(t["attempts"] == 2 for t in history["topics"])

    rows = client.get(f"/v1/exams/{exam['id']}/results", headers=staff).get_json()["items"]
    assert [row["learner_id"] for row in rows] == ["ada", "ada"]
    csv_response = client.get(
        f"/v1/exams/{exam['id']}/results", headers={**staff, "Accept": "text/csv"}
    )
    assert csv_response.mimetype == "text/csv"
    lines = csv_response.get_data(as_text=True).strip().splitlines()
    assert lines[0].startswith("attempt_id,learner_id")
    assert len(lines) == 3
    assert client.get(f"/v1/exams/{exam['id']}/results", headers=learner).status_code == 403


@pytest.mark.model
def test_results_are_paginated(
    client: FlaskClient,
    staff: Headers,
    learner: Headers,
    make_key: Callable[..., Headers],
    clock: FakeClock,
) -> None:
    exam = create_exam(client, staff)
    attempt_ids = []
    for learner_id in ("ada", "bob", "cyd"):
        clock.advance(1)  # oldest first
        headers = learner if learner_id == "ada" else make_key("learner", learner_id)
        attempt = start(client, exam["id"], headers)
        client.post(f"/v1/attempts/{attempt['id']}/submit", headers=headers)
        attempt_ids.append(attempt["id"])
    pages = [
        client.get(f"/v1/exams/{exam['id']}/results?page={page}&page_size=2", headers=staff)
        for page in (1, 2)
    ]
    assert [p.get_json()["total"] for p in pages] == [3, 3]
    assert [row["attempt_id"] for p in pages for row in p.get_json()["items"]] == attempt_ids
    bad = client.get(f"/v1/exams/{exam['id']}/results?page_size=1000", headers=staff)
    assert bad.status_code == 422
    assert "page_size" in bad.get_json()["errors"]["query"]

    clock.advance(1)
    again = start(client, exam["id"], learner)
    client.post(f"/v1/attempts/{again['id']}/submit", headers=learner)
    history = client.get("/v1/learners/ada/results?page_size=1&page=2", headers=learner)
    body = history.get_json()
    assert (body["total"], body["page"], body["page_size"]) == (2, 2, 1)
    assert [item["attempt_id"] for item in body["attempts"]] == [again["id"]]
    # Trends cover every attempt, not the page.
    assert all(topic["attempts"] == 2 for topic in body["topics"])


def test_staff_asking_for_an_unknown_learner_get_404_as_learners_do(
    client: FlaskClient, staff: Headers, learner: Headers
) -> None:
    unknown = client.get("/v1/learners/nobody-at-all/results", headers=staff)
    assert unknown.status_code == 404
    assert unknown.get_json()["code"] == 404
    assert client.get("/v1/learners/nobody-at-all/results", headers=learner).status_code == 404
    # A learner with a key and no attempts yet is known: an empty history, not a 404.
    known = client.get("/v1/learners/ada/results", headers=staff)
    assert known.status_code == 200
    assert known.get_json()["attempts"] == []
    assert known.get_json()["total"] == 0


@pytest.mark.model
def test_max_attempts_is_enforced(client: FlaskClient, staff: Headers, learner: Headers) -> None:
    exam = create_exam(client, staff, max_attempts=1)
    attempt = start(client, exam["id"], learner)
    client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner)
    again = client.post(f"/v1/exams/{exam['id']}/attempts", headers=learner)
    assert again.status_code == 409
    assert "1 attempt" in again.get_json()["message"]


@pytest.mark.model
def test_learner_builds_a_personal_practice_exam_only_they_see(
    client: FlaskClient, learner: Headers, make_key: Callable[..., Headers]
) -> None:
    response = client.post(
        "/v1/exams", json={"counts": {"multiple_choice": 2}, "topics": ["cnn"]}, headers=learner
    )
    assert response.status_code == 201
    exam = response.get_json()
    assert exam["personal"] is True
    assert "key" not in exam
    other = make_key("learner", "eve")
    assert client.get(f"/v1/exams/{exam['id']}", headers=other).status_code == 404
    listed = client.get("/v1/exams", headers=other).get_json()
    assert exam["id"] not in [item["id"] for item in listed["items"]]


@pytest.mark.model
def test_asking_for_too_many_questions_says_what_is_available(
    client: FlaskClient, staff: Headers
) -> None:
    response = client.post(
        "/v1/exams", json={"topics": ["metrics"], "counts": {"free_answer": 150}}, headers=staff
    )
    assert response.status_code == 422
    body = response.get_json()
    assert "counts" in body["errors"]["json"]
    assert "available" in body["message"].lower()
    unknown = client.post(
        "/v1/exams", json={"topics": ["astrology"], "counts": {"free_answer": 1}}, headers=staff
    )
    assert unknown.status_code == 422
    assert "astrology" in unknown.get_json()["message"]
