"""Webhooks: signed attempt.graded events from the outbox, retried until delivered, once."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quizsvc.lms.outbox import DeliveryError, backoff_seconds, deliver_due
from quizsvc.lms.webhooks import signature_header, verify_signature, webhook_sender
from quizsvc.migrate import upgrade
from quizsvc.store import OutboxMessage, Store, WebhookSubscription, _outbox_message, new_id
from tests.conftest import FakeClock, wait_until

Headers = dict[str, str]


class Receiver:
    """A webhook receiver on a real localhost port; ``status`` is what it answers."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    status = receiver.status
                    receiver.requests.append((dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received(self, status: int | None = None) -> list[tuple[dict[str, str], bytes, int]]:
        with self.lock:
            return [r for r in self.requests if status is None or r[2] == status]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def app(fast_outbox_app: Flask) -> Flask:
    return fast_outbox_app


def own_signature_check(secret: str, header: str, body: bytes) -> bool:
    """The receiver side, written from the documented scheme rather than the service's code."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(
        secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def graded_attempt(
    client: FlaskClient, make_key: Callable[..., Headers], title: str = "Hooks"
) -> tuple[dict[str, Any], dict[str, Any], Headers]:
    staff = make_key("instructor")
    exam = client.post(
        "/v1/exams",
        json={"title": title, "counts": {"multiple_choice": 2}, "seed": 5},
        headers=staff,
    ).get_json()
    return exam, staff, make_key("learner", "ada")


def submit(client: FlaskClient, exam_id: str, learner: Headers) -> dict[str, Any]:
    attempt = client.post(f"/v1/exams/{exam_id}/attempts", headers=learner).get_json()
    result = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner)
    assert result.status_code == 200, result.get_json()
    graded: dict[str, Any] = result.get_json()
    return graded


@pytest.mark.http
@pytest.mark.model
def test_event_is_signed_retried_while_receiver_fails_and_delivered_once(
    client: FlaskClient,
    make_key: Callable[..., Headers],
    clock: FakeClock,
    receiver: Receiver,
) -> None:
    exam, staff, learner = graded_attempt(client, make_key)
    created = client.post(
        "/v1/webhooks", json={"url": receiver.url, "exam_id": exam["id"]}, headers=staff
    )
    assert created.status_code == 201, created.get_json()
    subscription = created.get_json()
    secret = subscription["secret"]
    assert "secret" not in client.get("/v1/webhooks", headers=staff).get_json()["items"][0]

    receiver.status = 500
    result = submit(client, exam["id"], learner)
    wait_until(lambda: len(receiver.received()) == 1, what="the first try")
    log_url = f"/v1/webhooks/{subscription['id']}/deliveries"
    wait_until(lambda: client.get(log_url, headers=staff).get_json()["items"][0]["attempts"] == 1)

    # Not retried before the backoff has passed on the server's clock ...
    clock.advance(backoff_seconds(1) - 1)
    time.sleep(0.5)  # ten polls of the worker
    assert len(receiver.received()) == 1
    # ... and retried after it, still failing.
    clock.advance(1)
    wait_until(lambda: len(receiver.received()) == 2, what="the second try")
    entry = wait_until(
        lambda: next(
            (
                e
                for e in client.get(log_url, headers=staff).get_json()["items"]
                if e["attempts"] == 2
            ),
            None,
        )
    )
    assert entry["status"] == "pending"
    assert entry["last_status_code"] == 500
    assert [t["status_code"] for t in entry["tries"]] == [500, 500]

    receiver.status = 200
    clock.advance(backoff_seconds(2))
    wait_until(lambda: len(receiver.received(200)) == 1, what="the delivery after recovery")
    delivered = wait_until(
        lambda: next(
            (
                e
                for e in client.get(log_url, headers=staff).get_json()["items"]
                if e["status"] == "delivered"
            ),
            None,
        )
    )
    assert delivered["attempts"] == 3
    assert delivered["delivered_at"] is not None

    # Much later, nothing more arrives: delivered events are never sent again.
    clock.advance(7 * 24 * 3600)
    client.get("/v1/health")
    wait_until(lambda: app_outbox_idle(client), what="the worker to go idle")
    assert len(receiver.received()) == 3

    bodies = {body for _, body, _ in receiver.received()}
    assert len(bodies) == 1, "every retry carries the same event"
    event = json.loads(bodies.pop())
    assert event["type"] == "attempt.graded"
    assert event["data"]["attempt_id"] == result["attempt_id"]
    assert event["data"]["score"] == result["score"]
    assert event["data"]["percent"] == result["percent"]
    assert {headers["X-Quizsvc-Delivery"] for headers, _, _ in receiver.received()} == {
        delivered["id"]
    }
    for headers, body, _ in receiver.received():
        header = headers["X-Quizsvc-Signature"]
        assert own_signature_check(secret, header, body)
        assert verify_signature(secret, header, body)
        assert not own_signature_check("whsec_wrong-secret-of-enough-length", header, body)
        assert not verify_signature(secret, header, body.replace(b"graded", b"gradeD"))


def app_outbox_idle(client: FlaskClient) -> bool:
    store: Store = client.application.extensions["quizsvc"].store
    return store.count_pending_messages() == 0


@pytest.mark.http
@pytest.mark.model
def test_only_matching_active_subscriptions_receive_events(
    client: FlaskClient,
    make_key: Callable[..., Headers],
    receiver: Receiver,
) -> None:
    exam, staff, learner = graded_attempt(client, make_key, "Watched")
    other, _, _ = graded_attempt(client, make_key, "Other")
    watched = client.post(
        "/v1/webhooks", json={"url": receiver.url, "exam_id": exam["id"]}, headers=staff
    ).get_json()
    everything = client.post("/v1/webhooks", json={"url": receiver.url}, headers=staff).get_json()
    stopped = client.post("/v1/webhooks", json={"url": receiver.url}, headers=staff).get_json()
    assert client.delete(f"/v1/webhooks/{stopped['id']}", headers=staff).status_code == 204

    submit(client, other["id"], learner)
    wait_until(lambda: len(receiver.received()) == 1)
    submit(client, exam["id"], learner)
    wait_until(lambda: len(receiver.received()) == 3)
    wait_until(lambda: app_outbox_idle(client))
    assert len(receiver.received()) == 3

    def log(subscription: dict[str, Any]) -> list[dict[str, Any]]:
        reply = client.get(f"/v1/webhooks/{subscription['id']}/deliveries", headers=staff)
        items: list[dict[str, Any]] = reply.get_json()["items"]
        return items

    assert len(log(watched)) == 1
    assert len(log(everything)) == 2
    assert log(stopped) == []
    assert all(item["status"] == "delivered" for item in log(everything))


@pytest.mark.model
def test_webhook_endpoints_check_roles_and_input(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    learner = make_key("learner", "ada")
    staff = make_key("admin")
    assert client.post("/v1/webhooks", json={"url": "http://x"}, headers=learner).status_code == 403
    assert client.get("/v1/webhooks", headers=learner).status_code == 403
    bad_url = client.post("/v1/webhooks", json={"url": "ftp://example.org/x"}, headers=staff)
    assert bad_url.status_code == 422
    assert "url" in bad_url.get_json()["errors"]["json"]
    unknown_exam = client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "exam_id": "nope"}, headers=staff
    )
    assert unknown_exam.status_code == 422
    short_secret = client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "secret": "short"}, headers=staff
    )
    assert short_secret.status_code == 422
    assert client.get("/v1/webhooks/nope/deliveries", headers=staff).status_code == 404


# -- the delivery loop without the app ------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Store:
    url = f"sqlite:///{tmp_path / 'outbox.sqlite3'}"
    upgrade(url)
    return Store(url)


def add_message(store: Store, now: datetime, key: str) -> OutboxMessage:
    message = _outbox_message("webhook", key, "http://127.0.0.1:9/x", {"event": {}}, now)
    with store.session() as session:
        session.add(message)
    return message


def test_backoff_doubles_up_to_a_cap() -> None:
    delays = [backoff_seconds(n) for n in range(1, 15)]
    assert delays[:3] == [10, 20, 40]
    assert delays == sorted(delays)
    assert max(delays) == 3600


def test_deliver_due_retries_with_backoff_then_gives_up_and_never_resends(store: Store) -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    failing = add_message(store, now, "a")
    working = add_message(store, now, "b")
    sent: list[str] = []

    def send(message: OutboxMessage) -> int:
        sent.append(message.id)
        if message.id == failing.id:
            raise DeliveryError("receiver is down", 503)
        return 204

    report = deliver_due(store, now, {"webhook": send}, max_tries=3)
    assert (report.delivered, report.retrying, report.failed) == (1, 1, 0)
    assert deliver_due(store, now, {"webhook": send}, max_tries=3).tried == 0
    later = now + timedelta(seconds=backoff_seconds(1))
    assert deliver_due(store, later, {"webhook": send}, max_tries=3).retrying == 1
    last = later + timedelta(seconds=backoff_seconds(2))
    assert deliver_due(store, last, {"webhook": send}, max_tries=3).failed == 1
    assert deliver_due(store, last + timedelta(days=1), {"webhook": send}).tried == 0
    assert sorted(sent[:2]) == sorted([failing.id, working.id])
    assert sent[2:] == [failing.id, failing.id]
    states = {m.id: m for m in store.list_outbox()}
    assert states[failing.id].status == "failed"
    assert [entry["status_code"] for entry in states[failing.id].log] == [503, 503, 503]
    assert states[working.id].status == "delivered"

    store.retry_message(failing.id, last)
    assert deliver_due(store, last, {"webhook": lambda m: 200}).delivered == 1
    assert store.retry_message(failing.id, last) is not None
    assert deliver_due(store, last, {"webhook": send}).tried == 0


def test_a_message_is_claimed_by_one_worker_only(store: Store) -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for index in range(20):
        add_message(store, now, f"m{index}")
    claims: list[list[str]] = []

    def claim() -> None:
        found = store.claim_due_messages(now, now + timedelta(minutes=2))
        claims.append([m.id for m in found])

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    everything = [message_id for batch in claims for message_id in batch]
    assert len(everything) == 20
    assert len(set(everything)) == 20


def test_signature_rejects_stale_timestamps() -> None:
    body = b'{"type":"attempt.graded"}'
    header = signature_header("s" * 20, 1_000_000, body)
    assert verify_signature("s" * 20, header, body, now=1_000_100)
    assert not verify_signature("s" * 20, header, body, now=1_000_000 + 3600)
    assert not verify_signature("s" * 20, "v1=abc", body, now=1_000_000)


def test_events_of_a_deleted_subscription_fail_at_once(store: Store) -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    subscription = store.add_subscription(
        WebhookSubscription(
            id=new_id(),
            url="http://127.0.0.1:9/never-called",
            secret="s" * 20,
            exam_id=None,
            events=["attempt.graded"],
            active=True,
            created_at=now,
        )
    )
    message = _outbox_message(
        "webhook",
        "deleted",
        subscription.url,
        {"event": {"type": "attempt.graded"}},
        now,
        subscription_id=subscription.id,
    )
    with store.session() as session:
        session.add(message)
    store.deactivate_subscription(subscription.id)
    report = deliver_due(store, now, {"webhook": webhook_sender(store)})
    assert (report.delivered, report.retrying, report.failed) == (0, 0, 1)
    (failed,) = store.list_outbox()
    assert failed.status == "failed"
    assert failed.attempts == 1
    assert "deleted" in (failed.last_error or "")


@pytest.mark.parametrize("allowed", [True, False], ids=["allow-listed", "default"])
def test_cron_delivery_follows_the_outbound_allow_list(
    store: Store,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    allowed: bool,
) -> None:
    """``quizsvc outbox deliver`` sends where the servers would: to a private host only
    when QUIZSVC_OUTBOUND_ALLOW_HOSTS lists it."""
    from click.testing import CliRunner

    from quizsvc.cli import main as cli

    now = datetime.now(UTC)
    subscription = store.add_subscription(
        WebhookSubscription(
            id=new_id(),
            url=receiver.url,
            secret="s" * 20,
            exam_id=None,
            events=["attempt.graded"],
            active=True,
            created_at=now,
        )
    )
    with store.session() as session:
        session.add(
            _outbox_message(
                "webhook",
                "cron",
                receiver.url,
                {"event": {"type": "attempt.graded"}},
                now - timedelta(seconds=1),
                subscription_id=subscription.id,
            )
        )
    monkeypatch.setenv("QUIZSVC_DATABASE_URL", str(store.engine.url))
    monkeypatch.setenv("QUIZSVC_OUTBOUND_ALLOW_HOSTS", "127.0.0.1" if allowed else "")
    result = CliRunner().invoke(cli, ["outbox", "deliver"])
    assert result.exit_code == 0, result.output
    if allowed:
        assert "delivered 1" in result.output
        assert len(receiver.received()) == 1
    else:
        assert "failed 1" in result.output
        assert receiver.received() == []
        (message,) = store.list_outbox()
        assert "loopback" in (message.last_error or "")
