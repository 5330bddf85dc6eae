"""The HTTP layer: one flask-smorest Blueprint per resource, kept thin."""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask_smorest import Blueprint


def blueprints() -> list[Blueprint]:
    from quizsvc.api import (
        accommodations,
        attempts,
        cards,
        decks,
        exams,
        exports,
        grading,
        health,
        keys,
        learners,
        learning,
        lti,
        questions,
        regrade,
        reviews,
        sign_in_links,
        statistics,
        webhooks,
    )

    return [
        health.blp,
        cards.blp,
        decks.blp,
        questions.blp,
        exams.blp,
        statistics.blp,
        exports.blp,
        attempts.blp,
        accommodations.blp,
        learners.blp,
        learning.blp,
        reviews.blp,
        regrade.blp,
        grading.blp,
        keys.blp,
        sign_in_links.blp,
        lti.blp,
        webhooks.blp,
    ]


def plain_blueprints() -> list[FlaskBlueprint]:
    """Browser-facing routes (LTI launch, the exam page, the web app) kept out of the JSON
    API spec."""
    from quizsvc import web
    from quizsvc.api import lti

    return [lti.pages, *web.blueprints()]
