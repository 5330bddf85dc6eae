"""The learned free-answer verdict: fit it, and measure it on data it was not fitted on.

Data (nothing here is fitted per question):
- SemEval-2013 Task 7 **training** sets, 2-way (``../shared/benchmarks/asag/``): SciEntsBank
  and Beetle, 8,910 answers; Beetle's further reference answers are graded as short answers.
- Mohler et al. (2011), 2,273 answers scored 0-5 by two graders: >= 4.5 read as correct,
  >= 2.5 as earning credit.
- The labelled development set ``bench/data/grading_dev.jsonl``: learner answers to bank
  cards, written from the prompt alone and labelled against the card by an instructor, split
  **by card** into a tuning half and a held-out half (the ``split`` field).

Two logistic regressions over the grader's measurements (``quizsvc.grading.verdict``):
P(correct) on all three sources, P(any credit) on Mohler and the tuning half. The card
keys' confidence is Platt-scaled, and the review threshold chosen (the highest that keeps at
most 20% of the tuning half's answers flagged), on the tuning half's cards each graded by a
model fitted without them (``card_folds``). Everything is written to
``quizsvc/grading/verdict_model.json``.

Reported (each on data left out of the fit):
- SemEval cross-validated **by question** (5 folds; every answer of a question in one fold):
  2-way macro-F1 of ``verdict == correct``, beside raw cosine with a threshold chosen on the
  training folds; calibration of ``confidence`` on the pooled held-out folds.
- The development set's held-out half, with and without review.
- Mohler: Pearson r of the final score with the human scores, the model refitted without
  Mohler's own fold (12 folds by assignment).

Run: ``.venv/bin/python bench/grading_verdict.py`` to measure the shipped model,
``--refit`` to fit and write a new one first (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import pearsonr
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grading_quality

from quizsvc.bank.loader import load_bank
from quizsvc.config import Settings
from quizsvc.embedding import CachedEncoder, Encoder
from quizsvc.embedding.factory import build_encoder, resolve_backend
from quizsvc.grading import Glossary, GradingConfig, question_key_for_card
from quizsvc.grading.free_answer import (
    FreeAnswerKey,
    features_of,
    measure_free_answers,
    verdict_score,
)
from quizsvc.grading.model import Verdict
from quizsvc.grading.verdict import (
    FEATURE_NAMES,
    LogisticModel,
    ProbabilityPair,
    VerdictFeatures,
    VerdictModel,
    decide,
    shipped_verdict_model,
)

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "bench" / "data" / "grading_dev.jsonl"
MODEL_PATH = ROOT / "quizsvc" / "grading" / "verdict_model.json"
SEMEVAL = Path("benchmarks") / "asag" / "semeval2013_train_2way.jsonl"
FloatArray = NDArray[np.float64]
#: Most of the development set's tuning half that may be flagged for review.
REVIEW_BUDGET = 0.20
#: In the card pair's fit, the public sets together weigh this share of the tuning answers.
PUBLIC_SHARE = 0.5
MOHLER_CORRECT, MOHLER_CREDIT = 4.5, 2.5
SEMEVAL_FOLDS = 5
#: Folds (by card) of the tuning half for calibrating the card keys' confidence.
CALIBRATION_FOLDS = 5
#: Dev-set kinds whose right label is "correct" (reported as "right answers").
RIGHT_KINDS = ("full", "terse")


@dataclass
class Source:
    """Measured answers of one data set, with labels as 0/1 arrays."""

    name: str
    keys: list[FreeAnswerKey]
    features: FloatArray
    covered: NDArray[np.int64]
    answered: NDArray[np.bool_]
    correct: NDArray[np.bool_]
    credit: NDArray[np.bool_]
    groups: list[str]
    raw_cosine: FloatArray
    #: word_order_disorder of each answer: read by the review rule, not by the model.
    disorder: FloatArray
    #: Free columns per source: corpus, human score, dev split/kind/label.
    meta: list[dict[str, str | float]]

    def subset(self, mask: NDArray[np.bool_]) -> Source:
        """The answers ``mask`` selects (what ``verdicts_of`` and the scores read)."""
        return replace(
            self,
            keys=[key for key, kept in zip(self.keys, mask, strict=True) if kept],
            features=self.features[mask],
            covered=self.covered[mask],
            answered=self.answered[mask],
            disorder=self.disorder[mask],
        )


def measure(
    name: str,
    items: Sequence[tuple[FreeAnswerKey, str]],
    encoder: Encoder,
    bank_encoder: Encoder,
    correct: Sequence[bool],
    credit: Sequence[bool],
    groups: Sequence[str],
    meta: Sequence[dict[str, str | float]],
) -> Source:
    started = time.perf_counter()
    measurements = measure_free_answers(items, encoder, bank_encoder)
    config = GradingConfig()
    found = features_of([(key, m, config) for (key, _), m in zip(items, measurements, strict=True)])
    print(f"  {name}: {len(items)} answers measured in {time.perf_counter() - started:.0f} s")
    return Source(
        name=name,
        keys=[key for key, _ in items],
        features=np.vstack([item.features.vector() for item in found]),
        covered=np.array([item.covered for item in found], dtype=np.int64),
        answered=np.array([m.screen.value == "answer" for m in measurements]),
        correct=np.asarray(correct, dtype=bool),
        credit=np.asarray(credit, dtype=bool),
        groups=list(groups),
        raw_cosine=np.array([m.answer_reference for m in measurements]),
        disorder=np.array([item.features.word_order_disorder for item in found]),
        meta=list(meta),
    )


def load_semeval(shared: Path, encoder: Encoder, bank_encoder: Encoder) -> Source:
    rows = [json.loads(line) for line in (shared / SEMEVAL).read_text().splitlines() if line]
    glossary = Glossary.for_deck()
    items, groups, meta = [], [], []
    for row in rows:
        references = [text for text in row["reference_answers"] if text.strip()]
        key = FreeAnswerKey(
            question_id=f"{row['corpus']}:{row['question_id']}",
            reference=references[0],
            prompt=row["question"],
            glossary=glossary,
            short_answers=tuple(references[1:]),
        )
        items.append((key, row["answer"]))
        groups.append(key.question_id)
        meta.append({"corpus": row["corpus"]})
    labels = [row["label"] == "correct" for row in rows]
    return measure("SemEval-2013 2-way", items, encoder, bank_encoder, labels, labels, groups, meta)


def load_mohler(shared: Path, encoder: Encoder, bank_encoder: Encoder) -> Source:
    rows = grading_quality.load_rows(shared)
    glossary = Glossary.for_deck()
    items = [(row.key(glossary), row.answer) for row in rows]
    return measure(
        "Mohler 2011",
        items,
        encoder,
        bank_encoder,
        [row.score >= MOHLER_CORRECT for row in rows],
        [row.score >= MOHLER_CREDIT for row in rows],
        [f"fold{row.fold}" for row in rows],
        [{"score": row.score, "fold": float(row.fold)} for row in rows],
    )


def review_rows(path: Path, dev_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resolved reviews exported by ``GET /v1/reviews/export`` as development rows of the
    tuning half: the person's verdict is the label. Reviews of cards in the held-out half
    are left out, so the held-out figures stay honest."""
    held_out_cards = {row["card_id"] for row in dev_rows if row["split"] != "tune"}
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        review = json.loads(line)
        human = (review.get("human") or {}).get("verdict")
        if (
            review.get("type") != "free_answer"
            or human not in ("correct", "partial", "incorrect")
            or not isinstance(review.get("answer"), str)
            or review.get("card_id") in held_out_cards
        ):
            continue
        rows.append(
            {
                "card_id": review["card_id"],
                "split": "tune",
                "kind": "review",
                "answer": review["answer"],
                "label": human,
            }
        )
    return rows


