"""Authored questions of the bank (scenarios with 4-6 options), for staff: read, create,
edit and retire them, each edit a new version, as cards are."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import INCLUDE, Schema, fields

from quizsvc.api.auth import STAFF, roles_required
from quizsvc.api.bank_editing import (
    bank_field,
    create_item,
    edit_item,
    etag,
    read_item,
    retire_item,
    version_history,
    with_etag,
)
from quizsvc.api.cards import ETAG, VersionListSchema
from quizsvc.api.headers import LOCATION
from quizsvc.bank.editing import QUESTION

blp = Blueprint(
    "questions",
    __name__,
    url_prefix="/v1",
    description="Authored questions of the bank, for staff; PATCH and DELETE take If-Match "
    "with the ETag of the version read.",
)


class AuthoredOptionSchema(Schema):
    id = fields.String(required=True)
    text = fields.String(required=True)
    correct = fields.Boolean(required=True)
    rationale = fields.String(required=True)


class QuestionSchema(Schema):
    id = fields.String(required=True)
    deck = fields.String(required=True)
    topic = fields.String(required=True)
    type = fields.String(required=True)
    stem = fields.String(required=True)
    select = fields.Integer(allow_none=True)
    options = fields.List(fields.Nested(AuthoredOptionSchema), required=True)
    explanation = fields.String(allow_none=True)
    difficulty = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    sources = fields.List(fields.String(), required=True)
    version = fields.Integer(required=True)
    retired = fields.Boolean(required=True)


class QuestionInputSchema(Schema):
    """An authored question as in a deck's questions/ files (bank/schema.json,
    $defs/authored_question), with its deck and topic. In a PATCH every field is optional
    and null clears an optional one."""

    class Meta:
        unknown = INCLUDE

    id = bank_field("Slug, unique across the bank's cards and questions; cannot change.")
    deck = bank_field("An existing deck; cannot change.")
    topic = bank_field("A topic the deck.yaml lists.")
    type = bank_field("multiple_choice or multiple_response.")
    stem = bank_field("The situation and the question.")
    select = bank_field("multiple_response only: how many to choose (2 or 3).")
    options = bank_field("4-6 options: [{id (A-F), text, correct, rationale}].")
    explanation = bank_field("Shown after grading.")
    difficulty = bank_field("easy, medium or hard.")
    tags = bank_field("Slugs.")
    sources = bank_field("Where the facts come from (at least one).")


@blp.route("/questions")
class Questions(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(QuestionInputSchema)
    @blp.response(201, QuestionSchema, headers={**LOCATION, **ETAG})
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Create an authored question, checked as ``quizsvc bank validate`` checks its
        deck; 422 names each field at fault."""
        view, status, headers = with_etag(create_item(QUESTION, body), 201)
        headers["Location"] = url_for("questions.QuestionById", question_id=view["id"])
        return view, status, headers


@blp.route("/questions/<string:question_id>")
class QuestionById(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, QuestionSchema, headers=ETAG)
    def get(self, question_id: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """One authored question with its key, retired ones included."""
        return with_etag(read_item(QUESTION, question_id))

    @roles_required(*STAFF)
    @blp.arguments(QuestionInputSchema)
    @blp.response(200, QuestionSchema, headers=ETAG)
    @blp.alt_response(412, description="The question changed since the version If-Match names.")
    @blp.alt_response(428, description="If-Match is missing.")
    def patch(
        self, body: dict[str, Any], question_id: str
    ) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Edit an authored question: the given fields replace its own (``options`` as a
        whole), null clears an optional one; needs If-Match. Exams keep their frozen copy; a
        regrade with refreshed keys applies the edit."""
        return with_etag(edit_item(QUESTION, question_id, body, request.headers.get("If-Match")))

    @roles_required(*STAFF)
    @blp.response(204, headers=ETAG)
    @blp.alt_response(412, description="The question changed since the version If-Match names.")
    def delete(self, question_id: str) -> tuple[str, int, dict[str, str]]:
        """Retire an authored question: never drawn again, still readable."""
        saved = retire_item(QUESTION, question_id, request.headers.get("If-Match"))
        return "", 204, {"ETag": etag(saved.version)}


@blp.route("/questions/<string:question_id>/versions")
class QuestionVersions(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, VersionListSchema)
    def get(self, question_id: str) -> dict[str, Any]:
        """The question's versions, oldest first: who, when, what changed."""
        return version_history(QUESTION, question_id)
