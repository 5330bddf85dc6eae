"""Signing in to the web app (/app) without an LMS: API keys, one-time sign-in links, the
session cookie, CSRF tokens, sign-out and session expiry; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quizsvc.persistence.web import new_token
from tests.conftest import FakeClock
from tests.web_support import bearer_key, csrf_from, sign_in_client

Headers = dict[str, str]


def create_link(client: FlaskClient, staff: Headers, learner_id: str = "ann") -> str:
    """The path of a new sign-in link."""
    reply = client.post(f"/v1/learners/{learner_id}/sign-in-links", headers=staff)
    assert reply.status_code == 201, reply.text
    location: str = reply.headers["Location"]
    assert reply.json["url"].endswith(location)
    return location


def use_link(client: FlaskClient, path: str) -> tuple[int, str]:
    """Open the link's page and press its button: (status of the POST, where it leads)."""
    page = client.get(path)
    if page.status_code != 200:
        return page.status_code, ""
    reply = client.post(path, data={"csrf_token": csrf_from(page.text)})
    return reply.status_code, reply.headers.get("Location", "")


def set_cookies(reply: object) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    found: dict[str, str] = {}
    for header in reply.headers.get_all("Set-Cookie"):  # type: ignore[attr-defined]
        found[header.split("=", 1)[0]] = header
    return found


