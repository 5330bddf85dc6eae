"""The HTTP layer: one flask-smorest Blueprint per resource, kept thin."""

from __future__ import annotations

from flask_smorest import Blueprint


def blueprints() -> list[Blueprint]:
    from quizsvc.api import attempts, cards, exams, grading, health, learners

    return [health.blp, cards.blp, exams.blp, attempts.blp, learners.blp, grading.blp]
