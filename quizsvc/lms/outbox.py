"""Delivering outbox messages (AGS scores, webhooks) with retries and backoff.

Messages are written by the store in the same transaction as the grade that caused them;
this module only sends what is due. No Flask here: the app wires a :class:`OutboxWorker` to
its store and clock, and ``quizsvc outbox deliver`` runs :func:`deliver_due` from cron.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from quizsvc.lms.outbound import PUBLIC_ONLY, HostNotResolved, OutboundPolicy, TargetRefused
from quizsvc.store import OutboxMessage, Store

log = logging.getLogger(__name__)

#: First retry after this many seconds, doubling each time up to ``BACKOFF_CAP_SECONDS``.
BACKOFF_BASE_SECONDS = 10
BACKOFF_CAP_SECONDS = 3600
#: After this many failed tries (about 11 hours with the defaults) a message is ``failed``;
#: it stays in the outbox and ``quizsvc outbox retry`` or the API puts it back in line.
MAX_TRIES = 16
#: A claimed message is not handed to another worker for this long.
CLAIM_LEASE_SECONDS = 120
HTTP_TIMEOUT_SECONDS = 10.0
#: Enough for any token endpoint's JSON; a receiver cannot make a worker buffer more.
MAX_REPLY_BYTES = 1024 * 1024
#: Errors are kept in the delivery log, shown to staff: short, and never the reply's body.
MAX_ERROR_CHARS = 300


class DeliveryError(Exception):
    """A try that did not deliver; ``status_code`` is the receiver's answer, if any."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


_ADOPT_LOCK = threading.Lock()


class PermanentDeliveryError(DeliveryError):
    """A try that no retry can fix (the subscription is gone); the message fails now."""


#: Sends one message; returns the receiver's 2xx status code or raises DeliveryError.
Sender = Callable[[OutboxMessage], int]


@dataclass(frozen=True)
class HttpReply:
    status_code: int
    #: For the caller to parse (an access token); never copied into the delivery log.
    body: bytes
    #: Header names in lower case (a paged NRPS reply's ``link``).
    headers: Mapping[str, str] = field(default_factory=dict)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the checked address; ``host`` still names the Host header."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned_address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.pinned_address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address; SNI and the certificate check use ``host``, the name in
    the URL, so a pinned IP never weakens TLS."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        # Built per connection: it reads the CA bundle as configured now (SSL_CERT_FILE).
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.pinned_address = address

    def connect(self) -> None:
        plain = socket.create_connection((self.pinned_address, self.port), self.timeout)
        try:
            self.sock = self.tls.wrap_socket(plain, server_hostname=self.host)
        except BaseException:
            plain.close()
            raise


def short_error(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def http_post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float = HTTP_TIMEOUT_SECONDS,
    *,
    policy: OutboundPolicy = PUBLIC_ONLY,
) -> HttpReply:
    """POST to a URL the policy allows and return the reply, redirects included (never
    followed: a redirect could lead to an address the policy refuses).

    A refused URL raises PermanentDeliveryError; a name that does not resolve or a failed
    connection raises DeliveryError (no status), to be retried.
    """
    return http_request("POST", url, body, headers, timeout, policy=policy)


def http_get(
    url: str,
    headers: Mapping[str, str],
    timeout: float = HTTP_TIMEOUT_SECONDS,
    *,
    policy: OutboundPolicy = PUBLIC_ONLY,
) -> HttpReply:
    """GET a URL the policy allows (a platform's JWKS, an NRPS membership page), as
    :func:`http_post` does: checked address, redirects returned, never followed."""
    return http_request("GET", url, None, headers, timeout, policy=policy)


def http_request(
    method: str,
    url: str,
    body: bytes | None,
    headers: Mapping[str, str],
    timeout: float = HTTP_TIMEOUT_SECONDS,
    *,
    policy: OutboundPolicy = PUBLIC_ONLY,
) -> HttpReply:
    try:
        target = policy.check(url)
    except TargetRefused as exc:
        raise PermanentDeliveryError(short_error(f"refused: {exc}")) from exc
    except HostNotResolved as exc:
        raise DeliveryError(short_error(f"cannot reach {url}: {exc}")) from exc
    connection_type = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_type(target.host, target.port, target.address, timeout)
    try:
        connection.request(method, target.path, body=body, headers=dict(headers))
        reply = connection.getresponse()
        received = {name.lower(): value for name, value in reply.getheaders()}
        return HttpReply(reply.status, reply.read(MAX_REPLY_BYTES), received)
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryError(short_error(f"cannot reach {url}: {exc}")) from exc
    finally:
        connection.close()


