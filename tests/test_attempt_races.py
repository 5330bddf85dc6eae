"""Attempt races over real HTTP, with real threads, on SQLite and PostgreSQL.

* Autosave vs submit: an answer acknowledged with 200 is never missing from the grade, and an
  autosave that arrives once the submit has begun gets 409.
* Parallel starts: at most one attempt in progress per (exam, learner), never more than
  ``max_attempts``.

The app runs on a threaded werkzeug server and each client thread has its own HTTP
connection, so requests really overlap inside the service and in the database. The exams hold
one fill-in question (graded by string matching) and the hashing encoder stands in for the
model, so a trial costs milliseconds; a small grading delay stands for a real grade's time,
which is what leaves a window for an autosave to slip in.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from quizsvc.app import OUTBOX_WORKER_KEY, create_app
from quizsvc.config import Settings
from quizsvc.embedding import HashingEncoder
from tests.conftest import FakeClock, serve_in_thread

pytestmark = pytest.mark.http

Headers = dict[str, str]

#: The time a submit spends grading (a real exam's grade takes longer than a fill-in's).
GRADING_DELAY_MS = 30
AUTOSAVE_TRIALS = 50
AUTOSAVE_THREADS = 3
START_THREADS = 8
START_ROUNDS = 5
TIMEOUT = 60


@pytest.fixture
def race_app(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Flask]:
    settings = Settings.from_env(
        instance_dir=tmp_path / "instance",
        database_url=database_url,
        rate_limit="1000000/minute",
        debug_grading_delay_ms=GRADING_DELAY_MS,
    )
    app = create_app(
        {"SETTINGS": settings, "ENCODER": HashingEncoder(), "CLOCK": clock, "TESTING": True}
    )
    yield app
    app.extensions[OUTBOX_WORKER_KEY].stop()
    app.extensions["quizsvc"].store.engine.dispose()


@pytest.fixture
def base_url(race_app: Flask) -> Iterator[str]:
    with serve_in_thread(race_app) as url:
        yield url


def bearer(app: Flask, role: str, learner_id: str | None = None) -> Headers:
    key, _ = app.extensions["quizsvc"].store.create_key(role, learner_id)
    return {"Authorization": f"Bearer {key}"}


def create_exam(base_url: str, staff: Headers, max_attempts: int | None) -> dict[str, Any]:
    response = requests.post(
        f"{base_url}/v1/exams",
        json={
            "title": "Race",
            "topics": ["metrics"],
            "counts": {"fill_in": 1},
            "seed": 3,
            "time_limit_seconds": 600,
            "max_attempts": max_attempts,
        },
        headers=staff,
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    exam: dict[str, Any] = response.json()
    return exam


def start(http: requests.Session, base_url: str, exam_id: str, learner: Headers) -> Any:
    return http.post(f"{base_url}/v1/exams/{exam_id}/attempts", headers=learner, timeout=TIMEOUT)


def submit(http: requests.Session, base_url: str, attempt_id: str, learner: Headers) -> Any:
    return http.post(
        f"{base_url}/v1/attempts/{attempt_id}/submit", headers=learner, timeout=TIMEOUT
    )


# -- autosave vs submit -------------------------------------------------------------------------


@dataclass
class Save:
    answer: str
    sent: float
    done: float
    status: int
    revision: int | None


@dataclass
class TrialOutcome:
    graded_answer: Any
    saves: list[Save] = field(default_factory=list)
    #: Answers acknowledged with 200 but newer (higher revision) than the graded one: lost.
    lost: list[Save] = field(default_factory=list)
    #: Autosaves sent after the submit had answered, yet not refused with 409.
    accepted_late: list[Save] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.lost or self.accepted_late or self.errors)


def autosave_trial(base_url: str, exam_id: str, learner: Headers) -> TrialOutcome:
    """One attempt: three threads autosave increasing answers while this thread submits."""
    with requests.Session() as http:
        started = start(http, base_url, exam_id, learner)
        assert started.status_code == 201, started.text
        attempt_id = started.json()["id"]
        (question,) = started.json()["questions"]
        url = f"{base_url}/v1/attempts/{attempt_id}/responses/{question['id']}"
        numbers = itertools.count(1)
        numbers_lock = threading.Lock()
        saves: list[Save] = []
        saves_lock = threading.Lock()
        errors: list[str] = []
        enough_saved = threading.Event()

        def autosaver() -> None:
            with requests.Session() as own:
                while True:
                    with numbers_lock:
                        answer = f"answer-{next(numbers)}"
                    sent = time.monotonic()
                    response = own.put(
                        url, json={"answer": answer}, headers=learner, timeout=TIMEOUT
                    )
                    done = time.monotonic()
                    revision = response.json().get("revision") if response.ok else None
                    with saves_lock:
                        saves.append(Save(answer, sent, done, response.status_code, revision))
                        if sum(save.status == 200 for save in saves) >= 2 * AUTOSAVE_THREADS:
                            enough_saved.set()
                    if response.status_code == 409:
                        return
                    if response.status_code != 200:
                        errors.append(f"autosave {answer}: {response.status_code} {response.text}")
                        enough_saved.set()
                        return

        threads = [threading.Thread(target=autosaver) for _ in range(AUTOSAVE_THREADS)]
        for thread in threads:
            thread.start()
        enough_saved.wait(TIMEOUT)
        submitted = submit(http, base_url, attempt_id, learner)
        submit_done = time.monotonic()
        for thread in threads:
            thread.join(TIMEOUT)
        if submitted.status_code != 200:
            errors.append(f"submit: {submitted.status_code} {submitted.text}")
            return TrialOutcome(None, saves, errors=errors)
        (graded,) = submitted.json()["questions"]
    outcome = TrialOutcome(graded["your_answer"], saves, errors=errors)
    acknowledged = {save.answer: save for save in saves if save.status == 200}
    if outcome.graded_answer not in acknowledged:
        outcome.errors.append(f"graded {outcome.graded_answer!r}, which was never acknowledged")
        return outcome
    graded_revision = acknowledged[outcome.graded_answer].revision
    assert graded_revision is not None
    outcome.lost = [
        save
        for save in acknowledged.values()
        if save.revision is not None and save.revision > graded_revision
    ]
    outcome.accepted_late = [
        save for save in saves if save.sent > submit_done and save.status != 409
    ]
    return outcome


def test_submit_grades_every_acknowledged_autosave(base_url: str, race_app: Flask) -> None:
    staff = bearer(race_app, "instructor")
    learner = bearer(race_app, "learner", "ada")
    exam = create_exam(base_url, staff, max_attempts=None)

    outcomes = [autosave_trial(base_url, exam["id"], learner) for _ in range(AUTOSAVE_TRIALS)]

    failed = [outcome for outcome in outcomes if outcome.failed]
    lost = sum(len(outcome.lost) for outcome in outcomes)
    late = sum(len(outcome.accepted_late) for outcome in outcomes)
    acknowledged = sum(save.status == 200 for outcome in outcomes for save in outcome.saves)
    example = next(iter(failed), None)
    assert not failed, (
        f"{len(failed)} of {AUTOSAVE_TRIALS} trials failed: {lost} answers acknowledged with 200 "
        f"are missing from the grade (of {acknowledged} acknowledged), {late} autosaves sent "
        f"after the submit answered were not refused with 409; first failure: graded "
        f"{example and example.graded_answer!r}, lost {example and example.lost}, "
        f"late {example and example.accepted_late}, errors {example and example.errors}"
    )
    # Every trial had autosaves racing the submit: each thread stopped on a 409.
    for outcome in outcomes:
        assert sum(save.status == 409 for save in outcome.saves) == AUTOSAVE_THREADS


# -- parallel starts ----------------------------------------------------------------------------


def parallel_starts(base_url: str, exam_id: str, learner: Headers) -> list[tuple[int, Any]]:
    """``START_THREADS`` starts released together; (status, attempt id or message) each."""
    barrier = threading.Barrier(START_THREADS)
    outcomes: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def starter() -> None:
        with requests.Session() as http:
            # A first request opens the connection, so the starts below leave together.
            http.get(f"{base_url}/v1/exams/{exam_id}", headers=learner, timeout=TIMEOUT)
            barrier.wait(TIMEOUT)
            response = start(http, base_url, exam_id, learner)
            body = response.json()
            with lock:
                outcomes.append((response.status_code, body.get("id") or body.get("message")))

    threads = [threading.Thread(target=starter) for _ in range(START_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert len(outcomes) == START_THREADS
    return outcomes


def attempts_of(app: Flask, exam_id: str, learner_id: str) -> list[Any]:
    return list(app.extensions["quizsvc"].store.list_attempts(exam_id, learner_id))


def test_parallel_starts_create_one_attempt(base_url: str, race_app: Flask) -> None:
    staff = bearer(race_app, "instructor")
    failures = []
    for round_number in range(START_ROUNDS):
        learner_id = f"learner-{round_number}"
        learner = bearer(race_app, "learner", learner_id)
        exam = create_exam(base_url, staff, max_attempts=1)
        outcomes = parallel_starts(base_url, exam["id"], learner)
        statuses = sorted(status for status, _ in outcomes)
        ids = {value for status, value in outcomes if status in (200, 201)}
        stored = attempts_of(race_app, exam["id"], learner_id)
        if (
            statuses.count(201) != 1
            or not set(statuses) <= {200, 201, 409}
            or len(ids) != 1
            or len(stored) != 1
        ):
            failures.append((statuses, len(ids), len(stored)))
    assert not failures, (
        f"{len(failures)} of {START_ROUNDS} rounds of {START_THREADS} parallel starts did not "
        f"give exactly one attempt: (statuses, distinct attempt ids, stored attempts) "
        f"{failures}"
    )


def test_max_attempts_two_sequential_and_parallel_starts(base_url: str, race_app: Flask) -> None:
    staff = bearer(race_app, "instructor")
    learner = bearer(race_app, "learner", "ada")
    exam = create_exam(base_url, staff, max_attempts=2)
    with requests.Session() as http:
        first = start(http, base_url, exam["id"], learner)
        assert first.status_code == 201, first.text
        resumed = start(http, base_url, exam["id"], learner)
        assert resumed.status_code == 200
        assert resumed.json()["id"] == first.json()["id"]
        assert submit(http, base_url, first.json()["id"], learner).status_code == 200

        # The second (last) attempt, started by eight requests at once.
        outcomes = parallel_starts(base_url, exam["id"], learner)
        statuses = sorted(status for status, _ in outcomes)
        ids = {value for status, value in outcomes if status in (200, 201)}
        assert statuses.count(201) == 1, outcomes
        assert set(statuses) <= {200, 201, 409}, outcomes
        assert len(ids) == 1, outcomes
        assert first.json()["id"] not in ids, outcomes
        (second_id,) = ids
        assert submit(http, base_url, second_id, learner).status_code == 200

        refused = start(http, base_url, exam["id"], learner)
        assert refused.status_code == 409, refused.text
        assert "All 2 attempt(s)" in refused.json()["message"]
        # Eight more at once are all refused too.
        assert (
            sorted(status for status, _ in parallel_starts(base_url, exam["id"], learner))
            == [409] * START_THREADS
        )
    assert len(attempts_of(race_app, exam["id"], "ada")) == 2
