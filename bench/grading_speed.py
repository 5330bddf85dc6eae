"""Grading cost: 200 free answers graded in one ``Grader.grade_many`` call, against encoding
those 200 answers alone with the same model, in the same run. Target: at most 1.15x.

The answers are real learner text: 200 student answers drawn (seeded) from the Mohler et al.
(2011) benchmark, each graded against its question and reference answer as a free-answer
question. Reference, key-point and question embeddings are cached first, as in production
where the bank is encoded at start-up; learner text is never cached, so every round pays for
it in full. Both sides are warmed up, then timed alternately; medians are reported.

Run: ``.venv/bin/python bench/grading_speed.py``.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading_quality import load_rows

from quizsvc.config import Settings
from quizsvc.embedding import CachedEncoder, Encoder
from quizsvc.embedding.factory import build_encoder
from quizsvc.exams.model import QuestionKey, QuestionType
from quizsvc.grading import Grader

ANSWERS = 200
ROUNDS = 7
TARGET = 1.15
SEED = 20110601


@dataclass(frozen=True)
class SpeedResult:
    backend: str
    answers: int
    rounds: int
    encode_seconds: float
    grade_seconds: float

    @property
    def ratio(self) -> float:
        return self.grade_seconds / self.encode_seconds


def measure(model: Encoder | None = None) -> SpeedResult:
    """Median times of encoding and of grading the same answers, with ``model`` (default: the
    configured encoder, as the service runs it)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings.from_env()
    rows = random.Random(SEED).sample(load_rows(settings.require_shared_dir()), ANSWERS)
    if model is None:
        model = build_encoder(settings, prepare=True)
    grader = Grader(model, CachedEncoder(model))
    submission = [
        (
            QuestionKey(
                question_id=f"q{index}",
                type=QuestionType.FREE_ANSWER,
                card_id=row.question_id,
                deck="mohler2011",
                topic="cs",
                prompt=row.question,
                answer=row.reference,
            ),
            row.answer,
        )
        for index, row in enumerate(rows)
    ]
    answers = [row.answer for row in rows]

    # Warm-up: loads the weights into the caches, fills the bank cache with every reference,
    # key point and question, and runs the grading code once.
    model.encode(answers)
    grader.grade_many(submission)

    encode_times, grade_times = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        model.encode(answers)
        encode_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        grades = grader.grade_many(submission)
        grade_times.append(time.perf_counter() - started)
    assert len(grades) == ANSWERS

    return SpeedResult(
        str(getattr(model, "backend", type(model).__name__)),
        ANSWERS,
        ROUNDS,
        statistics.median(encode_times),
        statistics.median(grade_times),
    )


def main() -> SpeedResult:
    result = measure()
    encode_time, grade_time, ratio = result.encode_seconds, result.grade_seconds, result.ratio
    print(
        f"{ANSWERS} free answers (Mohler 2011 student answers), encoder {result.backend}, "
        f"{ROUNDS} rounds, medians:"
    )
    print(f"  encode the answers alone:        {encode_time:.3f} s")
    print(f"  grade them in one grade_many:    {grade_time:.3f} s")
    print(f"  ratio: {ratio:.2f}x (target <= {TARGET}x): {'OK' if ratio <= TARGET else 'OVER'}")
    return result


if __name__ == "__main__":
    main()
