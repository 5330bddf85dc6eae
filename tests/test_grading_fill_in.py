"""Fill-in grading: normalisation, accept lists, acronyms, typo tolerance scaled to length,
numbers as numbers."""

from __future__ import annotations

import pytest

from quizsvc.embedding import HashingEncoder
from quizsvc.exams.model import QuestionKey, QuestionType
from quizsvc.grading import Grader, GradingConfig, Verdict
from quizsvc.grading.fill_in import allowed_edits, grade_fill_in
from quizsvc.grading.glossary import Glossary

GLOSSARY = Glossary.for_deck(
    {"LSTM": "Long Short-Term Memory", "GRU": "Gated Recurrent Unit", "FP": "false positives"}
)


def key(answer: str, *accept: str, prompt: str = "Name the term.") -> QuestionKey:
    return QuestionKey(
        question_id="q-fill",
        type=QuestionType.FILL_IN,
        card_id="card",
        deck="ml",
        topic="rnn",
        prompt=prompt,
        answer=answer,
        accept=(answer, *accept),
    )


def grade(answer_key: QuestionKey, response: str | None) -> tuple[float, Verdict, str | None]:
    result = grade_fill_in(answer_key, response, GLOSSARY, GradingConfig())
    return result.score, result.verdict, result.evidence["rule"]


@pytest.mark.parametrize(
    "response",
    [
        "long short-term memory",
        "LONG SHORT TERM MEMORY",
        "  Long   Short-Term Memory. ",
        "the Long Short-Term Memory",
        "long-short-term-memory",
    ],
)
def test_case_punctuation_whitespace_hyphens_and_articles_are_ignored(response: str) -> None:
    assert grade(key("Long Short-Term Memory (LSTM)"), response)[:2] == (1.0, Verdict.CORRECT)


def test_unicode_forms_and_accents_are_folded() -> None:
    assert grade(key("naïve Bayes"), "Naive Bayes")[0] == 1.0
    assert grade(key("k-means"), "k\u2011means")[0] == 1.0


def test_accept_list_forms_are_accepted() -> None:
    answer_key = key("False positive (FP)", "Type I error")
    assert grade(answer_key, "type I error")[0] == 1.0
    assert grade(answer_key, "Type 1 error")[0] == 1.0


def test_acronym_of_the_expansion_is_accepted() -> None:
    score, verdict, rule = grade(key("Long Short-Term Memory"), "LSTM")
    assert (score, verdict) == (1.0, Verdict.CORRECT)
    assert rule in {"acronym", "glossary"}


def test_acronym_is_accepted_from_initials_without_a_glossary() -> None:
    result = grade_fill_in(key("Recurrent Neural Network"), "RNN", Glossary({}), GradingConfig())
    assert result.score == 1.0
    assert result.evidence["rule"] == "acronym"


def test_expansion_of_an_accepted_acronym_is_accepted_through_the_glossary() -> None:
    assert grade(key("GRU"), "gated recurrent unit")[:2] == (1.0, Verdict.CORRECT)


def test_plural_and_inflection_are_accepted() -> None:
    assert grade(key("False positive (FP)"), "false positives")[0] == 1.0
    assert grade(key("hyperparameter"), "hyperparameters")[0] == 1.0


def test_one_letter_slip_in_a_long_term_passes() -> None:
    score, verdict, rule = grade(key("hyperparameter"), "hyperparamter")
    assert (score, verdict, rule) == (1.0, Verdict.CORRECT, "typo")
    result = grade_fill_in(key("hyperparameter"), "hyperparamter", GLOSSARY, GradingConfig())
    assert "spelled 'hyperparameter'" in result.feedback.summary


def test_swapped_letters_in_a_long_term_pass() -> None:
    assert grade(key("stochastic gradient descent"), "stohcastic gradient descent")[0] == 1.0


def test_short_terms_must_be_exact_gru_is_not_gan() -> None:
    assert grade(key("GRU"), "GAN")[:2] == (0.0, Verdict.INCORRECT)
    assert grade(key("GRU"), "GRN")[0] == 0.0


def test_too_many_slips_for_the_length_fail() -> None:
    assert allowed_edits(len("recall"), GradingConfig()) == 1
    assert grade(key("recall"), "recal")[0] == 1.0
    assert grade(key("recall"), "rekal")[0] == 0.0


def test_typo_budget_is_per_word_so_a_different_word_fails() -> None:
    assert grade(key("stochastic gradient descent"), "stochastic gradient ascent")[0] == 0.0


def test_opposite_terms_one_letter_apart_fail() -> None:
    assert grade(key("encoder"), "decoder")[0] == 0.0
    assert grade(key("macro average"), "micro average")[0] == 0.0


def test_incomplete_answer_is_not_accepted_as_a_subset() -> None:
    # rapidfuzz's token_set_ratio would score this 100: its words are a subset of the answer.
    assert grade(key("Long Short-Term Memory"), "short term memory")[0] == 0.0
    assert grade(key("stochastic gradient descent"), "gradient descent")[0] == 0.0


