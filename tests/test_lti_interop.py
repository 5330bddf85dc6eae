"""LTI 1.3 interoperability: the tool driven by ``lti1p3platform``, an LTI platform library
written by others, over real HTTP.

The platform below is that library's classes (registration, OIDC login, message launch with
AGS, NRPS and Deep Linking claims, token endpoint, score and membership services) glued to a
small Flask app served on a localhost port; nothing of the tool's own test platform is used.
The library checks little of what a tool sends back (no ``aud`` on client assertions or
Deep Linking replies, for one), so the glue adds the checks a strict platform makes and
records every problem it finds.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask import request as flask_request
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest
from lti1p3platform.response import Response as LtiResponse
from lti1p3platform.score import TScore, UpdateScoreStatus
from lti1p3platform.service_connector import (
    AssignmentsGradesService,
    NamesRoleProvisioningService,
    TPage,
)

from quizsvc.api.lti import tool_urls
from quizsvc.app import OUTBOX_WORKER_KEY, create_app
from quizsvc.cli import main as cli
from quizsvc.config import Settings
from quizsvc.embedding import HashingEncoder
from quizsvc.lms import lti
from quizsvc.store import AGS_SCORE_SCOPE, Store
from tests.conftest import FakeClock, serve_in_thread, wait_until

pytestmark = [pytest.mark.http]

Headers = dict[str, str]
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
LEARNER = f"{MEMBERSHIP}#Learner"
INSTRUCTOR = f"{MEMBERSHIP}#Instructor"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person"
README = Path(__file__).resolve().parents[1] / "README.md"


# -- the platform: lti1p3platform's classes behind a small Flask app ---------------------------


def new_pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class FlaskRequest(Request):
    """The library's request abstraction over the Flask request being served."""

    def build_metadata(self, request: Any) -> TRequest:
        return {
            "method": request.method,
            "form_data": request.form.to_dict(),
            "get_data": request.args.to_dict(),
            "headers": dict(request.headers),
            "content_type": request.content_type,
            "path": request.path,
            "json": request.get_json(force=True, silent=True),
        }


class PlatformConfig(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self.shared_registration: Registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self.shared_registration


class OidcLogin(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class MessageLaunch(LTIAdvantageMessageLaunchAbstract):
    def get_preflight_response(self) -> dict[str, Any]:
        return dict(flask_request.args)

    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> str:
        inputs = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(str(launch_data[name]))}">'
            for name in ("id_token", "state")
        )
        action = html.escape(str(launch_data["launch_url"]))
        return f'<form id="launch" method="POST" action="{action}">{inputs}</form>'


class Grades(AssignmentsGradesService):
    """AGS with one line item per resource link; scores go to the platform's list."""

    platform: InteropPlatform

    def find_lineitems(self, *args: Any, **kwargs: Any) -> TPage:
        return {"content": [], "has_next": False}

    def find_lineitem(self, line_item_id: str) -> Any:
        return {"id": line_item_id}

    def create_lineitem(self, creation_data: Any) -> Any:
        return creation_data

    def update_lineitem(self, update_data: Any) -> Any:
        return update_data

    def delete_lineitem(self, line_item_id: str) -> None:
        return None

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        self.platform.scores.append({"line_item_id": line_item_id, **score})
        return UpdateScoreStatus.SUCCESS

    def get_results(self, *args: Any, **kwargs: Any) -> TPage:
        return {"content": [], "has_next": False}


class Roster(NamesRoleProvisioningService):
    platform: InteropPlatform

    def get_member_data_page(self, **kwargs: Any) -> TPage:
        members = [dict(m) for m in self.platform.members]
        size = self.platform.page_size
        if size is None:
            return {"content": members, "has_next": False}
        page = int(kwargs.get("page", 1))
        return {
            "content": members[(page - 1) * size : page * size],
            "has_next": page * size < len(members),
        }

    def get_context_by_id(self) -> Context:
        return Context(id=self.platform.context_id, label="I101", title="Interop 101")


