"""Regrade over HTTP and from the outbox, on SQLite and PostgreSQL: after a card's key changes
in the bank, staff regrade an exam's graded attempts from the stored answers (a dry run, then
jobs with each policy), with the audit trail, revisions and webhooks; and a job whose worker
process is killed midway regrades every attempt exactly once when delivery resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from quizsvc.app import OUTBOX_WORKER_KEY, create_app
from quizsvc.attempts import Timing, build_result, make_layout
from quizsvc.bank import load_bank
from quizsvc.config import PROJECT_ROOT, Settings
from quizsvc.embedding import Encoder
from quizsvc.lms.outbox import CLAIM_LEASE_SECONDS
from quizsvc.regrade import RegradeOptions, refresh_keys
from quizsvc.store import (
    Attempt,
    GradeChange,
    OutboxMessage,
    RegradeJob,
    RegradeJobItem,
    Response,
    Store,
)
from tests.conftest import FakeClock, wait_until
from tests.test_webhooks import Receiver

pytestmark = pytest.mark.model

Headers = dict[str, str]

BLUEPRINT = {
    "title": "Regraded drill",
    "topics": ["metrics"],
    "counts": {"fill_in": 3, "multiple_choice": 2},
    "seed": 17,
}
#: The card whose key the bank corrects, and its answer after the correction.
CARD = "metrics-roc-expansion"
NEW_ANSWER = "Relative Operating Characteristic"


@pytest.fixture
def app(fast_outbox_app: Flask) -> Flask:
    return fast_outbox_app


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def corrected_bank(tmp_path: Path) -> Path:
    """A copy of the bank where the card's accepted answer is now NEW_ANSWER."""
    bank_dir = tmp_path / "bank"
    shutil.copytree(PROJECT_ROOT / "bank", bank_dir)
    path = bank_dir / "aws-ml-modeling" / "metrics.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    (card,) = [card for card in document["cards"] if card["id"] == CARD]
    card.update(
        answer=NEW_ANSWER,
        accept=[f"{NEW_ANSWER} curve"],
        short_answers=[],
        key_points=[NEW_ANSWER],
    )
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    assert load_bank(bank_dir).card(CARD).answer == NEW_ANSWER
    return bank_dir


