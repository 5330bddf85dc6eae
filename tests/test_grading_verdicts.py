"""The verdict a learner reads (issue 12): cards that know their misconceptions, a fitted
verdict model, a confidence and review when unsure. Each failure the issue quotes is a test
here, graded by the real model against the real bank card."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from quizsvc.bank import Bank
from quizsvc.bank.model import Misconception
from quizsvc.embedding import CachedEncoder, Encoder
from quizsvc.exams.model import QuestionType
from quizsvc.grading import Glossary, Grade, Grader, Verdict, question_key_for_card
from quizsvc.grading.free_answer import FreeAnswerKey
from quizsvc.grading.model import Feedback
from quizsvc.grading.normalize import word_order_disorder
from quizsvc.grading.screen import is_word_list
from quizsvc.grading.verdict import (
    FEATURE_NAMES,
    SCRAMBLED_DISORDER,
    VerdictModel,
    shipped_verdict_model,
)


@pytest.fixture(scope="module")
def bank_grader(bank: Bank, model: Encoder, bank_encoder: CachedEncoder) -> Grader:
    return Grader.for_bank(bank, model, bank_encoder)


def grade_card(grader: Grader, bank: Bank, card_id: str, answer: str) -> Grade:
    return grader.grade(question_key_for_card(bank.card(card_id)), answer)


# --- Wrong answers that got credit (quoted in the issue) --------------------------------------


@pytest.mark.model
@pytest.mark.parametrize(
    "answer",
    [
        "When the training accuracy stops rising, regardless of what the validation accuracy does",
        "When validation accuracy keeps rising while training accuracy stops improving",
    ],
)
def test_early_stopping_with_training_and_validation_swapped_is_incorrect(
    bank_grader: Grader, bank: Bank, answer: str
) -> None:
    grade = grade_card(bank_grader, bank, "reg-early-stopping", answer)
    assert grade.verdict is Verdict.INCORRECT
    assert grade.score == 0.0
    assert grade.feedback.wrong, "the feedback names the misconception"


@pytest.mark.model
def test_accuracy_given_as_the_precision_formula_is_incorrect(
    bank_grader: Grader, bank: Bank
) -> None:
    grade = grade_card(bank_grader, bank, "metrics-accuracy", "Accuracy is TP / (TP + FP)")
    assert grade.verdict is Verdict.INCORRECT
    # The precision misconception wins by about 0.05; int8 vectors of the bank depend a
    # little on the batch they were first encoded in, and within the near-tie band the
    # grade asks for review instead of naming the misconception.
    nearest = grade.evidence["misconception"]
    assert "tp / (tp + fp)" in nearest["text"].lower(), nearest
    if nearest["wins"]:
        assert any("precision" in line.lower() for line in grade.feedback.wrong)
    else:
        assert abs(nearest["margin"]) < shipped_verdict_model().misconception_tie, nearest
        assert grade.needs_review


@pytest.mark.model
def test_arithmetic_mean_is_incorrect_and_harmonic_mean_correct_for_f1(
    bank_grader: Grader, bank: Bank
) -> None:
    arithmetic = grade_card(
        bank_grader, bank, "metrics-f1-formula", "the arithmetic mean of precision and recall"
    )
    harmonic = grade_card(
        bank_grader, bank, "metrics-f1-formula", "the harmonic mean of precision and recall"
    )
    assert arithmetic.verdict is Verdict.INCORRECT
    assert harmonic.verdict is Verdict.CORRECT
    assert harmonic.score > arithmetic.score


@pytest.mark.model
def test_a_bag_of_the_references_words_gets_nothing(bank_grader: Grader, bank: Bank) -> None:
    answer = "rate threshold positive false true various recall classification settings against"
    grade = grade_card(bank_grader, bank, "metrics-roc-plot", answer)
    assert grade.verdict is Verdict.INCORRECT
    assert grade.score == 0.0
    assert grade.evidence["screen"] == "word_list"


REGULARIZATION_REFERENCE = (
    "Regularization techniques prevent overfitting, so the model generalizes to new data "
    "instead of memorizing the training data."
)
#: A bag of that reference's words with a few function words, so the word-list screen lets it
#: through (from the development set's tuning half).
REGULARIZATION_BAG = (
    "data data techniques overfitting new regularization memorizing so training prevent "
    "model instead generalizes"
)


def test_word_order_disorder_tells_a_bag_of_the_references_words_from_a_sentence() -> None:
    assert word_order_disorder(REGULARIZATION_BAG, REGULARIZATION_REFERENCE) >= SCRAMBLED_DISORDER
    paraphrase = (
        "Regularization keeps the model from overfitting, so it generalizes to new data "
        "rather than memorizing its training data"
    )
    assert word_order_disorder(paraphrase, REGULARIZATION_REFERENCE) < SCRAMBLED_DISORDER
    # Too few shared words to say anything about order.
    assert word_order_disorder("overfitting data", REGULARIZATION_REFERENCE) == 0.0


@pytest.mark.model
def test_a_bag_of_words_past_the_word_list_screen_gets_no_unreviewed_credit(
    bank_grader: Grader, bank: Bank
) -> None:
    """Graded correct (0.94) and not flagged before the review rule: the embedding and word
    overlap both ignore word order."""
    assert bank.card("reg-definition").answer == REGULARIZATION_REFERENCE
    grade = grade_card(bank_grader, bank, "reg-definition", REGULARIZATION_BAG)
    assert grade.evidence["screen"] != "word_list"
    assert grade.verdict is Verdict.INCORRECT or grade.needs_review
    if grade.verdict is not Verdict.INCORRECT:
        assert "word_salad" in grade.evidence["review_reasons"]


@pytest.mark.model
def test_a_bag_of_words_keeping_some_function_words_gets_no_unreviewed_credit(
    bank_grader: Grader, bank: Bank
) -> None:
    """Three function words in sixteen (stop share 0.19) passed the former cut-off of 0.15:
    five of the tuning half's sixteen bags did, and were graded correct unflagged."""
    bag = (
        "data the training new overfitting so model regularization prevent instead "
        "generalizes memorizing techniques data to data"
    )
    grade = grade_card(bank_grader, bank, "reg-definition", bag)
    assert grade.verdict is Verdict.INCORRECT or "word_salad" in grade.evidence["review_reasons"]