class InteropPlatform:
    """An LMS built from lti1p3platform: the state a test sets and what it received."""

    client_id = "interop-tool"
    deployment_id = "interop-deployment"
    context_id = "course-interop-1"

    def __init__(self, tool_url: str) -> None:
        self.tool_url = tool_url
        self.private_pem, self.public_pem = new_pem_pair()
        self.app = Flask(f"lti1p3platform-{secrets.token_hex(3)}")
        self.url = ""
        self.user = "lms-learner-1"
        self.roles = [LEARNER]
        self.custom: dict[str, str] = {}
        self.accept_types = {"ltiResourceLink"}
        self.dl_data = {"opaque": secrets.token_hex(4)}
        self.members: list[dict[str, Any]] = []
        self.score_status: int | None = None
        self.scores: list[dict[str, Any]] = []
        self.deep_link_items: list[list[dict[str, Any]]] = []
        self.deep_link_claims: list[dict[str, Any]] = []
        self.token_scopes: list[str] = []
        self.jwks_requests = 0
        self.problems: list[str] = []
        self.assertion_ids: set[str] = set()
        self.registration_id = ""
        self.page_size: int | None = None
        self.next_page_base: str | None = None
        self._routes()

    # The registration is built once and kept: the library caches the tool's JWKS in it, as
    # a platform caches a tool's keys.
    def start(self, url: str) -> None:
        self.url = url
        self.issuer = f"{url}/lms"
        self.registration = (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(self.deployment_id)
            .set_oidc_login_url(f"{self.tool_url}/lti/login")
            .set_launch_url(f"{self.tool_url}/lti/launch")
            .set_deeplink_launch_url(f"{self.tool_url}/lti/launch")
            .set_platform_public_key(self.public_pem)
            .set_platform_private_key(self.private_pem)
            .set_tool_key_set_url(f"{self.tool_url}/lti/jwks")
        )

    def config(self) -> PlatformConfig:
        config = PlatformConfig(registration=self.registration)
        config.get_registration()
        config.set_accepted_deeplinking_types(sorted(self.accept_types))
        return config

    def tool_registration(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "deployment_ids": [self.deployment_id],
            "auth_login_url": f"{self.url}/auth",
            "auth_token_url": f"{self.url}/token",
            "jwks_url": f"{self.url}/jwks",
        }

    def login_url(self, message: str) -> str:
        """Third-party initiated login, as the library builds it: the URL the browser opens."""
        login = OidcLogin(None, self.config())
        login.set_lti_message_hint(hint=message)
        if message == "deeplink":
            login.set_deeplinking_launch_url()
        url: str = login.initiate_login(self.user)
        return url

    def strict_decode(self, token: str, config: PlatformConfig, audience: str) -> dict[str, Any]:
        """What the library skips: the audience, the required claims, with the tool's key
        (from the JWKS the library fetched and cached)."""
        config.validate_jwt_format(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            config.get_tool_public_key(),
            algorithms=["RS256"],
            audience=audience,
            issuer=self.client_id,
            options={"require": ["iss", "aud", "exp", "iat"]},
        )
        return claims

    def _routes(self) -> None:
        app = self.app
        platform = self

        @app.get("/jwks")
        def jwks() -> Any:
            platform.jwks_requests += 1
            return platform.config().get_jwks()

        @app.get("/auth")
        def auth() -> Any:
            query = flask_request.args
            expected = {
                "scope": "openid",
                "response_type": "id_token",
                "response_mode": "form_post",
                "prompt": "none",
                "client_id": platform.client_id,
                "redirect_uri": f"{platform.tool_url}/lti/launch",
                "login_hint": platform.user,
            }
            for name, value in expected.items():
                if query.get(name) != value:
                    platform.problems.append(f"auth request {name}={query.get(name)!r}")
            message = query.get("lti_message_hint")
            if message not in ("launch", "deeplink"):
                platform.problems.append(f"lti_message_hint {message!r} not passed back")
            launch = MessageLaunch(FlaskRequest(flask_request), platform.config())
            launch.set_user_data(
                platform.user,
                platform.roles,
                full_name="Grace Hopper",
                email_address="grace@example.edu",
            )
            launch.set_launch_context_claim(
                platform.context_id, context_title="Interop 101", context_label="I101"
            )
            launch.set_nrps(f"{platform.url}/memberships")
            if message == "deeplink":
                launch.set_dl(
                    f"{platform.url}/deep-link-return",
                    title="Add an exam",
                    accept_types=set(platform.accept_types),
                    extra_data=platform.dl_data,
                )
            else:
                launch.set_resource_link_claim("resource-link-9", title="Exam")
                launch.set_custom_parameters_claim(platform.custom)
                launch.set_ags(
                    f"{platform.url}/lineitems",
                    f"{platform.url}/lineitems/9/lineitem",
                )
            return launch.lti_launch()

        @app.post("/token")
        def token() -> Any:
            form = flask_request.form.to_dict()
            config = platform.config()
            try:
                claims = platform.strict_decode(
                    form["client_assertion"], config, f"{platform.url}/token"
                )
                if claims.get("sub") != platform.client_id:
                    platform.problems.append(f"client assertion sub {claims.get('sub')!r}")
                jti = claims.get("jti")
                if not jti or jti in platform.assertion_ids:
                    platform.problems.append(f"client assertion jti {jti!r} missing or reused")
                platform.assertion_ids.add(str(jti))
                platform.token_scopes.append(form["scope"])
                return dict(config.get_access_token(form))
            except Exception as exc:  # the library raises its own and PyJWT's errors
                platform.problems.append(f"token request refused: {exc!r}")
                return {"error": "invalid_client"}, 400

        @app.post("/lineitems/<line_item_id>/lineitem/scores")
        def scores(line_item_id: str) -> Any:
            if platform.score_status is not None:
                return {"error": "down"}, platform.score_status
            if flask_request.content_type != "application/vnd.ims.lis.v1.score+json":
                platform.problems.append(f"score media type {flask_request.content_type!r}")
            service = Grades(
                FlaskRequest(flask_request),
                platform.config(),
                f"{platform.url}/lineitems",
                f"{platform.url}/lineitems/{line_item_id}/lineitem",
            )
            service.platform = platform
            reply = service.handle_resp(service.handle_update_score, line_item_id=line_item_id)
            return as_flask(reply)

        @app.get("/memberships")
        def memberships() -> Any:
            base = f"{platform.url}/memberships"
            service = Roster(FlaskRequest(flask_request), platform.config(), base)
            service.platform = platform
            body, status, headers = as_flask(service.handle_resp(service.handle_get_members))
            page = int(flask_request.args.get("page", 1))
            size = platform.page_size
            if size is not None and page * size < len(platform.members):
                # NRPS 2.0 pages by a Link header (the library names no next page itself
                # unless asked for a limit, and then in the body).
                next_base = platform.next_page_base or base
                headers["Link"] = f'<{next_base}?page={page + 1}>; rel="next"'
            return body, status, headers

        @app.post("/deep-link-return")
        def deep_link_return() -> Any:
            reply = flask_request.form.get("JWT", "")
            config = platform.config()
            try:
                items = config.validate_deeplinking_resp({"JWT": reply})
            except Exception as exc:
                platform.problems.append(f"deep linking reply refused: {exc!r}")
                return "<p>Refused.</p>", 400
            claims = platform.strict_decode(reply, config, platform.issuer)
            if claims.get(lti.DEPLOYMENT_ID_CLAIM) != platform.deployment_id:
                platform.problems.append("deep linking reply for another deployment")
            if claims.get(lti.VERSION_CLAIM) != "1.3.0" or not claims.get("nonce"):
                platform.problems.append("deep linking reply lacks version or nonce")
            if claims.get(lti.DL_DATA_CLAIM) != platform.dl_data:
                platform.problems.append("deep linking reply does not return the data claim")
            platform.deep_link_items.append(items)
            platform.deep_link_claims.append(claims)
            return "<p>Linked.</p>"