class Course:
    """An instructor's exam and the learners' graded attempts, over HTTP."""

    def __init__(self, client: FlaskClient, make_key: Callable[..., Headers]) -> None:
        self.client = client
        self.make_key = make_key
        self.staff = make_key("instructor")
        # The first seed from BLUEPRINT's on whose exam the corrected card is a fill-in, so
        # that changes to how exams are drawn do not silently make this test ask other cards.
        for seed in range(BLUEPRINT["seed"], BLUEPRINT["seed"] + 100):
            created = client.post("/v1/exams", json={**BLUEPRINT, "seed": seed}, headers=self.staff)
            assert created.status_code == 201, created.get_json()
            self.exam = created.get_json()
            keys = client.get(f"/v1/exams/{self.exam['id']}?include=key", headers=self.staff)
            self.keys = {key["question_id"]: key for key in keys.get_json()["key"]}
            asking = [
                q
                for q, key in self.keys.items()
                if key["card_id"] == CARD and key["type"] == "fill_in"
            ]
            if asking:
                (self.target,) = asking
                break
        else:
            raise AssertionError(f"no seed from {BLUEPRINT['seed']} asks {CARD} as a fill-in")
        self.old_answer = self.keys[self.target]["accept"][0]
        self.choice = next(q for q, k in self.keys.items() if k["type"] == "multiple_choice")
        self.attempts: dict[str, str] = {}
        self.public: dict[str, dict[str, str]] = {}

    def take(
        self, learner: str, target_answer: str, wrong_choice: bool = False, client: Any = None
    ) -> dict[str, Any]:
        """Every question answered right by the exam's key, but the target card's question
        (``target_answer``) and, with ``wrong_choice``, one multiple-choice question."""
        client = client or self.client
        headers = self.make_key("learner", learner)
        attempt = client.post(f"/v1/exams/{self.exam['id']}/attempts", headers=headers)
        assert attempt.status_code == 201, attempt.get_json()
        attempt_id = attempt.get_json()["id"]
        keys = client.get(f"/v1/attempts/{attempt_id}?include=key", headers=self.staff)
        public_keys = keys.get_json()["key"]
        slots = client.get(f"/v1/attempts/{attempt_id}", headers=headers).get_json()["questions"]
        # The attempt's questions come in its own order, as do its keys.
        public = {slot["prompt"]: slot["id"] for slot in slots}
        mapping = {q: public[key["prompt"]] for q, key in self.keys.items()}
        by_public = {key["question_id"]: key for key in public_keys}
        for question, public_id in mapping.items():
            key = by_public[public_id]
            if question == self.target:
                answer: Any = target_answer
            elif key["type"] == "multiple_choice":
                right = key["correct_option_ids"][0]
                wrong = next(o["id"] for o in key["options"] if o["id"] != right)
                answer = wrong if wrong_choice and question == self.choice else right
            else:
                answer = key["accept"][0]
            saved = client.put(
                f"/v1/attempts/{attempt_id}/responses/{public_id}",
                json={"answer": answer},
                headers=headers,
            )
            assert saved.status_code == 200, saved.get_json()
        result = client.post(f"/v1/attempts/{attempt_id}/submit", headers=headers)
        assert result.status_code == 200, result.get_json()
        self.attempts[learner] = attempt_id
        self.public[learner] = mapping
        graded: dict[str, Any] = result.get_json()
        return graded

    def result(self, learner: str) -> dict[str, Any]:
        reply = self.client.get(f"/v1/attempts/{self.attempts[learner]}/result", headers=self.staff)
        assert reply.status_code == 200, reply.get_json()
        body: dict[str, Any] = reply.get_json()
        return body

    def grade(self, learner: str, question: str) -> tuple[float, str]:
        public_id = self.public[learner][question]
        item = next(q for q in self.result(learner)["questions"] if q["question_id"] == public_id)
        return item["score"], item["verdict"]

    def changes(self, learner: str) -> list[dict[str, Any]]:
        reply = self.client.get(
            f"/v1/attempts/{self.attempts[learner]}/grade-changes", headers=self.staff
        )
        assert reply.status_code == 200
        items: list[dict[str, Any]] = reply.get_json()["items"]
        return items


def regrade(client: FlaskClient, exam_id: str, headers: Headers, **body: Any) -> Any:
    return client.post(f"/v1/exams/{exam_id}/regrade", json=body, headers=headers)


def run_job(client: FlaskClient, exam_id: str, headers: Headers, **body: Any) -> dict[str, Any]:
    """Apply a regrade and wait for its job to finish (the apps' outbox workers run it)."""
    started = regrade(client, exam_id, headers, dry_run=False, **body)
    assert started.status_code == 202, started.get_json()
    job = started.get_json()
    assert started.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["dry_run"] is False
    assert job["status"] in ("queued", "running", "done")

    def finished() -> dict[str, Any] | None:
        found: dict[str, Any] = client.get(f"/v1/jobs/{job['id']}", headers=headers).get_json()
        return found if found["status"] in ("done", "failed") else None

    done = wait_until(finished, what=f"regrade job {job['id']}")
    assert isinstance(done, dict)
    assert done["done"] == done["total"]
    return done


def diff_of(dry: dict[str, Any]) -> dict[str, list[tuple[str, Any, Any]]]:
    return {
        attempt["attempt_id"]: [
            (q["exam_question_id"], q["before"], q["after"]) for q in attempt["questions"]
        ]
        for attempt in dry["attempts"]
    }


