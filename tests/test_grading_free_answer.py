"""Free-answer grading with the real all-MiniLM-L6-v2: the hard cases from the grading issue,
partial credit and feedback, batching, and the whole real bank."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from quizsvc.bank import Bank
from quizsvc.embedding import CachedEncoder, Encoder, Vectors
from quizsvc.embedding.cache import text_hash
from quizsvc.exams.model import Option, QuestionKey, QuestionType
from quizsvc.grading import (
    Grade,
    Grader,
    GradingConfig,
    Verdict,
    grade_free_answer,
    question_key_for_card,
)

pytestmark = pytest.mark.model

ML_GLOSSARY = {
    "TP": "true positives",
    "FP": "false positives",
    "FN": "false negatives",
    "LR": "learning rate",
}


def card(card_id: str, prompt: str, answer: str, *key_points: str) -> QuestionKey:
    return QuestionKey(
        question_id=f"q-{card_id}",
        type=QuestionType.FREE_ANSWER,
        card_id=card_id,
        deck="ml",
        topic="metrics",
        prompt=prompt,
        answer=answer,
        key_points=key_points,
    )


F1 = card(
    "f1",
    "What is the F1 score?",
    "The harmonic mean of precision and recall: 2 * (precision * recall) / (precision + recall).",
    "Harmonic mean of precision and recall",
)
PRECISION = card(
    "precision",
    "What is precision?",
    "TP / (TP + FP): the share of predicted positives that are truly positive.",
    "TP / (TP + FP)",
    "Share of predicted positives that are truly positive",
)
PRECISION_FORMULA = card(
    "precision-formula",
    "What is the formula for precision?",
    "TP / (TP + FP)",
    "TP / (TP + FP)",
)
PRECISION_MEANING = card(
    "precision-meaning",
    "What does precision measure?",
    "The share of positive predictions that are actually positive.",
    "Share of positive predictions that are actually positive",
)
COSTLY_MISSES = card(
    "costly-misses",
    "Which metric should you focus on when missing a fraud case is very costly?",
    "Recall, because it measures how many of the actual positives the model catches.",
    "Recall",
    "Measures how many actual positives are caught",
)
REGULARIZATION = card(
    "l1-l2",
    "How do L1 and L2 regularization differ in their effect on the weights?",
    "L1 regularization adds the absolute values of the weights and drives some weights to "
    "exactly zero (feature selection); L2 regularization adds the squared weights and shrinks "
    "all weights smoothly.",
    "L1 drives some weights to exactly zero (feature selection)",
    "L2 shrinks all weights smoothly",
)
ENSEMBLES = card(
    "bagging-boosting",
    "How do bagging and boosting differ?",
    "Bagging trains models in parallel on bootstrap samples and averages them; boosting trains "
    "models sequentially, each focusing on the errors of the previous ones.",
    "Bagging trains models in parallel on bootstrap samples",
    "Boosting trains models sequentially, each focusing on the previous errors",
)
LEARNING_RATE = card(
    "learning-rate",
    "What goes wrong when the learning rate is set badly?",
    "A learning rate that is too high overshoots the minimum and may diverge; one that is too "
    "low converges very slowly.",
    "Too high overshoots the minimum or diverges",
    "Too low converges very slowly",
)


@pytest.fixture(scope="module", params=["model", "torch_model"], ids=["default", "torch"])
def grader(request: pytest.FixtureRequest) -> Grader:
    """The grader over each backend: the default (ONNX int8 on a CPU) and torch (on a GPU)."""
    encoder: Encoder = request.getfixturevalue(request.param)
    return Grader(encoder, CachedEncoder(encoder), glossaries={"ml": ML_GLOSSARY})


def grade_pair(grader: Grader, key: QuestionKey, right: str, swapped: str) -> tuple[Grade, Grade]:
    good, bad = grader.grade_many([(key, right), (key, swapped)])
    return good, bad


# --- The hard cases named in the issue ------------------------------------------------------


def test_harmonic_mean_of_precision_and_recall_gets_full_credit(grader: Grader) -> None:
    grade = grader.grade(F1, "the harmonic mean of precision and recall")
    assert grade.verdict is Verdict.CORRECT
    assert grade.score >= 0.95
    assert grade.feedback.right == ("Harmonic mean of precision and recall",)
    assert grade.feedback.missing == ()


def test_arithmetic_mean_of_precision_and_recall_gets_no_credit(grader: Grader) -> None:
    grade = grader.grade(F1, "the arithmetic mean of precision and recall")
    # Embeddings alone would pass it: it is close to the reference.
    assert grade.evidence["raw_reference_similarity"] > 0.6
    assert grade.score == 0.0
    assert grade.verdict is Verdict.INCORRECT
    assert '"arithmetic"' in grade.feedback.summary
    assert '"harmonic"' in grade.feedback.summary
    assert grade.feedback.right == ()


def test_formula_in_words_gets_credit_against_the_symbolic_reference(grader: Grader) -> None:
    answer = "true positives divided by true positives plus false positives"
    grade = grader.grade(PRECISION_FORMULA, answer)
    assert grade.verdict is Verdict.CORRECT
    assert grade.score >= 0.9
    assert grade.evidence["key_points"][0]["covered"]
    # The same words score partial credit on a card that also asks what precision means.
    assert grader.grade(PRECISION, answer).verdict is Verdict.PARTIAL


def test_abbreviated_formula_gets_credit_too(grader: Grader) -> None:
    grade = grader.grade(
        PRECISION, "TP/(TP+FP), the fraction of positive predictions that are right"
    )
    assert grade.verdict is Verdict.CORRECT


def test_answer_that_echoes_the_question_gets_no_credit(grader: Grader) -> None:
    for echo in ("The F1 score is the F1 score.", "What is the F1 score?"):
        grade = grader.grade(F1, echo)
        assert grade.score == 0.0
        assert grade.evidence["screen"] == "echo"
        assert "restates the question" in grade.feedback.summary


def test_empty_answer_gets_no_credit(grader: Grader) -> None:
    for empty in ("", "   ", "?!", None):
        grade = grader.grade(F1, empty)
        assert (grade.score, grade.verdict) == (0.0, Verdict.INCORRECT)
        assert grade.evidence["screen"] == "empty"
        assert grade.feedback.reference == F1.answer


@pytest.mark.parametrize("answer", ["I don't know", "idk", "Sorry, no idea.", "not sure"])
def test_i_dont_know_gets_no_credit(grader: Grader, answer: str) -> None:
    grade = grader.grade(F1, answer)
    assert grade.score == 0.0
    assert grade.evidence["screen"] == "no_answer"
    assert grade.feedback.missing == F1.key_points


@pytest.mark.parametrize("answer", ["asdfgh qwerty zxcvb", "jkjkjk lkjlkj", "dfhgjdfhg xcvbnm"])
def test_gibberish_gets_no_credit(grader: Grader, answer: str) -> None:
    grade = grader.grade(F1, answer)
    assert grade.score == 0.0
    assert grade.evidence["screen"] == "gibberish"


def test_swapped_precision_and_recall_get_no_credit(grader: Grader) -> None:
    good, bad = grade_pair(
        grader,
        COSTLY_MISSES,
        "Recall, since it counts how many of the actual positives the model catches.",
        "Precision, since it counts how many of the actual positives the model catches.",
    )
    assert good.verdict is Verdict.CORRECT
    assert bad.score == 0.0
    assert bad.evidence["contradictions"][0]["found"] == "precision"


def test_swapped_l1_and_l2_get_no_credit(grader: Grader) -> None:
    good, bad = grade_pair(
        grader,
        REGULARIZATION,
        "L1 drives some weights to exactly zero, L2 shrinks all the weights smoothly.",
        "L2 drives some weights to exactly zero, L1 shrinks all the weights smoothly.",
    )
    assert good.verdict is Verdict.CORRECT
    assert bad.score == 0.0
    assert {item["found"] for item in bad.evidence["contradictions"]} >= {"l2"}


def test_swapped_bagging_and_boosting_get_no_credit(grader: Grader) -> None:
    good, bad = grade_pair(
        grader,
        ENSEMBLES,
        "Bagging trains models in parallel on bootstrap samples; boosting trains them one after "
        "another, each fixing the errors of the previous ones.",
        "Boosting trains models in parallel on bootstrap samples; bagging trains them one after "
        "another, each fixing the errors of the previous ones.",
    )
    assert good.verdict is Verdict.CORRECT
    assert bad.score == 0.0
    assert "Bagging trains models in parallel on bootstrap samples" in bad.feedback.missing


def test_swapped_false_positive_and_false_negative_get_no_credit(grader: Grader) -> None:
    good, bad = grade_pair(
        grader,
        PRECISION,
        "TP / (TP + FP)",
        "TP / (TP + FN)",
    )
    assert good.score > 0.5
    assert bad.score == 0.0
    assert bad.evidence["contradictions"][0]["expected"] == "false positives"
    assert "TP / (TP + FP)" in bad.feedback.missing


def test_swapped_too_high_and_too_low_get_no_credit(grader: Grader) -> None:
    good, bad = grade_pair(
        grader,
        LEARNING_RATE,
        "If it is too high it overshoots the minimum and diverges, if it is too low training "
        "converges very slowly.",
        "If it is too low it overshoots the minimum and diverges, if it is too high training "
        "converges very slowly.",
    )
    assert good.verdict is Verdict.CORRECT
    assert bad.score == 0.0
    assert bad.verdict is Verdict.INCORRECT


def test_swapped_term_is_not_a_contradiction_when_negated(grader: Grader) -> None:
    grade = grader.grade(
        COSTLY_MISSES, "Recall, not precision: it measures how many actual positives are caught."
    )
    assert grade.evidence["contradictions"] == []
    assert grade.verdict is Verdict.CORRECT


# --- Partial credit and feedback -------------------------------------------------------------


def test_partial_credit_names_the_missed_key_point(grader: Grader) -> None:
    grade = grader.grade(
        ENSEMBLES, "Bagging trains several models in parallel on bootstrap samples."
    )
    assert grade.verdict is Verdict.PARTIAL
    assert 0.35 <= grade.score < 1.0
    assert grade.feedback.right == ("Bagging trains models in parallel on bootstrap samples",)
    assert grade.feedback.missing == (
        "Boosting trains models sequentially, each focusing on the previous errors",
    )
    text = grade.feedback.text
    assert "You covered: Bagging trains models in parallel" in text
    assert "Missing: Boosting trains models sequentially" in text
    assert f"Reference answer: {ENSEMBLES.answer.rstrip('.')}" in text


def test_more_key_points_covered_scores_higher(grader: Grader) -> None:
    half, full = grader.grade_many(
        [
            (LEARNING_RATE, "If it is too high, training overshoots the minimum."),
            (LEARNING_RATE, "Too high overshoots the minimum; too low converges very slowly."),
        ]
    )
    assert half.verdict is Verdict.PARTIAL
    assert full.verdict is Verdict.CORRECT
    assert full.score > half.score


@pytest.mark.parametrize(
    "answer",
    [
        "Of all the cases predicted positive, the proportion that truly are positive.",
        "How many of the predicted positives are real positives.",
    ],
)
def test_paraphrase_with_other_words_is_correct(grader: Grader, answer: str) -> None:
    grade = grader.grade(PRECISION_MEANING, answer)
    assert grade.verdict is Verdict.CORRECT


def test_unrelated_answer_is_incorrect(grader: Grader) -> None:
    grade = grader.grade(F1, "Dropout randomly switches off neurons during training.")
    assert grade.verdict is Verdict.INCORRECT
    assert grade.score < 0.35


def test_evidence_lists_similarities_and_matches(grader: Grader) -> None:
    grade = grader.grade(
        ENSEMBLES, "Bagging averages models trained in parallel; boosting trains them sequentially."
    )
    evidence = grade.evidence
    assert set(evidence) >= {"reference_similarity", "lexical_overlap", "components", "key_points"}
    assert len(evidence["key_points"]) == 2
    for point in evidence["key_points"]:
        assert -1.0 <= point["similarity"] <= 1.0
        assert point["best_match"]
    assert grade.to_dict()["evidence"] == evidence


def test_ad_hoc_grading_without_a_card(model: Encoder, bank_encoder: CachedEncoder) -> None:
    reference = "The harmonic mean of precision and recall."
    right = grade_free_answer(
        "harmonic mean of precision and recall",
        reference,
        ["harmonic mean", "of precision and recall"],
        encoder=model,
        bank_encoder=bank_encoder,
    )
    wrong = grade_free_answer(
        "arithmetic mean of precision and recall",
        reference,
        encoder=model,
        bank_encoder=bank_encoder,
    )
    assert right.verdict is Verdict.CORRECT
    assert right.question_id == "ad-hoc"
    assert wrong.score == 0.0


def test_card_override_can_relax_the_all_key_points_rule(
    model: Encoder, bank_encoder: CachedEncoder
) -> None:
    answer = "Bagging trains several models in parallel on bootstrap samples."
    relaxed = Grader(
        model,
        bank_encoder,
        card_overrides={
            "bagging-boosting": {"correct_needs_all_key_points": False, "correct_at": 0.3}
        },
    )
    strict = Grader(model, bank_encoder)
    assert relaxed.grade(ENSEMBLES, answer).verdict is Verdict.CORRECT
    assert strict.grade(ENSEMBLES, answer).verdict is Verdict.PARTIAL


# --- Batching and caching --------------------------------------------------------------------


class CountingEncoder:
    """Records every encode call of the encoder it wraps."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        return self.inner.encode(texts)


