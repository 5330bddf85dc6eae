"""Exam integrity over HTTP: a learner cannot rebuild an instructor's exam from its seed,
cannot pass answers around by question and option id, and cannot read the key by
submitting a blank attempt while attempts remain (review options)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests

from tests.conftest import FakeClock

pytestmark = pytest.mark.model

Headers = dict[str, str]

BLUEPRINT = {
    "title": "Metrics and XGBoost",
    "topics": ["metrics", "xgboost"],
    "counts": {"multiple_choice": 4, "multiple_response": 1, "fill_in": 2, "free_answer": 1},
    "seed": 11,
    "time_limit_seconds": 600,
}


def post(url: str, headers: Headers, json: Any = None) -> requests.Response:
    return requests.post(url, json=json, headers=headers, timeout=60)


def get(url: str, headers: Headers) -> requests.Response:
    return requests.get(url, headers=headers, timeout=60)


def questions_of(exam_or_attempt: dict[str, Any]) -> set[tuple[str, tuple[str, ...]]]:
    """What a question is, whatever its ids: its prompt and its options' texts."""
    return {
        (question["prompt"], tuple(sorted(o["text"] for o in question.get("options", []))))
        for question in exam_or_attempt["questions"]
    }


@pytest.fixture
def staff(make_key: Callable[..., Headers]) -> Headers:
    return make_key("instructor")


def test_learner_seed_does_not_rebuild_an_instructors_exam(
    live_url: str, staff: Headers, make_key: Callable[..., Headers]
) -> None:
    """The attack: read the shared exam's blueprint, build a personal exam with the same
    seed, submit it blank and read the correct options."""
    learner = make_key("learner", "mallory")
    shared = post(f"{live_url}/v1/exams", staff, BLUEPRINT)
    assert shared.status_code == 201, shared.text
    learner_view = get(f"{live_url}/v1/exams/{shared.json()['id']}", learner).json()
    # What a learner sees of a shared exam rebuilds nothing: no seed, no questions.
    assert learner_view["seed"] is None
    assert learner_view["questions"] == []
    assert learner_view["question_count"] == 8

    shared_attempt = post(f"{live_url}/v1/exams/{shared.json()['id']}/attempts", learner).json()
    copy = post(f"{live_url}/v1/exams", learner, BLUEPRINT)
    assert copy.status_code == 201, copy.text
    assert copy.json()["personal"] is True
    # The learner's own seed comes back (it rebuilds their practice exam, not anyone else's).
    assert copy.json()["seed"] == 11
    overlap = questions_of(copy.json()) & questions_of(shared_attempt)
    assert len(overlap) < len(shared_attempt["questions"]) / 2, overlap

    # The same learner and seed do rebuild the same practice exam.
    again = post(f"{live_url}/v1/exams", learner, BLUEPRINT).json()
    assert questions_of(again) == questions_of(copy.json())
    # Another learner's seed 11 is another exam.
    other = post(f"{live_url}/v1/exams", make_key("learner", "trent"), BLUEPRINT).json()
    assert questions_of(other) != questions_of(copy.json())