@pytest.mark.model
def test_a_bag_of_words_with_a_fifth_function_words_and_none_of_its_own_is_reviewed(
    bank_grader: Grader, bank: Bank
) -> None:
    """A fifth of it function words (the stop-share cut-off is below 0.2), every content word
    the reference's: graded correct (0.81) and not flagged before."""
    bag = (
        "memorizing the training data instead generalizes new data model overfitting prevent "
        "techniques regularization so to"
    )
    grade = grade_card(bank_grader, bank, "reg-definition", bag)
    assert grade.verdict is Verdict.INCORRECT or "word_salad" in grade.evidence["review_reasons"]


def test_a_cards_free_answer_key_accepts_what_an_exams_key_accepts(bank: Bank) -> None:
    """The verdict model is fitted on keys from ``question_key_for_card``; an exam grades with
    the builder's key, whose ``accept`` is the card's accepted forms. The answer sentence
    among the short answers made a near copy of it the card's "terse form"."""
    for card in bank:
        if not card.misconceptions:
            continue
        key = question_key_for_card(card)
        assert key.accept == card.accept
        assert key.short_answers == card.short_answers
        assert key.misconceptions == card.misconceptions
        free_key = FreeAnswerKey.from_question(key, Glossary.for_deck())
        if card.answer not in (*card.accept, *card.short_answers):
            assert card.answer not in free_key.short_answers


@pytest.mark.model
def test_a_negated_roc_answer_is_not_credited(bank_grader: Grader, bank: Bank) -> None:
    grade = grade_card(
        bank_grader, bank, "metrics-roc-plot", "It does not plot the TPR against the FPR"
    )
    assert grade.verdict is Verdict.INCORRECT


