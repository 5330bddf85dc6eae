"""LTI 1.3 against a test LMS platform: a real HTTP server with its own RSA key and JWKS.

The tool runs as the real service on a localhost port; ``requests`` plays the browser (it
keeps cookies, so the ``state`` cookie binds the launch to it).
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from click.testing import CliRunner
from flask import Flask, Response

from quizsvc.api.lti import SESSION_COOKIE, set_cookie, web_origin
from quizsvc.app import create_app
from quizsvc.cli import main as cli
from quizsvc.config import Settings
from quizsvc.embedding import HashingEncoder
from quizsvc.lms import lti
from quizsvc.store import Store
from tests.conftest import FakeClock, wait_until
from tests.lti_platform import INSTRUCTOR_ROLE, LEARNER_ROLE, Platform, new_rsa_key

pytestmark = [pytest.mark.http, pytest.mark.model]

Headers = dict[str, str]


@pytest.fixture
def app(fast_outbox_app: Flask) -> Flask:
    return fast_outbox_app


@pytest.fixture
def store(app: Flask) -> Store:
    found: Store = app.extensions["quizsvc"].store
    return found


@pytest.fixture
def registered(
    platform: Platform,
    live_url: str,
    database_url: str,
    make_key: Callable[..., Headers],
) -> Platform:
    """The platform registered through the admin API, and a tool key made by the CLI."""
    rotated = CliRunner().invoke(
        cli, ["lti", "keys", "rotate"], env={"QUIZSVC_DATABASE_URL": database_url}
    )
    assert rotated.exit_code == 0, rotated.output
    reply = requests.post(
        f"{live_url}/v1/lti/registrations", json=platform.registration(), headers=make_key("admin")
    )
    assert reply.status_code == 201, reply.text
    tool = reply.json()
    assert tool["issuer"] == platform.issuer
    # Every 201 says where the new resource is, and it answers there.
    located = requests.get(live_url + reply.headers["Location"], headers=make_key("admin"))
    assert located.status_code == 200
    assert located.json()["id"] == tool["id"]
    platform.tool_launch_url = f"{live_url}/lti/launch"
    platform.tool_jwks_url = f"{live_url}/lti/jwks"
    return platform


@pytest.fixture
def exam(live_url: str, make_key: Callable[..., Headers]) -> dict[str, Any]:
    reply = requests.post(
        f"{live_url}/v1/exams",
        json={
            "title": "LTI <drill>",
            "counts": {"multiple_choice": 2, "fill_in": 1},
            "seed": 4,
            "time_limit_seconds": 600,
        },
        headers=make_key("instructor"),
    )
    assert reply.status_code == 201, reply.text
    found: dict[str, Any] = reply.json()
    return found


def form_fields(page: str) -> dict[str, str]:
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)
    }


def login(browser: requests.Session, live_url: str, platform: Platform) -> dict[str, str]:
    """Login initiation at the tool, then the platform's auth endpoint: the launch form."""
    initiation = browser.post(
        f"{live_url}/lti/login",
        data={
            "iss": platform.issuer,
            "login_hint": platform.user,
            "target_link_uri": platform.tool_launch_url,
            "client_id": platform.client_id,
            "lti_deployment_id": platform.deployment_id,
        },
        allow_redirects=False,
    )
    assert initiation.status_code == 302, initiation.text
    location = initiation.headers["Location"]
    assert location.startswith(f"{platform.url}/auth?")
    page = browser.get(location)
    assert page.status_code == 200
    return form_fields(page.text)


def post_launch(
    browser: requests.Session, platform: Platform, fields: dict[str, str]
) -> requests.Response:
    return browser.post(platform.tool_launch_url, data=fields, allow_redirects=False)


def page_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', page, re.S)
    assert found, page
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def error_page(reply: requests.Response, status: int) -> str:
    """The message of an LTI error page: HTML for the learner, not the JSON envelope."""
    assert reply.status_code == status, reply.text
    assert reply.headers["Content-Type"].startswith("text/html"), reply.headers
    found = re.search(r'<p id="error-message"[^>]*>(.*?)</p>', reply.text, re.S)
    assert found, reply.text
    assert "launch the exam again from your LMS" in reply.text
    return html.unescape(found.group(1))


