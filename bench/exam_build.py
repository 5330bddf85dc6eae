"""Exam build time: a 65-question mixed exam from the full bank, embeddings cached.

Warm-up builds first fill the embedding cache (the on-disk cache of the configured instance
folder, as in production), then the same blueprint is built with different seeds and timed,
JSON of the delivery view included. In the same run a trivial baseline turns 65 randomly
sampled cards into free-answer questions and serializes them, so the printed ratio is the
price of distractor selection, cloze-making and exam assembly on this machine.

Run: ``.venv/bin/python bench/exam_build.py`` (well under a minute on 2 CPU cores once the
model is loaded; the first run on a fresh instance folder also encodes the bank).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from quizsvc.bank import Card, load_bank
from quizsvc.config import Settings
from quizsvc.exams import Blueprint, QuestionType, build_exam
from quizsvc.runtime import build_bank_encoder

COUNTS = {
    QuestionType.MULTIPLE_CHOICE: 25,
    QuestionType.MULTIPLE_RESPONSE: 8,
    QuestionType.FILL_IN: 12,
    QuestionType.FREE_ANSWER: 12,
}
REVERSE = 8
QUESTIONS = sum(COUNTS.values()) + REVERSE
WARM_UP = 3
ROUNDS = 25


def trivial_exam(cards: Sequence[Card], seed: int) -> str:
    """The least an exam service could do: sample cards, ask their prompts, write JSON."""
    chosen = random.Random(seed).sample(list(cards), QUESTIONS)
    questions = [
        {"id": f"q{number}", "type": "free_answer", "topic": card.topic, "prompt": card.prompt}
        for number, card in enumerate(chosen, 1)
    ]
    return json.dumps({"seed": seed, "questions": questions}, ensure_ascii=False)


def timed(run: Callable[[int], object], seeds: Sequence[int]) -> list[float]:
    durations = []
    for seed in seeds:
        started = time.perf_counter()
        run(seed)
        durations.append(time.perf_counter() - started)
    return durations


@dataclass(frozen=True)
class BuildResult:
    questions: int
    cards: int
    build_ms: float
    baseline_ms: float

    @property
    def ratio(self) -> float:
        return self.build_ms / self.baseline_ms


def main() -> BuildResult:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings.from_env()
    cards = load_bank(settings.bank_dir).cards
    started = time.perf_counter()
    encoder = build_bank_encoder(settings)
    loaded = time.perf_counter()

    def real_exam(seed: int) -> str:
        blueprint = Blueprint(counts=COUNTS, reverse=REVERSE, seed=seed)
        exam = build_exam(cards, blueprint, encoder)
        assert len(exam.questions) == QUESTIONS
        return json.dumps(exam.delivery_dict(), ensure_ascii=False)

    warm_up = timed(real_exam, range(WARM_UP))
    seeds = range(1000, 1000 + ROUNDS)
    builds = timed(real_exam, seeds)
    baseline = timed(lambda seed: trivial_exam(cards, seed), seeds)
    build_ms = statistics.median(builds) * 1000
    baseline_ms = statistics.median(baseline) * 1000

    mix = ", ".join(f"{kind.value} {n}" for kind, n in COUNTS.items())
    print(f"exam build: {QUESTIONS} questions ({mix}, reverse {REVERSE}) from {len(cards)} cards")
    warm = ", ".join(f"{duration:.2f} s" for duration in warm_up)
    print(f"model load: {loaded - started:.1f} s; warm-up builds (fill the cache): {warm}")
    print(f"embedding cache: {encoder.misses} texts encoded in this run ({encoder.path})")
    print(
        f"build, embeddings cached: median {build_ms:.1f} ms, "
        f"min {min(builds) * 1000:.1f} ms, max {max(builds) * 1000:.1f} ms over {ROUNDS} seeds"
    )
    print(
        f"baseline (random sample of {QUESTIONS} cards as free-answer questions, to JSON): "
        f"median {baseline_ms:.3f} ms"
    )
    print(f"ratio build / baseline: {build_ms / baseline_ms:.0f}x")
    return BuildResult(QUESTIONS, len(cards), build_ms, baseline_ms)


if __name__ == "__main__":
    main()