def load_dev(encoder: Encoder, bank_encoder: Encoder, reviews: Path | None = None) -> Source:
    settings = Settings()
    bank = load_bank(settings.bank_dir)
    glossaries = {deck_id: Glossary.for_deck(deck.glossary) for deck_id, deck in bank.decks.items()}
    rows = [json.loads(line) for line in DEV_SET.read_text().splitlines() if line]
    if reviews is not None:
        extra = [row for row in review_rows(reviews, rows) if bank.get(row["card_id"]) is not None]
        print(f"  + {len(extra)} reviewed answers from {reviews} (tuning half)")
        rows += extra
    items = []
    for row in rows:
        card = bank.card(row["card_id"])
        key = FreeAnswerKey.from_question(question_key_for_card(card), glossaries[card.deck])
        items.append((key, row["answer"]))
    return measure(
        "development set",
        items,
        encoder,
        bank_encoder,
        [row["label"] == "correct" for row in rows],
        [row["label"] != "incorrect" for row in rows],
        [row["card_id"] for row in rows],
        [{"split": row["split"], "kind": row["kind"], "label": row["label"]} for row in rows],
    )


def fit_logistic(x: FloatArray, y: NDArray[np.bool_], weight: FloatArray) -> LogisticModel:
    mean = np.average(x, axis=0, weights=weight)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weight))
    scale = np.where(scale > 1e-9, scale, 1.0)
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit((x - mean) / scale, y, sample_weight=weight)
    return LogisticModel(mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


def stack(
    parts: Sequence[tuple[Source, NDArray[np.bool_], float]], label: str
) -> tuple[FloatArray, NDArray[np.bool_], FloatArray]:
    x = np.vstack([source.features[mask] for source, mask, _ in parts])
    y = np.concatenate([getattr(source, label)[mask] for source, mask, _ in parts])
    w = np.concatenate([np.full(int(mask.sum()), weight) for _, mask, weight in parts])
    return x, y, w


def fit_model(
    semeval: tuple[Source, NDArray[np.bool_]],
    mohler: tuple[Source, NDArray[np.bool_]],
    dev: tuple[Source, NDArray[np.bool_]],
    review_below: float = 0.8,
) -> VerdictModel:
    """The generic pair on the public sets: P(correct) on SemEval and Mohler, P(credit) on
    Mohler (SemEval's "incorrect" lumps partial answers with wrong ones, so it cannot teach
    credit). The card pair on the dev tuning half, with the public sets beside it at a
    total weight of PUBLIC_SHARE of the tuning answers' (they steady it, the deck decides)."""
    (s, s_mask), (m, m_mask), (d, d_mask) = semeval, mohler, dev
    generic = ProbabilityPair(
        fit_logistic(*stack([(s, s_mask, 1.0), (m, m_mask, 1.0)], "correct")),
        fit_logistic(*stack([(m, m_mask, 1.0)], "credit")),
    )
    tuning = float(d_mask.sum())
    public = float(s_mask.sum() + m_mask.sum())
    weight = PUBLIC_SHARE * tuning / public
    card = ProbabilityPair(
        fit_logistic(
            *stack([(d, d_mask, 1.0), (s, s_mask, weight), (m, m_mask, weight)], "correct")
        ),
        fit_logistic(
            *stack([(d, d_mask, 1.0), (m, m_mask, PUBLIC_SHARE * tuning / m_mask.sum())], "credit")
        ),
    )
    return VerdictModel(
        generic=generic, card=card, review_below=review_below, misconception_tie=0.03
    )


@dataclass(frozen=True)
class Decided:
    verdicts: list[Verdict]
    confidence: FloatArray
    review: NDArray[np.bool_]
    p_correct: FloatArray
    p_credit: FloatArray
    #: Flagged for a reason other than low confidence (near tie, negation, word salad).
    flagged_otherwise: NDArray[np.bool_]


def verdicts_of(source: Source, model: VerdictModel, review_below: float | None = None) -> Decided:
    """The grader's decisions for stored features (rebuilt from the feature matrix)."""
    features = [
        VerdictFeatures(
            **dict(zip(FEATURE_NAMES, row.tolist(), strict=True)),
            word_order_disorder=float(disorder),
        )
        for row, disorder in zip(source.features, source.disorder, strict=True)
    ]
    decisions = decide(
        features,
        source.covered.tolist(),
        source.answered.tolist(),
        model,
        review_below,
        [len(key.graded_key_points) for key in source.keys],
    )
    return Decided(
        [item.verdict for item in decisions],
        np.array([item.confidence for item in decisions]),
        np.array([item.needs_review for item in decisions]),
        np.array([item.p_correct for item in decisions]),
        np.array([item.p_credit for item in decisions]),
        np.array([bool(set(item.review_reasons) - {"low_confidence"}) for item in decisions]),
    )


def binary_macro_f1(predicted: NDArray[np.bool_], truth: NDArray[np.bool_]) -> float:
    scores = []
    for positive in (True, False):
        p, t = predicted == positive, truth == positive
        denominator = p.sum() + t.sum()
        scores.append(2 * float((p & t).sum()) / denominator if denominator else 1.0)
    return float(np.mean(scores))


def reliability(
    confidence: FloatArray, right: NDArray[np.bool_], bins: int = 10
) -> tuple[float, list[tuple[str, int, float, float]]]:
    """Expected calibration error and the reliability table (bin, count, mean confidence,
    accuracy)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    table, ece = [], 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence >= low) & ((confidence < high) if high < 1.0 else (confidence <= high))
        if not inside.any():
            continue
        mean_conf, accuracy = float(confidence[inside].mean()), float(right[inside].mean())
        ece += inside.mean() * abs(mean_conf - accuracy)
        table.append((f"{low:.1f}-{high:.1f}", int(inside.sum()), mean_conf, accuracy))
    return float(ece), table


def print_reliability(name: str, table: list[tuple[str, int, float, float]]) -> None:
    print(f"  reliability, {name}: bin | answers | mean confidence | share right")
    for label, count, mean_conf, accuracy in table:
        print(f"    {label} | {count:5d} | {mean_conf:.3f} | {accuracy:.3f}")


@dataclass(frozen=True)
class DevFigures:
    flagged: float
    wrong_correct: int
    wrong_credited: float
    right_correct: float
    partial_partial: float
    counts: str


def dev_figures(
    source: Source,
    mask: NDArray[np.bool_],
    verdicts: Sequence[Verdict],
    review: NDArray[np.bool_],
) -> DevFigures:
    labels = np.array([str(meta["label"]) for meta in source.meta])
    kinds = np.array([str(meta["kind"]) for meta in source.meta])
    predicted = np.array([verdict.value for verdict in verdicts])
    kept = mask & ~review
    wrong = kept & (labels == "incorrect")
    right = kept & (labels == "correct") & np.isin(kinds, RIGHT_KINDS)
    partial = kept & (labels == "partial")
    return DevFigures(
        flagged=float(review[mask].mean()),
        wrong_correct=int((predicted[wrong] == "correct").sum()),
        wrong_credited=float((predicted[wrong] != "incorrect").mean()) if wrong.any() else 0.0,
        right_correct=float((predicted[right] == "correct").mean()) if right.any() else 0.0,
        partial_partial=float((predicted[partial] == "partial").mean()) if partial.any() else 0.0,
        counts=f"{int(wrong.sum())} wrong, {int(right.sum())} right, {int(partial.sum())} partial",
    )


def card_folds(
    semeval: Source, mohler: Source, dev: Source, tune: NDArray[np.bool_]
) -> list[tuple[NDArray[np.bool_], VerdictModel]]:
    """The tuning half in CALIBRATION_FOLDS folds by card, each with a model fitted without
    its cards: how the model meets cards it has never seen, as it meets the held-out half
    and a deck's new cards."""
    cards = sorted({card for card, kept in zip(dev.groups, tune, strict=True) if kept})
    random.Random(12).shuffle(cards)
    fold_of = {card: index % CALIBRATION_FOLDS for index, card in enumerate(cards)}
    folds = np.array([fold_of.get(card, -1) for card in dev.groups])
    all_semeval = np.ones(len(semeval.groups), dtype=bool)
    all_mohler = np.ones(len(mohler.groups), dtype=bool)
    result = []
    for fold in range(CALIBRATION_FOLDS):
        test = tune & (folds == fold)
        model = fit_model((semeval, all_semeval), (mohler, all_mohler), (dev, tune & ~test))
        result.append((test, model))
    return result


def choose_review_below(
    dev: Source, folds: Sequence[tuple[NDArray[np.bool_], VerdictModel]], model: VerdictModel
) -> float:
    """The highest review threshold that flags at most REVIEW_BUDGET of the tuning half,
    each card's answers graded by the model fitted without it (with ``model``'s calibration
    and tie band). In-sample, the model is surer of answers it was fitted on, and a threshold
    chosen there flagged more than the budget on the held-out half (24.1% against 20%)."""
    decided = [
        (
            test,
            verdicts_of(
                dev.subset(test),
                replace(
                    fold_model,
                    card_calibration=model.card_calibration,
                    misconception_tie=model.misconception_tie,
                ),
                None,
            ),
        )
        for test, fold_model in folds
    ]
    total = sum(int(test.sum()) for test, _ in decided)
    best = 0.3
    for threshold in np.arange(0.3, 0.96, 0.01):
        flagged = 0
        for _, fold_decided in decided:
            # Confidence does not depend on the threshold: only the low_confidence reason
            # moves, so the other reasons are kept and the threshold re-applied.
            low = fold_decided.confidence < threshold
            flagged += int((fold_decided.flagged_otherwise | low).sum())
        if flagged / total <= REVIEW_BUDGET:
            best = float(round(threshold, 2))
    return best


def fit_card_calibration(
    dev: Source, folds: Sequence[tuple[NDArray[np.bool_], VerdictModel]]
) -> tuple[float, float]:
    """Platt scaling of the card keys' confidence: each tuning card's answers graded by a
    model fitted without that card (``card_folds``), then a logistic regression of "the
    verdict was right" on the logit of its confidence."""
    labels = np.array([str(meta["label"]) for meta in dev.meta])
    confidence, right = [], []
    for test, model in folds:
        decided = verdicts_of(dev.subset(test), model)
        confidence.extend(decided.confidence.tolist())
        right.extend(
            verdict.value == label
            for verdict, label in zip(decided.verdicts, labels[test], strict=True)
        )
    clipped = np.clip(np.array(confidence), 1e-6, 1.0 - 1e-6)
    logit = np.log(clipped / (1.0 - clipped)).reshape(-1, 1)
    platt = LogisticRegression(C=1e6, max_iter=2000).fit(logit, np.array(right))
    return float(platt.coef_[0][0]), float(platt.intercept_[0])


def semeval_cv(
    semeval: Source, mohler: Source, dev: Source, tune: NDArray[np.bool_]
) -> dict[str, object]:
    """Fit on four folds of questions (with Mohler and the dev tuning half), predict the fifth."""
    questions = sorted(set(semeval.groups))
    random.Random(2013).shuffle(questions)
    fold_of = {question: index % SEMEVAL_FOLDS for index, question in enumerate(questions)}
    folds = np.array([fold_of[group] for group in semeval.groups])
    predicted = np.zeros(len(folds), dtype=bool)
    cosine_predicted = np.zeros(len(folds), dtype=bool)
    confidence = np.zeros(len(folds))
    all_mohler = np.ones(len(mohler.groups), dtype=bool)
    for fold in range(SEMEVAL_FOLDS):
        test = folds == fold
        model = fit_model((semeval, ~test), (mohler, all_mohler), (dev, tune))
        decided = verdicts_of(semeval.subset(test), model)
        p_correct = decided.p_correct
        predicted[test] = [verdict is Verdict.CORRECT for verdict in decided.verdicts]
        # The 2-way question's confidence: P(correct) for "correct", else 1 - P(correct).
        confidence[test] = np.where(predicted[test], p_correct, 1.0 - p_correct)
        # Baseline: raw cosine, threshold with the best macro-F1 on the training folds.
        train = ~test
        thresholds = np.quantile(semeval.raw_cosine[train], np.linspace(0.05, 0.95, 91))
        best = max(
            thresholds,
            key=lambda t: binary_macro_f1(semeval.raw_cosine[train] >= t, semeval.correct[train]),
        )
        cosine_predicted[test] = semeval.raw_cosine[test] >= best
    corpora = np.array([str(meta["corpus"]) for meta in semeval.meta])
    result: dict[str, object] = {}
    for corpus in ("sciEntsBank", "beetle"):
        inside = corpora == corpus
        result[corpus] = (
            binary_macro_f1(predicted[inside], semeval.correct[inside]),
            binary_macro_f1(cosine_predicted[inside], semeval.correct[inside]),
        )
    right = predicted == semeval.correct
    result["ece"], result["table"] = reliability(confidence, right)
    return result


def mohler_cv(semeval: Source, mohler: Source, dev: Source, tune: NDArray[np.bool_]) -> float:
    """Pearson r of the final score with the human scores, each assignment's answers graded
    by a model fitted without them."""
    folds = np.array([int(meta["fold"]) for meta in mohler.meta])
    scores = np.zeros(len(folds))
    all_semeval = np.ones(len(semeval.groups), dtype=bool)
    for fold in np.unique(folds):
        test = folds == fold
        model = fit_model((semeval, all_semeval), (mohler, ~test), (dev, tune))
        scores[test] = final_scores(mohler, test, model)
    human = np.array([float(meta["score"]) for meta in mohler.meta])
    return float(pearsonr(scores, human)[0])


def final_scores(source: Source, mask: NDArray[np.bool_], model: VerdictModel) -> FloatArray:
    """The score a learner reads, from the stored features (as the grader computes it)."""
    decided = verdicts_of(source.subset(mask), model)
    return np.array(
        [
            verdict_score(verdict, float(p_correct), float(p_credit))
            for verdict, p_correct, p_credit in zip(
                decided.verdicts, decided.p_correct, decided.p_credit, strict=True
            )
        ]
    )


@dataclass(frozen=True)
class VerdictResult:
    sciq: tuple[float, float]
    beetle: tuple[float, float]
    semeval_ece: float
    dev_ece: float
    mohler_r: float
    with_review: DevFigures
    without_review: DevFigures


def main(
    refit: bool = False, backend: str | None = None, reviews: Path | None = None
) -> VerdictResult:
    settings = Settings()
    if backend is not None:
        settings = replace(settings, encoder_backend=backend)
    shared = settings.require_shared_dir()
    encoder = build_encoder(settings)
    bank_encoder = CachedEncoder(encoder, settings.instance_dir / "bench-cache")
    print(f"verdict model ({resolve_backend(settings)}): measuring")
    dev = load_dev(encoder, bank_encoder, reviews)
    semeval = load_semeval(shared, encoder, bank_encoder)
    mohler = load_mohler(shared, encoder, bank_encoder)
    tune = np.array([meta["split"] == "tune" for meta in dev.meta])
    held_out = ~tune
    if refit:
        model = fit_model(
            (semeval, np.ones(len(semeval.groups), dtype=bool)),
            (mohler, np.ones(len(mohler.groups), dtype=bool)),
            (dev, tune),
        )
        folds = card_folds(semeval, mohler, dev, tune)
        model = replace(model, card_calibration=fit_card_calibration(dev, folds))
        model = replace(model, review_below=choose_review_below(dev, folds, model))
        model = replace(
            model,
            provenance={
                "fitted_by": "bench/grading_verdict.py --refit",
                "data": "SemEval-2013 2-way training, Mohler 2011, grading_dev.jsonl tune half"
                + (f", reviews from {reviews.name}" if reviews is not None else ""),
                "public_share": PUBLIC_SHARE,
                "review_budget": REVIEW_BUDGET,
            },
        )
        MODEL_PATH.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
        shipped_verdict_model.cache_clear()
        print(
            f"  wrote {MODEL_PATH.relative_to(ROOT)} (review below {model.review_below}, "
            f"card calibration {model.card_calibration})"
        )
    model = shipped_verdict_model()

    decided = verdicts_of(dev, model)
    verdicts, confidence, review = decided.verdicts, decided.confidence, decided.review
    with_review = dev_figures(dev, held_out, verdicts, review)
    without_review = dev_figures(dev, held_out, verdicts, np.zeros(len(review), dtype=bool))
    labels = np.array([str(meta["label"]) for meta in dev.meta])
    right = np.array([verdict.value for verdict in verdicts]) == labels
    dev_ece, dev_table = reliability(confidence[held_out], right[held_out])
    print(f"  development set, held-out half ({int(held_out.sum())} answers):")
    for name, figures in (("with review", with_review), ("review off", without_review)):
        print(
            f"    {name}: flagged {figures.flagged:.1%}; among the rest ({figures.counts}): "
            f"wrong graded correct {figures.wrong_correct}, wrong given credit "
            f"{figures.wrong_credited:.1%}, right graded correct {figures.right_correct:.1%}, "
            f"partial graded partial {figures.partial_partial:.1%}"
        )
    print_reliability("development set held-out half (3-way verdict)", dev_table)
    cv = semeval_cv(semeval, mohler, dev, tune)
    print_reliability("SemEval CV by question (correct or not)", cv["table"])  # type: ignore[arg-type]
    sciq, beetle = cv["sciEntsBank"], cv["beetle"]
    r = mohler_cv(semeval, mohler, dev, tune)
    print(
        f"  SemEval CV macro-F1: SciEntsBank {sciq[0]:.3f} (cosine {sciq[1]:.3f}), "  # type: ignore[index]
        f"Beetle {beetle[0]:.3f} (cosine {beetle[1]:.3f}); ECE {cv['ece']:.3f}; "  # type: ignore[index]
        f"dev ECE {dev_ece:.3f}; Mohler r (CV by assignment) {r:.3f}"
    )
    return VerdictResult(
        sciq=sciq,  # type: ignore[arg-type]
        beetle=beetle,  # type: ignore[arg-type]
        semeval_ece=float(cv["ece"]),  # type: ignore[arg-type]
        dev_ece=dev_ece,
        mohler_r=r,
        with_review=with_review,
        without_review=without_review,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refit", action="store_true", help="fit and write a new model first")
    parser.add_argument(
        "--reviews",
        type=Path,
        help="JSON Lines from GET /v1/reviews/export: people's verdicts join the tuning half",
    )
    arguments = parser.parse_args()
    main(refit=arguments.refit, reviews=arguments.reviews)