def expect_success(reply: HttpReply, what: str) -> int:
    """The 2xx status, else a DeliveryError naming the status only: the body may be anything
    the receiver chose to say, and the log is shown to staff."""
    if 200 <= reply.status_code < 300:
        return reply.status_code
    note = " (redirects are not followed)" if 300 <= reply.status_code < 400 else ""
    raise DeliveryError(f"{what} answered HTTP {reply.status_code}{note}", reply.status_code)


def backoff_seconds(tries: int) -> int:
    """Delay before the next try after ``tries`` failed ones (1 -> base, 2 -> 2x base, ...)."""
    return int(min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, tries - 1)))


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def tried(self) -> int:
        return self.delivered + self.retrying + self.failed


def deliver_due(
    store: Store,
    now: datetime,
    senders: Mapping[str, Sender],
    max_tries: int = MAX_TRIES,
    limit: int = 50,
) -> DeliveryReport:
    """Send every message due at ``now`` once; record each outcome and schedule retries."""
    delivered = retrying = failed = 0
    lease_until = now + timedelta(seconds=CLAIM_LEASE_SECONDS)
    for message in store.claim_due_messages(now, lease_until, limit):
        sender = senders.get(message.kind)
        status_code: int | None = None
        error: str | None = None
        permanent = False
        try:
            if sender is None:
                raise DeliveryError(f"no sender for messages of kind {message.kind!r}")
            status_code = sender(message)
        except PermanentDeliveryError as exc:
            status_code, error, permanent = exc.status_code, str(exc), True
        except DeliveryError as exc:
            status_code, error = exc.status_code, str(exc)
        except Exception as exc:  # a bug in one sender must not stop the others
            log.exception("outbox: sending %s failed", message.id)
            error = f"{type(exc).__name__}: {exc}"
        tries = message.attempts + 1
        next_at: datetime | None = None
        if error is not None and tries < max_tries and not permanent:
            next_at = now + timedelta(seconds=backoff_seconds(tries))
        store.record_delivery(message.id, now, status_code, error, next_at)
        if error is None:
            delivered += 1
        elif next_at is None:
            failed += 1
            log.warning("outbox: %s %s failed for good: %s", message.kind, message.id, error)
        else:
            retrying += 1
            log.info("outbox: %s %s will be retried: %s", message.kind, message.id, error)
    return DeliveryReport(delivered, retrying, failed)


class OutboxWorker:
    """A background thread per app that sends messages as soon as they are committed.

    It starts when notified (the store notifies after committing messages), polls every
    ``poll_seconds`` while messages are pending (retries come due on the app's clock) and
    ends when nothing is pending, so an idle app holds no thread.
    """

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        senders: Mapping[str, Sender],
        poll_seconds: float = 5.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.senders = senders
        self.poll_seconds = poll_seconds
        self._pid = os.getpid()
        self._resumed_in: int | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _adopt_process(self) -> None:
        # A pre-forking server builds the app (and this worker) in its master: each forked
        # child needs its own thread, lock and events, never the master's copies.
        with _ADOPT_LOCK:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._wake = threading.Event()
                self._stop = threading.Event()
                self._lock = threading.Lock()
                self._thread = None

    def resume_pending(self) -> None:
        """Once per process: pick up messages an earlier run left pending (restart, crash)."""
        if self._resumed_in == os.getpid():
            return
        self._resumed_in = os.getpid()
        try:
            pending = self.store.count_pending_messages()
        except Exception as exc:  # the request itself reports an unavailable database
            self._resumed_in = None
            log.debug("outbox: cannot count pending messages: %s", exc)
            return
        if pending:
            self.notify()

    def notify(self) -> None:
        self._adopt_process()
        with self._lock:
            self._wake.set()
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="quizsvc-outbox", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        errors = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                deliver_due(self.store, self.clock(), self.senders)
                pending = self.store.count_pending_messages()
                errors = 0
            except Exception:
                errors += 1
                log.exception("outbox: delivery round failed")
                pending = 1
                if errors >= 3:
                    break
            with self._lock:
                if pending == 0 and not self._wake.is_set():
                    self._thread = None
                    return
            self._wake.wait(self.poll_seconds)
        with self._lock:
            self._thread = None
