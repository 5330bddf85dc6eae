"""Suppressed distractors (issue 16, item 3): an instructor takes a card's flagged wrong
option out of its questions over HTTP, exams built afterwards no longer draw it for that card,
and undoing the suppression brings it back; who did what, and when, stays on record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import requests
from sqlalchemy import create_engine, text

from quizsvc.statistics import (
    DEAD_DISTRACTOR,
    WRONG_WAY_DISTRACTOR,
    ItemInfo,
    OptionInfo,
    ResponseMatrix,
    card_statistics,
)

Headers = dict[str, str]
BLUEPRINT = {
    "title": "Suppression",
    "topics": ["metrics"],
    "counts": {"multiple_choice": 4},
    "seed": 11,
}


def clear_suppressions(database_url: str) -> None:
    """PostgreSQL keeps one database per session, and the shared clean-up predates the
    table."""
    if database_url.startswith("postgresql"):
        engine = create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM distractor_suppressions"))
        engine.dispose()


def exam_key(base: str, staff: Headers) -> list[dict[str, Any]]:
    created = requests.post(f"{base}/v1/exams", json=BLUEPRINT, headers=staff, timeout=60)
    assert created.status_code == 201, created.text
    exam = requests.get(
        f"{base}/v1/exams/{created.json()['id']}?include=key", headers=staff, timeout=30
    ).json()
    key: list[dict[str, Any]] = exam["key"]
    return key


def options_of(key: list[dict[str, Any]], card_id: str) -> list[str]:
    (question,) = [item for item in key if item["card_id"] == card_id]
    return [option["text"] for option in question["options"]]


@pytest.mark.http
@pytest.mark.model
def test_a_suppressed_distractor_is_no_longer_drawn_for_its_card_until_undone(
    live_url: str, make_key: Callable[..., Headers], database_url: str
) -> None:
    clear_suppressions(database_url)
    staff, learner = make_key("instructor"), make_key("learner", "learner-1")
    before = exam_key(live_url, staff)
    question = before[0]
    card_id = question["card_id"]
    wrong = next(
        option["text"]
        for option in question["options"]
        if option["id"] not in question["correct_option_ids"]
    )
    path = f"{live_url}/v1/cards/{card_id}/distractors/suppressed"

    refused = requests.post(path, json={"text": wrong}, headers=learner, timeout=30)
    assert refused.status_code == 403
    suppressed = requests.post(
        path, json={"text": wrong, "reason": "dead_distractor"}, headers=staff, timeout=30
    )
    assert suppressed.status_code == 201, suppressed.text
    row = suppressed.json()
    assert row["active"]
    assert row["text"] == wrong
    assert row["suppressed_by"] is not None
    location = suppressed.headers["Location"]
    assert location.endswith(f"/suppressed/{row['id']}")
    followed = requests.get(f"{live_url}{location}", headers=staff, timeout=30)
    assert followed.status_code == 200, followed.text
    assert followed.json() == row
    # The same option again, differently cased, is the same suppression.
    again = requests.post(path, json={"text": wrong.upper()}, headers=staff, timeout=30)
    assert again.status_code == 409
    assert again.json()["errors"]["json"]["text"]

    after = exam_key(live_url, staff)
    assert wrong not in options_of(after, card_id)
    assert len(options_of(after, card_id)) == len(question["options"])
    # Other cards' questions are not touched: the same seed gives them the same options.
    for earlier, later in zip(before[1:], after[1:], strict=True):
        if later["card_id"] == earlier["card_id"] and wrong not in options_of(
            before, later["card_id"]
        ):
            assert later["options"] == earlier["options"]

    lifted = requests.delete(f"{path}/{row['id']}", headers=staff, timeout=30)
    assert lifted.status_code == 200, lifted.text
    assert not lifted.json()["active"]
    assert lifted.json()["lifted_at"]
    assert requests.delete(f"{path}/{row['id']}", headers=staff, timeout=30).status_code == 404
    restored = exam_key(live_url, staff)
    assert options_of(restored, card_id) == options_of(before, card_id)

    in_force = requests.get(path, headers=staff, timeout=30).json()
    assert in_force["suppressions"] == []
    audit = requests.get(f"{path}?include_lifted=true", headers=staff, timeout=30).json()
    (entry,) = audit["suppressions"]
    assert entry["suppressed_by"] == entry["lifted_by"] == row["suppressed_by"]
    assert entry["reason"] == "dead_distractor"
    assert entry["suppressed_at"] <= entry["lifted_at"]
    assert requests.get(f"{live_url}{location}", headers=staff, timeout=30).json() == entry


@pytest.mark.http
@pytest.mark.model
def test_bad_suppressions_get_a_clear_4xx(
    live_url: str, make_key: Callable[..., Headers], database_url: str
) -> None:
    clear_suppressions(database_url)
    staff = make_key("admin")
    base = f"{live_url}/v1/cards"
    unknown = requests.post(
        f"{base}/no-such-card/distractors/suppressed", json={"text": "x"}, headers=staff, timeout=30
    )
    assert unknown.status_code == 404
    path = f"{base}/metrics-precision-formula/distractors/suppressed"
    for body, field in (({}, "text"), ({"text": ""}, "text"), ({"text": " ,; "}, "text")):
        response = requests.post(path, json=body, headers=staff, timeout=30)
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["errors"]["json"], response.json()
    long_reason = requests.post(
        path, json={"text": "TP / (TP + FN)", "reason": "x" * 501}, headers=staff, timeout=30
    )
    assert long_reason.status_code == 422
    assert "reason" in long_reason.json()["errors"]["json"]
    missing = requests.delete(f"{path}/nothing", headers=staff, timeout=30)
    assert missing.status_code == 404


def test_card_statistics_flag_a_distractor_the_stronger_learners_pick() -> None:
    """Planted: six attempts of a two-question exam; on the card's question the two strongest
    learners (by the other question) pick option B, the others the key; option C nobody."""
    item = ItemInfo(
        question_id="q1",
        type="multiple_choice",
        topic="metrics",
        card_id="card",
        options=(
            OptionInfo("A", "right", True, "card"),
            OptionInfo("B", "misleading", False, "other"),
            OptionInfo("C", "dead", False, "another"),
        ),
    )
    other = ItemInfo(question_id="q2", type="fill_in", topic="metrics", card_id="card-2")
    scores = np.array([[0, 1], [0, 1], [1, 0], [1, 0], [1, 0], [1, 1]], dtype=np.float64)
    picks = np.array(
        [[0, 1, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]], dtype=np.bool_
    )
    matrix = ResponseMatrix(
        items=(item, other),
        scores=scores,
        answered=np.ones_like(scores, dtype=np.bool_),
        picks=picks,
        option_item=np.zeros(3, dtype=np.intp),
        seconds=np.full_like(scores, np.nan),
    )
    statistics = card_statistics("card", [("exam", matrix)])
    flags = {distractor.text: distractor.flags for distractor in statistics.distractors}
    assert WRONG_WAY_DISTRACTOR in flags["misleading"]
    assert DEAD_DISTRACTOR not in flags["misleading"]
    assert flags["dead"] == (DEAD_DISTRACTOR,)
    assert {WRONG_WAY_DISTRACTOR, DEAD_DISTRACTOR} <= set(statistics.flags)