def as_flask(reply: LtiResponse) -> tuple[str, int, dict[str, str]]:
    body = json.dumps(reply.result if reply.result is not None else {"message": reply.message})
    return body, reply.code, {"Content-Type": reply.media_type}


# -- fixtures ---------------------------------------------------------------------------------


def interop_app(database_url: str, instance_dir: Path, clock: FakeClock, allow: str) -> Flask:
    settings = Settings.from_env(
        instance_dir=instance_dir,
        database_url=database_url,
        rate_limit="100000/minute",
        insecure_cookies=True,
        # The platform listens on 127.0.0.1, which the SSRF guard refuses unless listed.
        outbound_allow_hosts=allow,
    )
    return create_app(
        {
            "SETTINGS": settings,
            "ENCODER": HashingEncoder(),
            "CLOCK": clock,
            "TESTING": True,
            "OUTBOX_POLL_SECONDS": 0.05,
        }
    )


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Flask]:
    found = interop_app(database_url, tmp_path, clock, "127.0.0.1")
    yield found
    found.extensions[OUTBOX_WORKER_KEY].stop()


@pytest.fixture
def store(app: Flask) -> Store:
    found: Store = app.extensions["quizsvc"].store
    return found


@pytest.fixture
def lms(live_url: str) -> Iterator[InteropPlatform]:
    platform = InteropPlatform(live_url)
    with serve_in_thread(platform.app) as url:
        platform.start(url)
        yield platform


@pytest.fixture
def registered(
    lms: InteropPlatform,
    live_url: str,
    database_url: str,
    make_key: Callable[..., Headers],
) -> InteropPlatform:
    # Every test starts without LTI keys (conftest truncates them on PostgreSQL), so the
    # tool's first key signs at once.
    rotated = CliRunner().invoke(
        cli, ["lti", "keys", "rotate"], env={"QUIZSVC_DATABASE_URL": database_url}
    )
    assert rotated.exit_code == 0, rotated.output
    reply = requests.post(
        f"{live_url}/v1/lti/registrations", json=lms.tool_registration(), headers=make_key("admin")
    )
    assert reply.status_code == 201, reply.text
    lms.registration_id = reply.json()["id"]
    return lms


@pytest.fixture
def exam(live_url: str, make_key: Callable[..., Headers]) -> dict[str, Any]:
    reply = requests.post(
        f"{live_url}/v1/exams",
        json={
            "title": "Interop exam",
            "counts": {"multiple_choice": 2, "fill_in": 1},
            "seed": 11,
            "time_limit_seconds": 600,
        },
        headers=make_key("instructor"),
    )
    assert reply.status_code == 201, reply.text
    found: dict[str, Any] = reply.json()
    return found


# -- the browser --------------------------------------------------------------------------------


def hidden_fields(page: str) -> dict[str, str]:
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)
    }


