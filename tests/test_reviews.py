"""People in the loop over HTTP, on SQLite and PostgreSQL: the review queue, instructor
overrides with their audit trail and webhooks, learner appeals, and what learners may not
see. The grader is the real model; the webhook receiver a real HTTP server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import FakeClock, wait_until
from tests.test_webhooks import Receiver

pytestmark = pytest.mark.model

Headers = dict[str, str]

BLUEPRINT = {
    "title": "Reviewed drill",
    "topics": ["metrics"],
    "counts": {"multiple_choice": 1, "fill_in": 1, "free_answer": 1},
    "seed": 7,
    # Every free answer the grader is not certain of (confidence below 1) joins the queue.
    "review_below": 1.0,
}


@pytest.fixture
def app(fast_outbox_app: Flask) -> Flask:
    return fast_outbox_app


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


class Drill:
    """An instructor's exam, a learner's graded attempt, and the keys to read it."""

    def __init__(self, client: FlaskClient, make_key: Callable[..., Headers]) -> None:
        self.client = client
        self.staff = make_key("instructor")
        self.learner = make_key("learner", "ada")
        exam = client.post("/v1/exams", json=BLUEPRINT, headers=self.staff)
        assert exam.status_code == 201, exam.get_json()
        self.exam = exam.get_json()

    def take(self, free_answer: str = "It plots precision against recall") -> dict[str, Any]:
        attempt = self.client.post(
            f"/v1/exams/{self.exam['id']}/attempts", headers=self.learner
        ).get_json()
        self.attempt_id = attempt["id"]
        self.questions = {q["type"]: q["id"] for q in attempt["questions"]}
        keys = self.client.get(
            f"/v1/attempts/{attempt['id']}?include=key", headers=self.staff
        ).get_json()["key"]
        by_type = {key["type"]: key for key in keys}
        answers = {
            "multiple_choice": by_type["multiple_choice"]["correct_option_ids"][0],
            "fill_in": by_type["fill_in"]["accept"][0],
            "free_answer": free_answer,
        }
        for kind, answer in answers.items():
            saved = self.client.put(
                f"/v1/attempts/{attempt['id']}/responses/{self.questions[kind]}",
                json={"answer": answer},
                headers=self.learner,
            )
            assert saved.status_code == 200, saved.get_json()
        result = self.client.post(f"/v1/attempts/{attempt['id']}/submit", headers=self.learner)
        assert result.status_code == 200, result.get_json()
        graded: dict[str, Any] = result.get_json()
        return graded

    def result(self, headers: Headers | None = None) -> dict[str, Any]:
        reply = self.client.get(
            f"/v1/attempts/{self.attempt_id}/result", headers=headers or self.learner
        )
        assert reply.status_code == 200, reply.get_json()
        body: dict[str, Any] = reply.get_json()
        return body

    def question(self, result: dict[str, Any], kind: str) -> dict[str, Any]:
        return next(q for q in result["questions"] if q["type"] == kind)

    def queue(self, status: str = "pending") -> list[dict[str, Any]]:
        reply = self.client.get(
            f"/v1/reviews?exam_id={self.exam['id']}&status={status}", headers=self.staff
        )
        assert reply.status_code == 200, reply.get_json()
        items: list[dict[str, Any]] = reply.get_json()["items"]
        return items


@pytest.fixture
def drill(client: FlaskClient, make_key: Callable[..., Headers]) -> Drill:
    return Drill(client, make_key)


def test_unsure_grade_is_queued_and_provisional_then_a_review_settles_it(
    drill: Drill, receiver: Receiver
) -> None:
    hook = drill.client.post(
        "/v1/webhooks",
        json={"url": receiver.url, "exam_id": drill.exam["id"]},
        headers=drill.staff,
    )
    assert hook.status_code == 201
    graded = drill.take("It plots the true positive rate against the false positive rate")
    free = drill.question(graded, "free_answer")
    assert graded["grading_progress"] == "PendingManual"
    assert free["review"]["status"] == "awaiting_review"
    # Learners never see what is for staff.
    for staff_only in ("review_reasons", "evidence", "grader_version"):
        assert staff_only not in free
    assert "grader_versions" not in graded

    (queued,) = drill.queue()
    assert queued["question_id"] == free["question_id"]
    assert queued["answer"] == "It plots the true positive rate against the false positive rate"
    assert queued["question"]["reference"]
    assert queued["question"]["key_points"]
    assert queued["automatic"]["verdict"] == free["verdict"]
    assert queued["automatic"]["evidence"]
    assert queued["automatic"]["grader_version"]

    settled = drill.client.post(
        f"/v1/reviews/{queued['id']}/resolve",
        json={"score": 1.0, "comment": "Right: TPR against FPR is the curve."},
        headers=drill.staff,
    )
    assert settled.status_code == 200, settled.get_json()
    assert settled.get_json()["status"] == "resolved"
    assert drill.queue() == []
    again = drill.client.post(f"/v1/reviews/{queued['id']}/resolve", json={}, headers=drill.staff)
    assert again.status_code == 409

    after = drill.result()
    reviewed = drill.question(after, "free_answer")
    assert after["grading_progress"] == "FullyGraded"
    assert reviewed["verdict"] == "correct"
    assert reviewed["score"] == 1.0
    assert reviewed["review"]["status"] == "reviewed"
    assert reviewed["review"]["comment"] == "Right: TPR against FPR is the curve."
    assert after["score"] == pytest.approx(graded["score"] - free["score"] + 1.0)
    assert after["revision"] == 1

    changes = drill.client.get(
        f"/v1/attempts/{drill.attempt_id}/grade-changes", headers=drill.staff
    ).get_json()["items"]
    assert [(c["kind"], c["after"]["score"]) for c in changes] == [("review", 1.0)]
    assert changes[0]["before"]["score"] == free["score"]
    assert changes[0]["changed_by"] is not None

    def events() -> list[str]:
        return [json.loads(body)["type"] for _, body, _ in receiver.received()]

    wait_until(lambda: "attempt.regraded" in events(), what="the attempt.regraded webhook")
    assert events()[0] == "attempt.graded"
    regraded = next(
        json.loads(body)
        for _, body, _ in receiver.received()
        if json.loads(body)["type"] == "attempt.regraded"
    )
    assert regraded["data"]["grading_progress"] == "FullyGraded"
    assert regraded["data"]["cause"] == "review"


def test_instructor_override_recomputes_and_is_audited(drill: Drill) -> None:
    graded = drill.take()
    choice = drill.question(graded, "multiple_choice")
    assert choice["score"] == 1.0
    url = f"/v1/attempts/{drill.attempt_id}/questions/{choice['question_id']}/grade"
    mismatch = drill.client.put(url, json={"score": 0.5, "verdict": "correct"}, headers=drill.staff)
    assert mismatch.status_code == 422
    assert "verdict" in mismatch.get_json()["errors"]["json"]
    out_of_range = drill.client.put(url, json={"score": 1.5}, headers=drill.staff)
    assert out_of_range.status_code == 422
    assert "score" in out_of_range.get_json()["errors"]["json"]
    as_learner = drill.client.put(url, json={"score": 1.0}, headers=drill.learner)
    assert as_learner.status_code == 403

    changed = drill.client.put(
        url,
        json={"score": 0.0, "comment": "The key was wrong; see the errata."},
        headers=drill.staff,
    )
    assert changed.status_code == 200, changed.get_json()
    (audit,) = changed.get_json()["items"]
    assert audit["kind"] == "override"
    assert audit["before"] == {"score": 1.0, "verdict": "correct"}
    assert audit["after"] == {"score": 0.0, "verdict": "incorrect"}
    assert audit["comment"] == "The key was wrong; see the errata."

    after = drill.result()
    overridden = drill.question(after, "multiple_choice")
    assert overridden["verdict"] == "incorrect"
    assert overridden["review"]["status"] == "reviewed"
    assert overridden["review"]["changed"] is True
    assert after["score"] == pytest.approx(graded["score"] - 1.0)
    topic = next(t for t in after["topics"] if t["topic"] == "metrics")
    assert topic["score"] == pytest.approx(after["score"])
    unknown = drill.client.put(
        f"/v1/attempts/{drill.attempt_id}/questions/q-nope/grade",
        json={"score": 1.0},
        headers=drill.staff,
    )
    assert unknown.status_code == 404


def test_learner_appeals_once_within_the_window_and_sees_the_outcome(
    drill: Drill, clock: FakeClock, make_key: Callable[..., Headers]
) -> None:
    graded = drill.take()
    # Settle the grader's own review first, so only the appeal is pending.
    for item in drill.queue():
        drill.client.post(f"/v1/reviews/{item['id']}/resolve", json={}, headers=drill.staff)
    fill = drill.question(graded, "fill_in")
    url = f"/v1/attempts/{drill.attempt_id}/questions/{fill['question_id']}/appeal"
    other = make_key("learner", "bob")
    assert drill.client.post(url, json={"comment": "mine"}, headers=other).status_code == 404
    assert drill.client.post(url, json={"comment": ""}, headers=drill.learner).status_code == 422
    appeal = drill.client.post(
        url, json={"comment": "I wrote the right term."}, headers=drill.learner
    )
    assert appeal.status_code == 201, appeal.get_json()
    # The reply is the learner's own: not the key, not the grader's evidence (the exam hides
    # the correct answers until it closes); Location is the result, which they may read.
    body = appeal.get_json()
    assert set(body) == {
        "id",
        "status",
        "attempt_id",
        "question_id",
        "appeal_comment",
        "appealed_at",
    }
    key = drill.client.get(
        f"/v1/attempts/{drill.attempt_id}?include=key", headers=drill.staff
    ).get_json()["key"]
    fill_key = next(k for k in key if k["question_id"] == fill["question_id"])
    assert fill_key["answer"] not in appeal.get_data(as_text=True)
    assert drill.client.get(appeal.headers["Location"], headers=drill.learner).status_code == 200
    assert drill.result()["grading_progress"] == "PendingManual"
    twice = drill.client.post(url, json={"comment": "again"}, headers=drill.learner)
    assert twice.status_code == 409
    (pending,) = drill.queue()
    assert pending["appealed"] is True
    assert pending["appeal_comment"] == "I wrote the right term."
    assert "appeal" in pending["reasons"]
    # Learners never see the queue.
    assert drill.client.get("/v1/reviews", headers=drill.learner).status_code == 403
    assert (
        drill.client.get(f"/v1/reviews/{pending['id']}", headers=drill.learner).status_code == 403
    )

    upheld = drill.client.post(
        f"/v1/reviews/{pending['id']}/resolve",
        json={"comment": "The accepted spelling is the key's; the grade stands."},
        headers=drill.staff,
    )
    assert upheld.status_code == 200
    after = drill.question(drill.result(), "fill_in")
    assert after["review"]["status"] == "reviewed"
    assert after["review"]["appealed"] is True
    assert after["review"]["changed"] is False
    assert after["review"]["comment"].startswith("The accepted spelling")
    assert after["score"] == fill["score"]

    # Past the window (7 days by default), no appeal.
    choice = drill.question(graded, "multiple_choice")
    clock.advance(timedelta(days=8).total_seconds())
    late = drill.client.post(
        f"/v1/attempts/{drill.attempt_id}/questions/{choice['question_id']}/appeal",
        json={"comment": "late"},
        headers=drill.learner,
    )
    assert late.status_code == 409
    assert "window" in late.get_json()["message"]


def test_review_export_and_agreement_report(drill: Drill) -> None:
    drill.take("It plots precision against recall")
    (queued,) = drill.queue()
    drill.client.post(
        f"/v1/reviews/{queued['id']}/resolve",
        json={"score": 0.0, "verdict": "incorrect", "comment": "That is a PR curve."},
        headers=drill.staff,
    )
    export = drill.client.get(f"/v1/reviews/export?exam_id={drill.exam['id']}", headers=drill.staff)
    assert export.status_code == 200
    assert export.mimetype == "application/x-ndjson"
    (line,) = [json.loads(row) for row in export.get_data(as_text=True).splitlines()]
    assert line["answer"] == "It plots precision against recall"
    assert line["human"] == {"score": 0.0, "verdict": "incorrect"}
    free_card = next(k["card_id"] for k in drill.exam["key"] if k["type"] == "free_answer")
    assert line["card_id"] == free_card
    assert line["grader_version"]
    report = drill.client.get(
        f"/v1/reviews/agreement?exam_id={drill.exam['id']}", headers=drill.staff
    ).get_json()
    assert report["reviews"] == 1
    (card,) = report["cards"]
    assert card["card_id"] == free_card
    assert card["reviews"] == 1
    automatic = line["automatic"]["verdict"]
    assert card["confusion"] == {automatic: {"incorrect": 1}}
    assert drill.client.get("/v1/reviews/export", headers=drill.learner).status_code == 403
