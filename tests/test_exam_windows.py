"""Exam windows over HTTP (issue 17, point 2): attempts start only between opens_at and
closes_at (409 otherwise), an attempt started near the close gets the shorter of its
(accommodated) time limit and the close, and a close finalises the attempts still open
through the expiry path; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests

from quizsvc.lms import lti
from tests.api_support import Headers, call, create_exam, save_fill_in, when
from tests.conftest import FakeClock, serve_in_thread
from tests.test_lti import error_page, login, post_launch, registered  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.model, pytest.mark.http]

EXAM = {
    "title": "Metrics",
    "topics": ["metrics"],
    "counts": {"multiple_choice": 2, "fill_in": 1},
    "seed": 5,
    "time_limit_seconds": 1800,
    "grace_seconds": 10,
}


def create(live_url: str, staff: Headers, **overrides: Any) -> dict[str, Any]:
    return create_exam(live_url, staff, {**EXAM, **overrides})


def start(live_url: str, exam_id: str, learner: Headers) -> requests.Response:
    return call("POST", f"{live_url}/v1/exams/{exam_id}/attempts", learner)


def autosave(live_url: str, attempt: dict[str, Any], learner: Headers) -> requests.Response:
    return save_fill_in(live_url, attempt, learner, "recall")


@pytest.fixture
def staff(make_key: Callable[..., Headers]) -> Headers:
    return make_key("instructor")


def test_starting_before_the_window_opens_or_after_it_closes_is_409(
    live_url: str, staff: Headers, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    opens_at = clock.now + timedelta(hours=1)
    closes_at = clock.now + timedelta(hours=3)
    exam = create(live_url, staff, opens_at=opens_at.isoformat(), closes_at=closes_at.isoformat())
    assert when(exam["opens_at"]) == opens_at
    assert when(exam["closes_at"]) == closes_at
    ada, bob = make_key("learner", "ada"), make_key("learner", "bob")

    early = start(live_url, exam["id"], ada)
    assert early.status_code == 409, early.text
    assert early.json()["message"] == (
        f"This exam opens at {opens_at.isoformat()}; no attempt starts before."
    )
    clock.advance(3600)
    assert start(live_url, exam["id"], ada).status_code == 201
    clock.advance(2 * 3600)
    late = start(live_url, exam["id"], bob)
    assert late.status_code == 409, late.text
    assert (
        late.json()["message"] == f"This exam closed at {closes_at.isoformat()}; no attempt starts."
    )
    assert late.json()["code"] == 409


def test_an_attempt_started_near_the_close_ends_at_the_close_and_is_finalised_by_expiry(
    live_url: str, staff: Headers, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    closes_at = clock.now + timedelta(minutes=5)
    exam = create(live_url, staff, closes_at=closes_at.isoformat())
    ada = make_key("learner", "ada")
    started = start(live_url, exam["id"], ada)
    assert started.status_code == 201, started.text
    attempt = started.json()
    assert when(attempt["deadline"]) == closes_at  # not the 30 minutes of the time limit
    assert attempt["seconds_remaining"] == 300
    clock.advance(250)
    assert autosave(live_url, attempt, ada).status_code == 200
    clock.advance(61)  # past the close and its grace
    assert autosave(live_url, attempt, ada).status_code == 409
    # The expiry path (here: the next read of the exam's results) grades it with the answer.
    results = call("GET", f"{live_url}/v1/exams/{exam['id']}/results", staff).json()
    [row] = results["items"]
    assert row["status"] == "graded"
    assert row["finalized_by"] == "expiry"
    result = call("GET", f"{live_url}/v1/attempts/{attempt['id']}/result", staff).json()
    assert [q["your_answer"] for q in result["questions"] if q["type"] == "fill_in"] == ["recall"]


def test_closing_the_window_now_finalises_every_open_attempt(
    live_url: str, staff: Headers, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    exam = create(live_url, staff)
    learners = {name: make_key("learner", name) for name in ("ada", "bob")}
    attempts = {}
    for name, headers in learners.items():
        attempts[name] = start(live_url, exam["id"], headers).json()
        assert autosave(live_url, attempts[name], headers).status_code == 200
    clock.advance(120)
    closed = call(
        "PUT",
        f"{live_url}/v1/exams/{exam['id']}/window",
        staff,
        {"opens_at": None, "closes_at": clock.now.isoformat()},
    )
    assert closed.status_code == 200, closed.text
    moved = closed.json()["moved_attempts"]
    assert sorted(item["attempt_id"] for item in moved) == sorted(
        attempt["id"] for attempt in attempts.values()
    )
    assert {when(item["deadline_after"]) for item in moved} == {clock.now}
    # The learners' next read shows the close as the deadline; nobody starts any more.
    ada_view = call("GET", f"{live_url}/v1/attempts/{attempts['ada']['id']}", learners["ada"])
    assert when(ada_view.json()["deadline"]) == clock.now
    assert start(live_url, exam["id"], make_key("learner", "cy")).status_code == 409
    clock.advance(11)
    results = call("GET", f"{live_url}/v1/exams/{exam['id']}/results", staff).json()
    assert {
        (row["learner_id"], row["status"], row["finalized_by"]) for row in results["items"]
    } == {
        ("ada", "graded", "expiry"),
        ("bob", "graded", "expiry"),
    }


def test_the_close_caps_extra_time_unless_the_accommodation_extends_the_close(
    live_url: str, staff: Headers, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    closes_at = clock.now + timedelta(minutes=20)
    exam = create(live_url, staff, closes_at=closes_at.isoformat())
    ada, bob = make_key("learner", "ada"), make_key("learner", "bob")
    base = f"{live_url}/v1/exams/{exam['id']}/accommodations"
    assert call("PUT", f"{base}/ada", staff, {"extra_minutes": 30}).status_code == 201
    assert (
        call(
            "PUT", f"{base}/bob", staff, {"extra_minutes": 30, "close_extension_minutes": 60}
        ).status_code
        == 201
    )
    clock.advance(600)  # 10 minutes before the close
    ada_attempt = start(live_url, exam["id"], ada).json()
    assert when(ada_attempt["deadline"]) == closes_at
    clock.advance(900)  # 5 minutes after the close: only bob's own close is still ahead
    refused = start(live_url, exam["id"], make_key("learner", "cy"))
    assert refused.status_code == 409
    bob_attempt = start(live_url, exam["id"], bob)
    assert bob_attempt.status_code == 201, bob_attempt.text
    assert when(bob_attempt.json()["deadline"]) == closes_at + timedelta(minutes=60)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"opens_at": "2026-01-06T10:00:00+00:00", "closes_at": "2026-01-06T09:00:00+00:00"},
            "opens_at",
        ),
        (
            {"opens_at": "2026-01-06T10:00:00+00:00", "closes_at": "2026-01-06T10:00:00+00:00"},
            "opens_at",
        ),
        ({"closes_at": "2026-01-06T10:00:00"}, "closes_at"),
        ({"opens_at": "tomorrow"}, "opens_at"),
    ],
)
def test_bad_windows_are_422_naming_the_field(
    live_url: str, staff: Headers, body: dict[str, Any], field: str
) -> None:
    created = call("POST", f"{live_url}/v1/exams", staff, {**EXAM, **body})
    assert created.status_code == 422, created.text
    assert field in created.json()["errors"]["json"], created.json()
    exam = create(live_url, staff)
    changed = call(
        "PUT",
        f"{live_url}/v1/exams/{exam['id']}/window",
        staff,
        {"opens_at": None, "closes_at": None, **body},
    )
    assert changed.status_code == 422, changed.text
    assert field in changed.json()["errors"]["json"], changed.json()
    # Nothing changed.
    again = call("GET", f"{live_url}/v1/exams/{exam['id']}", staff).json()
    assert again["opens_at"] is None
    assert again["closes_at"] is None


def test_only_staff_change_a_window(
    live_url: str, staff: Headers, make_key: Callable[..., Headers]
) -> None:
    exam = create(live_url, staff)
    refused = call(
        "PUT",
        f"{live_url}/v1/exams/{exam['id']}/window",
        make_key("learner", "ada"),
        {"opens_at": None, "closes_at": None},
    )
    assert refused.status_code == 403


def test_an_lti_launch_follows_the_window_and_the_accommodation(
    request: pytest.FixtureRequest,
    live_url: str,
    staff: Headers,
    clock: FakeClock,
) -> None:
    """The LMS launch starts attempts by the same rules as the JSON API: not before the
    window opens, ending at the close, and moved by an accommodation."""
    platform = request.getfixturevalue("registered")  # test_lti's registered platform
    # LTI's cookies need the insecure-cookie setting over plain http; same database.
    tool = request.getfixturevalue("fast_outbox_app")
    opens_at = clock.now + timedelta(hours=1)
    closes_at = opens_at + timedelta(minutes=5)
    exam = create(live_url, staff, opens_at=opens_at.isoformat(), closes_at=closes_at.isoformat())
    with serve_in_thread(tool) as tool_url:
        platform.tool_launch_url = f"{tool_url}/lti/launch"
        platform.tool_jwks_url = f"{tool_url}/lti/jwks"
        platform.custom = {"exam_id": exam["id"]}
        platform.user = "lti-ada"
        browser = requests.Session()
        early = post_launch(browser, platform, login(browser, tool_url, platform))
        assert "opens at" in error_page(early, 409)

        clock.advance(3600)
        launched = post_launch(browser, platform, login(browser, tool_url, platform))
        assert launched.status_code == 303, launched.text
    learner = lti.learner_id_for(platform.issuer, platform.user)
    [row] = call("GET", f"{live_url}/v1/exams/{exam['id']}/results", staff).json()["items"]
    assert row["learner_id"] == learner
    attempt_url = f"{live_url}/v1/attempts/{row['attempt_id']}"
    # The close caps the 30 minutes of the time limit.
    assert when(call("GET", attempt_url, staff).json()["deadline"]) == closes_at

    given = call(
        "PUT",
        f"{live_url}/v1/exams/{exam['id']}/accommodations/{learner}",
        staff,
        {"extra_minutes": 10, "close_extension_minutes": 10},
    )
    assert given.status_code == 201, given.text
    extended = call("GET", attempt_url, staff).json()["deadline"]
    assert when(extended) == closes_at + timedelta(minutes=10)
