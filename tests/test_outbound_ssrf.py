"""The SSRF guard on outbound requests (webhooks, grade passback): which addresses are refused,
at subscription and at every send, that redirects are not followed, that the checked address
is the one connected to (DNS rebinding), and that the delivery log never holds a reply body.

The receivers are real HTTP(S) servers on 127.0.0.1 / 127.0.0.2; names that are not in
/etc/hosts are answered by a fake resolver in place of ``socket.getaddrinfo``.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient

from quizsvc.app import OUTBOX_WORKER_KEY, create_app
from quizsvc.config import Settings
from quizsvc.embedding import HashingEncoder
from quizsvc.lms.ags import request_access_token
from quizsvc.lms.outbound import (
    PUBLIC_ONLY,
    HostNotResolved,
    OutboundPolicy,
    TargetRefused,
    literal_address,
    refusal_reason,
)
from quizsvc.lms.outbox import (
    DeliveryError,
    PermanentDeliveryError,
    backoff_seconds,
    expect_success,
    http_post,
)
from tests.conftest import FakeClock, wait_until

Headers = dict[str, str]

SECRET_BODY = b"internal-only: redis password is hunter2-7f3a9c"
PUBLIC_ADDRESS = "93.184.216.34"


# -- real receivers -------------------------------------------------------------------------------


class CountingServer:
    """An HTTP(S) server in a thread on ``host``: counts POSTs, answers ``status`` with a
    secret body (and ``location`` for redirects), records the Host header and TLS SNI."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        status: int = 200,
        location: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.status = status
        self.location = location
        self.hits: list[dict[str, str]] = []
        self.server_names: list[str | None] = []
        self.lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with counter.lock:
                    counter.hits.append(dict(self.headers.items()))
                    status, location = counter.status, counter.location
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(SECRET_BODY)))
                self.end_headers()
                self.wfile.write(SECRET_BODY)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        if tls is not None:

            def remember_sni(_sock: Any, server_name: str | None, _ctx: Any) -> None:
                self.server_names.append(server_name)

            tls.sni_callback = remember_sni
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port: int = self.server.server_port
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host}:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def hit_count(self) -> int:
        with self.lock:
            return len(self.hits)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def second_loopback_address() -> str:
    """127.0.0.2: Linux routes all of 127/8 to the loopback interface; skip where it does not."""
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
    except OSError as exc:
        pytest.skip(f"cannot bind 127.0.0.2 on this machine: {exc}")
    return "127.0.0.2"


@pytest.fixture
def secret_server() -> Iterator[CountingServer]:
    """The internal service an attacker wants to reach, on 127.0.0.1."""
    server = CountingServer()
    yield server
    server.close()


class FakeDns:
    """Answers for made-up names; each lookup takes the next answer, the last one repeats.
    An answer is one address or several, comma-separated."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host not in self.answers:
                return real(host, port, *args, **kwargs)
            self.lookups.append(host)
            queue = self.answers[host]
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (address, int(port)),
                )
                for address in answer.split(",")
            ]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    return FakeDns(monkeypatch)


# -- the app, with the default (secure) setting unless a test parametrises ``allow_hosts`` --------


@pytest.fixture
def allow_hosts() -> str:
    return ""


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: FakeClock, allow_hosts: str) -> Iterator[Flask]:
    """The service on SQLite and PostgreSQL (``client`` and ``make_key`` from conftest use
    it), with a fast outbox worker; the hashing encoder is enough for multiple choice."""
    settings = Settings.from_env(
        instance_dir=tmp_path,
        database_url=database_url,
        rate_limit="100000/minute",
        outbound_allow_hosts=allow_hosts,
    )
    app = create_app(
        {
            "SETTINGS": settings,
            "ENCODER": HashingEncoder(),
            "CLOCK": clock,
            "TESTING": True,
            "OUTBOX_POLL_SECONDS": 0.05,
        }
    )
    yield app
    app.extensions[OUTBOX_WORKER_KEY].stop()


def new_exam(client: FlaskClient, staff: Headers) -> str:
    reply = client.post(
        "/v1/exams",
        json={"title": "SSRF", "counts": {"multiple_choice": 2}, "seed": 5},
        headers=staff,
    )
    assert reply.status_code == 201, reply.get_json()
    exam_id: str = reply.get_json()["id"]
    return exam_id


def grade_an_attempt(client: FlaskClient, exam_id: str, learner: Headers) -> None:
    """Creates one attempt.graded event for the exam's subscriptions."""
    attempt = client.post(f"/v1/exams/{exam_id}/attempts", headers=learner).get_json()
    submitted = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner)
    assert submitted.status_code == 200, submitted.get_json()


