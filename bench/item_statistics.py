"""Item statistics time: one exam of 2,000 graded attempts x 65 questions.

The attempts' result dicts are made in memory, shaped as ``quizsvc.attempts.build_result``
stores them (the exam's mix of 65 questions: multiple choice, multiple response with
partial credit, fill-in and free answers; answers drawn from a two-parameter logistic model
so that the figures are realistic), then timed: building the response matrix from them and
computing every statistic (``quizsvc.statistics``), the part an instructor's request waits
for besides reading the rows. Target: well under 2 s.

Run: ``.venv/bin/python bench/item_statistics.py`` (seconds on 2 CPU cores).
"""

from __future__ import annotations

import statistics as descriptive
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from quizsvc.statistics import build_response_matrix, exam_statistics

ATTEMPTS = 2000
QUESTIONS = 65
ROUNDS = 5
TARGET_SECONDS = 2.0
#: The question mix of bench/exam_build.py (reverse multiple choice counted as choice).
KINDS = ["multiple_choice"] * 33 + ["multiple_response"] * 8 + ["fill_in"] * 12
KINDS += ["free_answer"] * 12
OPTIONS = ("A", "B", "C", "D")


def synthetic_results(
    attempts: int = ATTEMPTS, questions: int = QUESTIONS, seed: int = 7
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=attempts)
    difficulty = rng.normal(scale=0.8, size=questions)
    p_right = 1.0 / (1.0 + np.exp(-1.7 * (ability[:, None] - difficulty[None, :])))
    right = rng.random((attempts, questions)) < p_right
    wrong_pick = rng.integers(1, len(OPTIONS), size=(attempts, questions))
    kinds = [KINDS[index % len(KINDS)] for index in range(questions)]
    results = []
    for row in range(attempts):
        items = []
        for column, kind in enumerate(kinds):
            question: dict[str, Any] = {
                "question_id": f"q{column + 1}",
                "type": kind,
                "topic": "bench",
                "options": [],
                "correct_option_ids": [],
            }
            is_right = bool(right[row, column])
            if kind == "multiple_choice":
                question["options"] = [{"id": option, "text": option} for option in OPTIONS]
                question["correct_option_ids"] = ["A"]
                question["your_answer"] = "A" if is_right else OPTIONS[wrong_pick[row, column]]
                question["score"] = 1.0 if is_right else 0.0
            elif kind == "multiple_response":
                question["options"] = [{"id": option, "text": option} for option in OPTIONS]
                question["correct_option_ids"] = ["A", "B"]
                answer = ["A", "B"] if is_right else ["A", OPTIONS[wrong_pick[row, column]]]
                question["your_answer"] = sorted(set(answer))
                question["score"] = 1.0 if is_right else 0.5
            else:
                question["your_answer"] = "an answer"
                question["score"] = round(float(p_right[row, column]), 4)
            items.append(question)
        results.append({"questions": items})
    return results


@dataclass(frozen=True)
class StatisticsResult:
    attempts: int
    questions: int
    #: Median over the rounds: matrix built from the result dicts, statistics computed.
    seconds: float
    matrix_seconds: float
    compute_seconds: float
    alpha: float | None

    @property
    def passed(self) -> bool:
        return self.seconds < TARGET_SECONDS


def measure(
    attempts: int = ATTEMPTS, questions: int = QUESTIONS, rounds: int = ROUNDS
) -> StatisticsResult:
    results = synthetic_results(attempts, questions)
    seconds = [{f"q{j + 1}": 30.0 + j for j in range(questions)} for _ in range(attempts)]
    builds, computes = [], []
    alpha = None
    for _ in range(rounds):
        started = time.perf_counter()
        matrix = build_response_matrix(results, seconds)
        built = time.perf_counter()
        computed = exam_statistics(matrix, "bench")
        finished = time.perf_counter()
        builds.append(built - started)
        computes.append(finished - built)
        alpha = computed.cronbach_alpha
    build_s = descriptive.median(builds)
    compute_s = descriptive.median(computes)
    return StatisticsResult(attempts, questions, build_s + compute_s, build_s, compute_s, alpha)


def main() -> StatisticsResult:
    result = measure()
    print(
        f"item statistics: {result.attempts} attempts x {result.questions} questions "
        f"(Cronbach's alpha {result.alpha:.3f})"
    )
    print(
        f"median of {ROUNDS} rounds: {result.seconds * 1000:.0f} ms "
        f"(response matrix {result.matrix_seconds * 1000:.0f} ms, statistics "
        f"{result.compute_seconds * 1000:.0f} ms); target < {TARGET_SECONDS:g} s: "
        f"{'met' if result.passed else 'MISSED'}"
    )
    return result


if __name__ == "__main__":
    main()
