"""Grading: exact (choice), normalised and typo-tolerant (fill-in) and semantic (free answer),
with partial credit, feedback and the evidence behind each grade. Domain code: plain data in,
plain data out, no web framework."""

from quizsvc.grading.config import GradingConfig, GradingConfigError, MultipleResponsePolicy
from quizsvc.grading.free_answer import FreeAnswerKey, grade_free_answer, grade_free_answers
from quizsvc.grading.glossary import DEFAULT_GLOSSARY, Glossary
from quizsvc.grading.grader import Grader, Response, question_key_for_card
from quizsvc.grading.model import Feedback, Grade, ResponseError, Verdict

__all__ = [
    "DEFAULT_GLOSSARY",
    "Feedback",
    "FreeAnswerKey",
    "Glossary",
    "Grade",
    "Grader",
    "GradingConfig",
    "GradingConfigError",
    "MultipleResponsePolicy",
    "Response",
    "ResponseError",
    "Verdict",
    "grade_free_answer",
    "grade_free_answers",
    "question_key_for_card",
]
