"""Multiple choice and multiple response: exact, with configurable partial credit for the
latter."""

from __future__ import annotations

from collections.abc import Sequence

from quizsvc.exams.model import QuestionKey, QuestionType
from quizsvc.grading.config import GradingConfig, MultipleResponsePolicy
from quizsvc.grading.model import Feedback, Grade, ResponseError, Verdict


def _option_text(key: QuestionKey, option_id: str) -> str:
    for option in key.options:
        if option.id == option_id:
            return option.text
    return option_id


def _check_known(key: QuestionKey, option_ids: Sequence[str]) -> None:
    known = {option.id for option in key.options}
    unknown = [option_id for option_id in option_ids if option_id not in known]
    if known and unknown:
        raise ResponseError(
            f"question {key.question_id} has no option {', '.join(map(repr, unknown))}; "
            f"options are {', '.join(sorted(known))}"
        )


def _reference(key: QuestionKey) -> str:
    texts = [_option_text(key, option_id) for option_id in key.correct_option_ids]
    return "; ".join(texts) if texts else key.answer


def grade_multiple_choice(key: QuestionKey, response: str | None, config: GradingConfig) -> Grade:
    """One option id; right or wrong."""
    if response is not None and not isinstance(response, str):
        raise ResponseError(
            f"question {key.question_id} is multiple choice: answer with one option id"
        )
    reference = _reference(key)
    if not response:
        return Grade(
            key.question_id,
            QuestionType.MULTIPLE_CHOICE,
            0.0,
            Verdict.INCORRECT,
            Feedback("No option was chosen.", reference=reference, explanation=key.explanation),
            {"selected": None, "correct": list(key.correct_option_ids)},
        )
    _check_known(key, [response])
    right = response in key.correct_option_ids
    chosen = _option_text(key, response)
    feedback = (
        Feedback("Correct.", right=(chosen,), reference=reference, explanation=key.explanation)
        if right
        else Feedback(
            "Incorrect.",
            wrong=(chosen,),
            missing=(reference,),
            reference=reference,
            explanation=key.explanation,
        )
    )
    score = 1.0 if right else 0.0
    return Grade(
        key.question_id,
        QuestionType.MULTIPLE_CHOICE,
        score,
        Verdict.for_score(score),
        feedback,
        {"selected": response, "correct": list(key.correct_option_ids)},
    )


def grade_multiple_response(
    key: QuestionKey, response: Sequence[str] | None, config: GradingConfig
) -> Grade:
    """A set of option ids; all-or-nothing or right-minus-wrong (floored at 0) per config."""
    if isinstance(response, str) or (
        response is not None and not all(isinstance(item, str) for item in response)
    ):
        raise ResponseError(
            f"question {key.question_id} is multiple response: answer with a list of option ids"
        )
    selected = list(dict.fromkeys(response or ()))
    _check_known(key, selected)
    correct = list(key.correct_option_ids)
    right = [option_id for option_id in selected if option_id in correct]
    wrong = [option_id for option_id in selected if option_id not in correct]
    missed = [option_id for option_id in correct if option_id not in selected]
    exact = not wrong and not missed
    if config.multiple_response is MultipleResponsePolicy.ALL_OR_NOTHING:
        score = 1.0 if exact else 0.0
    else:
        score = max(0.0, (len(right) - len(wrong)) / len(correct)) if correct else 0.0
    verdict = Verdict.for_score(score)
    if exact:
        summary = "Correct: you chose exactly the right options."
    elif not selected:
        summary = "No option was chosen."
    else:
        summary = (
            f"You chose {len(right)} of the {len(correct)} right options"
            + (f" and {len(wrong)} wrong one{'s' if len(wrong) != 1 else ''}" if wrong else "")
            + "."
        )
    return Grade(
        key.question_id,
        QuestionType.MULTIPLE_RESPONSE,
        score,
        verdict,
        Feedback(
            summary,
            right=tuple(_option_text(key, option_id) for option_id in right),
            missing=tuple(_option_text(key, option_id) for option_id in missed),
            wrong=tuple(_option_text(key, option_id) for option_id in wrong),
            reference=_reference(key),
            explanation=key.explanation,
        ),
        {
            "selected": selected,
            "correct": correct,
            "right": right,
            "wrong": wrong,
            "missed": missed,
            "policy": config.multiple_response.value,
        },
    )