def launch(browser: requests.Session, lms: InteropPlatform, message: str) -> requests.Response:
    """OIDC login initiation (built by the library) -> tool -> platform auth -> tool launch."""
    initiation = browser.get(lms.login_url(message), allow_redirects=False)
    assert initiation.status_code == 302, initiation.text
    assert initiation.headers["Location"].startswith(f"{lms.url}/auth?")
    form_page = browser.get(initiation.headers["Location"])
    assert form_page.status_code == 200, form_page.text
    action = re.search(r'action="([^"]+)"', form_page.text)
    assert action is not None, form_page.text
    return browser.post(
        html.unescape(action.group(1)), data=hidden_fields(form_page.text), allow_redirects=False
    )


def post_back_to_platform(browser: requests.Session, autopost: requests.Response) -> str:
    """What the tool's auto-posting page sends the platform; returns the JWT sent."""
    assert autopost.status_code == 200, autopost.text
    action = re.search(r'<form id="autopost" method="post" action="([^"]+)"', autopost.text)
    assert action is not None, autopost.text
    sent = hidden_fields(autopost.text)["JWT"]
    browser.post(html.unescape(action.group(1)), data={"JWT": sent})
    return sent


def page_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', page, re.S)
    assert found, page
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def answer_all_correctly_and_submit(
    browser: requests.Session, live_url: str, data: dict[str, Any], staff: Headers
) -> None:
    keys = requests.get(
        f"{live_url}/v1/attempts/{data['attempt_id']}?include=key", headers=staff
    ).json()["key"]
    csrf = {"X-CSRF-Token": data["csrf"]}
    for key in keys:
        answer = key["accept"][0] if key["type"] == "fill_in" else key["correct_option_ids"][0]
        saved = browser.put(
            live_url + data["save_url"] + key["question_id"], json={"answer": answer}, headers=csrf
        )
        assert saved.status_code == 200, saved.text
    submitted = browser.post(live_url + data["submit_url"], headers=csrf)
    assert submitted.status_code == 200, submitted.text


def learner_attempt(
    browser: requests.Session, live_url: str, lms: InteropPlatform
) -> dict[str, Any]:
    launched = launch(browser, lms, "launch")
    assert launched.status_code == 303, launched.text
    page = browser.get(live_url + launched.headers["Location"])
    assert page.status_code == 200
    return page_data(page.text)


# -- login, launch, AGS score ---------------------------------------------------------------------


def test_lti1p3platform_launches_the_tool_and_receives_the_ags_score(
    registered: InteropPlatform,
    live_url: str,
    exam: dict[str, Any],
    store: Store,
    make_key: Callable[..., Headers],
) -> None:
    lms = registered
    lms.custom = {"exam_id": exam["id"]}
    browser = requests.Session()
    data = learner_attempt(browser, live_url, lms)
    attempt = store.get_attempt(data["attempt_id"])
    assert attempt is not None
    assert attempt.learner_id == lti.learner_id_for(lms.issuer, lms.user)

    staff = make_key("instructor")
    answer_all_correctly_and_submit(browser, live_url, data, staff)
    wait_until(lambda: lms.scores, what="the score at the lti1p3platform AGS service")
    assert lms.problems == []
    (score,) = lms.scores
    assert score["line_item_id"] == "9"
    assert score["userId"] == lms.user
    assert score["scoreGiven"] == score["scoreMaximum"] == 3.0
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "FullyGraded"
    assert datetime.fromisoformat(score["timestamp"])
    # The token request asked for the score scope only, and the library granted it.
    assert lms.token_scopes == [AGS_SCORE_SCOPE]

    def passback() -> dict[str, Any]:
        found: dict[str, Any] = requests.get(
            f"{live_url}/v1/lti/attempts/{attempt.id}/passback", headers=staff
        ).json()
        return found

    wait_until(lambda: passback()["status"] == "sent", what="the passback to read 'sent'")
    assert passback()["tries"] == 1
    assert passback()["last_error"] is None


# -- Deep Linking ---------------------------------------------------------------------------------


def test_lti1p3platform_deep_linking_adds_an_exam_that_then_launches(
    registered: InteropPlatform, live_url: str, exam: dict[str, Any], store: Store
) -> None:
    lms = registered
    lms.roles = [INSTRUCTOR]
    browser = requests.Session()
    picker = launch(browser, lms, "deeplink")
    assert picker.status_code == 200, picker.text
    assert "Interop exam" in picker.text
    context = hidden_fields(picker.text)["context"]
    chosen = browser.post(
        f"{live_url}/lti/deep-link", data={"context": context, "exam_id": exam["id"]}
    )
    post_back_to_platform(browser, chosen)
    assert lms.problems == []
    ((item,),) = lms.deep_link_items
    assert item["type"] == "ltiResourceLink"
    assert item["url"] == f"{live_url}/lti/launch"
    assert item["custom"] == {"exam_id": exam["id"]}
    assert item["lineItem"]["scoreMaximum"] == 3.0
    (claims,) = lms.deep_link_claims
    assert claims["aud"] == lms.issuer
    assert lti.DL_ERRORMSG_CLAIM not in claims

    # The platform launches the link it was given, with the custom parameters it carries.
    lms.roles = [LEARNER]
    lms.custom = item["custom"]
    data = learner_attempt(requests.Session(), live_url, lms)
    attempt = store.get_attempt(data["attempt_id"])
    assert attempt is not None
    assert attempt.exam_id == exam["id"]


