"""The services one app instance uses, built once by ``create_app`` and reached per request."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app

from quizsvc.bank import Bank
from quizsvc.bank.model import Card, Misconception
from quizsvc.config import Settings
from quizsvc.embedding import CachedEncoder, Encoder
from quizsvc.exams.model import QuestionKey
from quizsvc.grading import Glossary, Grade, Grader, grade_free_answer, question_key_for_card
from quizsvc.store import Store

EXTENSION_KEY = "quizsvc"


def grade_view(grade: Grade) -> dict[str, Any]:
    """A grade as stored in results and returned by the API."""
    view = grade.to_dict()
    missed = grade.evidence.get("missed_key_points")
    view["missed_key_points"] = list(missed if missed is not None else grade.feedback.missing)
    return view


@dataclass
class Services:
    settings: Settings
    store: Store
    bank: Bank
    #: The raw model, for learners' text (never cached on disk).
    encoder: Encoder
    #: The same model behind the bank embedding cache.
    bank_encoder: CachedEncoder
    grader: Grader
    clock: Callable[[], datetime]

    def grade_many(self, pairs: Sequence[tuple[QuestionKey, Any]]) -> list[dict[str, Any]]:
        """Grade a whole submission; its free answers share one model call. Each grade
        names the grader version that produced it (``grader_version``, full details under
        ``grader_version_details``)."""
        views = []
        for (key, _), grade in zip(pairs, self.grader.grade_many(pairs), strict=True):
            version = self.grader.version_for(key)
            views.append(
                {
                    **grade_view(grade),
                    "grader_version": version.id,
                    "grader_version_details": version.to_dict(),
                }
            )
        return views

    def grade_text(
        self,
        reference: str,
        key_points: list[str],
        answer: str,
        *,
        prompt: str = "",
        short_answers: Sequence[str] = (),
        misconceptions: Sequence[Misconception] = (),
    ) -> dict[str, Any]:
        """An ad-hoc free answer (no card): the default glossary expands common
        abbreviations."""
        grade = grade_free_answer(
            answer,
            reference,
            key_points,
            encoder=self.encoder,
            bank_encoder=self.bank_encoder,
            glossary=Glossary.for_deck(),
            config=self.grader.config,
            prompt=prompt,
            short_answers=short_answers,
            misconceptions=misconceptions,
        )
        return grade_view(grade)

    def grade_card(self, card: Card, answer: str) -> dict[str, Any]:
        """A free answer to a card's own question, graded as in an exam: with its prompt,
        key points, short answers and misconceptions."""
        return grade_view(self.grader.grade(question_key_for_card(card), answer))


def services() -> Services:
    found: Services = current_app.extensions[EXTENSION_KEY]
    return found