@pytest.mark.model
def test_a_wrong_expansion_of_lstm_is_incorrect_not_partial(
    bank_grader: Grader, bank: Bank
) -> None:
    grade = grade_card(bank_grader, bank, "rnn-lstm-expansion", "Linear support vector machine")
    assert grade.verdict is Verdict.INCORRECT
    assert "covered 0 of" not in grade.feedback.text


@pytest.mark.model
def test_pipe_mode_described_as_file_mode_is_not_graded_correct_unreviewed(
    bank_grader: Grader, bank: Bank
) -> None:
    answer = "Pipe mode copies the full dataset from S3 onto the training instances' disk"
    grade = grade_card(bank_grader, bank, "sm-pipe-mode", answer)
    assert grade.verdict is not Verdict.CORRECT
    assert grade.verdict is Verdict.INCORRECT or grade.needs_review


# --- Verdict rules a learner can read -----------------------------------------------------------


@pytest.mark.model
def test_feedback_follows_the_verdict(bank_grader: Grader, bank: Bank) -> None:
    card = bank.card("metrics-f1-formula")
    answers = [
        "the harmonic mean of precision and recall",
        "the arithmetic mean of precision and recall",
        "2 * precision * recall / (precision + recall)",
        "I don't know",
    ]
    grades = bank_grader.grade_many([(question_key_for_card(card), text) for text in answers])
    for grade in grades:
        points = len(card.key_points)
        if grade.verdict is Verdict.CORRECT:
            assert len(grade.feedback.right) == points
            assert not grade.feedback.missing
        elif grade.verdict is Verdict.PARTIAL:
            assert grade.feedback.right, "partial needs at least one key point covered"
        else:
            assert not grade.feedback.right
        assert 0.0 <= grade.confidence <= 1.0
        assert ".." not in grade.feedback.text
        assert grade.feedback.text.count(card.answer.rstrip(".")) <= 1
        if grade.needs_review:
            assert "Provisional" in grade.feedback.summary


def test_feedback_text_has_single_full_stops_and_one_reference() -> None:
    feedback = Feedback(
        "Partly correct.",
        right=("Harmonic mean.",),
        missing=("2TP / (2TP + FP + FN).",),
        reference="The harmonic mean of precision and recall.",
        explanation="The harmonic mean of precision and recall.",
    )
    assert ".." not in feedback.text
    assert feedback.text.count("The harmonic mean of precision and recall") == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rate threshold positive false true various recall classification settings", True),
        ("true negatives over true negatives plus false positives", False),
        ("CNN, RNN, feedforward, autoencoder, transformer, GAN, perceptron", False),
        ("It plots the true positive rate against the false positive rate", False),
        ("harmonic mean precision recall", False),
    ],
)
def test_word_list_screen(text: str, expected: bool) -> None:
    assert is_word_list(text) is expected


# --- Misconceptions and short answers given ad hoc ---------------------------------------------


@pytest.mark.model
def test_ad_hoc_misconception_decides_and_names_itself(
    model: Encoder, bank_encoder: CachedEncoder
) -> None:
    from quizsvc.grading import grade_free_answer

    grade = grade_free_answer(
        "It adds the absolute values of the weights",
        "L2 regularization adds the sum of the squared weights to the loss.",
        ["Adds the squared weights to the loss"],
        encoder=model,
        bank_encoder=bank_encoder,
        prompt="What does L2 regularization add to the loss?",
        misconceptions=[
            Misconception(
                "It adds the sum of the absolute values of the weights",
                "That is L1 regularization.",
            )
        ],
    )
    assert grade.verdict is Verdict.INCORRECT
    assert "That is L1 regularization." in grade.feedback.wrong


# --- The shipped verdict model -------------------------------------------------------------------


