"""Hostile and odd input through the API, on SQLite and PostgreSQL: never a 500.

Limits (see quizsvc/api/guards.py and the spec's description): bodies up to 1 MiB (413),
JSON bodies only (415), malformed or deeper than 32 levels (400), NUL and lone surrogates
refused with 422 naming the field, answers up to QUIZSVC_MAX_ANSWER_CHARS (422). Every other
text is stored and returned verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

pytestmark = pytest.mark.model

Headers = dict[str, str]

MAX_BODY = 1024 * 1024
NASTY = [
    "'; DROP TABLE exams; --",
    "<script>alert(1)</script>",
    "]]>",
    "&amp;",
    "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
    "\" OR 1=1 -- ' OR ''='",
    "%s %(x)s {0} ${x} \\N \\x00",
]
UNICODE = [
    "naïve café 🙂👩🏽‍🔬🏳️‍🌈",
    "שלום עולם مرحبا بالعالم",  # right to left
    "e\u0301 a\u0308 \u0915\u094d\u0937",  # combining marks: not normalised
    "\u202eevil\u202c \u200b\ufeff",  # bidi override, zero-width space, BOM
    "tab\there\nnew line\r\x01\x1f\x7f",  # control characters other than NUL
]


@dataclass
class World:
    staff: Headers
    learner: Headers
    exam_id: str
    attempt_id: str
    text_question_id: str


@pytest.fixture
def world(client: FlaskClient, make_key: Callable[..., Headers]) -> World:
    staff = make_key("instructor")
    learner = make_key("learner", "ada")
    exam = client.post(
        "/v1/exams", json={"counts": {"free_answer": 1, "fill_in": 1}, "seed": 2}, headers=staff
    )
    assert exam.status_code == 201, exam.get_json()
    attempt = client.post(f"/v1/exams/{exam.get_json()['id']}/attempts", headers=learner)
    assert attempt.status_code == 201, attempt.get_json()
    question = next(
        q for q in attempt.get_json()["questions"] if q["type"] in ("free_answer", "fill_in")
    )
    return World(staff, learner, exam.get_json()["id"], attempt.get_json()["id"], question["id"])


def assert_error(response: TestResponse, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body: dict[str, Any] = response.get_json()
    assert body["code"] == status
    assert set(body) == {"code", "status", "message", "errors"}
    for word in words:
        assert word in body["message"], body["message"]
    return body


def autosave_url(world: World) -> str:
    return f"/v1/attempts/{world.attempt_id}/responses/{world.text_question_id}"


def write_endpoints(app: Flask, world: World) -> list[tuple[str, str]]:
    """Every write method on every /v1 route, with real ids in the path."""
    values = {
        "exam_id": world.exam_id,
        "attempt_id": world.attempt_id,
        "question_id": world.text_question_id,
    }
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<string:{argument}>", values.get(argument, "x"))
            path = path.replace(f"<{argument}>", values.get(argument, "x"))
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}):
            found.append((method, path))
    return found


# -- size --------------------------------------------------------------------------------------


def test_bodies_over_1_mib_get_413_on_every_write_endpoint(
    app: Flask, client: FlaskClient, world: World
) -> None:
    body = json.dumps({"answer": "x" * MAX_BODY}).encode()
    endpoints = write_endpoints(app, world)
    assert ("PUT", autosave_url(world)) in endpoints
    assert ("POST", f"/v1/attempts/{world.attempt_id}/submit") in endpoints
    for method, path in endpoints:
        response = client.open(
            path,
            method=method,
            data=body,
            headers={**world.learner, "Content-Type": "application/json"},
        )
        assert_error(response, 413, str(MAX_BODY), "1 MiB")
    # Nothing was submitted by the oversized requests.
    attempt = client.get(f"/v1/attempts/{world.attempt_id}", headers=world.learner)
    assert attempt.get_json()["status"] == "in_progress"


def test_answers_over_the_maximum_get_422_naming_field_and_maximum(
    client: FlaskClient, world: World
) -> None:
    hundred_kb = "word " * 20_000
    saved = client.put(autosave_url(world), json={"answer": hundred_kb}, headers=world.learner)
    body = assert_error(saved, 422, "answer", "100000", "20000")
    assert "20000" in body["errors"]["json"]["answer"][0]
    graded = client.post(
        "/v1/grade", json={"reference": "A reference.", "answer": hundred_kb}, headers=world.staff
    )
    body = assert_error(graded, 422, "answer", "20000")
    assert "20000" in body["errors"]["json"]["answer"][0]
    # The maximum itself is accepted.
    at_limit = client.put(autosave_url(world), json={"answer": "x" * 20000}, headers=world.learner)
    assert at_limit.status_code == 200, at_limit.get_json()
    assert len(at_limit.get_json()["answer"]) == 20000


# -- shape and encoding -------------------------------------------------------------------------


def test_deeply_nested_json_is_a_400_not_a_500(client: FlaskClient, world: World) -> None:
    for depth in (33, 10_000, 100_000):
        nested = "[" * depth + "]" * depth
        for method, path, headers, text in (
            ("POST", "/v1/exams", world.staff, nested),
            ("PUT", autosave_url(world), world.learner, '{"answer": ' + nested + "}"),
            ("POST", "/v1/grade", world.staff, '{"reference": "r", "answer": ' + nested + "}"),
        ):
            response = client.open(
                path,
                method=method,
                data=text,
                headers={**headers, "Content-Type": "application/json"},
            )
            assert_error(response, 400, "nests deeper than 32")


def test_nesting_within_the_limit_reaches_validation(client: FlaskClient, world: World) -> None:
    response = client.put(autosave_url(world), json={"answer": [[["deep"]]]}, headers=world.learner)
    body = assert_error(response, 422, "answer")
    assert "json" in body["errors"]


NOT_JSON = [
    ("text/plain", '{"reference": "r", "answer": "a"}'),
    ("application/x-www-form-urlencoded", "reference=r&answer=a"),
    (
        "multipart/form-data; boundary=xyz",
        '--xyz\r\nContent-Disposition: form-data; name="answer"\r\n\r\na\r\n--xyz--\r\n',
    ),
    ("application/xml", "<grade><answer>a</answer></grade>"),
]


def test_bodies_that_are_not_json_get_415(client: FlaskClient, world: World) -> None:
    for content_type, data in NOT_JSON:
        for path, headers in (
            ("/v1/grade", world.staff),
            (f"/v1/attempts/{world.attempt_id}/submit", world.learner),
        ):
            response = client.post(
                path, data=data, headers={**headers, "Content-Type": content_type}
            )
            assert_error(response, 415, content_type.split(";")[0], "application/json")
    attempt = client.get(f"/v1/attempts/{world.attempt_id}", headers=world.learner).get_json()
    assert attempt["status"] == "in_progress"


def test_json_with_a_charset_or_a_json_suffix_is_accepted(
    client: FlaskClient, world: World
) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client.put(
            autosave_url(world),
            data=json.dumps({"answer": content_type}),
            headers={**world.learner, "Content-Type": content_type},
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["answer"] == content_type


MALFORMED = [
    (b'{"reference": "caf\xe9", "answer": "a"}', "UTF-8"),
    (b'{"reference": "r", "answer": "a"', "Invalid JSON body"),
    (b"\xff\xfe{\x00}\x00", "UTF-8"),  # UTF-16: JSON over HTTP is UTF-8
    (b'{"reference": "r", "answer": NaN', "Invalid JSON body"),
]


def test_malformed_json_or_invalid_utf8_is_a_400(client: FlaskClient, world: World) -> None:
    for data, reason in MALFORMED:
        response = client.post(
            "/v1/grade", data=data, headers={**world.staff, "Content-Type": "application/json"}
        )
        assert_error(response, 400, reason)


# -- NUL and other characters -----------------------------------------------------------------


def test_nul_is_refused_with_422_naming_the_field_everywhere(
    client: FlaskClient, world: World
) -> None:
    before = client.get("/v1/exams", headers=world.staff).get_json()["total"]
    cases: list[tuple[TestResponse, str, dict[str, Any]]] = [
        (
            client.post(
                "/v1/exams",
                json={"title": "a\x00b", "counts": {"free_answer": 1}},
                headers=world.staff,
            ),
            "title",
            {"json": {"title": ["must not contain the NUL character (U+0000)"]}},
        ),
        (
            client.put(autosave_url(world), json={"answer": "x\x00"}, headers=world.learner),
            "answer",
            {"json": {"answer": ["must not contain the NUL character (U+0000)"]}},
        ),
        (
            client.post(
                "/v1/grade",
                json={"reference": "r", "key_points": ["ok", "b\x00ad"], "answer": "a"},
                headers=world.staff,
            ),
            "key_points.1",
            {"json": {"key_points": {"1": ["must not contain the NUL character (U+0000)"]}}},
        ),
        (
            client.get("/v1/cards?q=a%00b", headers=world.staff),
            "q",
            {"query": {"q": ["must not contain the NUL character (U+0000)"]}},
        ),
        (
            client.get("/v1/exams/a%00b", headers=world.staff),
            "exam_id",
            {"path": {"exam_id": ["must not contain the NUL character (U+0000)"]}},
        ),
    ]
    for response, field, errors in cases:
        body = assert_error(response, 422, field, "NUL")
        assert body["errors"] == errors
    assert client.get("/v1/exams", headers=world.staff).get_json()["total"] == before
    attempt = client.get(f"/v1/attempts/{world.attempt_id}", headers=world.learner).get_json()
    assert attempt["responses"] == {}


def test_lone_surrogates_are_refused_with_422(client: FlaskClient, world: World) -> None:
    response = client.post(
        "/v1/exams",
        data='{"title": "a\\ud800b", "counts": {"free_answer": 1}}',
        headers={**world.staff, "Content-Type": "application/json"},
    )
    body = assert_error(response, 422, "title", "Unicode")
    assert list(body["errors"]["json"]) == ["title"]


def test_text_is_stored_and_returned_verbatim(client: FlaskClient, world: World) -> None:
    for text in UNICODE + NASTY:
        check_verbatim(client, world, text)


def check_verbatim(client: FlaskClient, world: World, text: str) -> None:
    created = client.post(
        "/v1/exams", json={"title": text, "counts": {"free_answer": 1}}, headers=world.staff
    )
    assert created.status_code == 201, created.get_json()
    exam_id = created.get_json()["id"]
    assert created.get_json()["title"] == text
    assert client.get(f"/v1/exams/{exam_id}", headers=world.staff).get_json()["title"] == text
    listed = client.get("/v1/exams?page_size=100", headers=world.staff).get_json()["items"]
    assert [item["title"] for item in listed if item["id"] == exam_id] == [text]

    saved = client.put(autosave_url(world), json={"answer": text}, headers=world.learner)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["answer"] == text
    attempt = client.get(f"/v1/attempts/{world.attempt_id}", headers=world.learner).get_json()
    assert attempt["responses"][world.text_question_id]["answer"] == text

    searched = client.get("/v1/cards", query_string={"q": text}, headers=world.staff)
    assert searched.status_code == 200, searched.get_json()


def test_metacharacters_in_every_grading_field_are_returned_verbatim(
    client: FlaskClient, world: World
) -> None:
    reference = " ".join(NASTY[:4]) + " regularization shrinks the weights"
    key_points = [*NASTY[:4], UNICODE[0]]
    answer = NASTY[0] + " " + NASTY[1] + " " + UNICODE[1]
    graded = client.post(
        "/v1/grade",
        json={"reference": reference, "key_points": key_points, "answer": answer},
        headers=world.staff,
    )
    assert graded.status_code == 200, graded.get_json()
    body = graded.get_json()
    assert body["feedback"]["reference"] == reference
    assert [point["text"] for point in body["evidence"]["key_points"]] == key_points
    assert set(body["missed_key_points"]) <= set(key_points)


def test_submitted_answers_with_metacharacters_come_back_verbatim_in_the_result(
    client: FlaskClient, world: World
) -> None:
    text = "\n".join(NASTY + UNICODE)
    saved = client.put(autosave_url(world), json={"answer": text}, headers=world.learner)
    assert saved.status_code == 200, saved.get_json()
    result = client.post(f"/v1/attempts/{world.attempt_id}/submit", headers=world.learner)
    assert result.status_code == 200, result.get_json()
    question = next(
        q for q in result.get_json()["questions"] if q["question_id"] == world.text_question_id
    )
    assert question["your_answer"] == text
    # The tables the answer names are still there.
    assert client.get(f"/v1/exams/{world.exam_id}", headers=world.staff).status_code == 200


def test_ad_hoc_grade_uses_the_question_short_answers_and_misconceptions(
    client: FlaskClient, world: World
) -> None:
    body = {
        "reference": "L2 regularization adds the sum of the squared weights to the loss.",
        "key_points": ["Adds the squared weights to the loss"],
        "question": "What does L2 regularization add to the loss?",
        "short_answers": ["Sum of squared weights"],
        "misconceptions": [
            {
                "text": "It adds the sum of the absolute values of the weights",
                "explanation": "That is L1 regularization.",
            }
        ],
    }
    wrong = client.post(
        "/v1/grade",
        json={**body, "answer": "It adds the absolute values of the weights"},
        headers=world.staff,
    )
    terse = client.post(
        "/v1/grade", json={**body, "answer": "sum of squared weights"}, headers=world.staff
    )
    assert wrong.status_code == 200, wrong.get_json()
    assert wrong.get_json()["verdict"] == "incorrect"
    assert "That is L1 regularization." in wrong.get_json()["feedback"]["wrong"]
    assert terse.get_json()["verdict"] == "correct"
    for graded in (wrong.get_json(), terse.get_json()):
        assert 0.0 <= graded["confidence"] <= 1.0
        assert isinstance(graded["needs_review"], bool)


def test_card_grade_refuses_ad_hoc_fields_naming_the_field(
    client: FlaskClient, world: World
) -> None:
    response = client.post(
        "/v1/grade",
        json={"card_id": "metrics-f1-formula", "answer": "x", "misconceptions": []},
        headers=world.staff,
    )
    assert response.status_code == 422
    assert "misconceptions" in response.get_json()["errors"]["json"]


def test_misconception_without_explanation_is_422_naming_the_field(
    client: FlaskClient, world: World
) -> None:
    response = client.post(
        "/v1/grade",
        json={"reference": "r", "answer": "a", "misconceptions": [{"text": "wrong"}]},
        headers=world.staff,
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]["misconceptions"]
    assert "explanation" in errors["0"]


def test_card_grade_over_http_knows_the_cards_misconceptions(
    client: FlaskClient, world: World
) -> None:
    response = client.post(
        "/v1/grade",
        json={"card_id": "metrics-accuracy", "answer": "Accuracy is TP / (TP + FP)"},
        headers=world.staff,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["verdict"] == "incorrect"
    assert response.get_json()["evidence"]["misconception"]["wins"] is True


def test_review_below_setting_reaches_the_grader(
    shared_instance_dir: Any, model: Any, tmp_path: Any
) -> None:
    """QUIZSVC_REVIEW_BELOW=1 asks for review of every free answer that is not certain."""
    from quizsvc.app import create_app
    from quizsvc.config import Settings

    settings = Settings.from_env(
        {"QUIZSVC_REVIEW_BELOW": "1"},
        instance_dir=shared_instance_dir,
        database_url=f"sqlite:///{tmp_path / 'review.sqlite3'}",
    )
    app = create_app({"SETTINGS": settings, "ENCODER": model, "TESTING": True})
    key, _ = app.extensions["quizsvc"].store.create_key("instructor", None)
    response = app.test_client().post(
        "/v1/grade",
        json={"card_id": "metrics-recall-when", "answer": "When false negatives matter"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["needs_review"] is True
    assert response.get_json()["feedback"]["summary"].endswith(
        "Provisional: an instructor may review this grade."
    )