def test_deviation_a_deep_linking_reply_honours_accept_types(
    registered: InteropPlatform, live_url: str, exam: dict[str, Any]
) -> None:
    """A platform accepting only ``link`` items gets an errormsg reply with no items, not an
    ``ltiResourceLink`` it must refuse."""
    lms = registered
    lms.roles = [INSTRUCTOR]
    lms.accept_types = {"link"}
    browser = requests.Session()
    reply = launch(browser, lms, "deeplink")
    if 'name="exam_id"' in reply.text:  # a picker after all: the instructor picks the exam
        reply = browser.post(
            f"{live_url}/lti/deep-link",
            data={"context": hidden_fields(reply.text)["context"], "exam_id": exam["id"]},
        )
    post_back_to_platform(browser, reply)
    assert lms.problems == []
    assert lms.deep_link_items == [[]]
    (claims,) = lms.deep_link_claims
    assert claims[lti.DL_CONTENT_ITEMS_CLAIM] == []
    assert "ltiResourceLink" in claims[lti.DL_ERRORMSG_CLAIM]
    assert "link" in claims[lti.DL_ERRORMSG_CLAIM]


STAFF_ROLE_CASES = [
    pytest.param([f"{MEMBERSHIP}/Learner#Instructor"], False, id="learner-sub-role-instructor"),
    pytest.param([f"{INSTITUTION}#Instructor"], False, id="institution-instructor"),
    pytest.param([f"{INSTITUTION}#Administrator", LEARNER], False, id="institution-admin"),
    pytest.param(
        ["http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"],
        False,
        id="system-admin",
    ),
    pytest.param([f"{MEMBERSHIP}#Learner"], False, id="learner"),
    pytest.param([INSTRUCTOR], True, id="instructor"),
    pytest.param([f"{MEMBERSHIP}#Administrator"], True, id="course-administrator"),
    pytest.param([f"{MEMBERSHIP}#ContentDeveloper"], True, id="content-developer"),
    pytest.param([f"{MEMBERSHIP}/Instructor#TeachingAssistant"], True, id="teaching-assistant"),
    pytest.param(["Instructor"], True, id="simple-name"),
]


@pytest.mark.parametrize(("roles", "staff"), STAFF_ROLE_CASES)
def test_deviation_b_staff_are_only_the_course_staff_role_uris(
    roles: list[str], staff: bool
) -> None:
    launch_of = lti.Launch(
        issuer="i", subject="s", client_id="c", deployment_id="d", message_type="m", roles=roles
    )
    assert launch_of.is_staff is staff


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deviation_b_learner_sub_role_and_institution_roles_do_not_open_the_picker(
    registered: InteropPlatform, live_url: str, exam: dict[str, Any]
) -> None:
    lms = registered
    for roles in (
        [f"{MEMBERSHIP}/Learner#Instructor", LEARNER],
        [f"{INSTITUTION}#Instructor", f"{INSTITUTION}#Administrator"],
    ):
        lms.roles = roles
        refused = launch(requests.Session(), lms, "deeplink")
        assert refused.status_code == 403, (roles, refused.text)
        assert "Only instructors" in refused.text
    lms.roles = [f"{MEMBERSHIP}/Instructor#TeachingAssistant"]
    assert launch(requests.Session(), lms, "deeplink").status_code == 200


def test_deviation_c_picker_returns_to_the_platform_without_choosing(
    registered: InteropPlatform, live_url: str, exam: dict[str, Any]
) -> None:
    lms = registered
    lms.roles = [INSTRUCTOR]
    browser = requests.Session()
    picker = launch(browser, lms, "deeplink")
    assert 'id="return-without-choosing"' in picker.text
    cancelled = browser.post(
        f"{live_url}/lti/deep-link",
        data={"context": hidden_fields(picker.text)["context"], "cancel": "1"},
    )
    post_back_to_platform(browser, cancelled)
    assert lms.problems == []
    assert lms.deep_link_items == [[]]
    (claims,) = lms.deep_link_claims
    assert claims[lti.DL_CONTENT_ITEMS_CLAIM] == []
    assert lti.DL_ERRORMSG_CLAIM not in claims