def test_shipped_verdict_model_is_reviewed_json_with_every_feature() -> None:
    text = resources.files("quizsvc.grading").joinpath("verdict_model.json").read_text()
    data = json.loads(text)
    assert tuple(data["features"]) == FEATURE_NAMES
    model = shipped_verdict_model()
    assert 0.0 < model.review_below < 1.0
    # A refit changes the fingerprint: it is part of a grade's version.
    same = VerdictModel.from_dict(data)
    assert same.fingerprint == model.fingerprint
    data["card"]["correct"]["intercept"] += 0.5
    assert VerdictModel.from_dict(data).fingerprint != model.fingerprint


def test_verdict_model_refuses_parameters_for_other_features() -> None:
    data = json.loads(resources.files("quizsvc.grading").joinpath("verdict_model.json").read_text())
    data["features"] = data["features"][:-1]
    with pytest.raises(ValueError, match="do not match"):
        VerdictModel.from_dict(data)
    data = json.loads(resources.files("quizsvc.grading").joinpath("verdict_model.json").read_text())
    data["generic"]["credit"]["scale"] = list(np.zeros(len(FEATURE_NAMES)))
    with pytest.raises(ValueError, match="positive"):
        VerdictModel.from_dict(data)


# --- Fill-in grades a blank ------------------------------------------------------------------


@pytest.mark.model
def test_fill_in_of_a_card_grades_the_blank_not_the_whole_sentence(
    bank_grader: Grader, bank: Bank
) -> None:
    card = next(c for c in bank if len(c.answer.split()) > 8)
    key = question_key_for_card(card, QuestionType.FILL_IN)
    assert "_____" in key.prompt
    assert key.accept
    assert key.accept[0] != card.answer
    grade = bank_grader.grade(key, key.accept[0])
    assert grade.verdict is Verdict.CORRECT


@pytest.mark.model
def test_the_cards_short_answer_in_full_words_beats_a_near_edit_misconception(
    bank_grader: Grader, bank: Bank
) -> None:
    """Found writing the README walk-through: the card's short answer with its
    abbreviations spelled out sat nearer the misconception "at one fixed threshold of 0.5"
    than the reference, and was graded incorrect with confidence 0.05."""
    right = grade_card(
        bank_grader,
        bank,
        "metrics-roc-plot",
        "The true positive rate against the false positive rate at different thresholds",
    )
    assert right.verdict is Verdict.CORRECT
    wrong = grade_card(
        bank_grader,
        bank,
        "metrics-roc-plot",
        "The true positive rate against the false positive rate at one fixed threshold of 0.5",
    )
    assert wrong.verdict is Verdict.INCORRECT


@pytest.mark.model
def test_an_answer_in_the_right_answers_own_words_is_not_lost_to_a_near_edit_misconception(
    bank_grader: Grader, bank: Bank
) -> None:
    """ "at various thresholds" uses a word only the right side has and none of "at one
    fixed threshold of 0.5": the embedding, which put it nearer the misconception, does not
    decide alone (it was incorrect, and said so with confidence)."""
    grade = grade_card(
        bank_grader,
        bank,
        "metrics-roc-plot",
        "The true positive rate against the false positive rate at various thresholds",
    )
    assert grade.verdict is not Verdict.INCORRECT
    assert not grade.feedback.wrong


def test_content_grams_leave_out_clause_links_and_pair_neighbours() -> None:
    from quizsvc.grading.normalize import content_grams

    grams = content_grams("Training accuracy keeps rising while validation accuracy stalls")
    assert "while" not in grams
    assert {"train accuraci", "rise valid"} <= grams