def subscribe(client: FlaskClient, staff: Headers, url: str, exam_id: str) -> Any:
    # Always for one exam: PostgreSQL keeps subscriptions across tests, and a global one
    # would receive the next tests' events.
    return client.post("/v1/webhooks", json={"url": url, "exam_id": exam_id}, headers=staff)


def delivery_log(client: FlaskClient, staff: Headers, subscription_id: str) -> Any:
    reply = client.get(f"/v1/webhooks/{subscription_id}/deliveries", headers=staff)
    assert reply.status_code == 200
    return reply


def first_delivery_once(
    client: FlaskClient, staff: Headers, subscription_id: str, predicate: Callable[[Any], bool]
) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        items = delivery_log(client, staff, subscription_id).get_json()["items"]
        return items[0] if items and predicate(items[0]) else None

    found: dict[str, Any] = wait_until(find, what="the delivery log entry")  # type: ignore[assignment]
    return found


# -- the address classifier -----------------------------------------------------------------------

ADDRESS_FORMS = [
    ("127.0.0.1", "loopback"),
    ("127.1", "loopback"),
    ("2130706433", "loopback"),
    ("0x7f000001", "loopback"),
    ("0X7F.0.0.1", "loopback"),
    ("0177.0.0.1", "loopback"),
    ("017700000001", "loopback"),
    ("0x7f.1", "loopback"),
    ("127.0.0.1.", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:7f00:1", "loopback"),
    ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
    ("10.0.0.1", "private"),
    ("012.0.0.1", "private"),  # octal 10
    ("167772161", "private"),  # 10.0.0.1
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("::ffff:10.0.0.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.169.254", "link-local"),
    ("0xa9fea9fe", "link-local"),
    ("::ffff:169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("::127.0.0.1", "reserved"),  # deprecated IPv4-compatible form
    ("64:ff9b::a00:1", "reserved"),  # NAT64 of 10.0.0.1
    ("100.64.0.1", "non-public"),  # carrier-grade NAT
    ("93.184.216.34", None),
    ("8.8.8.8", None),
    ("16843009", None),  # 1.1.1.1
    ("2606:4700:4700::1111", None),
    ("::ffff:8.8.8.8", None),
]


@pytest.mark.parametrize(("host", "kind"), ADDRESS_FORMS, ids=[h for h, _ in ADDRESS_FORMS])
def test_every_way_of_writing_an_address_is_classified_by_the_address(
    host: str, kind: str | None
) -> None:
    address = literal_address(host)
    assert address is not None, f"{host} is an IP address to a C resolver"
    reason = refusal_reason(address)
    if kind is None:
        assert reason is None
    else:
        assert reason is not None
        assert kind in reason


@pytest.mark.parametrize("host", ["example.com", "localhost", "08.1", "1.2.3.256", "127..1"])
def test_names_and_malformed_numbers_are_not_literals(host: str) -> None:
    assert literal_address(host) is None


def test_literal_forms_match_the_system_resolver() -> None:
    """What we read in a numeric host is what getaddrinfo (and so any other client) reads."""
    for host in ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "167772161"]:
        resolved = socket.getaddrinfo(host, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        assert str(literal_address(host)) == resolved, host


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "http and https"),
        ("file:///etc/passwd", "http and https"),
        ("gopher://127.0.0.1:6379/_INFO", "http and https"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://user@example.com/", "credentials"),
        ("http:///path", "no host"),
        ("http://example.com:0/", "port"),
        ("http://example.com:99999/", "port"),
        ("http://localhost:6379/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ],
)
def test_urls_refused_before_any_connection(url: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=message):
        PUBLIC_ONLY.check(url)


def test_a_name_is_refused_when_any_of_its_addresses_is_internal(dns: FakeDns) -> None:
    dns.answers["public.test"] = [PUBLIC_ADDRESS]
    target = PUBLIC_ONLY.check("https://public.test/hooks?x=1")
    assert (target.host, target.port, target.path, target.address) == (
        "public.test",
        443,
        "/hooks?x=1",
        PUBLIC_ADDRESS,
    )

    dns.answers["mixed.test"] = [f"{PUBLIC_ADDRESS},10.0.0.7"]
    with pytest.raises(TargetRefused, match="private"):
        PUBLIC_ONLY.check("http://mixed.test/")

    with pytest.raises(HostNotResolved):
        PUBLIC_ONLY.check("http://no-such-host.invalid/")


def test_the_allow_list_takes_names_addresses_and_networks(dns: FakeDns) -> None:
    policy = OutboundPolicy.from_setting(" LMS.Campus.test. , 10.20.0.0/16, 0x7f000001, [::1],")
    assert policy.allowed_hosts == frozenset({"lms.campus.test"})
    assert [str(n) for n in policy.allowed_networks] == ["10.20.0.0/16", "127.0.0.1/32", "::1/128"]

    dns.answers["lms.campus.test"] = ["192.168.4.4"]
    assert policy.check("https://lms.campus.test/token").address == "192.168.4.4"
    assert policy.check("http://10.20.3.4:8080/").address == "10.20.3.4"
    assert policy.check("http://[::ffff:127.0.0.1]/").address == "127.0.0.1"
    assert policy.check("http://[::1]:9/").address == "::1"
    # Only what is listed: the rest of the private ranges stays closed.
    for refused in ["http://10.21.0.1/", "http://127.0.0.2/", "http://169.254.169.254/"]:
        with pytest.raises(TargetRefused):
            policy.check(refused)
    dns.answers["other.campus.test"] = ["192.168.4.4"]
    with pytest.raises(TargetRefused, match="private"):
        policy.check("https://other.campus.test/")

    with pytest.raises(ValueError, match="QUIZSVC_OUTBOUND_ALLOW_HOSTS"):
        OutboundPolicy.from_setting("10.0.0.0/33")
    with pytest.raises(ValueError, match="QUIZSVC_OUTBOUND_ALLOW_HOSTS"):
        OutboundPolicy.from_setting("http://lms.campus.test/")


def test_the_setting_comes_from_the_environment_and_defaults_to_none() -> None:
    assert Settings.from_env({}).outbound_allow_hosts == ""
    env = {"QUIZSVC_OUTBOUND_ALLOW_HOSTS": "lms.campus.test,10.0.0.0/8"}
    assert Settings.from_env(env).outbound_allow_hosts == "lms.campus.test,10.0.0.0/8"


# -- the HTTP client: refused targets, redirects, pinning -----------------------------------------


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def test_http_post_refuses_internal_targets_without_connecting(
    secret_server: CountingServer,
) -> None:
    for url in [
        secret_server.url,
        f"http://localhost:{secret_server.port}/hook",
        f"http://0x7f000001:{secret_server.port}/hook",
        f"http://2130706433:{secret_server.port}/hook",
        f"http://127.1:{secret_server.port}/hook",
    ]:
        with pytest.raises(PermanentDeliveryError, match="loopback"):
            http_post(url, b"{}", {"Content-Type": "application/json"})
    # Grade passback goes through the same client: a token endpoint on an internal address
    # gets no request either.
    with pytest.raises(PermanentDeliveryError, match="loopback"):
        request_access_token(secret_server.url, "client", "kid", rsa_pem(), ["scope"])
    assert secret_server.hit_count() == 0


def test_a_redirect_is_returned_not_followed(secret_server: CountingServer) -> None:
    redirector = CountingServer(
        host=second_loopback_address(), status=302, location=secret_server.url
    )
    try:
        policy = OutboundPolicy.from_setting("127.0.0.2")
        reply = http_post(redirector.url, b"{}", {}, policy=policy)
        assert reply.status_code == 302
        with pytest.raises(DeliveryError, match="redirects are not followed") as failed:
            expect_success(reply, "the webhook receiver")
        assert failed.value.status_code == 302
        assert SECRET_BODY.decode() not in str(failed.value)
    finally:
        redirector.close()
    assert redirector.hit_count() == 1
    assert secret_server.hit_count() == 0


def test_the_checked_address_is_the_one_connected_to(dns: FakeDns) -> None:
    """DNS rebinding inside one send: the name answers an allowed address to the check and the
    loopback address to any later lookup. The request must go to the checked address."""
    allowed = CountingServer(host=second_loopback_address())
    try:
        internal = CountingServer(host="127.0.0.1", port=allowed.port)
    except OSError:
        allowed.close()
        pytest.skip(f"127.0.0.1:{allowed.port} is taken")
    try:
        dns.answers["flip.test"] = ["127.0.0.2", "127.0.0.1"]
        policy = OutboundPolicy.from_setting("127.0.0.2")
        reply = http_post(f"http://flip.test:{allowed.port}/hook", b"{}", {}, policy=policy)
        assert reply.status_code == 200
        assert allowed.hit_count() == 1
        assert internal.hit_count() == 0
        assert allowed.hits[0]["Host"] == f"flip.test:{allowed.port}"
        assert dns.lookups == ["flip.test"]
    finally:
        allowed.close()
        internal.close()


def self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize("served_name", ["pinned.test", "someone-else.test"])
def test_https_to_a_pinned_address_checks_the_certificate_for_the_url_host(
    tmp_path: Path, dns: FakeDns, monkeypatch: pytest.MonkeyPatch, served_name: str
) -> None:
    cert_path, key_path = self_signed(tmp_path, served_name)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_path, key_path)
    server = CountingServer(host=second_loopback_address(), tls=tls)
    # The client trusts only this certificate (a fresh context per connection reads it).
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    dns.answers["pinned.test"] = ["127.0.0.2"]
    try:
        url = f"https://pinned.test:{server.port}/hook"
        policy = OutboundPolicy.from_setting("127.0.0.2")
        if served_name == "pinned.test":
            assert http_post(url, b"{}", {}, policy=policy).status_code == 200
            assert server.hits[0]["Host"] == f"pinned.test:{server.port}"
        else:
            with pytest.raises(DeliveryError, match="certificate"):
                http_post(url, b"{}", {}, policy=policy)
            assert server.hit_count() == 0
        assert server.server_names[:1] == ["pinned.test"]
    finally:
        server.close()


# -- over the API (SQLite and PostgreSQL) ---------------------------------------------------------


@pytest.mark.http
def test_subscribing_an_internal_or_non_http_url_is_a_422_naming_url(
    client: FlaskClient,
    make_key: Callable[..., Headers],
    secret_server: CountingServer,
    dns: FakeDns,
) -> None:
    staff = make_key("instructor")
    exam_id = new_exam(client, staff)
    port = secret_server.port
    dns.answers["internal.test"] = ["127.0.0.1"]
    # (url, what the url error says): the schema rejects what is not an http(s) URL to it
    # (IPv6 with a dotted tail included), the outbound policy the rest.
    refused = [
        (f"http://127.0.0.1:{port}/", "loopback"),
        (f"http://localhost:{port}/", "loopback"),
        (f"http://0x7f000001:{port}/", "loopback"),
        (f"http://2130706433:{port}/", "loopback"),
        (f"http://[::1]:{port}/", "loopback"),
        (f"http://[::ffff:127.0.0.1]:{port}/", "Not a valid URL"),
        (f"http://internal.test:{port}/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/", "private"),
        ("http://user:pw@example.com/", "credentials"),
        ("ftp://example.com/", "Not a valid URL"),
        ("file:///etc/passwd", "Not a valid URL"),
    ]
    for url, says in refused:
        reply = subscribe(client, staff, url, exam_id)
        body = reply.get_json()
        assert reply.status_code == 422, (url, body)
        assert body["code"] == 422
        (message,) = body["errors"]["json"]["url"]
        assert says in message, (url, body)
    assert client.get("/v1/webhooks", headers=staff).get_json()["items"] == []
    assert secret_server.hit_count() == 0


@pytest.mark.http
def test_a_name_that_rebinds_to_loopback_after_subscribing_gets_no_request(
    client: FlaskClient,
    make_key: Callable[..., Headers],
    secret_server: CountingServer,
    dns: FakeDns,
) -> None:
    staff, learner = make_key("instructor"), make_key("learner", "ada")
    exam_id = new_exam(client, staff)
    dns.answers["rebind.test"] = [PUBLIC_ADDRESS]
    created = subscribe(client, staff, f"http://rebind.test:{secret_server.port}/hook", exam_id)
    assert created.status_code == 201, created.get_json()

    dns.answers["rebind.test"] = ["127.0.0.1"]
    grade_an_attempt(client, exam_id, learner)
    entry = first_delivery_once(
        client, staff, created.get_json()["id"], lambda e: e["attempts"] == 1
    )
    # Refused at send time, and for good: retrying cannot make the address acceptable.
    assert entry["status"] == "failed"
    assert entry["last_status_code"] is None
    assert "loopback" in entry["last_error"]
    assert secret_server.hit_count() == 0


@pytest.mark.http
@pytest.mark.parametrize("allow_hosts", ["127.0.0.2"])
def test_a_redirect_to_an_internal_address_is_a_failed_try_and_not_followed(
    client: FlaskClient,
    make_key: Callable[..., Headers],
    clock: FakeClock,
    secret_server: CountingServer,
) -> None:
    redirector = CountingServer(
        host=second_loopback_address(), status=302, location=secret_server.url
    )
    try:
        staff, learner = make_key("instructor"), make_key("learner", "ada")
        exam_id = new_exam(client, staff)
        # Listing 127.0.0.2 opens that address only, not the redirect's target.
        assert subscribe(client, staff, secret_server.url, exam_id).status_code == 422
        created = subscribe(client, staff, redirector.url, exam_id)
        assert created.status_code == 201, created.get_json()
        subscription_id = created.get_json()["id"]

        grade_an_attempt(client, exam_id, learner)
        entry = first_delivery_once(client, staff, subscription_id, lambda e: e["attempts"] == 1)
        assert entry["status"] == "pending"
        assert entry["last_status_code"] == 302
        assert "redirects are not followed" in entry["last_error"]
        assert redirector.hit_count() == 1
        assert secret_server.hit_count() == 0
        log_text = delivery_log(client, staff, subscription_id).get_data(as_text=True)
        assert SECRET_BODY.decode() not in log_text

        # Leave nothing pending for later tests on the same PostgreSQL database: once the
        # subscription is gone, the retry fails for good.
        assert client.delete(f"/v1/webhooks/{subscription_id}", headers=staff).status_code == 204
        clock.advance(backoff_seconds(1))
        client.get("/v1/health")
        first_delivery_once(client, staff, subscription_id, lambda e: e["status"] == "failed")
        assert secret_server.hit_count() == 0
    finally:
        redirector.close()


@pytest.mark.http
@pytest.mark.parametrize("allow_hosts", ["127.0.0.1"])
def test_an_allow_listed_private_host_is_delivered_to_and_its_replies_stay_out_of_the_log(
    client: FlaskClient,
    make_key: Callable[..., Headers],
    clock: FakeClock,
    secret_server: CountingServer,
) -> None:
    staff, learner = make_key("instructor"), make_key("learner", "ada")
    exam_id = new_exam(client, staff)
    created = subscribe(client, staff, secret_server.url, exam_id)
    assert created.status_code == 201, created.get_json()
    subscription_id = created.get_json()["id"]

    secret_server.status = 500
    grade_an_attempt(client, exam_id, learner)
    failed = first_delivery_once(client, staff, subscription_id, lambda e: e["attempts"] == 1)
    assert failed["last_status_code"] == 500
    assert failed["tries"][0]["error"] == "the webhook receiver answered HTTP 500"

    secret_server.status = 200
    clock.advance(backoff_seconds(1))
    client.get("/v1/health")
    delivered = first_delivery_once(
        client, staff, subscription_id, lambda e: e["status"] == "delivered"
    )
    assert [t["status_code"] for t in delivered["tries"]] == [500, 200]
    assert secret_server.hit_count() == 2
    assert all("X-Quizsvc-Signature" in hit for hit in secret_server.hits)

    log_text = delivery_log(client, staff, subscription_id).get_data(as_text=True)
    assert SECRET_BODY.decode() not in log_text
    assert "hunter2" not in json.dumps(delivered)
