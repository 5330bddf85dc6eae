"""Webhook subscriptions and their delivery log."""

from __future__ import annotations

import secrets
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from quizsvc.api.auth import STAFF, roles_required
from quizsvc.api.errors import ApiError
from quizsvc.api.headers import LOCATION
from quizsvc.api.pagination import PageQuerySchema, PageSchema, offset_of, page_of
from quizsvc.api.services import services
from quizsvc.lms.outbound import OutboundPolicy, OutboundTargetError
from quizsvc.store import OutboxMessage, WebhookSubscription, new_id

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/v1",
    description="Signed event callbacks (attempt.graded) with retries and a delivery log",
)

#: attempt.graded: first grade; attempt.regraded: a person or a regrade changed it (or the
#: last review settled it); appeal.opened / appeal.resolved: a learner's appeal.
EVENTS = ("attempt.graded", "attempt.regraded", "appeal.opened", "appeal.resolved")


class SubscriptionCreateSchema(Schema):
    url = fields.URL(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        metadata={
            "description": "http(s), without user:password@. The host must resolve to public "
            "addresses only (no loopback, private, link-local, ...) unless the operator lists "
            "it in QUIZSVC_OUTBOUND_ALLOW_HOSTS; it is checked again at every delivery, and "
            "redirects are not followed."
        },
    )
    secret = fields.String(
        load_default=None,
        validate=validate.Length(min=16, max=200),
        metadata={"description": "HMAC key; generated (and returned once) when omitted."},
    )
    exam_id = fields.String(
        load_default=None, metadata={"description": "Only this exam's events; omit for all."}
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENTS)),
        load_default=lambda: list(EVENTS),
        validate=validate.Length(min=1),
    )


class SubscriptionSchema(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True)
    exam_id = fields.String(allow_none=True)
    events = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class CreatedSubscriptionSchema(SubscriptionSchema):
    secret = fields.String(
        required=True, metadata={"description": "Shown only in this reply; keep it."}
    )


class SubscriptionListSchema(PageSchema):
    items = fields.List(fields.Nested(SubscriptionSchema), required=True)


class DeliveryTrySchema(Schema):
    at = fields.String(required=True)
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)


class DeliverySchema(Schema):
    id = fields.String(required=True, metadata={"description": "Also the X-Quizsvc-Delivery."})
    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    attempt_id = fields.String(allow_none=True)
    status = fields.String(
        required=True, validate=validate.OneOf(["pending", "delivered", "failed"])
    )
    attempts = fields.Integer(required=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)
    delivered_at = fields.DateTime(allow_none=True)
    tries = fields.List(fields.Nested(DeliveryTrySchema), required=True)


class DeliveryListSchema(PageSchema):
    items = fields.List(fields.Nested(DeliverySchema), required=True)


def subscription_view(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "exam_id": subscription.exam_id,
        "events": subscription.events,
        "active": subscription.active,
        "created_at": subscription.created_at,
    }


def delivery_view(message: OutboxMessage) -> dict[str, Any]:
    event = message.payload.get("event", {})
    return {
        "id": message.id,
        "event_id": event.get("id", ""),
        "event_type": event.get("type", ""),
        "attempt_id": message.attempt_id,
        "status": message.status,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at if message.status == "pending" else None,
        "last_status_code": message.last_status_code,
        "last_error": message.last_error,
        "created_at": message.created_at,
        "delivered_at": message.delivered_at,
        "tries": message.log,
    }


def load_subscription(subscription_id: str) -> WebhookSubscription:
    found = services().store.get_subscription(subscription_id)
    if found is None:
        raise ApiError(404, f"No webhook subscription with id {subscription_id!r}.")
    return found


@blp.route("/webhooks")
class Webhooks(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(SubscriptionCreateSchema)
    @blp.response(201, CreatedSubscriptionSchema, headers=LOCATION)
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Subscribe a URL to events, for one exam or for all."""
        state = services()
        # Checked here so the subscriber learns at once; the sender checks again at every
        # delivery, because the name may resolve elsewhere by then.
        policy = OutboundPolicy.from_setting(state.settings.outbound_allow_hosts)
        try:
            policy.check(body["url"])
        except OutboundTargetError as exc:
            raise ApiError(
                422, f"The webhook URL is not allowed: {exc}.", {"json": {"url": [str(exc)]}}
            ) from exc
        if body["exam_id"] is not None and state.store.get_exam(body["exam_id"]) is None:
            raise ApiError(
                422,
                f"No exam with id {body['exam_id']!r}.",
                {"json": {"exam_id": ["unknown exam"]}},
            )
        secret = body["secret"] or "whsec_" + secrets.token_urlsafe(32)
        subscription = state.store.add_subscription(
            WebhookSubscription(
                id=new_id(),
                url=body["url"],
                secret=secret,
                exam_id=body["exam_id"],
                events=sorted(set(body["events"])),
                active=True,
                created_at=state.clock(),
            )
        )
        return (
            {**subscription_view(subscription), "secret": secret},
            201,
            {"Location": url_for("webhooks.WebhookById", subscription_id=subscription.id)},
        )

    @roles_required(*STAFF)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, SubscriptionListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Subscriptions, oldest first, a page at a time (secrets are never shown again)."""
        found, total = services().store.page_subscriptions(offset_of(query), query["page_size"])
        return page_of([subscription_view(s) for s in found], total, query)


@blp.route("/webhooks/<string:subscription_id>")
class WebhookById(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, SubscriptionSchema)
    def get(self, subscription_id: str) -> dict[str, Any]:
        """One subscription."""
        return subscription_view(load_subscription(subscription_id))

    @roles_required(*STAFF)
    @blp.response(204)
    def delete(self, subscription_id: str) -> None:
        """Stop sending events to this URL; its delivery log is kept."""
        load_subscription(subscription_id)
        services().store.deactivate_subscription(subscription_id)


@blp.route("/webhooks/<string:subscription_id>/deliveries")
class WebhookDeliveries(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, DeliveryListSchema)
    def get(self, query: dict[str, Any], subscription_id: str) -> dict[str, Any]:
        """The delivery log, oldest first, a page at a time: every event sent (or being
        retried) with each try's outcome."""
        load_subscription(subscription_id)
        messages, total = services().store.page_deliveries(
            subscription_id, offset_of(query), query["page_size"]
        )
        return page_of([delivery_view(m) for m in messages], total, query)


@blp.route("/webhooks/<string:subscription_id>/deliveries/<string:delivery_id>/retry")
class WebhookDeliveryRetry(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, DeliverySchema)
    def post(self, subscription_id: str, delivery_id: str) -> dict[str, Any]:
        """Send a failed delivery again now (a delivered one is never sent twice)."""
        load_subscription(subscription_id)
        state = services()
        found = [
            m
            for m in state.store.list_outbox(kind="webhook", subscription_id=subscription_id)
            if m.id == delivery_id
        ]
        if not found:
            raise ApiError(404, f"No delivery {delivery_id!r} for this subscription.")
        message = state.store.retry_message(delivery_id, state.clock())
        assert message is not None
        return delivery_view(message)