def csp_directives(reply: requests.Response) -> dict[str, list[str]]:
    policy = reply.headers["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        assert name not in directives, policy
        directives[name] = sources
    return directives


def attempt_keys(live_url: str, attempt_id: str, staff: Headers) -> dict[str, dict[str, Any]]:
    """The answer keys in the attempt's own ids, as an instructor reads them."""
    reply = requests.get(f"{live_url}/v1/attempts/{attempt_id}?include=key", headers=staff)
    return {key["question_id"]: key for key in reply.json()["key"]}


def correct(key: dict[str, Any]) -> Any:
    if key["type"] == "fill_in":
        return key["accept"][0]
    return key["correct_option_ids"][0]


def test_full_launch_attempt_submit_and_score_passback(
    registered: Platform,
    live_url: str,
    exam: dict[str, Any],
    store: Store,
    clock: FakeClock,
    make_key: Callable[..., Headers],
) -> None:
    platform = registered
    platform.custom = {"exam_id": exam["id"]}
    browser = requests.Session()

    launched = post_launch(browser, platform, login(browser, live_url, platform))
    assert launched.status_code == 303, launched.text
    assert not any(c.name.startswith("quizsvc_lti_state_") for c in browser.cookies)
    page = browser.get(live_url + launched.headers["Location"])
    assert page.status_code == 200
    assert "LTI &lt;drill&gt;" in page.text
    assert "<drill>" not in page.text
    data = page_data(page.text)
    attempt = store.get_attempt(data["attempt_id"])
    assert attempt is not None
    assert attempt.learner_id == lti.learner_id_for(platform.issuer, platform.user)
    assert data["seconds_remaining"] == 600

    # A second launch of the same link resumes the attempt in progress.
    again = post_launch(browser, platform, login(browser, live_url, platform))
    assert again.headers["Location"] == launched.headers["Location"]

    staff = make_key("instructor")
    keys = attempt_keys(live_url, attempt.id, staff)
    csrf = {"X-CSRF-Token": data["csrf"]}
    for question_id, key in keys.items():
        saved = browser.put(
            live_url + data["save_url"] + question_id, json={"answer": correct(key)}, headers=csrf
        )
        assert saved.status_code == 200, saved.text
    unsigned = browser.post(live_url + data["submit_url"])
    assert unsigned.status_code == 403
    assert requests.post(live_url + data["submit_url"], headers=csrf).status_code == 401

    submitted = browser.post(live_url + data["submit_url"], headers=csrf)
    assert submitted.status_code == 200, submitted.text
    review = browser.get(live_url + submitted.json()["review_url"])
    assert "Score 3.00 / 3" in review.text

    wait_until(lambda: platform.scores, what="the AGS score at the platform")
    assert platform.problems == []
    (score,) = platform.scores
    assert score["userId"] == platform.user
    assert score["scoreGiven"] == 3.0
    assert score["scoreMaximum"] == 3.0
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "FullyGraded"
    assert len(platform.token_requests) == 1

    view = requests.get(f"{live_url}/v1/attempts/{attempt.id}", headers=staff).json()
    wait_until(lambda: store.count_pending_messages() == 0)
    view = requests.get(f"{live_url}/v1/attempts/{attempt.id}", headers=staff).json()
    assert view["passback"]["status"] == "delivered"
    assert view["passback"]["attempts"] == 1

    # Nothing is sent twice, however long the worker keeps polling.
    clock.advance(30 * 24 * 3600)
    store.retry_message(store.list_outbox(kind="ags_score")[0].id, clock())
    time.sleep(0.3)
    assert len(platform.scores) == 1


def test_score_is_retried_while_the_platform_is_down(
    registered: Platform,
    live_url: str,
    exam: dict[str, Any],
    store: Store,
    clock: FakeClock,
    make_key: Callable[..., Headers],
) -> None:
    platform = registered
    platform.custom = {"exam_id": exam["id"]}
    platform.scores_status = 503
    browser = requests.Session()
    launched = post_launch(browser, platform, login(browser, live_url, platform))
    data = page_data(browser.get(live_url + launched.headers["Location"]).text)
    # Nothing answered: the attempt runs out of time and is graded on the next access.
    clock.advance(600 + exam["grace_seconds"] + 1)
    review = browser.get(live_url + data["page_url"])
    assert "Finalized by expiry" in review.text

    staff = make_key("instructor")
    url = f"{live_url}/v1/attempts/{data['attempt_id']}"

    def passback() -> dict[str, Any]:
        found: dict[str, Any] = requests.get(url, headers=staff).json()["passback"]
        return found

    wait_until(lambda: passback()["attempts"] == 1, what="the first try")
    assert passback()["status"] == "pending"
    assert "503" in passback()["last_error"]
    assert platform.scores == []

    platform.scores_status = 200
    clock.advance(10)
    wait_until(lambda: passback()["status"] == "delivered", what="the retry")
    assert passback()["attempts"] == 2
    (score,) = platform.scores
    assert score["scoreGiven"] == 0.0
    assert score["scoreMaximum"] == 3.0
    assert platform.problems == []


REJECTIONS = [
    pytest.param("bad_signature", {}, 401, "signature", id="bad-signature"),
    pytest.param("claims", {"aud": "someone-else"}, 401, "audience", id="wrong-audience"),
    pytest.param(
        "claims",
        {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
        401,
        "expired",
        id="expired",
    ),
    pytest.param(
        "claims", {lti.DEPLOYMENT_ID_CLAIM: "other-deployment"}, 403, "Deployment", id="deployment"
    ),
    pytest.param("claims", {lti.ROLES_CLAIM: None}, 400, "roles", id="missing-roles"),
    pytest.param("claims", {lti.VERSION_CLAIM: None}, 400, "version", id="missing-version"),
    pytest.param(
        "claims", {lti.RESOURCE_LINK_CLAIM: None}, 400, "resource_link", id="missing-link"
    ),
    pytest.param("claims", {"nonce": "not-the-login-nonce"}, 401, "nonce", id="foreign-nonce"),
    pytest.param("claims", {"azp": "someone-else"}, 401, "azp", id="wrong-azp"),
    pytest.param("claims", {"iss": "https://evil.example"}, 401, "registered", id="wrong-issuer"),
]


def test_bad_id_tokens_are_rejected_and_create_no_attempt(
    registered: Platform, live_url: str, exam: dict[str, Any], store: Store
) -> None:
    platform = registered
    platform.custom = {"exam_id": exam["id"]}
    for case in REJECTIONS:
        name = case.id
        how, overrides, status, words = case.values
        platform.sign_with = new_rsa_key() if how == "bad_signature" else None
        # ``None`` removes a claim; the nonce stays the login's own unless overridden.
        platform.overrides = dict(overrides)
        browser = requests.Session()
        reply = post_launch(browser, platform, login(browser, live_url, platform))
        message = error_page(reply, status)
        assert str(words).lower() in message.lower(), (name, message)
        assert store.list_attempts() == [], name

    platform.overrides = {}
    platform.sign_with = None
    browser = requests.Session()
    assert post_launch(browser, platform, login(browser, live_url, platform)).status_code == 303
    assert len(store.list_attempts()) == 1


def test_reused_nonce_and_state_bound_to_the_browser(
    registered: Platform, live_url: str, exam: dict[str, Any], store: Store
) -> None:
    platform = registered
    platform.custom = {"exam_id": exam["id"]}
    browser = requests.Session()
    fields = login(browser, live_url, platform)

    stranger = requests.Session()
    foreign = post_launch(stranger, platform, fields)
    assert "browser" in error_page(foreign, 401)
    assert store.list_attempts() == []

    assert post_launch(browser, platform, fields).status_code == 303
    assert len(store.list_attempts()) == 1
    # The same id_token and state again (a replay): the nonce is single-use.
    browser.cookies.set(f"quizsvc_lti_state_{fields['state']}", fields["state"], path="/lti")
    replay = post_launch(browser, platform, fields)
    assert "already used" in error_page(replay, 401)
    # The old id_token with a fresh login's state: its nonce is not this login's.
    fresh = login(browser, live_url, platform)
    mixed = post_launch(
        browser, platform, {"id_token": fields["id_token"], "state": fresh["state"]}
    )
    assert "nonce" in error_page(mixed, 401)
    assert len(store.list_attempts()) == 1


def test_login_initiation_errors(registered: Platform, live_url: str) -> None:
    platform = registered
    missing = requests.post(f"{live_url}/lti/login", data={"iss": platform.issuer})
    assert "login_hint" in error_page(missing, 400)
    unknown = requests.get(
        f"{live_url}/lti/login",
        params={
            "iss": "https://unknown.example",
            "login_hint": "x",
            "target_link_uri": f"{live_url}/lti/launch",
        },
    )
    assert "registered" in error_page(unknown, 400)
    no_launch = requests.post(f"{live_url}/lti/launch", data={"state": "x"})
    assert no_launch.status_code == 400


def test_tool_jwks_publishes_public_keys_only_and_rotation_keeps_the_old_one(
    live_url: str, database_url: str, store: Store
) -> None:
    env = {"QUIZSVC_DATABASE_URL": database_url}
    first = CliRunner().invoke(cli, ["lti", "keys", "rotate"], env=env).stdout.strip()
    second = CliRunner().invoke(cli, ["lti", "keys", "rotate"], env=env).stdout.strip()
    published = requests.get(f"{live_url}/lti/jwks").json()["keys"]
    kids = [key["kid"] for key in published]
    assert first in kids
    assert second in kids
    for key in published:
        assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}
    current = [key for key in store.lti_keys() if key.retired_at is None]
    assert [key.kid for key in current] == [second]
    listed = CliRunner().invoke(cli, ["lti", "keys", "list"], env=env).stdout
    assert "BEGIN" not in listed
    assert second in listed


def test_registration_by_cli_and_admin_only_api(
    live_url: str, database_url: str, make_key: Callable[..., Headers], platform: Platform
) -> None:
    args = [
        "lti",
        "register",
        "--issuer",
        platform.issuer,
        "--client-id",
        "cli-client",
        "--deployment-id",
        "d1",
        "--deployment-id",
        "d2",
        "--auth-login-url",
        f"{platform.url}/auth",
        "--auth-token-url",
        f"{platform.url}/token",
        "--jwks-url",
        f"{platform.url}/jwks",
    ]
    env = {"QUIZSVC_DATABASE_URL": database_url}
    assert CliRunner().invoke(cli, args, env=env).exit_code == 0
    assert CliRunner().invoke(cli, args, env=env).exit_code != 0
    listed = requests.get(f"{live_url}/v1/lti/registrations", headers=make_key("admin")).json()
    (found,) = [r for r in listed["items"] if r["client_id"] == "cli-client"]
    assert found["deployment_ids"] == ["d1", "d2"]
    assert listed["tool"]["jwks_url"] == f"{live_url}/lti/jwks"
    forbidden = requests.get(f"{live_url}/v1/lti/registrations", headers=make_key("instructor"))
    assert forbidden.status_code == 403
    missing = requests.get(f"{live_url}/v1/lti/registrations/nope", headers=make_key("admin"))
    assert missing.status_code == 404
    invalid = requests.post(
        f"{live_url}/v1/lti/registrations",
        json={**platform.registration(), "jwks_url": "not a url", "deployment_ids": []},
        headers=make_key("admin"),
    )
    assert invalid.status_code == 422
    assert set(invalid.json()["errors"]["json"]) == {"jwks_url", "deployment_ids"}


def test_deep_linking_returns_a_signed_resource_link_with_a_line_item(
    registered: Platform, live_url: str, exam: dict[str, Any], store: Store
) -> None:
    platform = registered
    platform.message_type = lti.DEEP_LINKING_REQUEST
    platform.roles = [LEARNER_ROLE]
    browser = requests.Session()
    refused = post_launch(browser, platform, login(browser, live_url, platform))
    assert refused.status_code == 403

    platform.roles = [INSTRUCTOR_ROLE]
    picker = post_launch(browser, platform, login(browser, live_url, platform))
    assert picker.status_code == 200, picker.text
    assert "ML &lt;Modeling&gt;" in picker.text
    assert exam["id"] in picker.text
    context = form_fields(picker.text)["context"]
    chosen = browser.post(
        f"{live_url}/lti/deep-link", data={"context": context, "exam_id": exam["id"]}
    )
    assert chosen.status_code == 200, chosen.text
    # The autopost page may post to the LMS's return URL: its origin, and no other.
    assert csp_directives(chosen)["form-action"] == ["'self'", platform.url]
    assert csp_directives(picker)["form-action"] == ["'self'"]
    assert 'src="/static/lti_autopost.js"' in chosen.text
    action = re.search(r'<form id="autopost" method="post" action="([^"]+)"', chosen.text)
    assert action
    assert html.unescape(action.group(1)) == f"{platform.url}/deep-link-return"
    token = form_fields(chosen.text)["JWT"]
    key = jwt.PyJWKClient(f"{live_url}/lti/jwks").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=platform.issuer)
    assert claims["iss"] == platform.client_id
    assert claims[lti.MESSAGE_TYPE_CLAIM] == "LtiDeepLinkingResponse"
    assert claims[lti.DEPLOYMENT_ID_CLAIM] == platform.deployment_id
    assert claims[lti.DL_DATA_CLAIM] == "opaque-platform-data"
    (item,) = claims[lti.DL_CONTENT_ITEMS_CLAIM]
    assert item["type"] == "ltiResourceLink"
    assert item["custom"] == {"exam_id": exam["id"]}
    assert item["lineItem"]["scoreMaximum"] == 3.0
    assert item["url"] == platform.tool_launch_url
    tampered_context = context[:-2] + ("AA" if not context.endswith("AA") else "BB")
    bad = browser.post(
        f"{live_url}/lti/deep-link", data={"context": tampered_context, "exam_id": exam["id"]}
    )
    assert bad.status_code == 400
    assert store.list_attempts() == []


