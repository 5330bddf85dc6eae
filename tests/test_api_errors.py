"""Every error carries the envelope {code, status, message, errors}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient


def assert_envelope(response: Any, code: int) -> dict[str, Any]:
    assert response.status_code == code, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"}
    assert body["code"] == code
    assert body["message"]
    return body


def test_missing_key_is_401_with_challenge(client: FlaskClient) -> None:
    response = client.get("/v1/decks")
    body = assert_envelope(response, 401)
    assert "Bearer" in body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_invalid_key_is_401(client: FlaskClient) -> None:
    assert_envelope(client.get("/v1/decks", headers={"Authorization": "Bearer nope"}), 401)


def test_wrong_role_is_403(client: FlaskClient, make_key: Callable[..., dict[str, str]]) -> None:
    learner = make_key("learner", "ada")
    body = assert_envelope(
        client.post("/v1/grade", json={"card_id": "x", "answer": "y"}, headers=learner), 403
    )
    assert "instructor" in body["message"]


def test_unknown_route_is_404(client: FlaskClient) -> None:
    assert_envelope(client.get("/v1/nothing-here"), 404)


def test_wrong_method_is_405(client: FlaskClient) -> None:
    assert_envelope(client.delete("/v1/health"), 405)


def test_oversized_body_is_413(
    client: FlaskClient, make_key: Callable[..., dict[str, str]]
) -> None:
    staff = make_key("instructor")
    response = client.post(
        "/v1/exams",
        data=b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={**staff, "Content-Type": "application/json"},
    )
    assert_envelope(response, 413)


def test_validation_error_is_422_naming_each_field(
    client: FlaskClient, make_key: Callable[..., dict[str, str]]
) -> None:
    staff = make_key("instructor")
    response = client.post(
        "/v1/exams",
        json={"counts": {"multiple_choice": -1}, "time_limit_seconds": "soon"},
        headers=staff,
    )
    body = assert_envelope(response, 422)
    fields = body["errors"]["json"]
    assert "multiple_choice" in fields["counts"]
    assert "time_limit_seconds" in fields
    assert "counts.multiple_choice" in body["message"]


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", '{"counts": 5}'])
def test_malformed_json_bodies_are_4xx(
    client: FlaskClient, make_key: Callable[..., dict[str, str]], payload: str
) -> None:
    staff = make_key("instructor")
    response = client.post(
        "/v1/exams", data=payload, headers={**staff, "Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert set(response.get_json()) == {"code", "status", "message", "errors"}


def test_query_validation_names_the_parameter(
    client: FlaskClient, make_key: Callable[..., dict[str, str]]
) -> None:
    body = assert_envelope(client.get("/v1/cards?page_size=0", headers=make_key("admin")), 422)
    assert "page_size" in body["errors"]["query"]
