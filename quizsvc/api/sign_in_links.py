"""One-time sign-in links to the web app, which staff create for a learner without an LMS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from quizsvc.api.auth import STAFF, current_principal, roles_required
from quizsvc.api.errors import ApiError
from quizsvc.api.headers import LOCATION
from quizsvc.api.services import services

blp = Blueprint(
    "sign_in_links",
    __name__,
    url_prefix="/v1",
    description="One-time sign-in links to the web app (/app) for learners",
)

MAX_LEARNER_ID = 200


class SignInLinkSchema(Schema):
    learner_id = fields.String(required=True)
    url = fields.String(
        required=True,
        metadata={"description": "Open it in a browser to sign in; it works once."},
    )
    expires_at = fields.DateTime(required=True)


@blp.route("/learners/<string:learner_id>/sign-in-links")
class SignInLinks(MethodView):
    @roles_required(*STAFF)
    @blp.response(201, SignInLinkSchema, headers=LOCATION)
    def post(self, learner_id: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """A link that signs the learner in to the web app once, within
        QUIZSVC_SIGN_IN_LINK_MINUTES (default 15) minutes. Staff only; the token is shown in
        this reply and never again (only its hash is stored)."""
        if not learner_id.strip() or len(learner_id) > MAX_LEARNER_ID:
            raise ApiError(
                422,
                f"A learner id is 1 to {MAX_LEARNER_ID} characters, not blank.",
                {"view_args": {"learner_id": ["Not a learner id."]}},
            )
        state = services()
        token, link = state.store.create_sign_in_link(
            learner_id,
            current_principal().key_id,
            state.clock(),
            timedelta(minutes=state.settings.sign_in_link_minutes),
        )
        path = url_for("app_sign_in.link", token=token)
        body = {
            "learner_id": learner_id,
            "url": url_for("app_sign_in.link", token=token, _external=True),
            "expires_at": link.expires_at,
        }
        return body, 201, {"Location": path}