@pytest.mark.model
def test_same_answers_and_same_grader_version_give_the_same_grade(
    bank: Bank, model: Encoder, bank_encoder: CachedEncoder
) -> None:
    """A grade names the version that produced it; the same inputs and version reproduce it
    exactly, and any change of settings is a new version."""
    from quizsvc.grading import GradingConfig

    answers = [
        ("metrics-roc-plot", "The true positive rate against the false positive rate"),
        ("reg-early-stopping", "When validation accuracy stops improving"),
        ("metrics-recall-when", "I don't know"),
    ]
    pairs = [(question_key_for_card(bank.card(card)), text) for card, text in answers]
    first = Grader.for_bank(bank, model, bank_encoder).grade_many(pairs)
    second_grader = Grader.for_bank(bank, model, bank_encoder)
    second = second_grader.grade_many(pairs)
    assert [g.to_dict() for g in first] == [g.to_dict() for g in second]
    versions = {second_grader.version_for(key).id for key, _ in pairs}
    assert len(versions) == 1
    (version,) = versions
    details = second_grader.version_for(pairs[0][0]).to_dict()
    assert details["id"] == version
    assert details["encoder"] == model.fingerprint
    assert len(details["config_sha256"]) == 64
    assert len(details["verdict_model_sha256"]) == 64
    stricter = Grader.for_bank(bank, model, bank_encoder, GradingConfig(review_below=0.9))
    assert stricter.version_for(pairs[0][0]).id != version


# --- The score of a partial verdict -------------------------------------------------------------


def test_a_partial_verdict_scores_the_models_expected_credit_within_the_partial_band() -> None:
    from quizsvc.grading.free_answer import PARTIAL_SCORE_BAND, verdict_score

    low, high = PARTIAL_SCORE_BAND
    assert verdict_score(Verdict.CORRECT, 0.6, 0.9) == 1.0
    assert verdict_score(Verdict.INCORRECT, 0.3, 0.45) == 0.0
    # P(correct) + half of P(partial): 0.4 + 0.5 * (0.8 - 0.4).
    assert verdict_score(Verdict.PARTIAL, 0.4, 0.8) == pytest.approx(0.6)
    assert verdict_score(Verdict.PARTIAL, 0.02, 0.3) == low
    assert verdict_score(Verdict.PARTIAL, 0.95, 0.99) == high
    # Nearly right scores above barely credited.
    assert verdict_score(Verdict.PARTIAL, 0.45, 0.9) > verdict_score(Verdict.PARTIAL, 0.1, 0.55)


@pytest.mark.model
def test_a_partial_grade_reads_its_score_from_the_model(bank_grader: Grader, bank: Bank) -> None:
    grade = grade_card(
        bank_grader,
        bank,
        "bt-word2vec",
        "Word embeddings - a vector per word.",
    )
    assert grade.verdict is Verdict.PARTIAL
    model = grade.evidence["verdict_model"]
    expected = model["p_correct"] + 0.5 * (model["p_credit"] - model["p_correct"])
    assert grade.score == pytest.approx(min(0.8, max(0.2, expected)), abs=1e-3)


# --- Key points derived from an ad-hoc reference -------------------------------------------------


@pytest.mark.model
def test_a_paraphrase_of_a_one_clause_ad_hoc_reference_is_not_incorrect(
    model: Encoder, bank_encoder: CachedEncoder
) -> None:
    """Without listed key points, the reference's clause is the key point. A right answer in
    other words matches a whole clause less closely than a one-idea key point, and at the
    listed key points' threshold (0.6) this one covered nothing and was graded incorrect."""
    from quizsvc.grading import GradingConfig, grade_free_answer

    arguments = {
        "encoder": model,
        "bank_encoder": bank_encoder,
        "prompt": "What is the role of a prototype in software development?",
    }
    answer = "It lets you try out how parts of the final program will behave before building it."
    reference = "To simulate the behaviour of portions of the desired software product."
    grade = grade_free_answer(answer, reference, **arguments)  # type: ignore[arg-type]
    assert grade.verdict is not Verdict.INCORRECT
    assert grade.feedback.right == (reference,)
    former = GradingConfig(derived_key_point_covered_at=0.6)
    before = grade_free_answer(answer, reference, config=former, **arguments)  # type: ignore[arg-type]
    assert before.verdict is Verdict.INCORRECT