RIGHT = {"score": 1.0, "verdict": "correct"}
WRONG = {"score": 0.0, "verdict": "incorrect"}


def test_regrade_after_a_key_change_over_http(
    app: Flask,
    client: FlaskClient,
    make_key: Callable[..., Headers],
    receiver: Receiver,
    database_url: str,
    shared_instance_dir: Path,
    model: Encoder,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    course = Course(client, make_key)
    exam_id = course.exam["id"]
    hook = client.post(
        "/v1/webhooks", json={"url": receiver.url, "exam_id": exam_id}, headers=course.staff
    )
    assert hook.status_code == 201
    # ada: the old key's answer; bob: the corrected one; cyd: the old key's answer, then a
    # person's grade; dan: the corrected one and a wrong choice.
    course.take("ada", course.old_answer)
    course.take("bob", NEW_ANSWER)
    course.take("cyd", course.old_answer)
    course.take("dan", NEW_ANSWER, wrong_choice=True)
    assert course.grade("ada", course.target) == (1.0, "correct")
    assert course.grade("bob", course.target) == (0.0, "incorrect")
    override = client.put(
        f"/v1/attempts/{course.attempts['cyd']}/questions/"
        f"{course.public['cyd'][course.target]}/grade",
        json={"score": 0.5, "comment": "Half: the spelling is the old one."},
        headers=course.staff,
    )
    assert override.status_code == 200, override.get_json()
    staff_key_id = override.get_json()["items"][0]["changed_by"]
    clock.advance(60)

    def events(kind: str) -> list[dict[str, Any]]:
        bodies = [json.loads(body) for _, body, _ in receiver.received()]
        return [body for body in bodies if body["type"] == kind]

    wait_until(lambda: len(events("attempt.graded")) == 4, what="the graded webhooks")
    wait_until(lambda: len(events("attempt.regraded")) == 1, what="the override's webhook")

    # The same database and instance, the corrected bank: a second app, as after a deploy.
    settings = Settings.from_env(
        instance_dir=shared_instance_dir,
        database_url=database_url,
        bank_dir=corrected_bank(tmp_path),
        rate_limit="100000/minute",
        outbound_allow_hosts="127.0.0.1",
    )
    corrected = create_app(
        {
            "SETTINGS": settings,
            "ENCODER": model,
            "CLOCK": clock,
            "TESTING": True,
            "OUTBOX_POLL_SECONDS": 0.05,
        }
    )
    try:
        staff = course.staff
        http = corrected.test_client()

        # Learners may neither regrade nor read jobs.
        learner = make_key("learner", "ada")
        assert regrade(http, exam_id, learner, dry_run=True).status_code == 403
        assert http.get("/v1/jobs/nope", headers=learner).status_code == 403
        assert http.get("/v1/jobs/nope", headers=staff).status_code == 404
        assert regrade(http, "nope", staff, dry_run=True).status_code == 404
        bad = regrade(http, exam_id, staff, dry_run=True, policy="full_credit_for_question")
        assert bad.status_code == 422
        assert "question_ids" in bad.get_json()["errors"]["json"]
        unknown = regrade(http, exam_id, staff, dry_run=True, question_ids=["q-nope"])
        assert unknown.status_code == 422

        # A dry run lists exactly the affected questions, in each attempt's public ids.
        dry = regrade(http, exam_id, staff, dry_run=True, refresh_keys=True)
        assert dry.status_code == 200, dry.get_json()
        body = dry.get_json()
        target = course.target
        assert diff_of(body) == {
            course.attempts["ada"]: [(target, RIGHT, WRONG)],
            course.attempts["bob"]: [(target, WRONG, RIGHT)],
            course.attempts["cyd"]: [],
            course.attempts["dan"]: [(target, WRONG, RIGHT)],
        }
        by_attempt = {attempt["attempt_id"]: attempt for attempt in body["attempts"]}
        ada = by_attempt[course.attempts["ada"]]
        assert ada["questions"][0]["question_id"] == course.public["ada"][target]
        assert ada["after"]["score"] == pytest.approx(ada["before"]["score"] - 1.0)
        cyd = by_attempt[course.attempts["cyd"]]
        assert cyd["left_alone"] == [course.public["cyd"][target]]
        assert (body["total"], body["changed"], body["unchanged"]) == (4, 3, 1)
        assert body["left_alone"] == 1
        refreshed = {entry["question_id"]: entry for entry in body["keys"]}
        assert refreshed[target]["status"] == "changed"
        assert {q for q, e in refreshed.items() if e["status"] == "changed"} == {target}
        # ... and changes nothing.
        assert course.changes("ada") == []
        assert course.result("ada").get("revision", 0) == 0
        key = http.get(f"/v1/exams/{exam_id}?include=key", headers=staff).get_json()["key"]
        assert next(k for k in key if k["question_id"] == target)["answer"] != NEW_ANSWER

        # only_raise: bob goes up, ada does not go down.
        raising = regrade(
            http, exam_id, staff, dry_run=True, refresh_keys=True, policy="only_raise"
        ).get_json()
        assert diff_of(raising) == {
            course.attempts["bob"]: [(target, WRONG, RIGHT)],
            course.attempts["dan"]: [(target, WRONG, RIGHT)],
        }
        job = run_job(http, exam_id, staff, refresh_keys=True, policy="only_raise")
        assert (job["total"], job["changed"], job["unchanged"], job["errors"]) == (4, 2, 2, [])
        assert job["status"] == "done"
        assert course.grade("ada", target) == (1.0, "correct")
        assert course.grade("bob", target) == (1.0, "correct")
        bob = course.result("bob")
        assert bob["revision"] == 1
        assert bob["percent"] == 100.0
        (change,) = course.changes("bob")
        assert change["kind"] == "regrade"
        assert (change["before"], change["after"]) == (WRONG, RIGHT)
        assert change["changed_by"] == staff_key_id
        assert job["id"] in change["comment"]
        assert "only_raise" in change["comment"]
        assert change["grader_version"]
        assert change["question_id"] == course.public["bob"][target]
        wait_until(lambda: len(events("attempt.regraded")) == 3, what="the regraded webhooks")
        regraded = next(
            event
            for event in events("attempt.regraded")
            if event["data"]["attempt_id"] == course.attempts["bob"]
        )
        assert regraded["data"]["cause"] == "regrade"
        assert regraded["data"]["job_id"] == job["id"]
        assert regraded["data"]["score"] == bob["score"]

        # The exam's key is the corrected one now, in every process: the first app still
        # has the old bank and a cached exam, yet grades a new attempt with the new key.
        key = http.get(f"/v1/exams/{exam_id}?include=key", headers=staff).get_json()["key"]
        assert next(k for k in key if k["question_id"] == target)["answer"] == NEW_ANSWER
        course.take("eve", NEW_ANSWER, client=client)
        assert course.grade("eve", target) == (1.0, "correct")

        # update: ada goes down too; cyd's grade was a person's and stays.
        job = run_job(http, exam_id, staff, refresh_keys=True)
        assert (job["total"], job["changed"], job["unchanged"]) == (5, 1, 4)
        assert course.grade("ada", target) == (0.0, "incorrect")
        assert course.grade("cyd", target) == (0.5, "partial")
        (change,) = course.changes("ada")
        assert (change["before"], change["after"]) == (RIGHT, WRONG)
        wait_until(lambda: len(events("attempt.regraded")) == 4, what="ada's regraded webhook")

        # The same regrade again changes nothing: no audit rows, revisions or webhooks.
        before = {name: course.result(name).get("revision", 0) for name in course.attempts}
        job = run_job(http, exam_id, staff, refresh_keys=True)
        assert (job["changed"], job["unchanged"]) == (0, 5)
        assert {name: course.result(name).get("revision", 0) for name in course.attempts} == before
        assert [len(course.changes(name)) for name in ("ada", "bob", "cyd", "dan", "eve")] == [
            1,
            1,
            1,
            1,
            0,
        ]

        # include_overridden: a person's grade is regraded too when asked.
        job = run_job(http, exam_id, staff, include_overridden=True)
        assert (job["changed"], job["unchanged"]) == (1, 4)
        assert course.grade("cyd", target) == (0.0, "incorrect")
        assert [c["kind"] for c in course.changes("cyd")] == ["override", "regrade"]

        # full_credit_for_question: full marks for the question, named by a public id.
        choice = course.choice
        assert course.grade("dan", choice) == (0.0, "incorrect")
        job = run_job(
            http,
            exam_id,
            staff,
            policy="full_credit_for_question",
            question_ids=[course.public["ada"][choice]],
        )
        assert (job["changed"], job["unchanged"]) == (1, 4)
        assert course.grade("dan", choice) == (1.0, "correct")
        dan = course.result("dan")
        item = next(q for q in dan["questions"] if q["question_id"] == course.public["dan"][choice])
        assert item["feedback"]["summary"].startswith("Full credit")
        assert dan["percent"] == 100.0

        wait_until(lambda: len(events("attempt.regraded")) == 6, what="every regraded webhook")
        time.sleep(0.3)  # a few polls of both workers: nothing more arrives
        assert len(events("attempt.regraded")) == 6
        # Learners may not read a job either.
        assert http.get(f"/v1/jobs/{job['id']}", headers=learner).status_code == 403
    finally:
        corrected.extensions[OUTBOX_WORKER_KEY].stop()


def test_refreshing_keys_from_an_unchanged_bank_changes_no_key(
    client: FlaskClient, make_key: Callable[..., Headers], app: Flask
) -> None:
    """Rebuilding the keys as the exam builder did gives the frozen keys back."""
    staff = make_key("instructor")
    created = client.post(
        "/v1/exams",
        json={
            "title": "Every type",
            "counts": {
                "multiple_choice": 4,
                "reverse_multiple_choice": 2,
                "multiple_response": 2,
                "fill_in": 6,
                "free_answer": 3,
                "scenario": 2,
            },
            "seed": 11,
        },
        headers=staff,
    )
    assert created.status_code == 201, created.get_json()
    exam = app.extensions["quizsvc"].store.load_exam(created.get_json()["id"])
    bank = app.extensions["quizsvc"].bank
    questions, report = refresh_keys(exam.questions, bank, exam.blueprint["seed"])
    assert [entry.status for entry in report] == ["unchanged"] * len(exam.questions)
    assert questions == exam.questions


# -- crash safety -------------------------------------------------------------------------------

ATTEMPTS = 2000
#: A worker process: delivers what is due (at its clock, moved by OFFSET seconds) in rounds
#: of LIMIT claims, until nothing is due; its senders are those ``quizsvc outbox deliver``
#: uses, so regrade messages are graded by the app a server builds.
WORKER = """
import sys
from datetime import UTC, datetime, timedelta

from quizsvc.cli.lti import outbox_senders
from quizsvc.config import Settings
from quizsvc.lms.outbox import deliver_due
from quizsvc.store import Store

offset, limit = timedelta(seconds=float(sys.argv[1])), int(sys.argv[2])
settings = Settings.from_env()
store = Store(settings.resolved_database_url)
senders = outbox_senders(store, settings)
rounds = tried = 0
while report := deliver_due(store, datetime.now(UTC) + offset, senders, limit=limit).tried:
    rounds, tried = rounds + 1, tried + report
print(f"{tried} message(s) in {rounds} round(s)")
"""


def start_worker(database_url: str, instance_dir: Path, offset: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "QUIZSVC_DATABASE_URL": database_url,
        "QUIZSVC_INSTANCE_DIR": str(instance_dir),
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(offset), "20"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def insert_graded_attempts(app: Flask, exam_id: str, count: int) -> set[str]:
    """``count`` graded attempts, fast (one bulk insert), with results built by
    build_result from their answers; every other learner answers q1 wrong. Returns the ids
    of those."""
    state = app.extensions["quizsvc"]
    exam = state.store.load_exam(exam_id)
    keys = {question["key"]["question_id"]: question["key"] for question in exam.questions}
    now = datetime.now(UTC) - timedelta(hours=1)
    attempts: list[dict[str, Any]] = []
    responses: list[dict[str, Any]] = []
    wrong_on_q1: set[str] = set()
    for number in range(count):
        attempt_id = f"crash{number:05d}"
        layout = make_layout(exam.questions, attempt_id)
        answers: dict[str, Any] = {}
        for question_id, key in keys.items():
            if key["type"] == "multiple_choice":
                right = key["correct_option_ids"][0]
                wrong = next(o["id"] for o in key["options"] if o["id"] != right)
                answers[question_id] = wrong if question_id == "q1" and number % 2 else right
            else:
                answers[question_id] = key["accept"][0]
        if number % 2:
            wrong_on_q1.add(attempt_id)
        timing = Timing(now, now + timedelta(minutes=30), 30)
        result = build_result(
            exam.questions, layout, answers, state.grade_many, exam.pass_mark, {}, timing, now
        )
        attempts.append(
            {
                "id": attempt_id,
                "exam_id": exam_id,
                "learner_id": f"learner{number}",
                "started_at": now,
                "deadline": now + timedelta(minutes=30),
                "status": "graded",
                "layout": layout,
                "submitted_at": now,
                "finalized_by": "submit",
                "score": result["score"],
                "result": result,
            }
        )
        responses.extend(
            {
                "attempt_id": attempt_id,
                "question_id": question_id,
                "answer": answer,
                "saved_at": now,
                "revision": 1,
            }
            for question_id, answer in answers.items()
        )
    with state.store.session() as session:
        session.execute(Attempt.__table__.insert(), attempts)
        session.execute(Response.__table__.insert(), responses)
    return wrong_on_q1


def test_a_killed_worker_leaves_every_attempt_regraded_exactly_once(
    app: Flask,
    client: FlaskClient,
    make_key: Callable[..., Headers],
    database_url: str,
    shared_instance_dir: Path,
) -> None:
    started = time.monotonic()
    staff = make_key("instructor")
    created = client.post(
        "/v1/exams",
        json={"title": "Many", "counts": {"multiple_choice": 2, "fill_in": 1}, "seed": 5},
        headers=staff,
    )
    assert created.status_code == 201, created.get_json()
    exam_id = created.get_json()["id"]
    # Only the worker processes deliver: this app's own worker thread is stopped.
    app.extensions[OUTBOX_WORKER_KEY].stop()
    wrong_on_q1 = insert_graded_attempts(app, exam_id, ATTEMPTS)
    inserted = time.monotonic()

    store = Store(database_url)
    try:
        options = RegradeOptions("full_credit_for_question", ("q1",))
        job = store.create_regrade_job(exam_id, options, None, datetime.now(UTC))
        assert job is not None
        assert job.total == ATTEMPTS

        def counters() -> RegradeJob:
            found = store.get_regrade_job(job.id)
            assert found is not None
            return found

        def leased() -> dict[str, str]:
            """Claimed messages of the job not delivered yet: attempt id -> message id."""
            with store.session() as session:
                rows = session.execute(
                    select(OutboxMessage.attempt_id, OutboxMessage.id).where(
                        OutboxMessage.kind == "regrade",
                        OutboxMessage.status == "pending",
                        OutboxMessage.next_attempt_at > datetime.now(UTC),
                    )
                )
                return {str(attempt_id): message_id for attempt_id, message_id in rows}

        def done_items() -> set[str]:
            with store.session() as session:
                return set(
                    session.scalars(
                        select(RegradeJobItem.attempt_id).where(RegradeJobItem.job_id == job.id)
                    )
                )

        def stopped_holding_claims() -> bool:
            """Stops the worker past 300 attempts while it holds claims (a round of 20 is
            claimed, then sent one by one); lets it go on when it holds none."""
            if counters().done < 300:
                return False
            worker.send_signal(signal.SIGSTOP)
            if leased():
                return True
            worker.send_signal(signal.SIGCONT)
            return False

        worker = start_worker(database_url, shared_instance_dir, 0)
        try:
            wait_until(stopped_holding_claims, timeout=60, what="the worker's progress")
        finally:
            worker.send_signal(signal.SIGKILL)
            output = worker.communicate(timeout=30)[0].decode(errors="replace")
        assert worker.returncode == -signal.SIGKILL, output
        killed_at = counters().done
        assert 0 < killed_at < ATTEMPTS, "the worker must die midway"
        held = leased()
        assert held
        # Claims the dead worker had sent before dying are done; the others are not.
        unsent = set(held) - done_items()
        killed = time.monotonic()

        # A new worker at once delivers the rest, but not what the dead one still holds ...
        worker = start_worker(database_url, shared_instance_dir, 0)
        output = worker.communicate(timeout=120)[0].decode(errors="replace")
        assert worker.returncode == 0, output
        assert counters().done == ATTEMPTS - len(unsent)
        assert leased() == held
        # ... and once its claims have expired (the worker's clock past the lease), those.
        worker = start_worker(database_url, shared_instance_dir, CLAIM_LEASE_SECONDS + 5)
        output = worker.communicate(timeout=120)[0].decode(errors="replace")
        assert worker.returncode == 0, output
        resumed = time.monotonic()

        def audit() -> tuple[dict[str, int], dict[str, int], dict[str, Any]]:
            with store.session() as session:
                changes = dict(
                    session.execute(
                        select(GradeChange.attempt_id, func.count())
                        .where(GradeChange.kind == "regrade")
                        .group_by(GradeChange.attempt_id)
                    ).all()
                )
                items = dict(
                    session.execute(
                        select(RegradeJobItem.attempt_id, func.count())
                        .where(RegradeJobItem.job_id == job.id)
                        .group_by(RegradeJobItem.attempt_id)
                    ).all()
                )
                revisions = {
                    attempt.id: (attempt.result or {}).get("revision", 0)
                    for attempt in session.scalars(
                        select(Attempt).where(Attempt.exam_id == exam_id)
                    )
                }
            return changes, items, revisions

        finished = counters()
        assert (finished.status, finished.done, finished.total) == ("done", ATTEMPTS, ATTEMPTS)
        assert finished.changed == len(wrong_on_q1) == ATTEMPTS // 2
        assert finished.unchanged == ATTEMPTS - len(wrong_on_q1)
        assert finished.error_count == 0
        changes, items, revisions = audit()
        # Exactly one grade change per changed question, one item per attempt, one revision.
        assert changes == dict.fromkeys(wrong_on_q1, 1)
        assert len(items) == ATTEMPTS
        assert set(items.values()) == {1}
        assert revisions == {
            attempt_id: 1 if attempt_id in wrong_on_q1 else 0 for attempt_id in revisions
        }
        assert store.pending_regrade_messages(job.id) == 0
        sample = store.get_attempt(sorted(wrong_on_q1)[0])
        assert sample is not None
        assert sample.result is not None
        assert sample.result["percent"] == 100.0

        # A message delivered again (its worker died after the commit, before recording the
        # delivery) does nothing: the job's item for that attempt is there.
        again_ids = sorted(wrong_on_q1)[:300]
        with store.session() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.kind == "regrade", OutboxMessage.attempt_id.in_(again_ids))
                .values(status="pending", next_attempt_at=datetime.now(UTC))
            )
        worker = start_worker(database_url, shared_instance_dir, 0)
        output = worker.communicate(timeout=120)[0].decode(errors="replace")
        assert worker.returncode == 0, output
        assert store.pending_regrade_messages(job.id) == 0, output
        tries = {message.attempt_id: message.attempts for message in store.list_outbox("regrade")}
        assert {tries[attempt_id] for attempt_id in again_ids} == {2}
        assert audit() == (changes, items, revisions)
        again = counters()
        assert (again.done, again.changed, again.unchanged) == (
            ATTEMPTS,
            finished.changed,
            finished.unchanged,
        )
    finally:
        store.engine.dispose()
    print(
        f"\n[{database_url.split(':')[0]}] insert {inserted - started:.1f}s, killed at "
        f"{killed_at}/{ATTEMPTS} ({len(held)} claims held, {len(unsent)} unsent) after "
        f"{killed - inserted:.1f}s, "
        f"resumed in {resumed - killed:.1f}s, redelivery {time.monotonic() - resumed:.1f}s"
    )