@pytest.mark.parametrize("insecure", [False, True], ids=["https", "local-http"])
def test_lti_cookies_survive_third_party_cookie_blocking_in_an_lms_iframe(
    tmp_path: Path, insecure: bool
) -> None:
    settings = Settings.from_env(
        instance_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        insecure_cookies=insecure,
    )
    app = create_app({"SETTINGS": settings, "ENCODER": HashingEncoder()})
    response = Response()
    with app.test_request_context():
        set_cookie(response, SESSION_COOKIE, "signed", 600, "/lti")
    attributes = {
        part.strip().split("=")[0]: part for part in response.headers["Set-Cookie"].split(";")
    }
    assert "HttpOnly" in attributes
    if insecure:  # plain http on 127.0.0.1: no Secure, so no SameSite=None and no partition
        assert attributes["SameSite"].strip() == "SameSite=Lax"
        assert "Secure" not in attributes
        assert "Partitioned" not in attributes
    else:
        assert attributes["SameSite"].strip() == "SameSite=None"
        assert "Secure" in attributes
        assert "Partitioned" in attributes


# -- page hardening: CSP, error pages, target_link_uri, parallel launches ------------------------


def test_lti_pages_send_a_strict_csp_with_frame_ancestors_of_the_registered_platforms(
    registered: Platform,
    live_url: str,
    exam: dict[str, Any],
    store: Store,
    make_key: Callable[..., Headers],
) -> None:
    """No inline script or style is allowed or needed; only the tool and the registered LMS
    may frame a page, and the registrations' free text cannot add directives."""
    platform = registered
    platform.custom = {"exam_id": exam["id"]}
    browser = requests.Session()
    launched = post_launch(browser, platform, login(browser, live_url, platform))
    page = browser.get(live_url + launched.headers["Location"])
    assert page.status_code == 200
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in page.headers["Content-Security-Policy"]
    directives = csp_directives(page)
    frame_ancestors = directives.pop("frame-ancestors")
    assert directives == {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "connect-src": ["'self'"],
        "img-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
    }
    # The tool, and every registered platform:
    # the test platforms' issuer and auth endpoint are both on http://127.0.0.1:PORT.
    assert frame_ancestors[0] == "'self'"
    assert platform.url in frame_ancestors
    assert set(frame_ancestors[1:]) == {
        re.sub(r"^(http://[^/]+).*$", r"\1", url)
        for registration in store.list_registrations()
        for url in (registration.issuer, registration.auth_login_url)
    }
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"

    # Nothing on the page needs 'unsafe-inline': every script is a file of the tool's, but
    # for the page data, which is JSON (the browser does not run it); no style, no handler.
    for tag in re.findall(r"<script\b[^>]*>", page.text):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
    assert "<style" not in page.text
    assert not re.search(r"\son[a-z]+=", page.text)
    assert not re.search(r"\sstyle=", page.text)
    for asset, kind in (("lti_exam.js", "javascript"), ("lti.css", "text/css")):
        assert f"/static/{asset}" in page.text
        served = requests.get(f"{live_url}/static/{asset}")
        assert served.status_code == 200, asset
        assert kind in served.headers["Content-Type"], served.headers

    # A registration whose issuer smuggles in directives adds only its origin, rebuilt.
    hostile = {
        **platform.registration(),
        "issuer": "https://lms.example:8443/x; script-src * 'unsafe-inline'",
        "client_id": "hostile",
    }
    admin_reply = requests.post(
        f"{live_url}/v1/lti/registrations", json=hostile, headers=make_key("admin")
    )
    assert admin_reply.status_code == 201, admin_reply.text
    reloaded = browser.get(live_url + launched.headers["Location"])
    assert "*" not in reloaded.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in reloaded.headers["Content-Security-Policy"]
    again = csp_directives(reloaded)
    assert again["script-src"] == ["'self'"]
    assert set(again["frame-ancestors"]) == {*frame_ancestors, "https://lms.example:8443"}