def test_deviation_c_no_exams_yet_is_not_a_dead_end(
    registered: InteropPlatform, live_url: str
) -> None:
    lms = registered
    lms.roles = [INSTRUCTOR]
    browser = requests.Session()
    picker = launch(browser, lms, "deeplink")
    assert picker.status_code == 200
    assert "No exams yet" in picker.text
    assert "POST /v1/exams" in picker.text  # how to create one
    assert 'id="return-without-choosing"' in picker.text
    fields = hidden_fields(picker.text)
    back = browser.post(
        f"{live_url}/lti/deep-link", data={"context": fields["context"], "cancel": "1"}
    )
    post_back_to_platform(browser, back)
    assert lms.problems == []
    assert lms.deep_link_items == [[]]


def test_deviation_d_rotation_publishes_the_next_key_before_signing_with_it(
    registered: InteropPlatform,
    live_url: str,
    database_url: str,
    exam: dict[str, Any],
    store: Store,
    clock: FakeClock,
) -> None:
    """A platform that cached the JWKS (as lti1p3platform does, for good) keeps verifying
    after ``lti keys rotate``: the new key is only published until the cache has expired."""
    clock.now = datetime.now(UTC)  # the CLI writes wall-clock times
    lms = registered
    lms.roles = [INSTRUCTOR]
    env = {"QUIZSVC_DATABASE_URL": database_url}
    signing = store.signing_key(clock())
    assert signing is not None
    old = signing.kid

    def link_exam() -> dict[str, Any]:
        browser = requests.Session()
        picker = launch(browser, lms, "deeplink")
        chosen = browser.post(
            f"{live_url}/lti/deep-link",
            data={"context": hidden_fields(picker.text)["context"], "exam_id": exam["id"]},
        )
        sent = post_back_to_platform(browser, chosen)
        header: dict[str, Any] = jwt.get_unverified_header(sent)
        return header

    assert link_exam()["kid"] == old  # the platform has now fetched and cached the JWKS
    rotated = CliRunner().invoke(cli, ["lti", "keys", "rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    new = rotated.stdout.strip()
    published = requests.get(f"{live_url}/lti/jwks")
    assert {old, new} <= {key["kid"] for key in published.json()["keys"]}

    assert link_exam()["kid"] == old
    assert lms.problems == []  # the cached JWKS still verifies what the tool signs
    assert len(lms.deep_link_items) == 2

    cache = re.fullmatch(r"public, max-age=(\d+)", published.headers["Cache-Control"])
    assert cache is not None
    max_age = int(cache.group(1))
    assert "next, signs from" in CliRunner().invoke(cli, ["lti", "keys", "list"], env=env).stdout
    # The CLI stamps the wall clock at the rotation, seconds after this test set its clock on
    # a loaded machine, so the next key's start is read back rather than assumed (the test
    # failed once in a full run when the launches before the rotation took over a second).
    (next_key,) = [key for key in store.lti_keys() if key.kid == new]
    assert next_key.activates_at is not None
    assert next_key.activates_at - clock() >= timedelta(seconds=max_age)
    clock.now = next_key.activates_at - timedelta(seconds=1)
    still = store.signing_key(clock())
    assert still is not None
    assert still.kid == old
    clock.advance(2)
    signing = store.signing_key(clock())
    assert signing is not None
    assert signing.kid == new
    # The old key stays published for the platforms' copies of recent signatures.
    kids = {key["kid"] for key in requests.get(f"{live_url}/lti/jwks").json()["keys"]}
    assert {old, new} <= kids


def test_deviation_d_keys_activate_switches_at_once(database_url: str, store: Store) -> None:
    env = {"QUIZSVC_DATABASE_URL": database_url}
    first = CliRunner().invoke(cli, ["lti", "keys", "rotate", "--now"], env=env).stdout.strip()
    second = CliRunner().invoke(cli, ["lti", "keys", "rotate"], env=env).stdout.strip()
    now = datetime.now(UTC)
    current = store.signing_key(now)
    assert current is not None
    assert current.kid == first
    activated = CliRunner().invoke(cli, ["lti", "keys", "activate", second], env=env)
    assert activated.exit_code == 0, activated.output
    current = store.signing_key(datetime.now(UTC))
    assert current is not None
    assert current.kid == second
    unknown = CliRunner().invoke(cli, ["lti", "keys", "activate", "nope"], env=env)
    assert unknown.exit_code != 0
    # --now: a leaked key is replaced at once.
    third = CliRunner().invoke(cli, ["lti", "keys", "rotate", "--now"], env=env).stdout.strip()
    current = store.signing_key(datetime.now(UTC))
    assert current is not None
    assert current.kid == third


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_deviation_e_readme_names_the_launch_url_for_deep_linking(app: Flask) -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## LMS integration", 1)[1].split("\n## ", 1)[0]
    assert "Deep Linking URL `/lti/deep-link`" not in section
    assert re.search(r"Deep Linking (?:\(redirect\) )?URL `/lti/launch`", section), section
    with app.test_request_context():
        assert tool_urls()["deep_linking_url"].endswith("/lti/launch")


# -- NRPS and passback status -------------------------------------------------------------------


def test_nrps_lists_the_course_learners_with_their_results(
    registered: InteropPlatform,
    live_url: str,
    exam: dict[str, Any],
    store: Store,
    make_key: Callable[..., Headers],
) -> None:
    lms = registered
    lms.custom = {"exam_id": exam["id"]}
    staff = make_key("instructor")
    browser = requests.Session()
    data = learner_attempt(browser, live_url, lms)
    answer_all_correctly_and_submit(browser, live_url, data, staff)
    wait_until(lambda: lms.scores, what="the score")
    lms.members = [
        {"user_id": lms.user, "roles": [LEARNER], "name": "Grace Hopper"},
        {"user_id": "lms-learner-2", "roles": [LEARNER], "status": "Inactive"},
        {"user_id": "lms-teacher", "roles": [INSTRUCTOR], "name": "Ada"},
    ]

    contexts = requests.get(f"{live_url}/v1/lti/contexts", headers=staff)
    assert contexts.status_code == 200, contexts.text
    (course,) = [c for c in contexts.json()["items"] if c["registration_id"] == lms.registration_id]
    assert course["lms_context_id"] == lms.context_id
    assert course["title"] == "Interop 101"
    assert course["has_memberships_service"] is True

    url = f"{live_url}/v1/lti/contexts/{course['id']}/members"
    reply = requests.get(url, headers=staff)
    assert reply.status_code == 200, reply.text
    assert lms.problems == []
    members = {m["user_id"]: m for m in reply.json()["members"]}
    assert set(members) == {lms.user, "lms-learner-2"}  # learners only by default
    (result,) = members[lms.user]["results"]
    assert result["attempt_id"] == data["attempt_id"]
    assert result["exam_title"] == "Interop exam"
    assert result["score"] == result["max_score"] == 3.0
    assert result["passback"]["status"] in ("pending", "sent")
    assert members[lms.user]["learner_id"] == lti.learner_id_for(lms.issuer, lms.user)
    assert members[lms.user]["name"] == "Grace Hopper"
    assert members["lms-learner-2"]["results"] == []
    assert members["lms-learner-2"]["status"] == "Inactive"
    assert lti.NRPS_SCOPE in lms.token_scopes

    everyone = requests.get(url, params={"role": "all"}, headers=staff).json()["members"]
    assert {m["user_id"]: m["staff"] for m in everyone}["lms-teacher"] is True
    bad = requests.get(url, params={"role": "nobody"}, headers=staff)
    assert bad.status_code == 422
    assert "role" in bad.text
    learner = make_key("learner", learner_id="someone")
    assert requests.get(url, headers=learner).status_code == 403
    missing = requests.get(f"{live_url}/v1/lti/contexts/nope/members", headers=staff)
    assert missing.status_code == 404


def test_an_lti_learner_listed_by_the_roster_can_be_accommodated_before_their_first_launch(
    registered: InteropPlatform,
    live_url: str,
    exam: dict[str, Any],
    make_key: Callable[..., Headers],
) -> None:
    """Once an accommodation was 404 "no learner" until the learner had launched once: too
    late for a learner who needs the extra time from the first minute."""
    lms = registered
    lms.custom = {"exam_id": exam["id"]}
    staff = make_key("instructor")
    browser = requests.Session()
    learner_attempt(browser, live_url, lms)  # the course is known from a first launch
    lms.members = [
        {"user_id": lms.user, "roles": [LEARNER]},
        {"user_id": "lms-learner-later", "roles": [LEARNER]},
        {"user_id": "lms-teacher", "roles": [INSTRUCTOR]},
    ]
    later = lti.learner_id_for(lms.issuer, "lms-learner-later")
    url = f"{live_url}/v1/exams/{exam['id']}/accommodations/{later}"
    before = requests.put(url, json={"extra_minutes": 15}, headers=staff)
    assert before.status_code == 404, before.text
    assert "roster" in before.json()["errors"]["path"]["learner_id"][0]

    contexts = requests.get(f"{live_url}/v1/lti/contexts", headers=staff).json()["items"]
    (course,) = [c for c in contexts if c["registration_id"] == lms.registration_id]
    roster = requests.get(f"{live_url}/v1/lti/contexts/{course['id']}/members", headers=staff)
    assert roster.status_code == 200, roster.text
    listed = {m["user_id"]: m["learner_id"] for m in roster.json()["members"]}
    assert listed["lms-learner-later"] == later

    granted = requests.put(url, json={"extra_minutes": 15}, headers=staff)
    assert granted.status_code == 201, granted.text
    assert granted.json()["effective"]["time_limit_seconds"] == exam["time_limit_seconds"] + 900
    # Staff are never listed as learners, and a second fetch of the roster keeps one row.
    teacher = lti.learner_id_for(lms.issuer, "lms-teacher")
    assert (
        requests.put(
            f"{live_url}/v1/exams/{exam['id']}/accommodations/{teacher}",
            json={"extra_minutes": 15},
            headers=staff,
        ).status_code
        == 404
    )
    again = requests.get(f"{live_url}/v1/lti/contexts/{course['id']}/members", headers=staff)
    assert again.status_code == 200, again.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_nrps_follows_link_header_pages_on_the_platform_only(
    registered: InteropPlatform,
    live_url: str,
    exam: dict[str, Any],
    make_key: Callable[..., Headers],
) -> None:
    lms = registered
    lms.custom = {"exam_id": exam["id"]}
    learner_attempt(requests.Session(), live_url, lms)
    lms.members = [{"user_id": f"learner-{n}", "roles": [LEARNER]} for n in range(5)]
    lms.page_size = 2
    staff = make_key("instructor")
    contexts = requests.get(f"{live_url}/v1/lti/contexts", headers=staff).json()["items"]
    (course,) = [c for c in contexts if c["registration_id"] == lms.registration_id]
    url = f"{live_url}/v1/lti/contexts/{course['id']}/members"
    listed = requests.get(url, headers=staff)
    assert listed.status_code == 200, listed.text
    assert [m["user_id"] for m in listed.json()["members"]] == [f"learner-{n}" for n in range(5)]

    # A next page on another host is not followed (the token would go with it).
    lms.next_page_base = f"http://localhost:{urllib.parse.urlsplit(lms.url).port}/memberships"
    elsewhere = requests.get(url, headers=staff)
    assert elsewhere.status_code == 502
    assert "another host" in elsewhere.json()["message"]


def test_passback_status_shows_the_error_and_resend_delivers(
    registered: InteropPlatform,
    live_url: str,
    exam: dict[str, Any],
    store: Store,
    make_key: Callable[..., Headers],
) -> None:
    lms = registered
    lms.custom = {"exam_id": exam["id"]}
    lms.score_status = 500
    staff = make_key("instructor")
    browser = requests.Session()
    data = learner_attempt(browser, live_url, lms)
    attempt_id = data["attempt_id"]
    url = f"{live_url}/v1/lti/attempts/{attempt_id}/passback"
    assert requests.get(url, headers=staff).status_code == 404  # not graded yet
    answer_all_correctly_and_submit(browser, live_url, data, staff)

    def status() -> dict[str, Any]:
        found: dict[str, Any] = requests.get(url, headers=staff).json()
        return found

    wait_until(lambda: status()["tries"] == 1, what="the first, failing try")
    first = status()
    assert first["status"] == "pending"
    assert "HTTP 500" in first["last_error"]
    assert first["last_status_code"] == 500
    assert first["last_tried_at"] is not None
    assert first["next_attempt_at"] is not None
    assert lms.scores == []

    lms.score_status = None
    resent = requests.post(url + "/resend", headers=staff)
    assert resent.status_code == 202, resent.text
    wait_until(lambda: status()["status"] == "sent", what="the resent score")
    assert status()["tries"] == 2
    (score,) = lms.scores
    assert score["scoreGiven"] == 3.0

    # A score already sent is sent anew on request (the LMS lost it, say), newer timestamp.
    time.sleep(0.01)
    again = requests.post(url + "/resend", headers=staff)
    assert again.status_code == 202
    assert again.json()["message_id"] != first["message_id"]
    wait_until(lambda: len(lms.scores) == 2, what="the second score")
    assert lms.scores[1]["timestamp"] >= lms.scores[0]["timestamp"]
    assert status()["status"] == "sent"
    assert lms.problems == []
    learner = make_key("learner", learner_id="someone")
    assert requests.post(url + "/resend", headers=learner).status_code == 403
    assert (
        requests.post(f"{live_url}/v1/lti/attempts/nope/passback/resend", headers=staff).status_code
        == 404
    )


# -- the platform's JWKS goes through the outbound guard ----------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_platform_jwks_fetch_is_refused_by_the_outbound_guard(
    database_url: str, tmp_path: Path, clock: FakeClock, make_key: Callable[..., Headers]
) -> None:
    """The JWKS URL is an admin's choice like any outbound URL: without the host in
    QUIZSVC_OUTBOUND_ALLOW_HOSTS, a platform on a loopback address is never fetched."""
    guarded = interop_app(database_url, tmp_path / "guarded", clock, "")
    key, _ = guarded.extensions["quizsvc"].store.create_key("admin")
    with serve_in_thread(guarded) as tool_url:
        lms = InteropPlatform(tool_url)
        with serve_in_thread(lms.app) as url:
            lms.start(url)
            lms.custom = {"exam_id": "any"}
            CliRunner().invoke(
                cli, ["lti", "keys", "rotate"], env={"QUIZSVC_DATABASE_URL": database_url}
            )
            created = requests.post(
                f"{tool_url}/v1/lti/registrations",
                json=lms.tool_registration(),
                headers={"Authorization": f"Bearer {key}"},
            )
            assert created.status_code == 201, created.text
            refused = launch(requests.Session(), lms, "launch")
            assert refused.status_code == 502, refused.text
            assert "refused" in html.unescape(refused.text)
            assert lms.jwks_requests == 0
    guarded.extensions[OUTBOX_WORKER_KEY].stop()