def test_a_second_store_on_an_sqlite_file_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    """``quizsvc outbox deliver`` opens a second Store (the app that regrades) beside its own,
    as a test or a server building two apps does. Opening the file must not drop the first
    store's POSIX locks: else another process, closing its last connection, takes the file
    for unused and deletes the WAL under the first, whose later writes no one else sees."""
    from quizsvc.migrate import upgrade

    path = tmp_path / "locks.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    first = Store(url)
    assert first.list_subscriptions() == []  # a pooled connection stays open
    second = Store(url)
    count = (
        "import sqlite3, sys\n"
        "connection = sqlite3.connect(sys.argv[1])\n"
        "print(connection.execute('select count(*) from api_keys').fetchone()[0])\n"
        "connection.close()\n"
    )

    def keys_seen_elsewhere() -> str:
        reply = subprocess.run(
            [sys.executable, "-c", count, str(path)], capture_output=True, text=True, check=True
        )
        return reply.stdout.strip()

    assert keys_seen_elsewhere() == "0"
    first.create_key("admin", None)
    assert keys_seen_elsewhere() == "1"
    first.engine.dispose()
    second.engine.dispose()


def test_the_command_line_regrades_in_process(
    app: Flask,
    client: FlaskClient,
    make_key: Callable[..., Headers],
    database_url: str,
    shared_instance_dir: Path,
) -> None:
    from click.testing import CliRunner

    from quizsvc.cli import main

    course = Course(client, make_key)
    course.take("ada", course.old_answer, wrong_choice=True)
    course.take("bob", course.old_answer)
    choice = course.choice
    env = {
        "QUIZSVC_DATABASE_URL": database_url,
        "QUIZSVC_INSTANCE_DIR": str(shared_instance_dir),
        "HF_HUB_OFFLINE": "1",
    }
    command = ["exams", "regrade", course.exam["id"], "--policy", "full_credit_for_question"]
    refused = CliRunner().invoke(main, command, env=env)
    assert refused.exit_code == 2, refused.output
    assert "question" in refused.output

    dry = CliRunner().invoke(main, [*command, "--question", choice, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    diff = json.loads(dry.stdout)
    assert diff_of(diff) == {course.attempts["ada"]: [(choice, WRONG, RIGHT)]}
    assert course.changes("ada") == []

    # A public id of any attempt names the question too.
    public = course.public["bob"][choice]
    applied = CliRunner().invoke(main, [*command, "--question", public], env=env)
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.strip().endswith("2 attempt(s), 1 changed, 1 unchanged, 0 error(s)")
    assert "2/2 done" in applied.stderr
    (change,) = course.changes("ada")
    assert (change["kind"], change["changed_by"]) == ("regrade", None)
    assert course.grade("ada", choice) == (1.0, "correct")
