"""The ONNX Runtime encoder (fp32 and int8) against the torch one, in the same run.

Speed: the same 500 Mohler et al. (2011) student answers encoded by each backend, warmed up,
then timed in alternating rounds (medians), with the same thread count. Agreement: the
production grader's free-answer scores and verdicts over a seeded sample of 1,000 Mohler
answers with each backend, against the scores and verdicts with torch (Pearson r and the
share of identical verdicts), plus the mean cosine of the answer embeddings.

The export (first use only) writes into the configured model cache, as the service does.

Run: ``.venv/bin/python bench/onnx_backend.py`` (2-3 minutes on 2 CPU cores).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading_quality import Row, load_rows, production_grades

from quizsvc.config import Settings
from quizsvc.embedding import Encoder, SentenceTransformerEncoder
from quizsvc.embedding.onnx import VARIANTS, OnnxEncoder
from quizsvc.grading.model import Grade

TEXTS = 500
#: Answers graded with every backend for the agreement figures (a seeded sample of the set,
#: to keep the whole benchmark run within minutes on 2 cores).
AGREEMENT_ANSWERS = 1000
ROUNDS = 3
SEED = 20110601
SPEED_TARGET = 2.0
AGREEMENT_TARGET = 0.99


@dataclass(frozen=True)
class BackendResult:
    name: str
    encode_seconds: float
    torch_seconds: float
    embedding_cosine: float
    score_pearson: float
    verdict_agreement: float

    @property
    def speedup(self) -> float:
        return self.torch_seconds / self.encode_seconds


def time_encoders(encoders: dict[str, Encoder], texts: Sequence[str]) -> dict[str, float]:
    for encoder in encoders.values():
        encoder.encode(list(texts[:64]))
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(ROUNDS):
        for name, encoder in encoders.items():
            started = time.perf_counter()
            encoder.encode(texts)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(
    torch_model: SentenceTransformerEncoder | None = None,
    torch_grades: Sequence[Grade] | None = None,
    rows: Sequence[Row] | None = None,
) -> list[BackendResult]:
    """One result per ONNX variant. ``torch_grades`` (of all ``rows``, in order) saves grading
    with torch again."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings.from_env()
    if rows is None:
        rows = load_rows(settings.require_shared_dir())
    if torch_model is None:
        torch_model = SentenceTransformerEncoder(
            model=settings.model, device="cpu", batch_size=settings.batch_size
        )
    onnx = {
        variant: OnnxEncoder(
            model=settings.model,
            variant=variant,
            cache_dir=settings.model_cache_dir,
            batch_size=torch_model.batch_size,
        )
        for variant in VARIANTS
    }
    texts = [row.answer for row in random.Random(SEED).sample(list(rows), TEXTS)]
    seconds = time_encoders({"torch": torch_model, **onnx}, texts)
    reference_vectors = torch_model.encode(texts)
    sample = sorted(random.Random(SEED).sample(range(len(rows)), min(AGREEMENT_ANSWERS, len(rows))))
    graded_rows = [rows[index] for index in sample]
    if torch_grades is None:
        torch_grades = production_grades(graded_rows, torch_model)
    else:
        torch_grades = [torch_grades[index] for index in sample]
    torch_scores = np.array([grade.score for grade in torch_grades])
    results = []
    for variant, encoder in onnx.items():
        cosine = float(np.mean(np.sum(encoder.encode(texts) * reference_vectors, axis=1)))
        grades = production_grades(graded_rows, encoder)
        scores = np.array([grade.score for grade in grades])
        same = sum(
            ours.verdict is theirs.verdict
            for ours, theirs in zip(grades, torch_grades, strict=True)
        )
        results.append(
            BackendResult(
                name=f"onnx-{variant}",
                encode_seconds=seconds[variant],
                torch_seconds=seconds["torch"],
                embedding_cosine=cosine,
                score_pearson=float(pearsonr(scores, torch_scores)[0]),
                verdict_agreement=same / len(grades),
            )
        )
    return results


def acceptable(result: BackendResult) -> bool:
    return (
        result.speedup >= SPEED_TARGET
        and result.score_pearson >= AGREEMENT_TARGET
        and result.embedding_cosine >= AGREEMENT_TARGET
    )


def main() -> list[BackendResult]:
    results = measure()
    print(
        f"{TEXTS} Mohler answers encoded, {ROUNDS} rounds (median); grades of "
        f"{AGREEMENT_ANSWERS} Mohler answers compared"
    )
    for result in results:
        print(
            f"{result.name}: encode {result.encode_seconds:.2f} s vs torch "
            f"{result.torch_seconds:.2f} s = {result.speedup:.2f}x faster; embedding cosine "
            f"{result.embedding_cosine:.4f}; score Pearson vs torch {result.score_pearson:.4f}; "
            f"identical verdicts {result.verdict_agreement:.1%}"
        )
    return results


if __name__ == "__main__":
    main()
