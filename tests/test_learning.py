"""The learning loop without the web layer: ratings from grades, replay with fsrs, answer
times from autosaves, the practice order, and the log kept beside the results by the store
(first grade, then an override that supersedes a review and recomputes the card)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fsrs
import pytest
from click.testing import CliRunner

from quizsvc.bank import Bank
from quizsvc.cli import main
from quizsvc.learning import (
    SCHEDULER,
    AnswerSaves,
    CardMemory,
    Review,
    after_review,
    answer_seconds,
    memory_card_id,
    memory_of,
    practice_order,
    rating_for,
    replay,
)
from quizsvc.migrate import upgrade
from quizsvc.reviews import change_question_grade
from quizsvc.store import Attempt, Exam, Store

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
Again, Hard, Good, Easy = fsrs.Rating.Again, fsrs.Rating.Hard, fsrs.Rating.Good, fsrs.Rating.Easy


# -- ratings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "confidence", "seconds", "kind", "expected"),
    [
        ("incorrect", 0.95, 5.0, "multiple_choice", Again),
        # An unsure wrong grade stays Again: Hard would count the card as remembered.
        ("incorrect", 0.3, None, "free_answer", Again),
        ("partial", 0.9, 5.0, "free_answer", Hard),
        ("correct", 1.0, None, "multiple_choice", Good),
        ("correct", 1.0, 60.0, "multiple_choice", Good),
        ("correct", 1.0, 12.0, "multiple_choice", Easy),
        ("correct", 1.0, 80.0, "free_answer", Easy),
        ("correct", 1.0, 120.0, "free_answer", Good),
        # A low-confidence grade weighs less, however quick.
        ("correct", 0.55, 3.0, "free_answer", Hard),
        ("correct", 0.6, None, "fill_in", Good),
        ("correct", None, None, "fill_in", Good),
    ],
)
def test_rating_follows_verdict_confidence_and_time(
    verdict: str, confidence: float | None, seconds: float | None, kind: str, expected: int
) -> None:
    assert rating_for(verdict, confidence, seconds, kind) == expected


def test_unknown_verdict_is_refused() -> None:
    with pytest.raises(ValueError, match="verdict"):
        rating_for("maybe", 1.0, None, "multiple_choice")


# -- replay ---------------------------------------------------------------------------------

LOG = [
    Review(Again, START),
    Review(Good, START + timedelta(days=1, hours=2)),
    Review(Hard, START + timedelta(days=3)),
    Review(Easy, START + timedelta(days=9, minutes=30)),
    Review(Again, START + timedelta(days=30)),
    Review(Good, START + timedelta(days=31)),
]


def test_replay_equals_fsrs_reviewing_the_same_answers_one_by_one() -> None:
    own = fsrs.Card(card_id=memory_card_id("card-a"), due=START)
    for review in LOG:
        own, _ = SCHEDULER.review_card(own, review.rating, review.reviewed_at)
    replayed = replay("card-a", LOG)
    assert replayed.to_dict() == own.to_dict()
    # The log's order in the list does not matter, only the answers' times.
    assert replay("card-a", list(reversed(LOG))).to_dict() == own.to_dict()
    # A scheduler built independently with the same settings agrees too.
    fresh = fsrs.Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
    assert (
        fresh.reschedule_card(
            fsrs.Card(card_id=own.card_id, due=START),
            [fsrs.ReviewLog(own.card_id, r.rating, r.reviewed_at, None) for r in LOG],
        ).to_dict()
        == own.to_dict()
    )


def test_incremental_reviews_equal_the_replay() -> None:
    memory: CardMemory | None = None
    for review in LOG:
        memory = after_review(memory, "card-a", "deck", "topic", review)
    assert memory is not None
    replayed = memory_of("card-a", "deck", "topic", LOG)
    assert memory.card.to_dict() == replayed.card.to_dict()
    assert (memory.reviews, memory.lapses) == (replayed.reviews, replayed.lapses) == (6, 2)


def test_a_wrong_answer_is_due_the_next_day_and_a_right_one_later() -> None:
    wrong = memory_of("card-a", "d", "t", [Review(Again, START)])
    right = memory_of("card-a", "d", "t", [Review(Good, START)])
    assert wrong.due == START + timedelta(days=1)
    assert right.due > START + timedelta(days=1)
    assert wrong.retrievability(START) == pytest.approx(1.0)
    assert wrong.retrievability(START + timedelta(days=3)) < 0.9


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        replay("card-a", [Review(Good, datetime(2026, 1, 5, 9, 0))])


# -- answer times ---------------------------------------------------------------------------


def test_answer_seconds_from_autosaves() -> None:
    at = lambda seconds: START + timedelta(seconds=seconds)  # noqa: E731
    saves = {
        "q1": AnswerSaves(at(10), at(40)),
        "q2": AnswerSaves(at(55), at(55)),
        "q3": AnswerSaves(None, at(70)),
        # Answered at 90 s, changed again at 200 s: the change does not make q4 slower.
        "q4": AnswerSaves(at(90), at(200)),
    }
    assert answer_seconds(START, saves) == {"q1": 10.0, "q2": 15.0, "q3": None, "q4": 20.0}


# -- practice order -------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeCard:
    id: str
    topic: str


def test_practice_takes_due_cards_then_weak_topics_then_new() -> None:
    now = START + timedelta(days=2)
    memories = {
        # Missed two days ago: due (one day after a miss).
        "m1": memory_of("m1", "d", "metrics", [Review(Again, START)]),
        # Right two days ago, in a topic the learner misses: not due yet.
        "m2": memory_of("m2", "d", "metrics", [Review(Good, START + timedelta(days=1))]),
        # Right, in a topic never missed.
        "x1": memory_of("x1", "d", "xgboost", [Review(Good, START + timedelta(days=1))]),
    }
    cards = [FakeCard(card_id, topic) for card_id, topic in [
        ("x1", "xgboost"), ("x2", "xgboost"), ("m1", "metrics"), ("m2", "metrics"),
        ("m3", "metrics"), ("x3", "xgboost"),
    ]]  # fmt: skip
    order = practice_order(cards, memories, now, size=4, rng=random.Random(1))
    assert [(choice.card_id, choice.reason) for choice in order[:3]] == [
        ("m1", "due"),
        ("m2", "weak_topic"),
        # New cards of the topic the learner misses come before other new ones.
        ("m3", "new"),
    ]
    assert {choice.card_id for choice in order[3:5]} == {"x2", "x3"}
    assert [(choice.card_id, choice.reason) for choice in order[5:]] == [("x1", "review_ahead")]


# -- the log beside the results (store) -------------------------------------------------------


def _result(verdict: str, score: float, confidence: float) -> dict[str, Any]:
    return {
        "score": score,
        "max_score": 2,
        "percent": 50.0 * (score + 1),
        "pass_mark": 70.0,
        "topics": [{"topic": "metrics", "title": "Metrics"}],
        "questions": [
            {
                "question_id": "q1",
                "topic": "metrics",
                "type": "multiple_choice",
                "score": score,
                "verdict": verdict,
                "confidence": confidence,
            },
            {
                "question_id": "q2",
                "topic": "metrics",
                "type": "free_answer",
                "score": 1.0,
                "verdict": "correct",
                "confidence": 0.9,
            },
        ],
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    url = f"sqlite:///{tmp_path / 'learning.sqlite3'}"
    upgrade(url)
    found = Store(url)
    found.create_key("instructor", None)
    return found


def _exam_and_attempt(store: Store, learner_id: str) -> Attempt:
    key = lambda qid, card, kind: {  # noqa: E731
        "question_id": qid,
        "card_id": card,
        "deck": "deck",
        "topic": "metrics",
        "type": kind,
    }
    store.add_exam(
        Exam(
            id="exam-1",
            title="Drill",
            deck="deck",
            owner_learner_id=None,
            created_by=1,
            blueprint={},
            questions=[
                {"delivery": {}, "key": key("q1", "card-roc", "multiple_choice")},
                {"delivery": {}, "key": key("q2", "card-auc", "free_answer")},
            ],
            time_limit_seconds=600,
            grace_seconds=0,
            max_attempts=None,
            pass_mark=70.0,
            created_at=START,
        )
    )
    return store.add_attempt(
        Attempt(
            id="attempt-1",
            exam_id="exam-1",
            learner_id=learner_id,
            started_at=START,
            deadline=START + timedelta(minutes=10),
            status="in_progress",
            layout=[{"question_id": "q1"}, {"question_id": "q2"}],
        )
    )


def _grade(result: dict[str, Any]) -> Callable[[Attempt, dict[str, Any]], dict[str, Any]]:
    return lambda attempt, responses: result


def test_first_grade_logs_every_question_and_an_override_supersedes_and_recomputes(
    store: Store,
) -> None:
    attempt = _exam_and_attempt(store, "ada")
    # The first autosave is kept when an answer changes; the time taken comes from it.
    at = lambda seconds: START + timedelta(seconds=seconds)  # noqa: E731
    store.save_response(attempt.id, "q1", "o1", at(8), at(600))
    store.save_response(attempt.id, "q1", "o2", at(30), at(600))
    assert store.responses(attempt.id)["q1"].first_saved_at == at(8)
    assert store.responses(attempt.id)["q1"].saved_at == at(30)
    store.save_response(attempt.id, "q2", "a text", at(200), at(600))

    store.finalize_attempt(attempt.id, at(300), "submit", _grade(_result("incorrect", 0.0, 1.0)))
    log = {row.question_id: row for row in store.learning_log("ada")}
    assert set(log) == {"q1", "q2"}
    assert (log["q1"].card_id, log["q1"].rating, log["q1"].cause) == ("card-roc", Again, "attempt")
    assert log["q1"].reviewed_at == at(30)
    assert log["q1"].duration_seconds == 8.0
    # 170 s on a free answer (from the last save of q1): not quick, so Good, not Easy.
    assert (log["q2"].duration_seconds, log["q2"].rating) == (170.0, Good)
    before = {memory.card_id: memory for memory in store.learner_memories("ada")}
    assert before["card-roc"].due == at(30) + timedelta(days=1)
    assert (
        before["card-roc"].card.to_dict() == replay("card-roc", [Review(Again, at(30))]).to_dict()
    )

    later = at(300) + timedelta(days=2)

    def override(session: Any, locked: Attempt) -> tuple[dict[str, Any], list[str]]:
        changed = change_question_grade(locked.result or {}, "q1", 1.0, "correct", None)
        changed["last_change"] = {"cause": "override"}
        return changed, []

    store.update_attempt_result(attempt.id, later, override)
    everything = store.learning_log("ada", "card-roc", include_superseded=True)
    assert len(everything) == 2
    old, new = sorted(everything, key=lambda row: row.recorded_at)
    assert old.superseded_by == new.id
    # A person's decision is certain (confidence 1) and the answer came in 8 s: Easy.
    assert (new.cause, new.verdict, new.rating, new.superseded_by) == (
        "override",
        "correct",
        Easy,
        None,
    )
    # The review stays at the moment the learner answered.
    assert new.reviewed_at == old.reviewed_at == at(30)
    after = {memory.card_id: memory for memory in store.learner_memories("ada")}
    assert after["card-roc"].card.to_dict() == replay("card-roc", [Review(Easy, at(30))]).to_dict()
    assert after["card-roc"].due > before["card-roc"].due
    assert after["card-roc"].lapses == 0
    # The other question's state was left alone.
    assert after["card-auc"].card.to_dict() == before["card-auc"].card.to_dict()

    # A change that leaves the grades as they are (an appeal opened) adds nothing.
    store.update_attempt_result(
        attempt.id, later, lambda session, locked: (dict(locked.result or {}), [])
    )
    assert len(store.learning_log("ada", include_superseded=True)) == 3
    # Recomputing from the log gives the same states.
    store.recompute_learner("ada", later)
    again = {memory.card_id: memory.card.to_dict() for memory in store.learner_memories("ada")}
    assert again == {card_id: memory.card.to_dict() for card_id, memory in after.items()}


# -- the simulation in bench/ -----------------------------------------------------------------


def test_the_simulation_runs_and_fsrs_practice_beats_random_at_equal_count(bank: Bank) -> None:
    from bench.spaced_repetition import fsrs_choice, random_choice, simulate

    cards = list(bank.cards)
    fsrs_share = simulate(cards, fsrs_choice, per_day=60, seed=1)
    random_share = simulate(cards, random_choice, per_day=60, seed=1)
    assert 0 < random_share < fsrs_share <= 1


def test_command_line_prints_due_cards_and_progress(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attempt = _exam_and_attempt(store, "ada")
    store.save_response(attempt.id, "q1", "o2", START + timedelta(seconds=30), START + HOUR)
    store.finalize_attempt(
        attempt.id, START + timedelta(minutes=5), "submit", _grade(_result("incorrect", 0, 1.0))
    )
    monkeypatch.setenv("QUIZSVC_DATABASE_URL", store.url)
    monkeypatch.setenv("QUIZSVC_INSTANCE_DIR", str(tmp_path))
    runner = CliRunner()
    due = runner.invoke(main, ["learner", "due", "ada", "--within-hours", "720", "--json"])
    assert due.exit_code == 0, due.output
    report = json.loads(due.output)
    assert {card["card_id"] for topic in report["topics"] for card in topic["cards"]} == {
        "card-roc",
        "card-auc",
    }
    progress = runner.invoke(main, ["learner", "progress", "ada"])
    assert progress.exit_code == 0, progress.output
    assert re.search(r"^ada: 2 of \d+ card\(s\) seen", progress.output)
    assert "Drill" in progress.output
