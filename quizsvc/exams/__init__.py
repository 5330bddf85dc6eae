"""Exams: blueprints, question builders with embedding-chosen distractors, two views of a
question (delivery and key)."""

from quizsvc.exams.builder import (
    Blueprint,
    BlueprintError,
    Exam,
    InsufficientQuestionsError,
    QuestionKind,
    bank_texts,
    build_exam,
    check_blueprint,
)
from quizsvc.exams.distractors import DistractorConfig
from quizsvc.exams.model import DeliveredQuestion, Option, Question, QuestionKey, QuestionType

__all__ = [
    "Blueprint",
    "BlueprintError",
    "DeliveredQuestion",
    "DistractorConfig",
    "Exam",
    "InsufficientQuestionsError",
    "Option",
    "Question",
    "QuestionKey",
    "QuestionKind",
    "QuestionType",
    "bank_texts",
    "build_exam",
    "check_blueprint",
]
