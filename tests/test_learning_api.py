"""The learning loop over HTTP, on SQLite and PostgreSQL: a learner's missed answers come back
as due cards in their next practice exam, an instructor's override changes the card's state,
verdicts an exam does not show yet are not given away, and nobody reads another learner's
state but staff."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import FakeClock

pytestmark = pytest.mark.model

Headers = dict[str, str]
#: Seconds the simulated learner spends on each question: slow enough for a right answer to
#: be Good rather than Easy (see quizsvc.learning.FAST_ANSWER_SECONDS).
THINKING_SECONDS = 45


def _learner_id(name: str) -> str:
    # The card states of a learner outlive the per-test PostgreSQL truncation: fresh ids.
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _answer(
    client: FlaskClient,
    clock: FakeClock,
    exam_id: str,
    learner: Headers,
    staff: Headers,
    wrong: int,
) -> tuple[str, list[dict[str, Any]]]:
    """Take the exam: the first ``wrong`` questions (in the attempt's order) wrong, the
    others right. Returns the attempt id and the keys in the attempt's ids."""
    started = client.post(f"/v1/exams/{exam_id}/attempts", headers=learner)
    assert started.status_code == 201, started.get_json()
    attempt_id = started.get_json()["id"]
    keys: list[dict[str, Any]] = client.get(
        f"/v1/attempts/{attempt_id}?include=key", headers=staff
    ).get_json()["key"]
    order = [question["id"] for question in started.get_json()["questions"]]
    keys.sort(key=lambda key: order.index(key["question_id"]))
    for index, key in enumerate(keys):
        clock.advance(THINKING_SECONDS)
        right = key["correct_option_ids"]
        option = (
            next(option["id"] for option in key["options"] if option["id"] not in right)
            if index < wrong
            else right[0]
        )
        saved = client.put(
            f"/v1/attempts/{attempt_id}/responses/{key['question_id']}",
            json={"answer": option},
            headers=learner,
        )
        assert saved.status_code == 200, saved.get_json()
    submitted = client.post(f"/v1/attempts/{attempt_id}/submit", headers=learner)
    assert submitted.status_code == 200, submitted.get_json()
    return attempt_id, keys


def _cards(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {card["card_id"]: card for topic in report["topics"] for card in topic["cards"]}


def test_missed_cards_come_back_in_the_next_practice_and_an_override_changes_them(
    app: Flask, client: FlaskClient, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    learner_id = _learner_id("ada")
    staff = make_key("instructor")
    learner = make_key("learner", learner_id)

    first = client.post(
        f"/v1/learners/{learner_id}/practice",
        json={"title": "Day 1", "topics": ["metrics"], "counts": {"multiple_choice": 4}},
        headers=learner,
    )
    assert first.status_code == 201, first.get_json()
    exam = first.get_json()
    assert exam["personal"] is True
    assert first.headers["Location"].endswith(f"/v1/exams/{exam['id']}")
    assert [item["reason"] for item in exam["practice"]] == ["new"] * 4
    assert "key" not in exam

    attempt_id, keys = _answer(client, clock, exam["id"], learner, staff, wrong=2)
    missed = {key["card_id"] for key in keys[:2]}
    known = {key["card_id"] for key in keys[2:]}
    # Each answer's time comes from the autosaves (first save of this question since the
    # previous save), so right answers are Good, not Easy.
    log = app.extensions["quizsvc"].store.learning_log(learner_id)
    assert {row.duration_seconds for row in log} == {THINKING_SECONDS}
    assert sorted(row.rating for row in log) == [1, 1, 3, 3]

    # The next morning: what was missed is due, what was right is not.
    clock.advance(26 * 3600)
    due = client.get(f"/v1/learners/{learner_id}/due", headers=learner)
    assert due.status_code == 200, due.get_json()
    report = due.get_json()
    cards = _cards(report)
    assert {card_id for card_id, card in cards.items() if card["status"] == "due"} == missed
    assert report["due_now"] == 2
    assert report["withheld_cards"] == 0
    for card_id in missed:
        assert cards[card_id]["lapses"] == 1
        assert 0 < cards[card_id]["retrievability"] < 0.9
    assert all(cards.get(card_id, {"status": "soon"})["status"] == "soon" for card_id in known)

    second = client.post(
        f"/v1/learners/{learner_id}/practice",
        json={"title": "Day 2", "topics": ["metrics"], "counts": {"multiple_choice": 2}},
        headers=learner,
    )
    assert second.status_code == 201, second.get_json()
    practice = second.get_json()["practice"]
    assert {item["card_id"] for item in practice} == missed
    assert {item["reason"] for item in practice} == {"due"}

    # An instructor decides the first missed answer was right after all.
    overridden = keys[0]
    before = cards[overridden["card_id"]]
    changed = client.put(
        f"/v1/attempts/{attempt_id}/questions/{overridden['question_id']}/grade",
        json={"score": 1.0, "comment": "Both readings of the question are fair."},
        headers=staff,
    )
    assert changed.status_code == 200, changed.get_json()
    after = _cards(
        client.get(f"/v1/learners/{learner_id}/due?within_hours=720", headers=staff).get_json()
    )[overridden["card_id"]]
    assert after["lapses"] == 0
    assert after["status"] == "soon"
    assert after["stability_days"] > before["stability_days"]
    assert after["due"] > before["due"]

    progress = client.get(f"/v1/learners/{learner_id}/progress", headers=learner)
    assert progress.status_code == 200, progress.get_json()
    body = progress.get_json()
    metrics = next(topic for topic in body["topics"] if topic["topic"] == "metrics")
    assert (metrics["seen"], metrics["due"]) == (4, 1)
    assert 0 < metrics["predicted_retention"] < 1
    assert body["totals"]["seen"] == 4
    ((attempt),) = body["history"]
    assert (attempt["attempt_id"], attempt["percent"]) == (attempt_id, 75.0)


def test_learners_read_only_their_own_state_and_staff_read_anyones(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    ada, bob = _learner_id("ada"), _learner_id("bob")
    staff = make_key("instructor")
    learner = make_key("learner", ada)
    other = make_key("learner", bob)
    for path in ("due", "progress"):
        assert client.get(f"/v1/learners/{ada}/{path}", headers=learner).status_code == 200
        assert client.get(f"/v1/learners/{ada}/{path}", headers=other).status_code == 404
        assert client.get(f"/v1/learners/{ada}/{path}", headers=staff).status_code == 200
        assert client.get(f"/v1/learners/nobody/{path}", headers=staff).status_code == 404
    blueprint = {"counts": {"multiple_choice": 1}}
    refused = client.post(f"/v1/learners/{ada}/practice", json=blueprint, headers=other)
    assert refused.status_code == 404
    built = client.post(f"/v1/learners/{ada}/practice", json=blueprint, headers=staff)
    assert built.status_code == 201, built.get_json()
    # Staff see the key of the exam they built; the exam is the learner's.
    assert built.get_json()["key"]
    owned = client.get(f"/v1/exams/{built.get_json()['id']}", headers=learner)
    assert owned.status_code == 200
    assert client.get(f"/v1/exams/{built.get_json()['id']}", headers=other).status_code == 404


def test_verdicts_an_exam_hides_until_it_closes_are_not_given_away_by_the_due_list(
    client: FlaskClient, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    learner_id = _learner_id("ada")
    staff = make_key("instructor")
    learner = make_key("learner", learner_id)
    exam = client.post(
        "/v1/exams",
        json={
            "topics": ["metrics"],
            "counts": {"multiple_choice": 2},
            "seed": 11,
            "max_attempts": 2,
            "review": {"verdicts": "after_close", "score": "after_close"},
        },
        headers=staff,
    ).get_json()
    _, keys = _answer(client, clock, exam["id"], learner, staff, wrong=1)
    clock.advance(26 * 3600)
    hidden = client.get(f"/v1/learners/{learner_id}/due", headers=learner).get_json()
    assert (hidden["due_now"], hidden["withheld_cards"]) == (0, 2)
    progress = client.get(f"/v1/learners/{learner_id}/progress", headers=learner).get_json()
    assert progress["withheld_cards"] == 2
    assert progress["history"][0]["percent"] is None
    # The practice exam leaves those cards out too, even when staff build it.
    practice = client.post(
        f"/v1/learners/{learner_id}/practice",
        json={"topics": ["metrics"], "counts": {"multiple_choice": 3}},
        headers=staff,
    ).get_json()["practice"]
    assert not {item["card_id"] for item in practice} & {key["card_id"] for key in keys}
    shown = client.get(f"/v1/learners/{learner_id}/due", headers=staff).get_json()
    assert shown["due_now"] == 1
    # Once the learner has used every attempt the exam is closed for them: all is shown.
    _answer(client, clock, exam["id"], learner, staff, wrong=0)
    clock.advance(3600)
    closed = client.get(f"/v1/learners/{learner_id}/due?within_hours=720", headers=learner)
    assert closed.get_json()["withheld_cards"] == 0
    assert {card["card_id"] for card in _cards(closed.get_json()).values()} == {
        key["card_id"] for key in keys
    }
