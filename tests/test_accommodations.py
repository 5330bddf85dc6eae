"""Accommodations over HTTP (issue 17, point 1): extra time and attempts per learner and
exam, set by staff, applied to an attempt already in progress, listed and audited; on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from quizsvc.accommodations import Accommodation, ExamRules, moved_deadline
from quizsvc.config import Settings
from quizsvc.embedding.base import Encoder
from tests.api_support import Headers, call, create_exam, save_fill_in, when
from tests.conftest import FakeClock, serve_in_thread

EXAM = {
    "title": "Metrics",
    "topics": ["metrics"],
    "counts": {"multiple_choice": 2, "fill_in": 1},
    "seed": 5,
    "time_limit_seconds": 600,
    "grace_seconds": 10,
}


@pytest.fixture
def staff(make_key: Callable[..., Headers]) -> Headers:
    return make_key("instructor")


@pytest.fixture
def exam(live_url: str, staff: Headers) -> dict[str, Any]:
    return create_exam(live_url, staff, EXAM)


def start(live_url: str, exam_id: str, learner: Headers, status: int = 201) -> dict[str, Any]:
    started = call("POST", f"{live_url}/v1/exams/{exam_id}/attempts", learner)
    assert started.status_code == status, started.text
    body: dict[str, Any] = started.json()
    return body


def autosave(base: str, attempt: dict[str, Any], learner: Headers) -> requests.Response:
    return save_fill_in(base, attempt, learner, "precision")


@pytest.fixture
def second_app(
    database_url: str, shared_instance_dir: Path, model: Encoder, clock: FakeClock
) -> Iterator[str]:
    """Another replica on the same database (its own caches), served over HTTP."""
    from quizsvc.app import create_app

    settings = Settings.from_env(
        instance_dir=shared_instance_dir, database_url=database_url, rate_limit="100000/minute"
    )
    app = create_app({"SETTINGS": settings, "ENCODER": model, "CLOCK": clock, "TESTING": True})
    with serve_in_thread(app) as url:
        yield url


@pytest.mark.model
@pytest.mark.http
def test_extension_granted_mid_attempt_lets_an_answer_after_the_original_deadline_in(
    live_url: str,
    second_app: str,
    staff: Headers,
    exam: dict[str, Any],
    make_key: Callable[..., Headers],
    clock: FakeClock,
) -> None:
    ada, bob = make_key("learner", "ada"), make_key("learner", "bob")
    attempt = start(live_url, exam["id"], ada)
    other = start(live_url, exam["id"], bob)
    original = when(attempt["deadline"])
    assert original == clock.now + timedelta(seconds=600)
    # The learner's replica has the attempt's header (and its deadline) in memory.
    assert autosave(second_app, attempt, ada).status_code == 200

    clock.advance(550)
    granted = call(
        "PUT",
        f"{live_url}/v1/exams/{exam['id']}/accommodations/ada",
        staff,
        {"extra_minutes": 10, "note": "letter from disability services"},
    )
    assert granted.status_code == 201, granted.text
    body = granted.json()
    assert body["effective"]["time_limit_seconds"] == 1200
    [in_progress] = body["attempts_in_progress"]
    assert in_progress["attempt_id"] == attempt["id"]
    assert when(in_progress["deadline"]) == original + timedelta(minutes=10)

    # The learner's next read shows the new deadline.
    read = call("GET", f"{second_app}/v1/attempts/{attempt['id']}", ada).json()
    assert when(read["deadline"]) == original + timedelta(minutes=10)
    assert read["seconds_remaining"] == 650

    clock.advance(100)  # 650 s in: past the original deadline and its grace
    late = autosave(second_app, attempt, ada)
    assert late.status_code == 200, late.text
    assert late.json()["seconds_remaining"] == 550
    # Without the accommodation the same answer at the same time is refused.
    refused = autosave(second_app, other, bob)
    assert refused.status_code == 409, refused.text
    assert "Time is up" in refused.json()["message"]

    submitted = call("POST", f"{live_url}/v1/attempts/{attempt['id']}/submit", ada)
    assert submitted.status_code == 200, submitted.text
    answered = [q for q in submitted.json()["questions"] if q["your_answer"] == "precision"]
    assert len(answered) == 1
    assert submitted.json()["finalized_by"] == "submit"

    history = call(
        "GET", f"{live_url}/v1/exams/{exam['id']}/accommodations/ada/history", staff
    ).json()
    assert history["total"] == 1
    [change] = history["items"]
    assert change["action"] == "set"
    assert change["before"] is None
    assert change["after"]["extra_minutes"] == 10
    assert change["after"]["note"] == "letter from disability services"
    assert change["changed_by_role"] == "instructor"
    assert when(change["changed_at"]) == original - timedelta(seconds=50)
    assert change["moved_attempts"] == [
        {
            "attempt_id": attempt["id"],
            "deadline_before": original.isoformat(),
            "deadline_after": (original + timedelta(minutes=10)).isoformat(),
        }
    ]


@pytest.mark.model
@pytest.mark.http
def test_multiplier_time_and_extra_attempts_apply_to_new_attempts(
    live_url: str, staff: Headers, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    created = call("POST", f"{live_url}/v1/exams", staff, {**EXAM, "max_attempts": 1})
    exam_id = created.json()["id"]
    ada, bob = make_key("learner", "ada"), make_key("learner", "bob")
    given = call(
        "PUT",
        f"{live_url}/v1/exams/{exam_id}/accommodations/ada",
        staff,
        {"time_multiplier": 1.5, "extra_attempts": 1},
    )
    assert given.status_code == 201, given.text
    assert given.json()["effective"]["max_attempts"] == 2
    for learner in (ada, bob):
        attempt = start(live_url, exam_id, learner)
        limit = 900 if learner is ada else 600
        assert when(attempt["deadline"]) == clock.now + timedelta(seconds=limit)
        call("POST", f"{live_url}/v1/attempts/{attempt['id']}/submit", learner)
    start(live_url, exam_id, ada)
    refused = start(live_url, exam_id, bob, status=409)
    assert "All 1 attempt(s)" in refused["message"]


@pytest.mark.model
@pytest.mark.http
def test_accommodations_are_listed_changed_removed_and_every_change_audited(
    live_url: str, staff: Headers, exam: dict[str, Any], make_key: Callable[..., Headers]
) -> None:
    make_key("learner", "ada")
    make_key("learner", "bob")
    base = f"{live_url}/v1/exams/{exam['id']}/accommodations"
    assert call("PUT", f"{base}/ada", staff, {"extra_minutes": 15}).status_code == 201
    assert call("PUT", f"{base}/bob", staff, {"extra_attempts": 2}).status_code == 201
    changed = call("PUT", f"{base}/ada", staff, {"time_multiplier": 2})
    assert changed.status_code == 200, changed.text
    # PUT replaces: minutes are gone, the multiplier is there.
    assert changed.json()["extra_minutes"] is None
    assert changed.json()["time_multiplier"] == 2
    listed = call("GET", base, staff).json()
    assert listed["total"] == 2
    assert [item["learner_id"] for item in listed["items"]] == ["ada", "bob"]
    assert call("GET", f"{base}/bob", staff).json()["extra_attempts"] == 2

    assert call("DELETE", f"{base}/ada", staff).status_code == 204
    gone = call("GET", f"{base}/ada", staff)
    assert gone.status_code == 404
    assert call("DELETE", f"{base}/ada", staff).status_code == 404

    history = call("GET", f"{base}/ada/history", staff).json()
    assert [change["action"] for change in history["items"]] == ["delete", "set", "set"]
    removed, second, first = history["items"]
    assert removed["before"]["time_multiplier"] == 2
    assert removed["after"] is None
    assert second["before"]["extra_minutes"] == 15
    assert second["after"]["time_multiplier"] == 2
    assert first["before"] is None
    everything = call("GET", f"{live_url}/v1/exams/{exam['id']}/accommodation-history", staff)
    assert everything.json()["total"] == 4


@pytest.mark.model
@pytest.mark.http
def test_removing_an_accommodation_mid_attempt_ends_it_now_not_retroactively(
    live_url: str,
    staff: Headers,
    exam: dict[str, Any],
    make_key: Callable[..., Headers],
    clock: FakeClock,
) -> None:
    ada = make_key("learner", "ada")
    base = f"{live_url}/v1/exams/{exam['id']}/accommodations/ada"
    call("PUT", base, staff, {"extra_minutes": 10})
    attempt = start(live_url, exam["id"], ada)
    assert autosave(live_url, attempt, ada).status_code == 200
    clock.advance(700)  # past the exam's own limit, within the accommodated one
    assert call("DELETE", base, staff).status_code == 204
    read = call("GET", f"{live_url}/v1/attempts/{attempt['id']}", ada).json()
    assert when(read["deadline"]) == clock.now
    assert read["status"] == "in_progress"
    clock.advance(5)  # within the grace
    assert autosave(live_url, attempt, ada).status_code == 200
    clock.advance(10)
    assert autosave(live_url, attempt, ada).status_code == 409
    graded = call("GET", f"{live_url}/v1/attempts/{attempt['id']}", ada).json()
    assert graded["status"] == "graded"
    assert graded["finalized_by"] == "expiry"


@pytest.mark.model
@pytest.mark.http
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"extra_minutes": -5}, "extra_minutes"),
        ({"extra_minutes": 10, "time_multiplier": 1.5}, "time_multiplier"),
        ({"time_multiplier": 0.5}, "time_multiplier"),
        ({"extra_attempts": -1}, "extra_attempts"),
        ({"extra_attempts": "two"}, "extra_attempts"),
        ({"close_extension_minutes": -1}, "close_extension_minutes"),
        ({"note": "x" * 501, "extra_minutes": 1}, "note"),
        ({"extra_minutez": 5}, "extra_minutez"),
        ({}, "_schema"),
    ],
)
def test_bad_accommodations_are_422_naming_the_field(
    live_url: str,
    staff: Headers,
    exam: dict[str, Any],
    make_key: Callable[..., Headers],
    body: dict[str, Any],
    field: str,
) -> None:
    make_key("learner", "ada")
    url = f"{live_url}/v1/exams/{exam['id']}/accommodations/ada"
    response = call("PUT", url, staff, body)
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"]["json"], response.json()
    # Nothing was stored, nor audited.
    assert call("GET", url, staff).status_code == 404
    assert call("GET", f"{url}/history", staff).json()["total"] == 0


@pytest.mark.model
@pytest.mark.http
def test_unknown_learner_exam_and_non_staff_are_refused(
    live_url: str, staff: Headers, exam: dict[str, Any], make_key: Callable[..., Headers]
) -> None:
    ada = make_key("learner", "ada")
    unknown = call(
        "PUT",
        f"{live_url}/v1/exams/{exam['id']}/accommodations/nobody",
        staff,
        {"extra_minutes": 5},
    )
    assert unknown.status_code == 404
    assert "learner_id" in unknown.json()["errors"]["path"]
    no_exam = call(
        "PUT", f"{live_url}/v1/exams/nope/accommodations/ada", staff, {"extra_minutes": 5}
    )
    assert no_exam.status_code == 404
    own = call(
        "PUT", f"{live_url}/v1/exams/{exam['id']}/accommodations/ada", ada, {"extra_minutes": 5}
    )
    assert own.status_code == 403
    assert call("GET", f"{live_url}/v1/exams/{exam['id']}/accommodations", ada).status_code == 403


# -- the rules alone (plain data) ---------------------------------------------------------------


START = datetime.fromisoformat("2026-03-01T09:00:00+00:00")


def test_deadline_is_the_shorter_of_the_accommodated_limit_and_the_learners_close() -> None:
    rules = ExamRules(600, 1, None, START + timedelta(minutes=20))
    assert rules.deadline(START) == START + timedelta(minutes=10)
    extra = rules.for_learner(Accommodation(extra_minutes=30))
    # The close caps everyone...
    assert extra.deadline(START) == START + timedelta(minutes=20)
    # ...unless the accommodation moves this learner's close.
    later = rules.for_learner(Accommodation(extra_minutes=30, close_extension_minutes=60))
    assert later.deadline(START) == START + timedelta(minutes=40)
    assert later.max_attempts == 1
    assert rules.for_learner(Accommodation(time_multiplier=1.5)).time_limit_seconds == 900


def test_accommodation_refuses_minutes_and_multiplier_together() -> None:
    with pytest.raises(ValueError, match="time_multiplier"):
        Accommodation(extra_minutes=5, time_multiplier=1.5)
    with pytest.raises(ValueError, match="extra_minutes"):
        Accommodation(extra_minutes=-5)


def test_a_moved_deadline_is_never_before_the_change() -> None:
    now = START + timedelta(minutes=15)
    current = START + timedelta(minutes=30)
    assert moved_deadline(current, START + timedelta(minutes=40), now) == START + timedelta(
        minutes=40
    )
    assert moved_deadline(current, START + timedelta(minutes=10), now) == now