def test_web_origin_rebuilds_an_origin_or_gives_none() -> None:
    assert web_origin("https://LMS.example/platform?x=1") == "https://lms.example"
    assert web_origin("https://lms.example:443/") == "https://lms.example"
    assert web_origin("http://127.0.0.1:8080/auth") == "http://127.0.0.1:8080"
    assert web_origin("https://[::1]:9000/") == "https://[::1]:9000"
    assert web_origin("https://lms.example;script-src/") is None
    assert web_origin("https://lms.example:99999/") is None
    assert web_origin("javascript:alert(1)") is None
    assert web_origin("lms.example") is None


def test_login_launch_and_page_errors_are_html_pages_not_json(
    registered: Platform, live_url: str, exam: dict[str, Any], store: Store
) -> None:
    """What a learner's browser navigated to fails as a page with the same status; the exam
    page's fetch() calls, and clients asking for JSON, keep the JSON envelope."""
    platform = registered
    unknown = {"iss": "https://unknown.example", "login_hint": "x"}
    unknown["target_link_uri"] = f"{live_url}/lti/launch"
    reply = requests.get(f"{live_url}/lti/login", params=unknown, headers={"Accept": "text/html"})
    assert "'https://unknown.example'" in error_page(reply, 400)
    assert "<h1" in reply.text
    assert "This exam could not be opened" in reply.text
    # The error page runs under the same policy as the other pages.
    assert csp_directives(reply)["script-src"] == ["'self'"]
    assert reply.headers["Cache-Control"] == "no-store"

    # A launch the platform signed wrongly: 401, as a page.
    platform.custom = {"exam_id": exam["id"]}
    platform.sign_with = new_rsa_key()
    browser = requests.Session()
    refused = post_launch(browser, platform, login(browser, live_url, platform))
    assert "signature" in error_page(refused, 401).lower()
    platform.sign_with = None

    # A link to an exam that does not exist: 404, as a page.
    platform.custom = {"exam_id": "no-such-exam"}
    missing = post_launch(browser, platform, login(browser, live_url, platform))
    assert "'no-such-exam'" in error_page(missing, 404)

    # The exam page without an LTI session (another browser, an expired cookie).
    platform.custom = {"exam_id": exam["id"]}
    launched = post_launch(browser, platform, login(browser, live_url, platform))
    page_url = live_url + launched.headers["Location"]
    assert "No LTI session" in error_page(requests.get(page_url), 401)

    # The page's own fetch() calls read the JSON envelope's message.
    data = page_data(browser.get(page_url).text)
    save = browser.put(live_url + data["save_url"] + "q", json={"answer": "x"})
    assert save.status_code == 403
    assert save.headers["Content-Type"] == "application/json"
    assert save.json()["code"] == 403
    # A client that asks for JSON gets it from the browser routes too.
    as_json = requests.get(
        f"{live_url}/lti/login", params=unknown, headers={"Accept": "application/json"}
    )
    assert as_json.status_code == 400
    assert "registered" in as_json.json()["message"]


