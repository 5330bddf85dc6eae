"""Item statistics (classical test theory): the numbers against scipy and hand-worked
examples, the flags on planted items, and the staff-only API, CSV and CLI on real attempts."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from scipy import stats as scipy_stats

from quizsvc.cli import main
from quizsvc.statistics import (
    ALL_EXAMS,
    CSV_COLUMNS,
    DEAD_DISTRACTOR,
    LOW_DISCRIMINATION,
    NEGATIVE_DISCRIMINATION,
    TOO_EASY,
    TOO_HARD,
    ExamStatistics,
    build_response_matrix,
    card_statistics,
    exam_statistics,
    exam_statistics_csv,
    reliability,
    seconds_per_question,
)
from tests.conftest import FakeClock

Headers = dict[str, str]
OPTION_IDS = ("A", "B", "C", "D")

# -- a generated exam with known properties ---------------------------------------------------
#
# A two-parameter logistic model: learner i answers item j right with probability
# 1 / (1 + exp(-1.7 * (ability_i - difficulty_j))); a wrong answer picks a distractor at
# random. Planted among ten ordinary items (difficulties spread over [-1, 1]):
ORDINARY = [f"q{number}" for number in range(1, 11)]
EASY = "q-easy"  # difficulty -3: nearly everyone is right
HARD = "q-hard"  # difficulty +3.5: nearly everyone is wrong (some leave it blank)
NEGATIVE = "q-negative"  # the stronger the learner, the likelier wrong
DEAD = "q-dead"  # ordinary, but option D is never picked
ATTEMPTS = 600


def _choice_question(
    question_id: str, right: bool, distractors: tuple[str, ...], rng: np.random.Generator
) -> dict[str, Any]:
    answer = "A" if right else str(rng.choice(distractors))
    return {
        "question_id": question_id,
        "type": "multiple_choice",
        "topic": "generated",
        "score": 1.0 if right else 0.0,
        "your_answer": answer,
        "options": [{"id": option, "text": f"{question_id} {option}"} for option in OPTION_IDS],
        "correct_option_ids": ["A"],
    }


def generated_results(seed: int = 20260105) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=ATTEMPTS)
    difficulty = dict(zip(ORDINARY, np.linspace(-1.0, 1.0, len(ORDINARY)), strict=True))
    difficulty |= {EASY: -3.0, HARD: 3.5, DEAD: 0.0}
    results = []
    for theta in ability:
        questions = []
        for question_id in [*ORDINARY, EASY, HARD, NEGATIVE, DEAD]:
            if question_id == NEGATIVE:
                p_right = 1.0 / (1.0 + math.exp(1.7 * theta))
            else:
                p_right = 1.0 / (1.0 + math.exp(-1.7 * (theta - difficulty[question_id])))
            right = bool(rng.random() < p_right)
            distractors = ("B", "C") if question_id == DEAD else ("B", "C", "D")
            question = _choice_question(question_id, right, distractors, rng)
            if question_id == HARD and not right and rng.random() < 0.2:
                question["your_answer"] = None
            questions.append(question)
        results.append({"questions": questions})
    return results


@pytest.fixture(scope="module")
def generated() -> tuple[list[dict[str, Any]], ExamStatistics]:
    results = generated_results()
    return results, exam_statistics(build_response_matrix(results), "generated")


def column(results: list[dict[str, Any]], question_id: str, what: str = "score") -> np.ndarray:
    values = []
    for result in results:
        question = next(q for q in result["questions"] if q["question_id"] == question_id)
        values.append(question[what])
    return np.asarray(values)


def rest_score(results: list[dict[str, Any]], question_id: str) -> np.ndarray:
    totals = np.asarray([sum(q["score"] for q in result["questions"]) for result in results])
    rest: np.ndarray = totals - column(results, question_id)
    return rest


def test_discrimination_is_the_point_biserial_against_the_other_items(
    generated: tuple[list[dict[str, Any]], ExamStatistics],
) -> None:
    results, statistics = generated
    assert statistics.attempts == ATTEMPTS
    for item in statistics.items:
        scores = column(results, item.question_id)
        rest = rest_score(results, item.question_id)
        expected = scipy_stats.pointbiserialr(scores, rest).statistic
        assert item.discrimination == pytest.approx(expected, abs=1e-12), item.question_id
        assert item.facility == pytest.approx(scores.mean())
        # Each option's own point-biserial: picking it against the same rest score.
        answers = column(results, item.question_id, "your_answer")
        for option in item.options:
            picked = (answers == option.option_id).astype(float)
            assert option.pick_rate == pytest.approx(picked.mean())
            if picked.min() == picked.max():
                assert option.discrimination is None
            else:
                expected = scipy_stats.pointbiserialr(picked, rest).statistic
                assert option.discrimination == pytest.approx(expected, abs=1e-12)


def test_upper_lower_index_compares_the_top_and_bottom_27_percent(
    generated: tuple[list[dict[str, Any]], ExamStatistics],
) -> None:
    results, statistics = generated
    group = round(0.27 * ATTEMPTS)
    for item in statistics.items:
        scores = column(results, item.question_id)
        rest = rest_score(results, item.question_id)
        # Ranked by the other items' total, ties in attempt order (a stable sort).
        ranked = sorted(range(ATTEMPTS), key=lambda index: rest[index])
        expected = scores[ranked[-group:]].mean() - scores[ranked[:group]].mean()
        assert item.upper_lower_index == pytest.approx(expected), item.question_id
    by_id = {item.question_id: item for item in statistics.items}
    assert all((by_id[question_id].upper_lower_index or 0) > 0.3 for question_id in ORDINARY)
    assert (by_id[NEGATIVE].upper_lower_index or 0) < -0.3


def test_planted_items_raise_their_flags_and_ordinary_ones_none(
    generated: tuple[list[dict[str, Any]], ExamStatistics],
) -> None:
    _, statistics = generated
    by_id = {item.question_id: item for item in statistics.items}
    for question_id in ORDINARY:
        assert by_id[question_id].flags == (), (question_id, by_id[question_id])
        assert (by_id[question_id].discrimination or 0) > 0.3

    negative = by_id[NEGATIVE]
    assert negative.discrimination is not None
    assert negative.discrimination < -0.3
    assert {NEGATIVE_DISCRIMINATION, LOW_DISCRIMINATION} <= set(negative.flags)

    assert TOO_EASY in by_id[EASY].flags
    assert (by_id[EASY].facility or 0) > 0.9
    assert TOO_HARD in by_id[HARD].flags
    assert (by_id[HARD].facility or 1) < 0.2
    assert (by_id[HARD].answered_rate or 1) < 1.0

    dead = by_id[DEAD]
    assert DEAD_DISTRACTOR in dead.flags
    options = {option.option_id: option for option in dead.options}
    assert options["D"].pick_rate == 0.0
    assert options["D"].flags == (DEAD_DISTRACTOR,)
    assert options["D"].discrimination is None  # never picked: undefined, not zero
    assert all(options[other].flags == () for other in "ABC")
    # The right option is never a dead distractor, however rarely it is picked.
    hard_right = next(option for option in by_id[HARD].options if option.correct)
    assert hard_right.pick_rate < 0.05
    assert hard_right.flags == ()
    # Good distractors draw the weaker learners: they discriminate negatively.
    assert all(
        (option.discrimination or 0) < 0
        for question_id in ORDINARY
        for option in by_id[question_id].options
        if not option.correct
    )


def test_alpha_agrees_with_the_covariance_form_and_equals_kr20_for_right_or_wrong_items(
    generated: tuple[list[dict[str, Any]], ExamStatistics],
) -> None:
    results, statistics = generated
    matrix = np.asarray(
        [[question["score"] for question in result["questions"]] for result in results]
    )
    items = matrix.shape[1]
    # Alpha from the covariance matrix: k/(k-1) * (1 - trace / sum of all entries).
    covariance = np.cov(matrix, rowvar=False)
    expected = items / (items - 1) * (1 - np.trace(covariance) / covariance.sum())
    assert statistics.cronbach_alpha == pytest.approx(expected, abs=1e-12)
    assert statistics.kr20 == pytest.approx(statistics.cronbach_alpha, abs=1e-12)
    totals = matrix.sum(axis=1)
    assert statistics.sem == pytest.approx(totals.std() * math.sqrt(1 - expected))
    assert statistics.mean_score == pytest.approx(totals.mean())


def test_kr20_of_a_textbook_guttman_matrix() -> None:
    # Five learners, four items, each learner right on the easiest ones only:
    #   p = (0.8, 0.6, 0.4, 0.2), so sum p*q = .16 + .24 + .24 + .16 = 0.8;
    #   totals 4, 3, 2, 1, 0: mean 2, variance (4 + 1 + 0 + 1 + 4) / 5 = 2;
    #   KR-20 = 4/3 * (1 - 0.8 / 2) = 0.8; SEM = sqrt(2) * sqrt(1 - 0.8) = sqrt(0.4).
    scores = np.array(
        [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=float
    )
    alpha, kr20, sem = reliability(scores)
    assert alpha == pytest.approx(0.8)
    assert kr20 == pytest.approx(0.8)
    assert sem == pytest.approx(math.sqrt(0.4))


def test_alpha_with_partial_credit_and_no_kr20() -> None:
    # Three learners, three items scored in halves:
    #   item variances 1/6, 1/18, 1/6 (sum 7/18); totals 2.5, 1, 0.5: variance 13/18;
    #   alpha = 3/2 * (1 - 7/13) = 9/13. KR-20 needs right-or-wrong scores.
    scores = np.array([[1.0, 0.5, 1.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.5]])
    alpha, kr20, sem = reliability(scores)
    assert alpha == pytest.approx(9 / 13)
    assert kr20 is None
    assert sem == pytest.approx(math.sqrt(13 / 18) * math.sqrt(4 / 13))


def test_undefined_figures_are_none_not_nan() -> None:
    one = generated_results()[:1]
    statistics = exam_statistics(build_response_matrix(one))
    assert statistics.cronbach_alpha is None
    assert statistics.sem is None
    assert all(item.discrimination is None for item in statistics.items)
    assert all(item.upper_lower_index is None for item in statistics.items)
    view = json.dumps(statistics.to_dict(), allow_nan=False)  # valid JSON: no NaN
    assert '"attempts": 1' in view
    empty = exam_statistics(build_response_matrix([], keys=[]))
    assert empty.attempts == 0
    assert empty.items == ()


def test_seconds_run_from_the_previous_save_to_each_question_s_last_save() -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    saves = {
        "q1": start + timedelta(minutes=3),
        "q2": start + timedelta(minutes=1),
        "q3": start + timedelta(minutes=3, seconds=30),
    }
    assert seconds_per_question(start, saves) == {"q2": 60.0, "q1": 120.0, "q3": 30.0}

    results = generated_results()[:3]
    timings = [{"q1": 10.0}, {"q1": 30.0, "q2": 5.0}, {"q1": 20.0}]
    statistics = exam_statistics(build_response_matrix(results, timings))
    by_id = {item.question_id: item for item in statistics.items}
    assert by_id["q1"].median_seconds == 20.0
    assert by_id["q2"].median_seconds == 5.0
    assert by_id["q3"].median_seconds is None


def _keys_for(card_of: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "question_id": question_id,
            "type": "multiple_choice",
            "topic": "generated",
            "card_id": card_id,
            "options": [{"id": option, "text": f"{question_id} {option}"} for option in OPTION_IDS],
            "correct_option_ids": ["A"],
            "option_sources": [card_id, "card-b", "card-c", "card-d"],
        }
        for question_id, card_id in card_of.items()
    ]


def test_card_statistics_pool_the_card_s_items_over_exams() -> None:
    everything = generated_results()
    first, second = everything[:400], everything[400:]
    # The dead-distractor item is card "planted" in both exams; the ordinary items are
    # cards of their own. Option texts match across the exams, so distractors pool by text.
    card_of = {question_id: f"card-{question_id}" for question_id in [*ORDINARY, EASY, HARD]}
    card_of |= {NEGATIVE: "card-negative", DEAD: "planted"}
    keys = _keys_for(card_of)
    exams = [
        ("exam-1", build_response_matrix(first, keys=keys)),
        ("exam-2", build_response_matrix(second, keys=keys)),
        ("exam-3", build_response_matrix(first, keys=_keys_for({"q1": "other"}))),
    ]
    pooled = card_statistics("planted", exams)
    assert pooled.exams == 2
    assert pooled.attempts == ATTEMPTS
    assert [item.exam_id for item in pooled.items] == ["exam-1", "exam-2"]
    assert pooled.facility == pytest.approx(column(everything, DEAD).mean())
    weighted = sum((item.discrimination or 0) * item.attempts for item in pooled.items) / sum(
        item.attempts for item in pooled.items
    )
    assert pooled.discrimination == pytest.approx(weighted)
    by_text = {distractor.text: distractor for distractor in pooled.distractors}
    assert set(by_text) == {f"{DEAD} B", f"{DEAD} C", f"{DEAD} D"}
    assert by_text[f"{DEAD} D"].offered == ATTEMPTS
    assert by_text[f"{DEAD} D"].flags == (DEAD_DISTRACTOR,)
    assert by_text[f"{DEAD} D"].source_card_ids == ("card-d",)
    answers = column(everything, DEAD, "your_answer")
    assert by_text[f"{DEAD} B"].pick_rate == pytest.approx((answers == "B").mean())
    assert DEAD_DISTRACTOR in pooled.flags
    assert card_statistics("never-asked", exams).exams == 0


def test_csv_has_a_row_per_question_and_per_option(
    generated: tuple[list[dict[str, Any]], ExamStatistics],
) -> None:
    _, statistics = generated
    text = exam_statistics_csv(statistics)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    questions = [row for row in rows if not row["option_id"]]
    options = [row for row in rows if row["option_id"]]
    assert len(questions) == len(statistics.items)
    assert len(options) == 4 * len(statistics.items)
    dead = next(row for row in options if row["question_id"] == DEAD and row["option_id"] == "D")
    assert dead["flags"] == DEAD_DISTRACTOR
    assert float(dead["pick_rate"]) == 0.0
    negative = next(row for row in questions if row["question_id"] == NEGATIVE)
    assert float(negative["discrimination"]) < 0
    assert "negative_discrimination" in negative["flags"].split(";")


def test_csv_cells_never_start_a_formula() -> None:
    results = generated_results()[:5]
    results[0]["questions"][0]["options"][1]["text"] = "=HYPERLINK(1)"
    text = exam_statistics_csv(exam_statistics(build_response_matrix(results)))
    assert "'=HYPERLINK(1)" in text
    assert "\n=" not in text
    assert ",=" not in text


def test_the_bench_exam_computes_in_well_under_two_seconds() -> None:
    from bench.item_statistics import measure

    result = measure(attempts=300, questions=65, rounds=1)
    assert result.attempts == 300
    assert result.questions == 65
    assert result.seconds < 2.0


# -- the API, the CSV and the CLI on real attempts -----------------------------------------------

#: Answers of six learners to four multiple-choice questions: "right", or the position of
#: the wrong option (0-2, in key order among the wrong ones) they pick, or None (blank).
#: Question 0 everyone gets right (too easy; every distractor dead), question 1 nobody
#: (too hard; all pick the first wrong option), questions 2 and 3 the stronger learners.
ANSWER_PLAN: list[list[str | int | None]] = [
    ["right", 0, "right", "right"],
    ["right", 0, "right", "right"],
    ["right", 0, "right", 1],
    ["right", 0, "right", None],
    ["right", 0, 0, 1],
    ["right", 0, 1, 2],
]
#: Seconds each learner waits before saving each question, in question order.
WAITS = [10, 20, 30, 40]


def create_exam(client: FlaskClient, staff: Headers) -> dict[str, Any]:
    blueprint = {
        "title": "Statistics",
        "topics": ["metrics", "xgboost"],
        "counts": {"multiple_choice": 4},
        "seed": 7,
        "time_limit_seconds": 3600,
    }
    response = client.post("/v1/exams", json=blueprint, headers=staff)
    assert response.status_code == 201, response.get_json()
    created = client.get(f"/v1/exams/{response.get_json()['id']}?include=key", headers=staff)
    exam: dict[str, Any] = created.get_json()
    return exam


def take_exam(
    client: FlaskClient,
    clock: FakeClock,
    exam: dict[str, Any],
    learner: Headers,
    plan: list[str | int | None],
) -> None:
    """Answer the exam's questions in key order, by prompt and option text (the attempt has
    its own public ids), waiting ``WAITS`` before each save, then submit."""
    started = client.post(f"/v1/exams/{exam['id']}/attempts", headers=learner)
    assert started.status_code == 201, started.get_json()
    attempt = started.get_json()
    by_prompt = {question["prompt"]: question for question in attempt["questions"]}
    for key, choice, wait in zip(exam["key"], plan, WAITS, strict=True):
        clock.advance(wait)
        if choice is None:
            continue
        question = by_prompt[key["prompt"]]
        wrong = [
            option for option in key["options"] if option["id"] not in key["correct_option_ids"]
        ]
        text = (
            next(o["text"] for o in key["options"] if o["id"] in key["correct_option_ids"])
            if choice == "right"
            else wrong[int(choice)]["text"]
        )
        public_option = next(o["id"] for o in question["options"] if o["text"] == text)
        saved = client.put(
            f"/v1/attempts/{attempt['id']}/responses/{question['id']}",
            json={"answer": public_option},
            headers=learner,
        )
        assert saved.status_code == 200, saved.get_json()
    submitted = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner)
    assert submitted.status_code == 200, submitted.get_json()


def planned_scores(plan: list[list[str | int | None]]) -> np.ndarray:
    return np.asarray([[1.0 if choice == "right" else 0.0 for choice in row] for row in plan])


@pytest.mark.model
def test_exam_and_card_statistics_over_http_csv_and_cli(
    client: FlaskClient,
    make_key: Callable[..., Headers],
    clock: FakeClock,
    database_url: str,
    tmp_path: Path,
) -> None:
    staff = make_key("instructor")
    exam = create_exam(client, staff)
    learners = [make_key("learner", f"learner-{number}") for number in range(len(ANSWER_PLAN))]
    for learner, plan in zip(learners, ANSWER_PLAN, strict=True):
        take_exam(client, clock, exam, learner, plan)

    for path in (f"/v1/exams/{exam['id']}/statistics", "/v1/cards/any/statistics"):
        refused = client.get(path, headers=learners[0])
        assert refused.status_code == 403, path

    response = client.get(f"/v1/exams/{exam['id']}/statistics", headers=staff)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    scores = planned_scores(ANSWER_PLAN)
    assert body["exam_id"] == exam["id"]
    assert body["attempts"] == len(ANSWER_PLAN)
    assert body["questions"] == 4
    alpha, kr20, sem = reliability(scores)
    assert body["cronbach_alpha"] == pytest.approx(alpha, abs=1e-4)
    assert body["kr20"] == pytest.approx(kr20, abs=1e-4)
    assert body["sem"] == pytest.approx(sem, abs=1e-4)

    items = body["items"]
    assert [item["question_id"] for item in items] == [key["question_id"] for key in exam["key"]]
    assert [item["card_id"] for item in items] == [key["card_id"] for key in exam["key"]]
    totals = scores.sum(axis=1)
    for position, (item, key) in enumerate(zip(items, exam["key"], strict=True)):
        assert item["facility"] == pytest.approx(scores[:, position].mean(), abs=1e-4)
        # Every learner waited WAITS[position] before saving it, so the approximation is exact.
        assert item["median_seconds"] == WAITS[position]
        # The options are the exam's own ids, not any attempt's public ones.
        assert [option["option_id"] for option in item["options"]] == [
            option["id"] for option in key["options"]
        ]
        rest = totals - scores[:, position]
        if scores[:, position].min() != scores[:, position].max():
            expected = scipy_stats.pointbiserialr(scores[:, position], rest).statistic
            assert item["discrimination"] == pytest.approx(expected, abs=1e-4)
    easy, hard = items[0], items[1]
    assert easy["facility"] == 1.0
    assert easy["discrimination"] is None
    assert {TOO_EASY, DEAD_DISTRACTOR} <= set(easy["flags"])
    assert all(
        option["flags"] == [DEAD_DISTRACTOR] for option in easy["options"] if not option["correct"]
    )
    assert hard["facility"] == 0.0
    assert TOO_HARD in hard["flags"]
    first_wrong = next(option for option in hard["options"] if not option["correct"])
    assert first_wrong["pick_rate"] == 1.0
    assert items[3]["answered_rate"] == pytest.approx(5 / 6, abs=1e-4)

    as_csv = client.get(
        f"/v1/exams/{exam['id']}/statistics", headers={**staff, "Accept": "text/csv"}
    )
    assert as_csv.status_code == 200
    assert as_csv.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    question_rows = [row for row in rows if not row["option_id"]]
    assert [row["question_id"] for row in question_rows] == [item["question_id"] for item in items]
    assert [float(row["facility"]) for row in question_rows] == [item["facility"] for item in items]
    assert len(rows) == 4 + sum(len(item["options"]) for item in items)

    # The same exam asked again (same seed, same questions and options): the card of
    # question 2 pools both exams' attempts.
    again = create_exam(client, staff)
    for learner, plan in zip(learners[:3], ANSWER_PLAN[3:], strict=True):
        take_exam(client, clock, again, learner, plan)
    card_id = exam["key"][2]["card_id"]
    card = client.get(f"/v1/cards/{card_id}/statistics", headers=staff)
    assert card.status_code == 200, card.get_json()
    pooled = card.get_json()
    assert pooled["card_id"] == card_id
    assert pooled["exams"] == 2
    assert pooled["attempts"] == len(ANSWER_PLAN) + 3
    both = np.concatenate([scores[:, 2], scores[3:, 2]])
    assert pooled["facility"] == pytest.approx(both.mean(), abs=1e-4)
    assert {item["exam_id"] for item in pooled["items"]} == {exam["id"], again["id"]}
    assert all(distractor["offered"] == 9 for distractor in pooled["distractors"])
    card_csv = client.get(
        f"/v1/cards/{card_id}/statistics", headers={**staff, "Accept": "text/csv"}
    )
    card_rows = list(csv.DictReader(io.StringIO(card_csv.get_data(as_text=True))))
    assert card_rows[0]["exam_id"] == ALL_EXAMS
    assert card_rows[0]["attempts"] == "9"
    assert client.get("/v1/cards/no-such-card/statistics", headers=staff).status_code == 404
    assert client.get("/v1/exams/no-such-exam/statistics", headers=staff).status_code == 404

    # ``quizsvc stats exam`` reads the same database and prints the same figures.
    env = {"QUIZSVC_DATABASE_URL": database_url, "QUIZSVC_INSTANCE_DIR": str(tmp_path)}
    printed = CliRunner().invoke(main, ["stats", "exam", exam["id"]], env=env)
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == body
    printed_csv = CliRunner().invoke(main, ["stats", "exam", exam["id"], "--csv"], env=env)
    assert printed_csv.exit_code == 0, printed_csv.output
    assert printed_csv.stdout == as_csv.get_data(as_text=True)
    missing = CliRunner().invoke(main, ["stats", "exam", "no-such-exam"], env=env)
    assert missing.exit_code == 1
    assert "no exam" in missing.output
