"""API keys: create (shown once), list, and revoke. Admins only."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from quizsvc.api.auth import roles_required
from quizsvc.api.errors import ApiError
from quizsvc.api.headers import LOCATION
from quizsvc.api.pagination import PageQuerySchema, PageSchema, offset_of, page_of
from quizsvc.api.services import services
from quizsvc.store import ROLES, ApiKey

blp = Blueprint(
    "keys",
    __name__,
    url_prefix="/v1",
    description=(
        "API keys (admin): create one (its secret is shown once), list them, revoke one. "
        "A revoked key is refused from the next request on, by every worker and replica."
    ),
)


#: Key ids are PostgreSQL ``integer``s: a larger id in a path is a 404, not a database error.
MAX_KEY_ID = 2**31 - 1


class KeyCreateSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    learner_id = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The learner a learner key belongs to; only for that role."},
    )
    label = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "A note on who holds the key."},
    )

    @validates_schema
    def learner_only_for_learners(self, data: dict[str, Any], **_: Any) -> None:
        if data["role"] == "learner" and not data["learner_id"]:
            raise ValidationError("a learner key needs a learner_id", "learner_id")
        if data["role"] != "learner" and data["learner_id"]:
            raise ValidationError("only a learner key has a learner_id", "learner_id")


class KeySchema(Schema):
    id = fields.Integer(required=True)
    prefix = fields.String(
        required=True, metadata={"description": "The key's first characters, to recognise it."}
    )
    role = fields.String(required=True)
    learner_id = fields.String(allow_none=True)
    label = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True)


class CreatedKeySchema(KeySchema):
    key = fields.String(
        required=True,
        metadata={
            "description": "The key itself: shown only in this reply (only its hash is kept)."
        },
    )


class KeyQuerySchema(PageQuerySchema):
    role = fields.String(
        validate=validate.OneOf(ROLES), metadata={"description": "Only this role."}
    )
    learner_id = fields.String(metadata={"description": "Only this learner's keys."})
    include_revoked = fields.Boolean(
        load_default=False, metadata={"description": "List revoked keys too."}
    )


class KeyPageSchema(PageSchema):
    items = fields.List(fields.Nested(KeySchema), required=True)


def key_view(record: ApiKey) -> dict[str, Any]:
    return {
        "id": record.id,
        "prefix": record.prefix,
        "role": record.role,
        "learner_id": record.learner_id,
        "label": record.label,
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
    }


@blp.route("/keys")
class Keys(MethodView):
    @roles_required("admin")
    @blp.arguments(KeyCreateSchema)
    @blp.response(201, CreatedKeySchema, headers=LOCATION)
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Create a key; the reply is the only place its secret ever appears."""
        state = services()
        key, record = state.store.create_key(
            body["role"], body["learner_id"], body["label"], now=state.clock()
        )
        return (
            {**key_view(record), "key": key},
            201,
            {"Location": url_for("keys.KeyById", key_id=record.id)},
        )

    @roles_required("admin")
    @blp.arguments(KeyQuerySchema, location="query")
    @blp.response(200, KeyPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Keys, oldest first; active ones only unless ``include_revoked``."""
        records, total = services().store.list_keys(
            role=query.get("role"),
            learner_id=query.get("learner_id"),
            include_revoked=query["include_revoked"],
            offset=offset_of(query),
            limit=query["page_size"],
        )
        return page_of([key_view(record) for record in records], total, query)


@blp.route(f"/keys/<int(min=1, max={MAX_KEY_ID}):key_id>")
class KeyById(MethodView):
    @roles_required("admin")
    @blp.response(200, KeySchema)
    def get(self, key_id: int) -> dict[str, Any]:
        """One key (never its secret)."""
        return key_view(load_key(key_id))

    @roles_required("admin")
    @blp.response(204)
    @blp.alt_response(409, description="The last active admin key")
    def delete(self, key_id: int) -> None:
        """Revoke a key; revoking it again changes nothing. The last active admin key stays."""
        state = services()
        record = load_key(key_id)
        if record.revoked_at is not None:
            return
        if record.role == "admin" and state.store.count_active_keys("admin") <= 1:
            raise ApiError(
                409,
                "This is the last active admin key; create another admin key before revoking it.",
            )
        state.store.revoke_key(key_id, state.clock())


def load_key(key_id: int) -> ApiKey:
    record = services().store.get_key(key_id)
    if record is None:
        raise ApiError(404, f"No API key with id {key_id}.")
    return record