def test_target_link_uri_on_another_host_is_refused_at_login_and_at_launch(
    registered: Platform, live_url: str, exam: dict[str, Any], store: Store
) -> None:
    platform = registered
    platform.custom = {"exam_id": exam["id"]}
    port = int(live_url.rsplit(":", 1)[1])
    elsewhere = [
        f"https://evil.example/lti/launch?exam_id={exam['id']}",
        f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/lti/launch",
        f"https://127.0.0.1:{port}/lti/launch",
        f"{live_url}/v1/exams",
        f"{live_url}/lti/../v1/exams",
        f"{live_url}/lti/%2e%2e/v1/exams",
        "javascript:alert(1)",
    ]
    for target in elsewhere:
        reply = requests.post(
            f"{live_url}/lti/login",
            data={
                "iss": platform.issuer,
                "login_hint": platform.user,
                "target_link_uri": target,
                "client_id": platform.client_id,
            },
            allow_redirects=False,
        )
        message = error_page(reply, 400)
        assert "target_link_uri" in message, target
        assert f"{live_url}/lti/launch" in message

    # The login named the tool's launch URL, but the signed id_token's claim names another.
    platform.overrides = {lti.TARGET_LINK_URI_CLAIM: elsewhere[0]}
    browser = requests.Session()
    launched = post_launch(browser, platform, login(browser, live_url, platform))
    assert "target_link_uri" in error_page(launched, 400)
    assert store.list_attempts() == []

    # The tool's own URLs, with a query, still launch.
    platform.overrides = {lti.TARGET_LINK_URI_CLAIM: f"{live_url}/lti/launch?exam_id=x"}
    assert post_launch(browser, platform, login(browser, live_url, platform)).status_code == 303
    assert len(store.list_attempts()) == 1


