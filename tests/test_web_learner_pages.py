"""The learner pages' actions over HTTP without a browser, on SQLite and PostgreSQL: what
they refuse (CSRF, other learners' attempts, staff, bad form values) and that the autosave
and submit they do are the API's own."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from tests.web_support import bearer_key, sign_in_client

Headers = dict[str, str]


def start_practice(client: FlaskClient, csrf: str) -> str:
    """Press "Practise now" (5 questions, 5 minutes): the new attempt's id."""
    reply = client.post(
        "/app/practice", data={"csrf_token": csrf, "questions": "5", "minutes": "5"}
    )
    assert reply.status_code == 303, reply.text
    found = re.fullmatch(r"/app/attempts/([0-9a-f]+)", reply.headers["Location"])
    assert found is not None
    return found.group(1)


def first_question(client: FlaskClient, attempt_id: str) -> tuple[str, str]:
    """The first question's id and type on the exam page."""
    page = client.get(f"/app/attempts/{attempt_id}").text
    found = re.search(r'data-question-id="([^"]+)" data-type="([^"]+)"', page)
    assert found is not None
    return found.group(1), found.group(2)


def fetch_headers(csrf: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf, "X-Requested-With": "fetch", "Accept": "application/json"}


def some_answer(kind: str, page: str) -> Any:
    if kind == "fill_in":
        return "an answer"
    option = re.search(r'type="radio" name="q-[^"]+" value="([^"]+)"', page)
    assert option is not None
    return option.group(1)


def test_autosave_and_submit_are_the_apis(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    learner = make_key("learner", "ada")
    csrf = sign_in_client(client, bearer_key(learner))
    attempt_id = start_practice(client, csrf)
    question_id, kind = first_question(client, attempt_id)
    answer = some_answer(kind, client.get(f"/app/attempts/{attempt_id}").text)
    url = f"/app/attempts/{attempt_id}/responses/{question_id}"
    saved = client.put(url, json={"answer": answer}, headers=fetch_headers(csrf))
    assert saved.status_code == 200, saved.text
    assert saved.json["revision"] == 1
    # The JSON API reads the same record.
    api = client.get(f"/v1/attempts/{attempt_id}", headers=learner).json
    assert api["responses"][question_id]["answer"] == answer
    submitted = client.post(f"/app/attempts/{attempt_id}/submit", headers=fetch_headers(csrf))
    assert submitted.status_code == 200
    assert submitted.json["review_url"] == f"/app/attempts/{attempt_id}"
    assert client.get(f"/v1/attempts/{attempt_id}", headers=learner).json["status"] == "graded"
    review = client.get(f"/app/attempts/{attempt_id}")
    assert "Review: Practice" in review.text
    # Saving after submit: the API's 409, as JSON for the page's script.
    late = client.put(url, json={"answer": answer}, headers=fetch_headers(csrf))
    assert late.status_code == 409
    assert "already submitted" in late.json["message"]


def test_autosave_without_the_csrf_header_is_refused_and_saves_nothing(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    learner = make_key("learner", "bea")
    csrf = sign_in_client(client, bearer_key(learner))
    attempt_id = start_practice(client, csrf)
    question_id, kind = first_question(client, attempt_id)
    answer = some_answer(kind, client.get(f"/app/attempts/{attempt_id}").text)
    url = f"/app/attempts/{attempt_id}/responses/{question_id}"
    for headers in ({"X-Requested-With": "fetch"}, fetch_headers("0" * 64)):
        refused = client.put(url, json={"answer": answer}, headers=headers)
        assert refused.status_code == 403
        assert "CSRF" in refused.json["message"]
    assert client.get(f"/v1/attempts/{attempt_id}", headers=learner).json["responses"] == {}
    refused = client.post(f"/app/attempts/{attempt_id}/submit", headers={"X-Requested-With": "f"})
    assert refused.status_code == 403


def test_another_learners_attempt_is_not_found(
    client: FlaskClient, app: Any, make_key: Callable[..., Headers]
) -> None:
    csrf = sign_in_client(client, bearer_key(make_key("learner", "cal")))
    attempt_id = start_practice(client, csrf)
    question_id, _ = first_question(client, attempt_id)
    other = app.test_client()
    other_csrf = sign_in_client(other, bearer_key(make_key("learner", "dot")))
    assert other.get(f"/app/attempts/{attempt_id}").status_code == 404
    saved = other.put(
        f"/app/attempts/{attempt_id}/responses/{question_id}",
        json={"answer": "mine"},
        headers=fetch_headers(other_csrf),
    )
    assert saved.status_code == 404


def test_staff_get_the_403_page_on_learner_pages(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    sign_in_client(client, bearer_key(make_key("instructor")))
    page = client.get("/app/dashboard")
    assert page.status_code == 403
    assert "not for your role" in page.text


def test_bad_practice_form_values_name_the_field(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    csrf = sign_in_client(client, bearer_key(make_key("learner", "eli")))
    reply = client.post(
        "/app/practice",
        data={"csrf_token": csrf, "questions": "5000", "minutes": "5"},
        headers={"Accept": "application/json"},
    )
    assert reply.status_code == 422
    assert reply.json["errors"] == {"form": {"questions": ["5, 10, 20"]}}


def test_autosave_of_a_malformed_body_is_422_naming_the_field(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    csrf = sign_in_client(client, bearer_key(make_key("learner", "fin")))
    attempt_id = start_practice(client, csrf)
    question_id, _ = first_question(client, attempt_id)
    url = f"/app/attempts/{attempt_id}/responses/{question_id}"
    reply = client.put(url, json={"reply": 1}, headers=fetch_headers(csrf))
    assert reply.status_code == 422
    assert "answer" in reply.json["errors"]["json"]
