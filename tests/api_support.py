"""Helpers of the tests that drive the API of a served app over HTTP (``live_url``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

Headers = dict[str, str]


def call(method: str, url: str, headers: Headers, json: Any = None) -> requests.Response:
    return requests.request(method, url, json=json, headers=headers, timeout=60)


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def create_exam(live_url: str, staff: Headers, body: dict[str, Any]) -> dict[str, Any]:
    """The exam ``POST /v1/exams`` creates from ``body`` (asserted 201)."""
    created = call("POST", f"{live_url}/v1/exams", staff, body)
    assert created.status_code == 201, created.text
    exam: dict[str, Any] = created.json()
    return exam


def save_fill_in(
    live_url: str, attempt: dict[str, Any], learner: Headers, answer: str
) -> requests.Response:
    """Autosave ``answer`` to the attempt's first fill-in question."""
    question = next(q for q in attempt["questions"] if q["type"] == "fill_in")
    return call(
        "PUT",
        f"{live_url}/v1/attempts/{attempt['id']}/responses/{question['id']}",
        learner,
        {"answer": answer},
    )