LAUNCH_THREADS = 6
LAUNCH_ROUNDS = 3


def launch_together(
    platform: Platform, browsers: list[requests.Session], forms: list[dict[str, str]]
) -> list[requests.Response]:
    """Each browser posts its launch form, all released at once by a barrier."""
    barrier = threading.Barrier(len(browsers))

    def launch(index: int) -> requests.Response:
        barrier.wait(timeout=30)
        return post_launch(browsers[index], platform, forms[index])

    with ThreadPoolExecutor(len(browsers)) as pool:
        return list(pool.map(launch, range(len(browsers))))


def test_parallel_launches_of_a_one_attempt_exam_give_one_attempt(
    registered: Platform,
    live_url: str,
    store: Store,
    clock: FakeClock,
    make_key: Callable[..., Headers],
) -> None:
    """Launches that arrive together (a double click, two tabs) give one attempt, not one
    each past max_attempts; once it is submitted a launch shows its review, as before."""
    platform = registered
    staff = make_key("instructor")
    reply = requests.post(
        f"{live_url}/v1/exams",
        json={
            "title": "One try",
            "counts": {"fill_in": 1},
            "seed": 2,
            "time_limit_seconds": 600,
            "max_attempts": 1,
            "closes_at": (clock() + timedelta(hours=2)).isoformat(),
        },
        headers=staff,
    )
    assert reply.status_code == 201, reply.text
    exam = reply.json()
    platform.custom = {"exam_id": exam["id"]}

    for round_ in range(LAUNCH_ROUNDS):
        platform.user = f"racer-{round_}"
        browsers = [requests.Session() for _ in range(LAUNCH_THREADS)]
        forms = [login(browser, live_url, platform) for browser in browsers]
        replies = launch_together(platform, browsers, forms)
        assert [r.status_code for r in replies] == [303] * LAUNCH_THREADS, [r.text for r in replies]
        learner = lti.learner_id_for(platform.issuer, platform.user)
        attempts = store.list_attempts(exam_id=exam["id"], learner_id=learner)
        assert len(attempts) == 1, f"round {round_}: {len(attempts)} attempts"
        assert {r.headers["Location"] for r in replies} == {f"/lti/attempts/{attempts[0].id}"}
        assert store.get_launch(attempts[0].id) is not None

    # Submitted, the only attempt is used: the next launch shows its review.
    browser = browsers[0]
    page_url = live_url + replies[0].headers["Location"]
    data = page_data(browser.get(page_url).text)
    submitted = browser.post(live_url + data["submit_url"], headers={"X-CSRF-Token": data["csrf"]})
    assert submitted.status_code == 200, submitted.text
    again = post_launch(browser, platform, login(browser, live_url, platform))
    assert again.headers["Location"] == replies[0].headers["Location"]
    assert "Review: One try" in browser.get(page_url).text
    assert len(store.list_attempts(exam_id=exam["id"], learner_id=learner)) == 1

    # Once the exam has closed, no attempt starts: a learner without one is told so.
    clock.advance(3 * 3600)
    platform.user = "latecomer"
    late = requests.Session()
    closed = post_launch(late, platform, login(late, live_url, platform))
    assert "closed" in error_page(closed, 409)
    learner = lti.learner_id_for(platform.issuer, platform.user)
    assert store.list_attempts(exam_id=exam["id"], learner_id=learner) == []


