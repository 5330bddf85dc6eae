"""The HTTP layer: one flask-smorest Blueprint per resource, kept thin."""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask_smorest import Blueprint


def blueprints() -> list[Blueprint]:
    from quizsvc.api import (
        attempts,
        cards,
        exams,
        exports,
        grading,
        health,
        keys,
        learners,
        learning,
        lti,
        regrade,
        reviews,
        statistics,
        webhooks,
    )

    return [
        health.blp,
        cards.blp,
        exams.blp,
        statistics.blp,
        exports.blp,
        attempts.blp,
        learners.blp,
        learning.blp,
        reviews.blp,
        regrade.blp,
        grading.blp,
        keys.blp,
        lti.blp,
        webhooks.blp,
    ]


def plain_blueprints() -> list[FlaskBlueprint]:
    """Browser-facing routes (LTI launch, the exam page) kept out of the JSON API spec."""
    from quizsvc.api import lti

    return [lti.pages]