def test_question_and_option_ids_are_the_attempts_own(
    live_url: str, staff: Headers, make_key: Callable[..., Headers]
) -> None:
    exam = post(f"{live_url}/v1/exams", staff, BLUEPRINT).json()
    ada, bob = make_key("learner", "ada"), make_key("learner", "bob")
    first = post(f"{live_url}/v1/exams/{exam['id']}/attempts", ada).json()
    second = post(f"{live_url}/v1/exams/{exam['id']}/attempts", bob).json()

    def ids(attempt: dict[str, Any]) -> tuple[set[str], set[str]]:
        questions = {q["id"] for q in attempt["questions"]}
        options = {o["id"] for q in attempt["questions"] for o in q.get("options", [])}
        return questions, options

    (ada_questions, ada_options), (bob_questions, bob_options) = ids(first), ids(second)
    assert not ada_questions & bob_questions
    assert not ada_options & bob_options
    # The exam's own ids ("q3", "A") mean nothing in an attempt.
    exam_ids = {key["question_id"] for key in exam["key"]}
    assert not ada_questions & exam_ids
    assert not ada_options & {"A", "B", "C", "D", "E"}

    # "q3 -> A" from Ada's attempt cannot be used in Bob's.
    choice = next(q for q in first["questions"] if q["type"] == "multiple_choice")
    foreign = requests.put(
        f"{live_url}/v1/attempts/{second['id']}/responses/{choice['id']}",
        json={"answer": choice["options"][0]["id"]},
        headers=bob,
        timeout=60,
    )
    assert foreign.status_code == 404
    bob_choice = next(q for q in second["questions"] if q["type"] == "multiple_choice")
    wrong_option = requests.put(
        f"{live_url}/v1/attempts/{second['id']}/responses/{bob_choice['id']}",
        json={"answer": choice["options"][0]["id"]},
        headers=bob,
        timeout=60,
    )
    assert wrong_option.status_code == 422
    assert "answer" in wrong_option.json()["errors"]["json"]

    # Answers round-trip in the learner's ids: what they saved is what they read back.
    option = bob_choice["options"][1]["id"]
    saved = requests.put(
        f"{live_url}/v1/attempts/{second['id']}/responses/{bob_choice['id']}",
        json={"answer": option},
        headers=bob,
        timeout=60,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json() | {"question_id": bob_choice["id"], "answer": option} == saved.json()
    resumed = get(f"{live_url}/v1/attempts/{second['id']}", bob).json()
    assert resumed["responses"][bob_choice["id"]]["answer"] == option
    result = post(f"{live_url}/v1/attempts/{second['id']}/submit", bob).json()
    graded = next(q for q in result["questions"] if q["question_id"] == bob_choice["id"])
    assert graded["your_answer"] == option
    assert {o["id"] for o in graded["options"]} == {o["id"] for o in bob_choice["options"]}


def test_a_blank_attempt_does_not_reveal_the_key_while_attempts_remain(
    live_url: str, staff: Headers, make_key: Callable[..., Headers]
) -> None:
    learner = make_key("learner", "eve")
    exam = post(f"{live_url}/v1/exams", staff, {**BLUEPRINT, "max_attempts": 2}).json()
    assert exam["review"] == {
        "score": "immediately",
        "verdicts": "immediately",
        "feedback": "immediately",
        "correct_answers": "after_close",
    }
    attempt = post(f"{live_url}/v1/exams/{exam['id']}/attempts", learner).json()
    blank = post(f"{live_url}/v1/attempts/{attempt['id']}/submit", learner).json()
    assert blank["percent"] == 0.0
    assert blank["review"]["correct_answers"] is False
    reference_texts = {key["answer"] for key in exam["key"]}
    assert len(blank["questions"]) == 8
    for question in blank["questions"]:
        assert question["verdict"] == "incorrect"
        assert question["correct_answer"] is None
        assert question["correct_option_ids"] == []
        assert question["missed_key_points"] == []
        assert question["explanation"] is None
        feedback = question["feedback"]
        assert feedback["reference"] == ""
        assert feedback["missing"] == []
        assert not any(text in feedback["text"] for text in reference_texts), feedback
    assert blank == get(f"{live_url}/v1/attempts/{attempt['id']}/result", learner).json()
    # Staff see everything.
    full = get(f"{live_url}/v1/attempts/{attempt['id']}/result", staff).json()
    assert full["review"] is None
    assert len(full["questions"]) == 8
    assert all(q["correct_answer"] for q in full["questions"])

    # The last allowed attempt closes the exam for this learner: now the answers show.
    last = post(f"{live_url}/v1/exams/{exam['id']}/attempts", learner).json()
    post(f"{live_url}/v1/attempts/{last['id']}/submit", learner)
    after = get(f"{live_url}/v1/attempts/{attempt['id']}/result", learner).json()
    assert after["review"]["closed"] is True
    assert after["review"]["correct_answers"] is True
    assert len(after["questions"]) == 8
    assert all(q["correct_answer"] for q in after["questions"])
    choice = next(q for q in after["questions"] if q["type"] == "multiple_choice")
    assert set(choice["correct_option_ids"]) <= {o["id"] for o in choice["options"]}


def test_review_options_and_close_time(
    client: Any, staff: Headers, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    learner = make_key("learner", "ada")
    closes_at = clock() + timedelta(hours=1)
    exam = client.post(
        "/v1/exams",
        json={
            **BLUEPRINT,
            "closes_at": closes_at.isoformat(),
            "review": {"score": "after_close", "verdicts": "never", "feedback": "never"},
        },
        headers=staff,
    )
    assert exam.status_code == 201, exam.get_json()
    exam_id = exam.get_json()["id"]
    attempt = client.post(f"/v1/exams/{exam_id}/attempts", headers=learner).get_json()
    result = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner).get_json()
    assert result["score"] is None
    assert result["percent"] is None
    assert result["topics"] == []
    assert len(result["questions"]) == 8
    assert all(q["verdict"] is None and q["feedback"] is None for q in result["questions"])
    history = client.get("/v1/learners/ada/results", headers=learner).get_json()
    assert history["attempts"][0]["percent"] is None
    assert history["topics"] == []

    clock.advance(3601)
    closed = client.post(f"/v1/exams/{exam_id}/attempts", headers=learner)
    assert closed.status_code == 409
    assert "closed" in closed.get_json()["message"]
    after = client.get(f"/v1/attempts/{attempt['id']}/result", headers=learner).get_json()
    assert after["percent"] == 0.0
    assert after["review"]["correct_answers"] is True
    # "never" stays never.
    assert len(after["questions"]) == 8
    assert all(q["verdict"] is None and q["feedback"] is None for q in after["questions"])


def test_practice_exams_show_everything(client: Any, make_key: Callable[..., Headers]) -> None:
    learner = make_key("learner", "ada")
    exam = client.post("/v1/exams", json=BLUEPRINT, headers=learner).get_json()
    assert set(exam["review"].values()) == {"immediately"}
    attempt = client.post(f"/v1/exams/{exam['id']}/attempts", headers=learner).get_json()
    result = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner).get_json()
    assert len(result["questions"]) == 8
    assert all(q["correct_answer"] for q in result["questions"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("review", {"correct_answers": "sometimes"}),
        ("review", {"answers": "never"}),
        ("closes_at", "tomorrow"),
        ("closes_at", "2026-12-01T10:00:00"),
    ],
)
def test_bad_review_options_are_422_naming_the_field(
    client: Any, staff: Headers, field: str, value: Any
) -> None:
    response = client.post("/v1/exams", json={**BLUEPRINT, field: value}, headers=staff)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]