def test_numbers_match_as_numbers() -> None:
    assert grade(key("400"), "400")[0] == 1.0
    assert grade(key("400"), "400.0")[0] == 1.0
    assert grade(key("4,000 trees"), "4000 trees")[0] == 1.0


def test_a_different_number_is_wrong_however_close_the_spelling() -> None:
    score, verdict, _ = grade(key("400"), "4000")
    assert (score, verdict) == (0.0, Verdict.INCORRECT)
    result = grade_fill_in(key("4,000 trees"), "400 trees", GLOSSARY, GradingConfig())
    assert result.score == 0.0
    assert "number" in result.feedback.summary


def test_type_one_is_not_type_two() -> None:
    assert grade(key("False positive", "Type I error"), "Type II error")[0] == 0.0


def test_empty_and_missing_answers_are_incorrect() -> None:
    for response in ("", "   ", None):
        score, verdict, _ = grade(key("GRU"), response)
        assert (score, verdict) == (0.0, Verdict.INCORRECT)


def test_wrong_answer_feedback_gives_the_reference() -> None:
    result = grade_fill_in(key("Boosting"), "Bagging", GLOSSARY, GradingConfig())
    assert result.feedback.missing == ("Boosting",)
    assert result.feedback.wrong == ("Bagging",)
    assert "Reference answer: Boosting" in result.feedback.text


def test_stricter_typo_settings_from_a_card_override() -> None:
    encoder = HashingEncoder()
    strict = Grader(encoder, encoder, card_overrides={"card": {"typo_max_edits": 0}})
    assert strict.grade(key("hyperparameter"), "hyperparamter").score == 0.0
    lenient = Grader(encoder, encoder)
    assert lenient.grade(key("hyperparameter"), "hyperparamter").score == 1.0
    assert encoder.calls == 0


def test_grader_uses_the_deck_glossary() -> None:
    encoder = HashingEncoder()
    grader = Grader(encoder, encoder, glossaries={"ml": {"CBOW": "continuous bag of words"}})
    assert grader.grade(key("continuous bag of words"), "CBOW").score == 1.0


def test_a_blank_is_right_in_each_spelling_its_accept_list_gives() -> None:
    """The blank "false negatives" lists its glossary abbreviation and its singular, so an
    LMS that compares strings takes them too; the grader agrees."""
    import random

    from quizsvc.bank import Card
    from quizsvc.exams.cloze import make_fill_in
    from quizsvc.exams.names import merged_glossary

    card = Card(
        id="recall-when",
        deck="ml",
        topic="metrics",
        prompt="When is recall the right metric?",
        answer="When false negatives are critical, for example in fraud detection.",
        key_points=("When false negatives are critical", "Example: fraud detection"),
    )
    made = make_fill_in(card, random.Random(0), {}, merged_glossary())
    assert made is not None
    assert made.accept == ("false negatives", "FN", "false negative")
    answer_key = key(made.accept[0], *made.accept[1:], prompt=made.prompt)
    for response in ("false negatives", "FN", "fn", "false negative"):
        assert grade(answer_key, response)[:2] == (1.0, Verdict.CORRECT), response
    assert grade(answer_key, "false positives")[0] == 0.0


@pytest.mark.parametrize(
    ("answer", "wrong", "right"),
    [
        ("TN / (TN + FP)", ["TN + FP", "TN", "true negatives"], ["TN/(TN+FP)"]),
        ("ml.p3.2xlarge (a GPU instance)", ["GPU instance", "a GPU instance"], ["ml.p3.2xlarge"]),
        ("Long Short-Term Memory (LSTM)", [], ["Long Short-Term Memory", "LSTM"]),
    ],
    ids=["formula", "descriptive-note", "name-and-abbreviation"],
)
def test_a_bracket_splits_only_two_names_of_one_thing(
    answer: str, wrong: list[str], right: list[str]
) -> None:
    """Found in an instructor's review: 'TN + FP' was full marks for the specificity formula
    'TN / (TN + FP)', and 'GPU instance' for 'ml.p3.2xlarge (a GPU instance)'."""
    from quizsvc.exams.model import QuestionKey, QuestionType
    from quizsvc.grading.config import GradingConfig
    from quizsvc.grading.fill_in import grade_fill_in
    from quizsvc.grading.glossary import Glossary
    from quizsvc.grading.model import Verdict

    key = QuestionKey(
        question_id="q1",
        type=QuestionType.FILL_IN,
        card_id="card",
        deck="demo",
        topic="demo",
        prompt="Fill in the blank: _____",
        answer=answer,
    )
    glossary = Glossary.for_deck({"TN": "true negatives"})
    for text in wrong:
        assert grade_fill_in(key, text, glossary, GradingConfig()).verdict is Verdict.INCORRECT, (
            text
        )
    for text in right:
        assert grade_fill_in(key, text, glossary, GradingConfig()).verdict is Verdict.CORRECT, text
