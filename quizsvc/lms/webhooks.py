"""Webhook events: signed POSTs of ``attempt.graded`` to subscribed URLs.

The signature header is ``X-Quizsvc-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256 with the subscription's secret over ``f"{t}.{raw body}"``. Receivers recompute
it, compare in constant time, and reject old timestamps (replays). ``X-Quizsvc-Delivery``
carries the outbox message id, the same on every retry of one event, for deduplication.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

from quizsvc.lms.outbound import OutboundPolicy
from quizsvc.lms.outbox import (
    DeliveryError,
    PermanentDeliveryError,
    Sender,
    expect_success,
    http_post,
)
from quizsvc.store import OutboxMessage, Store

SIGNATURE_HEADER = "X-Quizsvc-Signature"
DELIVERY_HEADER = "X-Quizsvc-Delivery"
EVENT_HEADER = "X-Quizsvc-Event"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    now: float | None = None,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: the header parses, is recent, and one ``v1`` value matches."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, value) for value in parts.get("v1", []))


def webhook_sender(
    store: Store, wall_clock: Callable[[], float] = time.time, *, allow_hosts: str = ""
) -> Sender:
    """Signs with the subscription's current secret at send time (retries are re-signed).

    ``allow_hosts`` (QUIZSVC_OUTBOUND_ALLOW_HOSTS) lists the private hosts receivers may be
    on; the URL is checked again at every send, as DNS may have changed since subscription.
    """
    policy = OutboundPolicy.from_setting(allow_hosts)

    def send(message: OutboxMessage) -> int:
        if message.subscription_id is None:
            raise DeliveryError("webhook message without a subscription")
        subscription = store.get_subscription(message.subscription_id)
        if subscription is None or not subscription.active:
            raise PermanentDeliveryError("the subscription was deleted")
        event = message.payload["event"]
        body = json.dumps(event, sort_keys=True, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "quizsvc-webhooks/1",
            SIGNATURE_HEADER: signature_header(subscription.secret, int(wall_clock()), body),
            DELIVERY_HEADER: message.id,
            EVENT_HEADER: str(event.get("type", "")),
        }
        reply = http_post(message.target, body, headers, policy=policy)
        return expect_success(reply, "the webhook receiver")

    return send
