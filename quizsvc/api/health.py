"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from quizsvc import __version__
from quizsvc.api.services import services

blp = Blueprint("health", __name__, url_prefix="/v1", description="Liveness and readiness")


class HealthSchema(Schema):
    status = fields.String(required=True)
    version = fields.String(required=True)


class ReadySchema(Schema):
    ready = fields.Boolean(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)
    device = fields.String(required=True)
    encoder = fields.String(required=True, metadata={"description": "Encoder backend"})
    cards = fields.Integer(required=True)


@blp.route("/health")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}


@blp.route("/ready")
class Ready(MethodView):
    @blp.doc(security=[])
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, schema=ReadySchema, description="Not ready")
    def get(self) -> tuple[dict[str, Any], int]:
        """Readiness: model loaded, database reachable, bank loaded."""
        state = services()
        checks = {
            "model": state.encoder.dimension > 0,
            "database": state.store.ping(),
            "bank": len(state.bank) > 0,
        }
        ready = all(checks.values())
        body = {
            "ready": ready,
            "checks": checks,
            "device": str(getattr(state.encoder, "device", "cpu")),
            "encoder": str(getattr(state.encoder, "backend", "custom")),
            "cards": len(state.bank),
        }
        return body, 200 if ready else 503