def test_a_launch_reads_an_extra_attempt_granted_just_before_its_start_lock(
    registered: Platform,
    live_url: str,
    store: Store,
    clock: FakeClock,
    make_key: Callable[..., Headers],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A launch read the learner's attempts allowed before taking the start's lock: an extra
    attempt an instructor granted in between was missed and the launch showed the old
    attempt's review. It reads them under the lock now, as the JSON API's start does."""
    platform = registered
    staff = make_key("instructor")
    reply = requests.post(
        f"{live_url}/v1/exams",
        json={"title": "One try", "counts": {"fill_in": 1}, "seed": 2, "max_attempts": 1},
        headers=staff,
    )
    assert reply.status_code == 201, reply.text
    exam = reply.json()
    platform.custom = {"exam_id": exam["id"]}
    platform.user = "granted-late"
    browser = requests.Session()
    first = post_launch(browser, platform, login(browser, live_url, platform))
    data = page_data(browser.get(live_url + first.headers["Location"]).text)
    submitted = browser.post(live_url + data["submit_url"], headers={"X-CSRF-Token": data["csrf"]})
    assert submitted.status_code == 200, submitted.text
    learner = lti.learner_id_for(platform.issuer, platform.user)

    start_or_resume = store.start_or_resume

    def granted_first(*args: Any, **kwargs: Any) -> Any:
        # The instructor's grant lands after the launch began and before its lock.
        granted = requests.put(
            f"{live_url}/v1/exams/{exam['id']}/accommodations/{learner}",
            json={"extra_attempts": 1},
            headers=staff,
        )
        assert granted.status_code == 201, granted.text
        monkeypatch.setattr(store, "start_or_resume", start_or_resume)
        return start_or_resume(*args, **kwargs)

    monkeypatch.setattr(store, "start_or_resume", granted_first)
    second = post_launch(browser, platform, login(browser, live_url, platform))
    assert second.status_code == 303, second.text
    attempts = {a.id: a for a in store.list_attempts(exam_id=exam["id"], learner_id=learner)}
    assert len(attempts) == 2
    (new,) = [a for a in attempts.values() if a.status == "in_progress"]
    assert second.headers["Location"] == f"/lti/attempts/{new.id}"


def test_a_queued_answer_is_passed_back_pending_manual_then_fully_graded(
    registered: Platform,
    live_url: str,
    store: Store,
    make_key: Callable[..., Headers],
) -> None:
    """A free answer the grader is unsure of: the LMS first gets the provisional score as
    PendingManual, and the final one as FullyGraded once an instructor has reviewed it."""
    staff = make_key("instructor")
    exam = requests.post(
        f"{live_url}/v1/exams",
        json={"counts": {"fill_in": 1, "free_answer": 1}, "seed": 7, "review_below": 1.0},
        headers=staff,
    ).json()
    platform = registered
    platform.custom = {"exam_id": exam["id"]}
    browser = requests.Session()
    launched = post_launch(browser, platform, login(browser, live_url, platform))
    data = page_data(browser.get(live_url + launched.headers["Location"]).text)
    keys = attempt_keys(live_url, data["attempt_id"], staff)
    csrf = {"X-CSRF-Token": data["csrf"]}
    for question_id, key in keys.items():
        answer = correct(key) if key["type"] == "fill_in" else "It compares two rates"
        saved = browser.put(
            live_url + data["save_url"] + question_id, json={"answer": answer}, headers=csrf
        )
        assert saved.status_code == 200, saved.text
    assert browser.post(live_url + data["submit_url"], headers=csrf).status_code == 200

    wait_until(lambda: platform.scores, what="the provisional score")
    (provisional,) = platform.scores
    assert provisional["gradingProgress"] == "PendingManual"
    assert provisional["scoreGiven"] == 1.0

    (queued,) = requests.get(f"{live_url}/v1/reviews?exam_id={exam['id']}", headers=staff).json()[
        "items"
    ]
    settled = requests.post(
        f"{live_url}/v1/reviews/{queued['id']}/resolve",
        json={"score": 0.5, "comment": "Half right."},
        headers=staff,
    )
    assert settled.status_code == 200, settled.text
    wait_until(lambda: len(platform.scores) == 2, what="the final score")
    final = platform.scores[1]
    assert final["gradingProgress"] == "FullyGraded"
    assert final["scoreGiven"] == 1.5
    assert platform.problems == []
    review_page = browser.get(f"{live_url}/lti/attempts/{data['attempt_id']}")
    assert "Half right." in review_page.text