def test_a_submission_is_encoded_in_one_call_with_bank_text_from_the_cache(
    model: Encoder, tmp_path: Path
) -> None:
    learner = CountingEncoder(model)
    bank_model = CountingEncoder(model)
    cache = CachedEncoder(bank_model, tmp_path / "embeddings.sqlite3")
    grader = Grader(learner, cache, glossaries={"ml": ML_GLOSSARY})
    choice = QuestionKey(
        "q-mc",
        QuestionType.MULTIPLE_CHOICE,
        "mc",
        "ml",
        "metrics",
        "Pick one.",
        "Recall",
        options=(Option("a", "Recall"), Option("b", "Precision")),
        correct_option_ids=("a",),
    )
    fill = QuestionKey(
        "q-fill",
        QuestionType.FILL_IN,
        "fill",
        "ml",
        "metrics",
        "Name it.",
        "F1 score",
        accept=("F1 score",),
    )
    answers = {
        F1: "the harmonic mean of precision and recall",
        PRECISION: "true positives divided by true positives plus false positives",
        ENSEMBLES: "Bagging is parallel. Boosting is sequential, it fixes earlier errors.",
        LEARNING_RATE: "Too high overshoots; too low is slow.",
    }
    submission: list[tuple[QuestionKey, object]] = [(choice, "a"), (fill, "F1 score")]
    submission += list(answers.items())

    first = grader.grade_many(submission)  # type: ignore[arg-type]
    assert len(learner.calls) == 1, "all free answers of a submission go to the model at once"
    assert len(bank_model.calls) == 1, "reference, key-point and question texts in one call"
    learner_texts = learner.calls[0]
    for key in answers:
        assert key.answer not in learner_texts
        assert not set(key.key_points) & set(learner_texts)
    assert any("harmonic mean of precision and recall" in text for text in learner_texts)
    assert [grade.question_id for grade in first] == [key.question_id for key, _ in submission]

    learner.calls.clear()
    bank_model.calls.clear()
    again = grader.grade_many(submission)  # type: ignore[arg-type]
    assert len(learner.calls) == 1
    assert bank_model.calls == [], "bank text comes from the cache the second time"
    assert [grade.score for grade in again] == pytest.approx([grade.score for grade in first])

    learner_hashes = {text_hash(text) for text in learner_texts}
    with sqlite3.connect(tmp_path / "embeddings.sqlite3") as connection:
        on_disk = {row[0] for row in connection.execute("SELECT text_hash FROM embeddings")}
    assert on_disk, "bank text was cached"
    assert not learner_hashes & on_disk, "learner answers never enter the embedding cache"


