"""Grade one free answer without an exam: against a card, or an ad-hoc reference."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from quizsvc.api.attempts import FeedbackSchema
from quizsvc.api.auth import STAFF, roles_required
from quizsvc.api.errors import ApiError
from quizsvc.api.services import services
from quizsvc.bank.model import Misconception
from quizsvc.observability import metrics_of

blp = Blueprint("grading", __name__, url_prefix="/v1", description="Free-answer grading")


class MisconceptionSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(1, 1000))
    explanation = fields.String(required=True, validate=validate.Length(1, 1000))


class GradeRequestSchema(Schema):
    card_id = fields.String(validate=validate.Length(1, 80))
    reference = fields.String(validate=validate.Length(1, 4000))
    key_points = fields.List(
        fields.String(validate=validate.Length(1, 1000)), validate=validate.Length(max=50)
    )
    question = fields.String(
        validate=validate.Length(1, 4000),
        metadata={
            "description": "Ad-hoc: the question, used as a card's prompt is (an answer that "
            "only restates it gets nothing; its topic words count for nothing)."
        },
    )
    short_answers = fields.List(
        fields.String(validate=validate.Length(1, 1000)),
        validate=validate.Length(max=20),
        metadata={"description": "Ad-hoc: terse forms that deserve full credit."},
    )
    misconceptions = fields.List(
        fields.Nested(MisconceptionSchema),
        validate=validate.Length(max=20),
        metadata={"description": "Ad-hoc: wrong answers learners give, with the feedback line."},
    )
    answer = fields.String(
        required=True,
        metadata={
            "description": "At most QUIZSVC_MAX_ANSWER_CHARS characters (20000 by default); "
            "a longer answer gets 422 naming the field and the maximum."
        },
    )

    @validates_schema
    def _card_or_reference(self, data: dict[str, Any], **_: Any) -> None:
        if ("card_id" in data) == ("reference" in data):
            raise ValidationError(
                "Give either card_id or reference (with optional key_points).", "_schema"
            )
        if "card_id" in data:
            for name in ("key_points", "question", "short_answers", "misconceptions"):
                if name in data:
                    raise ValidationError(f"{name} goes with reference, not card_id.", name)


class GradeResponseSchema(Schema):
    score = fields.Float(required=True)
    verdict = fields.String(
        required=True, validate=validate.OneOf(["correct", "partial", "incorrect"])
    )
    confidence = fields.Float(required=True)
    needs_review = fields.Boolean(required=True)
    question_id = fields.String(required=True)
    type = fields.String(required=True)
    feedback = fields.Nested(FeedbackSchema, required=True)
    missed_key_points = fields.List(fields.String(), required=True)
    evidence = fields.Dict(keys=fields.String(), required=True)


@blp.route("/grade")
class Grade(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(GradeRequestSchema)
    @blp.response(200, GradeResponseSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Grade a free answer against a card's reference or one given here."""
        state = services()
        limit = state.settings.max_answer_chars
        if len(body["answer"]) > limit:
            # The same words as an autosaved answer that is too long.
            problem = f"is {len(body['answer'])} characters long; the maximum is {limit}"
            raise ApiError(422, f"Invalid answer: {problem}.", {"json": {"answer": [problem]}})
        if "card_id" in body:
            card = state.bank.get(body["card_id"])
            if card is None:
                raise ApiError(
                    422,
                    f"Unknown card {body['card_id']!r}.",
                    {"json": {"card_id": ["No such card."]}},
                )
            with metrics_of(current_app).grading_latency.labels("grade").time():
                return state.grade_card(card, body["answer"])
        misconceptions = [Misconception(**item) for item in body.get("misconceptions") or []]
        with metrics_of(current_app).grading_latency.labels("grade").time():
            return state.grade_text(
                body["reference"],
                body.get("key_points") or [],
                body["answer"],
                prompt=body.get("question", ""),
                short_answers=body.get("short_answers") or [],
                misconceptions=misconceptions,
            )
