"""Multiple choice and multiple response: exact grading, partial credit policies, feedback."""

from __future__ import annotations

import pytest

from quizsvc.embedding import HashingEncoder
from quizsvc.exams.model import Option, QuestionKey, QuestionType
from quizsvc.grading import (
    Grader,
    GradingConfig,
    MultipleResponsePolicy,
    ResponseError,
    Verdict,
)
from quizsvc.grading.choice import grade_multiple_choice, grade_multiple_response

OPTIONS = (
    Option("a", "Bagging"),
    Option("b", "Boosting"),
    Option("c", "Stacking"),
    Option("d", "Dropout"),
    Option("e", "Pruning"),
)


def choice_key() -> QuestionKey:
    return QuestionKey(
        question_id="q-mc",
        type=QuestionType.MULTIPLE_CHOICE,
        card_id="ens-boosting",
        deck="ml",
        topic="ensembles",
        prompt="Which ensemble method trains models sequentially?",
        answer="Boosting",
        options=OPTIONS[:4],
        correct_option_ids=("b",),
        explanation="Each new model focuses on the errors of the previous ones.",
    )


def response_key() -> QuestionKey:
    return QuestionKey(
        question_id="q-mr",
        type=QuestionType.MULTIPLE_RESPONSE,
        card_id="ens-methods",
        deck="ml",
        topic="ensembles",
        prompt="Which of these are ensemble methods? Select three.",
        answer="Bagging; Boosting; Stacking",
        options=OPTIONS,
        correct_option_ids=("a", "b", "c"),
    )


def test_multiple_choice_right_option_is_correct() -> None:
    grade = grade_multiple_choice(choice_key(), "b", GradingConfig())
    assert grade.score == 1.0
    assert grade.verdict is Verdict.CORRECT
    assert grade.feedback.right == ("Boosting",)
    assert grade.feedback.explanation == choice_key().explanation


def test_multiple_choice_wrong_option_names_the_right_one() -> None:
    grade = grade_multiple_choice(choice_key(), "a", GradingConfig())
    assert grade.score == 0.0
    assert grade.verdict is Verdict.INCORRECT
    assert grade.feedback.wrong == ("Bagging",)
    assert grade.feedback.missing == ("Boosting",)
    assert "Reference answer: Boosting" in grade.feedback.text


def test_multiple_choice_unanswered_is_incorrect() -> None:
    grade = grade_multiple_choice(choice_key(), None, GradingConfig())
    assert grade.verdict is Verdict.INCORRECT
    assert grade.feedback.summary == "No option was chosen."


def test_multiple_choice_unknown_option_is_refused() -> None:
    with pytest.raises(ResponseError, match="no option 'z'"):
        grade_multiple_choice(choice_key(), "z", GradingConfig())


def test_multiple_response_all_right_is_correct() -> None:
    grade = grade_multiple_response(response_key(), ["c", "a", "b"], GradingConfig())
    assert grade.score == 1.0
    assert grade.verdict is Verdict.CORRECT
    assert grade.feedback.missing == ()


def test_multiple_response_right_minus_wrong_gives_partial_credit() -> None:
    grade = grade_multiple_response(response_key(), ["a", "b", "d"], GradingConfig())
    assert grade.score == pytest.approx(1 / 3)
    assert grade.verdict is Verdict.PARTIAL
    assert grade.feedback.right == ("Bagging", "Boosting")
    assert grade.feedback.wrong == ("Dropout",)
    assert grade.feedback.missing == ("Stacking",)
    assert grade.evidence["policy"] == "right_minus_wrong"


def test_multiple_response_missing_one_is_partial_not_correct() -> None:
    grade = grade_multiple_response(response_key(), ["a", "b"], GradingConfig())
    assert grade.score == pytest.approx(2 / 3)
    assert grade.verdict is Verdict.PARTIAL


def test_multiple_response_right_minus_wrong_is_floored_at_zero() -> None:
    grade = grade_multiple_response(response_key(), ["a", "d", "e"], GradingConfig())
    assert grade.score == 0.0
    assert grade.verdict is Verdict.INCORRECT


def test_multiple_response_all_or_nothing() -> None:
    config = GradingConfig(multiple_response=MultipleResponsePolicy.ALL_OR_NOTHING)
    assert grade_multiple_response(response_key(), ["a", "b"], config).score == 0.0
    assert grade_multiple_response(response_key(), ["a", "b", "c"], config).score == 1.0


def test_multiple_response_selecting_everything_earns_nothing() -> None:
    grade = grade_multiple_response(response_key(), ["a", "b", "c", "d", "e"], GradingConfig())
    assert grade.score == pytest.approx(1 / 3)
    all_or_nothing = GradingConfig(multiple_response=MultipleResponsePolicy.ALL_OR_NOTHING)
    assert (
        grade_multiple_response(response_key(), ["a", "b", "c", "d", "e"], all_or_nothing).score
        == 0
    )


def test_multiple_response_duplicates_count_once() -> None:
    grade = grade_multiple_response(response_key(), ["a", "a", "b", "c"], GradingConfig())
    assert grade.score == 1.0


def test_multiple_response_refuses_a_single_string() -> None:
    with pytest.raises(ResponseError, match="list of option ids"):
        grade_multiple_response(response_key(), "a", GradingConfig())  # type: ignore[arg-type]


def test_grader_routes_choice_questions_without_encoding() -> None:
    encoder = HashingEncoder()
    grader = Grader(encoder, encoder)
    grades = grader.grade_many([(choice_key(), "b"), (response_key(), ["a", "b"])])
    assert [grade.question_id for grade in grades] == ["q-mc", "q-mr"]
    assert [grade.verdict for grade in grades] == [Verdict.CORRECT, Verdict.PARTIAL]
    assert encoder.calls == 0


def test_grader_applies_deck_override_of_the_multiple_response_policy() -> None:
    encoder = HashingEncoder()
    grader = Grader(
        encoder, encoder, deck_overrides={"ml": {"multiple_response": "all_or_nothing"}}
    )
    assert grader.grade(response_key(), ["a", "b"]).score == 0.0


def test_grade_to_dict_is_json_ready() -> None:
    data = grade_multiple_choice(choice_key(), "a", GradingConfig()).to_dict()
    assert data["verdict"] == "incorrect"
    assert data["type"] == "multiple_choice"
    assert data["feedback"]["reference"] == "Boosting"
    assert data["evidence"] == {"selected": "a", "correct": ["b"]}