def test_screened_answers_cost_no_model_call(model: Encoder) -> None:
    learner = CountingEncoder(model)
    bank_model = CountingEncoder(model)
    grader = Grader(learner, CachedEncoder(bank_model))
    grades = grader.grade_many([(F1, ""), (F1, "I don't know"), (F1, "asdf qwerty zxcvb")])
    assert [grade.score for grade in grades] == [0.0, 0.0, 0.0]
    assert learner.calls == []
    assert bank_model.calls == []


# --- The real bank ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bank_grades(bank: Bank, model: Encoder, bank_encoder: CachedEncoder) -> dict[str, list[Grade]]:
    grader = Grader.for_bank(bank, model, bank_encoder)
    keys = [question_key_for_card(item) for item in bank]
    return {
        "reference": grader.grade_many([(key, key.answer) for key in keys]),
        "echo": grader.grade_many([(key, key.prompt) for key in keys]),
        "dont_know": grader.grade_many([(key, "I don't know.") for key in keys]),
    }


def test_every_card_gives_its_own_answer_high_marks(bank_grades: dict[str, list[Grade]]) -> None:
    grades = bank_grades["reference"]
    assert grades, "the bank has cards"
    assert min(grade.score for grade in grades) >= 0.8
    correct = sum(grade.verdict is Verdict.CORRECT for grade in grades)
    assert correct >= 0.95 * len(grades)


def test_no_card_credits_its_own_question_as_an_answer(bank_grades: dict[str, list[Grade]]) -> None:
    scores = np.array([grade.score for grade in bank_grades["echo"]])
    assert scores.max() < GradingConfig().partial_at


def test_no_card_credits_i_dont_know(bank_grades: dict[str, list[Grade]]) -> None:
    assert all(grade.score == 0.0 for grade in bank_grades["dont_know"])
