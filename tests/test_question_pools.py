"""Question pools (issue 17, point 3): a blueprint line draws N questions of a type from
topics per attempt, so learners get different, reproducible selections of an equal
blueprint, and results and item statistics keep working per card; over HTTP on SQLite and
PostgreSQL, and the drawing and the statistics alone on plain data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from quizsvc.attempts import make_layout
from quizsvc.exams.pools import draw_pooled, questions_per_attempt
from quizsvc.statistics import build_response_matrix, exam_statistics
from tests.api_support import Headers, call, create_exam

POOLED = {
    "title": "Pooled metrics",
    "topics": ["metrics"],
    "counts": {"multiple_choice": 1},
    "pools": [
        {"type": "multiple_choice", "draw": 2, "pool_size": 8, "topics": ["metrics", "xgboost"]},
        {"type": "fill_in", "draw": 1, "pool_size": 4},
    ],
    "seed": 17,
    "time_limit_seconds": 1800,
}


@pytest.fixture
def staff(make_key: Callable[..., Headers]) -> Headers:
    return make_key("instructor")


@pytest.fixture
def pooled_exam(live_url: str, staff: Headers) -> dict[str, Any]:
    return create_exam(live_url, staff, POOLED)


def keys_of(live_url: str, attempt_id: str, staff: Headers) -> list[dict[str, Any]]:
    response = call("GET", f"{live_url}/v1/attempts/{attempt_id}?include=key", staff)
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()["key"]
    return keys


def right_answer(key: dict[str, Any]) -> Any:
    if key["type"] == "multiple_choice":
        return key["correct_option_ids"][0]
    return key["accept"][0]


@pytest.mark.model
@pytest.mark.http
def test_learners_of_a_pooled_exam_get_different_questions_of_the_same_blueprint(
    live_url: str,
    staff: Headers,
    pooled_exam: dict[str, Any],
    make_key: Callable[..., Headers],
) -> None:
    exam = pooled_exam
    # Each attempt: the fixed question, 2 of the 8 pooled choices, 1 of the 4 fill-ins.
    assert exam["question_count"] == 4
    assert len(exam["questions"]) == 13
    assert [(pool["type"], pool["draw"], len(pool["question_ids"])) for pool in exam["pools"]] == [
        ("multiple_choice", 2, 8),
        ("fill_in", 1, 4),
    ]
    fixed_card = exam["key"][0]["card_id"]
    cards = [key["card_id"] for key in exam["key"]]
    assert len(set(cards)) == 13, "a card appears once per exam, pools included"
    learner_view = call("GET", f"{live_url}/v1/exams/{exam['id']}", make_key("learner", "zed"))
    assert learner_view.json()["questions"] == []
    assert "question_ids" not in learner_view.json()["pools"][0]

    drawn: list[frozenset[str]] = []
    for name in ("ada", "bob", "cy", "dee"):
        learner = make_key("learner", name)
        started = call("POST", f"{live_url}/v1/exams/{exam['id']}/attempts", learner)
        assert started.status_code == 201, started.text
        attempt = started.json()
        assert Counter(question["type"] for question in attempt["questions"]) == {
            "multiple_choice": 3,
            "fill_in": 1,
        }
        keys = keys_of(live_url, attempt["id"], staff)
        assert len(keys) == 4
        assert fixed_card in {key["card_id"] for key in keys}
        drawn.append(frozenset(key["card_id"] for key in keys))
        # Reading the attempt again gives the same questions.
        again = call("GET", f"{live_url}/v1/attempts/{attempt['id']}", learner).json()
        assert again["questions"] == attempt["questions"]
    assert len(set(drawn)) > 1, drawn


@pytest.mark.model
@pytest.mark.http
def test_results_and_item_statistics_count_each_card_over_the_attempts_given_it(
    live_url: str,
    staff: Headers,
    pooled_exam: dict[str, Any],
    make_key: Callable[..., Headers],
) -> None:
    exam = pooled_exam
    given: Counter[str] = Counter()
    for number in range(6):
        learner = make_key("learner", f"learner-{number}")
        attempt = call("POST", f"{live_url}/v1/exams/{exam['id']}/attempts", learner).json()
        for key in keys_of(live_url, attempt["id"], staff):
            given[key["card_id"]] += 1
            saved = call(
                "PUT",
                f"{live_url}/v1/attempts/{attempt['id']}/responses/{key['question_id']}",
                learner,
                {"answer": right_answer(key)},
            )
            assert saved.status_code == 200, saved.text
        result = call("POST", f"{live_url}/v1/attempts/{attempt['id']}/submit", learner).json()
        assert len(result["questions"]) == 4
        assert result["max_score"] == 4
        assert result["score"] == 4

    statistics = call("GET", f"{live_url}/v1/exams/{exam['id']}/statistics", staff)
    assert statistics.status_code == 200, statistics.text
    items = {item["card_id"]: item for item in statistics.json()["items"]}
    for card_id, item in items.items():
        # Counted over the attempts that had the question, not as 0 in the others.
        assert item["attempts"] == given[card_id], card_id
        if given[card_id]:
            assert item["facility"] == 1.0, item
        else:
            assert item["facility"] is None, item
    assert sum(given.values()) == 6 * 4
    # Per card across exams too.
    pooled_card = next(card for card, count in given.items() if 0 < count < 6)
    card = call("GET", f"{live_url}/v1/cards/{pooled_card}/statistics", staff)
    assert card.status_code == 200, card.text
    assert card.json()["attempts"] == given[pooled_card]
    assert card.json()["facility"] == 1.0


@pytest.mark.model
@pytest.mark.http
@pytest.mark.parametrize(
    ("change", "message_part"),
    [
        ({"pools": [{"type": "fill_in", "draw": 5, "pool_size": 3}]}, "pool_size"),
        ({"pools": [{"type": "essay", "draw": 1, "pool_size": 3}]}, "type"),
        ({"pools": [{"type": "fill_in", "draw": 0, "pool_size": 3}]}, "draw"),
        ({"pools": [{"type": "fill_in", "pool_size": 3}]}, "draw"),
        ({"pools": [{"type": "fill_in", "draw": 1, "pool_size": 3, "topics": ["nope"]}]}, "topics"),
        ({"pools": [{"type": "fill_in", "draw": 1, "pool_size": 150}]}, None),
        ({"pools": [], "counts": {"multiple_choice": 0}}, "_schema"),
    ],
)
def test_bad_pools_are_422_naming_the_field(
    live_url: str, staff: Headers, change: dict[str, Any], message_part: str | None
) -> None:
    response = call("POST", f"{live_url}/v1/exams", staff, {**POOLED, **change})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]["json"]
    field = "counts" if message_part == "_schema" else "pools"
    assert field in errors, errors
    if message_part is not None:
        assert message_part in (errors[field].get("0") or errors[field]), errors
    else:
        assert "pool 0" in response.json()["message"]
    assert call("GET", f"{live_url}/v1/exams", staff).json()["total"] == 0


@pytest.mark.model
@pytest.mark.http
def test_an_exam_of_pools_only_is_built(live_url: str, staff: Headers) -> None:
    body = {**POOLED, "counts": {}, "pools": [{"type": "fill_in", "draw": 2, "pool_size": 3}]}
    created = call("POST", f"{live_url}/v1/exams", staff, body)
    assert created.status_code == 201, created.text
    assert created.json()["question_count"] == 2
    assert len(created.json()["key"]) == 3


# -- drawing and statistics on plain data ------------------------------------------------------


def frozen(question_id: str, line: int | None, draw: int = 0) -> dict[str, Any]:
    question: dict[str, Any] = {
        "delivery": {"id": question_id, "type": "fill_in", "topic": "t", "prompt": question_id},
        "key": {"question_id": question_id, "card_id": f"card-{question_id}"},
    }
    if line is not None:
        question["pool"] = {"line": line, "draw": draw}
    return question


QUESTIONS = [
    frozen("q1", None),
    *(frozen(f"q{n}", 0, 2) for n in range(2, 12)),
    *(frozen(f"q{n}", 1, 1) for n in range(12, 17)),
]


def test_each_attempt_draws_its_own_reproducible_selection_of_equal_blueprint() -> None:
    assert questions_per_attempt(QUESTIONS) == 4
    selections = set()
    for number in range(40):
        attempt_id = f"attempt-{number}"
        chosen = draw_pooled(QUESTIONS, attempt_id)
        assert draw_pooled(QUESTIONS, attempt_id) == chosen
        lines = Counter(question.get("pool", {}).get("line") for question in chosen)
        assert lines == {None: 1, 0: 2, 1: 1}
        layout = make_layout(QUESTIONS, attempt_id, token=lambda: "x")
        assert {slot["question_id"] for slot in layout} == {
            question["delivery"]["id"] for question in chosen
        }
        selections.add(frozenset(question["delivery"]["id"] for question in chosen))
    assert len(selections) > 20


def test_an_exam_without_pools_keeps_every_question_in_every_attempt() -> None:
    plain = [frozen(f"q{n}", None) for n in range(1, 6)]
    assert draw_pooled(plain, "any") == plain
    assert len(make_layout(plain, "any")) == 5


def result(scores: dict[str, float]) -> dict[str, Any]:
    return {
        "questions": [
            {"question_id": qid, "type": "fill_in", "score": score, "your_answer": "x"}
            for qid, score in scores.items()
        ]
    }


def test_item_statistics_of_pooled_attempts_leave_out_items_not_given() -> None:
    keys = [{"question_id": qid, "type": "fill_in", "card_id": f"card-{qid}"} for qid in "abc"]
    results = [
        result({"a": 1.0, "b": 1.0}),
        result({"a": 0.0, "c": 1.0}),
        result({"a": 1.0, "b": 0.0}),
        result({"a": 0.0, "c": 0.0}),
    ]
    matrix = build_response_matrix(results, keys=keys)
    assert matrix.pooled
    statistics = exam_statistics(matrix)
    a, b, c = statistics.items
    assert (a.attempts, b.attempts, c.attempts) == (4, 2, 2)
    assert a.facility == 0.5
    assert b.facility == 0.5
    assert c.facility == 0.5
    assert b.answered_rate == 1.0
    # Alpha needs every attempt to answer every item.
    assert statistics.cronbach_alpha is None
    # Without pools the statistics are those of the whole matrix, as before.
    full = build_response_matrix([result({"a": 1.0, "b": 0.0}), result({"a": 0.0, "b": 1.0})])
    assert not full.pooled
    assert [item.attempts for item in exam_statistics(full).items] == [2, 2]
    assert np.isclose(exam_statistics(full).items[0].facility or 0.0, 0.5)