def test_sign_in_link_signs_the_learner_in_once(
    client: FlaskClient, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    reply = client.post("/v1/learners/ann/sign-in-links", headers=make_key("instructor"))
    assert reply.status_code == 201
    assert reply.json["learner_id"] == "ann"
    assert reply.json["expires_at"] == (clock.now + timedelta(minutes=15)).isoformat()
    path = reply.headers["Location"]
    assert use_link(client, path) == (303, "/app/dashboard")
    dashboard = client.get("/app/dashboard")
    assert dashboard.status_code == 200
    assert "ann" in dashboard.text
    # Used: the page and the form both say so, in a second browser too.
    other = client.application.test_client()
    assert other.get(path).status_code == 410
    assert "already used" in other.get(path).text


def test_sign_in_links_are_for_staff_only(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    learner = make_key("learner", "ann")
    assert client.post("/v1/learners/ann/sign-in-links", headers=learner).status_code == 403
    assert client.post("/v1/learners/ann/sign-in-links").status_code == 401


def test_sign_in_link_expires_after_15_minutes(
    client: FlaskClient, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    staff = make_key("instructor")
    fresh = create_link(client, staff)
    stale = create_link(client, staff)
    clock.advance(15 * 60 - 1)
    assert use_link(client.application.test_client(), fresh)[0] == 303
    clock.advance(1)
    browser = client.application.test_client()
    page = browser.get(stale)
    assert page.status_code == 410
    assert "expired" in page.text
    assert browser.get("/app/dashboard").status_code == 303  # not signed in


def test_link_page_shown_before_expiry_is_refused_after_it(
    client: FlaskClient, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    """The button's POST checks expiry itself: a page left open is no loophole."""
    path = create_link(client, make_key("instructor"))
    page = client.get(path)
    clock.advance(15 * 60 + 1)
    reply = client.post(path, data={"csrf_token": csrf_from(page.text)})
    assert reply.status_code == 410
    assert client.get("/app/dashboard").status_code == 303


def test_unknown_link_is_404(client: FlaskClient) -> None:
    assert client.get(f"/app/sign-in/link/{new_token()}").status_code == 404


def test_concurrent_redemptions_of_one_link_sign_in_once(
    app: Flask, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    """Eight browsers pressing the button at the same moment: one session, on both
    databases (a conditional UPDATE claims the link)."""
    store = app.extensions["quizsvc"].store
    staff_key = store.principal_for(bearer_key(make_key("instructor")))
    token, _ = store.create_sign_in_link("ann", staff_key.key_id, clock.now, timedelta(minutes=15))
    racers = 8
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def redeem() -> None:
        barrier.wait()
        principal, problem = store.redeem_sign_in_link(
            token, new_token(), clock.now, timedelta(hours=1)
        )
        with lock:
            outcomes.append("signed in" if principal is not None else problem)

    threads = [threading.Thread(target=redeem) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["signed in"] + ["used"] * (racers - 1)
    keys, _ = store.list_keys("learner", "ann", include_revoked=True)
    assert len(keys) == 1  # one session, one key minted for it


def test_api_key_sign_in_and_wrong_key(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    token = csrf_from(client.get("/app/sign-in").text)
    wrong = client.post("/app/sign-in", data={"csrf_token": token, "api_key": "qz_nope"})
    assert wrong.status_code == 401
    assert "not valid" in wrong.text
    assert "quizsvc_app_session" not in set_cookies(wrong)
    sign_in_client(client, bearer_key(make_key("learner", "bo")))
    assert "bo" in client.get("/app/dashboard").text


def test_session_cookie_flags(client: FlaskClient, make_key: Callable[..., Headers]) -> None:
    token = csrf_from(client.get("/app/sign-in").text)
    key = bearer_key(make_key("learner", "cy"))
    reply = client.post("/app/sign-in", data={"csrf_token": token, "api_key": key})
    cookie = set_cookies(reply)["quizsvc_app_session"]
    parsed = SimpleCookie()
    parsed.load(cookie)
    morsel = parsed["quizsvc_app_session"]
    assert morsel["httponly"] is True
    assert morsel["secure"] is True  # QUIZSVC_INSECURE_COOKIES is off outside development
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/app"
    assert int(morsel["max-age"]) == 480 * 60


def test_cookies_lose_secure_only_in_development(
    fast_outbox_app: Flask, make_key: Callable[..., Headers]
) -> None:
    """fast_outbox_app runs with QUIZSVC_INSECURE_COOKIES=true (plain http in tests)."""
    client = fast_outbox_app.test_client()
    store = fast_outbox_app.extensions["quizsvc"].store
    key, _ = store.create_key("learner", "dev")
    token = csrf_from(client.get("/app/sign-in").text)
    reply = client.post("/app/sign-in", data={"csrf_token": token, "api_key": key})
    cookie = set_cookies(reply)["quizsvc_app_session"]
    assert "Secure" not in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_forms_without_a_valid_csrf_token_are_refused(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    key = bearer_key(make_key("learner", "di"))
    client.get("/app/sign-in")
    assert client.post("/app/sign-in", data={"api_key": key}).status_code == 403
    other = client.application.test_client()
    foreign = csrf_from(other.get("/app/sign-in").text)
    refused = client.post("/app/sign-in", data={"csrf_token": foreign, "api_key": key})
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    # Signed in: the sign-out form needs the session's token, not the pre-sign-in one.
    session_token = sign_in_client(client, key)
    assert client.post("/app/sign-out", data={"csrf_token": foreign}).status_code == 403
    assert client.post("/app/sign-out").status_code == 403
    assert client.get("/app/dashboard").status_code == 200  # still signed in
    assert client.post("/app/sign-out", data={"csrf_token": session_token}).status_code == 303


def test_sign_out_ends_the_session_and_a_links_key(
    client: FlaskClient, app: Flask, make_key: Callable[..., Headers]
) -> None:
    path = create_link(client, make_key("instructor"), "eve")
    use_link(client, path)
    stolen = client.get_cookie("quizsvc_app_session", path="/app")
    assert stolen is not None
    token = csrf_from(client.get("/app/dashboard").text)
    out = client.post("/app/sign-out", data={"csrf_token": token})
    assert out.status_code == 303
    assert "quizsvc_app_session=;" in set_cookies(out)["quizsvc_app_session"]
    # A copy of the cookie taken before sign-out no longer works.
    replay = app.test_client()
    replay.set_cookie("quizsvc_app_session", stolen.value, path="/app")
    assert replay.get("/app/dashboard").status_code == 303
    keys, _ = app.extensions["quizsvc"].store.list_keys("learner", "eve", include_revoked=True)
    assert [key.revoked_at is not None for key in keys] == [True]


def test_sessions_expire_when_idle_and_absolutely(
    client: FlaskClient, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    key = bearer_key(make_key("learner", "fay"))
    sign_in_client(client, key)
    clock.advance(59 * 60)
    assert client.get("/app/dashboard").status_code == 200
    clock.advance(61 * 60)  # idle for 61 minutes
    expired = client.get("/app/dashboard")
    assert expired.status_code == 303
    assert expired.headers["Location"].startswith("/app/sign-in?next=/app/dashboard")
    # Active all along, the session still ends 8 hours after sign-in.
    sign_in_client(client, key)
    for _ in range(8):
        clock.advance(59 * 60)
        assert client.get("/app/dashboard").status_code == 200
    clock.advance(7 * 60)  # 479 minutes after sign-in
    assert client.get("/app/dashboard").status_code == 200
    clock.advance(60)
    assert client.get("/app/dashboard").status_code == 303


def test_revoking_the_key_ends_its_sessions(
    client: FlaskClient, app: Flask, make_key: Callable[..., Headers], clock: FakeClock
) -> None:
    key = bearer_key(make_key("learner", "gus"))
    sign_in_client(client, key)
    store = app.extensions["quizsvc"].store
    principal = store.principal_for(key)
    store.revoke_key(principal.key_id, clock.now)
    assert client.get("/app/dashboard").status_code == 303


@pytest.mark.parametrize(
    "target", ["https://evil.example/app/x", "//evil.example/app/", "/v1/keys", "/app\\..\\x"]
)
def test_sign_in_never_redirects_off_the_app(
    client: FlaskClient, make_key: Callable[..., Headers], target: str
) -> None:
    token = csrf_from(client.get("/app/sign-in").text)
    key = bearer_key(make_key("learner", "hal"))
    reply = client.post("/app/sign-in", data={"csrf_token": token, "api_key": key, "next": target})
    assert reply.headers["Location"] == "/app/dashboard"


def test_pages_send_their_security_headers(client: FlaskClient) -> None:
    page = client.get("/app/sign-in")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
