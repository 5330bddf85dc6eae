"""LTI 1.3 tool: platform registrations (JSON API) and the browser-facing launch flow.

``blp`` (in the OpenAPI spec) manages registrations; ``pages`` (a plain Flask blueprint, not
in the spec) holds what browsers and platforms call: OIDC login initiation, the launch,
Deep Linking, the tool's JWKS and the server-rendered exam page with its JSON helpers.
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import (
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.views import MethodView
from flask_smorest import Blueprint
from itsdangerous import BadSignature, URLSafeTimedSerializer
from marshmallow import Schema, fields, validate
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response as BaseResponse

from quizsvc.accommodations import OutsideWindow
from quizsvc.api.attempts import (
    NewAttempt,
    attempt_view,
    finalize_if_expired,
    grade_callback,
    passback_view,
    result_view,
    time_is_up,
    timing_of,
)
from quizsvc.api.auth import STAFF, roles_required
from quizsvc.api.errors import ApiError, error_response
from quizsvc.api.headers import LOCATION, page_content_security_policy
from quizsvc.api.services import services
from quizsvc.attempts import InvalidAnswer, PublicIds, check_answer
from quizsvc.exams.pools import questions_per_attempt
from quizsvc.lms.lti import (
    DEEP_LINKING_REQUEST,
    JWKS_MAX_AGE_SECONDS,
    RESOURCE_LINK_ITEM,
    Launch,
    LaunchError,
    PlatformRegistration,
    deep_linking_response,
    exam_link_item,
    is_staff_role,
    jwks,
    learner_id_for,
    new_state,
    peek_issuer_and_client,
    platform_signing_key,
    validate_id_token,
)
from quizsvc.lms.nrps import MembershipError, fetch_members
from quizsvc.lms.outbound import OutboundPolicy
from quizsvc.persistence.lms import LtiContext
from quizsvc.store import (
    AGS_SCORE_SCOPE,
    Attempt,
    Exam,
    LtiLaunch,
    LtiLoginState,
    LtiRegistration,
    OutboxMessage,
    StoreUnavailable,
    new_id,
)

blp = Blueprint(
    "lti",
    __name__,
    url_prefix="/v1",
    description="LTI 1.3 platform registrations (the launch endpoints live under /lti)",
)
pages = FlaskBlueprint("lti_pages", __name__, url_prefix="/lti")

STATE_COOKIE_PREFIX = "quizsvc_lti_state_"
SESSION_COOKIE = "quizsvc_lti_session"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_STATE_SECONDS = 600
SESSION_SECONDS = 12 * 3600
DEEP_LINK_SECONDS = 900
#: Retired tool keys stay in the JWKS this long, so platforms can verify recent signatures.
RETIRED_KEY_GRACE = timedelta(days=7)
#: The routes a browser navigates to (not the page's fetch() calls): their errors are pages.
HTML_ENDPOINTS = {
    "lti_pages.login": "This exam could not be opened",
    "lti_pages.launch": "This exam could not be opened",
    "lti_pages.deep_link_select": "The exam could not be added to your course",
    "lti_pages.attempt_page": "This exam could not be opened",
}
#: Host names (as urlsplit lowercases them) and IPv6 literals; anything else is no origin.
CSP_HOST = re.compile(r"[a-z0-9.-]+|[0-9a-f:.]+")


# -- registrations (JSON API) -----------------------------------------------------------------


class RegistrationCreateSchema(Schema):
    issuer = fields.String(required=True, validate=validate.Length(min=1, max=500))
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    deployment_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=255)),
        required=True,
        validate=validate.Length(min=1),
    )
    auth_login_url = fields.URL(required=True, schemes={"http", "https"}, require_tld=False)
    auth_token_url = fields.URL(required=True, schemes={"http", "https"}, require_tld=False)
    jwks_url = fields.URL(required=True, schemes={"http", "https"}, require_tld=False)


class RegistrationSchema(RegistrationCreateSchema):
    id = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class RegistrationListSchema(Schema):
    items = fields.List(fields.Nested(RegistrationSchema), required=True)
    tool = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "The URLs to configure in the platform for this tool."},
    )


def registration_view(registration: LtiRegistration) -> dict[str, Any]:
    return {
        "id": registration.id,
        "issuer": registration.issuer,
        "client_id": registration.client_id,
        "deployment_ids": registration.deployment_ids,
        "auth_login_url": registration.auth_login_url,
        "auth_token_url": registration.auth_token_url,
        "jwks_url": registration.jwks_url,
        "created_at": registration.created_at,
    }


def tool_urls() -> dict[str, str]:
    return {
        "login_initiation_url": url_for("lti_pages.login", _external=True),
        "launch_url": url_for("lti_pages.launch", _external=True),
        "deep_linking_url": url_for("lti_pages.launch", _external=True),
        "jwks_url": url_for("lti_pages.tool_jwks", _external=True),
    }


@blp.route("/lti/registrations")
class Registrations(MethodView):
    @roles_required("admin")
    @blp.arguments(RegistrationCreateSchema)
    @blp.response(201, RegistrationSchema, headers=LOCATION)
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Register an LMS platform (issuer + client id) and its deployments and endpoints."""
        state = services()
        if state.store.find_registrations(body["issuer"], body["client_id"]):
            raise ApiError(409, "This issuer and client id are already registered.")
        registration = state.store.add_registration(
            LtiRegistration(id=new_id(), created_at=state.clock(), **body)
        )
        location = url_for("lti.RegistrationById", registration_id=registration.id)
        return registration_view(registration), 201, {"Location": location}

    @roles_required("admin")
    @blp.response(200, RegistrationListSchema)
    def get(self) -> dict[str, Any]:
        """Registered platforms, and the tool URLs a platform needs."""
        items = [registration_view(r) for r in services().store.list_registrations()]
        return {"items": items, "tool": tool_urls()}


@blp.route("/lti/registrations/<string:registration_id>")
class RegistrationById(MethodView):
    @roles_required("admin")
    @blp.response(200, RegistrationSchema)
    def get(self, registration_id: str) -> dict[str, Any]:
        """One registered platform."""
        registration = services().store.get_registration(registration_id)
        if registration is None:
            raise ApiError(404, f"No LTI registration with id {registration_id!r}.")
        return registration_view(registration)


# -- courses, their members and grade passback (JSON API, staff) ------------------------------


class PassbackStatusSchema(Schema):
    attempt_id = fields.String(required=True)
    message_id = fields.String(required=True, metadata={"description": "The outbox message."})
    status = fields.String(
        required=True,
        validate=validate.OneOf(["pending", "sent", "failed"]),
        metadata={"description": "pending (to be tried or retried), sent, failed (for good)."},
    )
    tries = fields.Integer(required=True)
    last_error = fields.String(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_tried_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    score = fields.Dict(
        required=True, metadata={"description": "The AGS score sent (or to be sent)."}
    )
    log = fields.List(
        fields.Dict(), required=True, metadata={"description": "Every try: at, status_code, error."}
    )


class ContextSchema(Schema):
    id = fields.String(required=True)
    registration_id = fields.String(required=True)
    lms_context_id = fields.String(required=True)
    title = fields.String(allow_none=True)
    has_memberships_service = fields.Boolean(required=True)
    updated_at = fields.DateTime(required=True)


class ContextListSchema(Schema):
    items = fields.List(fields.Nested(ContextSchema), required=True)


class MemberResultSchema(Schema):
    attempt_id = fields.String(required=True)
    exam_id = fields.String(required=True)
    exam_title = fields.String(allow_none=True)
    status = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    submitted_at = fields.DateTime(allow_none=True)
    score = fields.Float(allow_none=True)
    max_score = fields.Float(allow_none=True)
    percent = fields.Float(allow_none=True)
    passback = fields.Nested(PassbackStatusSchema, allow_none=True)


class MemberSchema(Schema):
    user_id = fields.String(required=True, metadata={"description": "The LMS's user id (sub)."})
    learner_id = fields.String(required=True, metadata={"description": "quizsvc's learner id."})
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    roles = fields.List(fields.String(), required=True)
    status = fields.String(required=True, metadata={"description": "Active, Inactive, Deleted."})
    staff = fields.Boolean(required=True)
    results = fields.List(fields.Nested(MemberResultSchema), required=True)


class MembersSchema(Schema):
    context = fields.Nested(ContextSchema, required=True)
    members = fields.List(fields.Nested(MemberSchema), required=True)


class MembersQuerySchema(Schema):
    role = fields.String(
        load_default="learners",
        validate=validate.OneOf(["learners", "all"]),
        metadata={"description": "learners (default: everyone not staff of the course) or all."},
    )


def passback_status(message: OutboxMessage) -> dict[str, Any]:
    last = message.log[-1] if message.log else None
    return {
        "attempt_id": message.attempt_id,
        "message_id": message.id,
        "status": "sent" if message.status == "delivered" else message.status,
        "tries": message.attempts,
        "last_error": message.last_error,
        "last_status_code": message.last_status_code,
        "last_tried_at": datetime.fromisoformat(last["at"]) if last else None,
        "sent_at": message.delivered_at,
        "next_attempt_at": message.next_attempt_at if message.status == "pending" else None,
        "score": message.payload.get("score", {}),
        "log": message.log,
    }


def latest_passback(attempt_id: str) -> OutboxMessage | None:
    scores = services().store.list_outbox(kind="ags_score", attempt_id=attempt_id)
    return scores[-1] if scores else None


def context_view(course: LtiContext) -> dict[str, Any]:
    return {
        "id": course.id,
        "registration_id": course.registration_id,
        "lms_context_id": course.lms_context_id,
        "title": course.title,
        "has_memberships_service": course.memberships_url is not None,
        "updated_at": course.updated_at,
    }


def lti_attempt(attempt_id: str) -> Attempt:
    attempt = services().store.get_attempt(attempt_id)
    if attempt is None:
        raise ApiError(404, f"No attempt with id {attempt_id!r}.")
    if services().store.get_launch(attempt_id) is None:
        raise ApiError(404, f"Attempt {attempt_id!r} was not launched from an LMS (no passback).")
    return attempt


@blp.route("/lti/attempts/<string:attempt_id>/passback")
class AttemptPassback(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, PassbackStatusSchema)
    def get(self, attempt_id: str) -> dict[str, Any]:
        """The grade passback of an LTI-launched attempt: pending, sent or failed, with the
        last error and when it was tried."""
        lti_attempt(attempt_id)
        message = latest_passback(attempt_id)
        if message is None:
            raise ApiError(
                404,
                f"Attempt {attempt_id!r} has no grade to pass back (not graded yet, or its "
                "launch carried no AGS line item with the score scope).",
            )
        return passback_status(message)


@blp.route("/lti/attempts/<string:attempt_id>/passback/resend")
class AttemptPassbackResend(MethodView):
    @roles_required(*STAFF)
    @blp.response(202, PassbackStatusSchema)
    def post(self, attempt_id: str) -> dict[str, Any]:
        """Send the attempt's grade to the LMS again now: a failed or waiting passback is put
        back in line; a sent one is sent anew (with a new timestamp)."""
        lti_attempt(attempt_id)
        message = services().store.resend_score(attempt_id, services().clock())
        if message is None:
            raise ApiError(409, f"Attempt {attempt_id!r} has no grade to pass back yet.")
        return passback_status(message)


@blp.route("/lti/contexts")
class Contexts(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, ContextListSchema)
    def get(self) -> dict[str, Any]:
        """The LMS courses that launched the tool."""
        return {"items": [context_view(c) for c in services().store.list_contexts()]}


@blp.route("/lti/contexts/<string:context_id>/members")
class ContextMembers(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(MembersQuerySchema, location="query")
    @blp.response(200, MembersSchema)
    def get(self, query: dict[str, Any], context_id: str) -> dict[str, Any]:
        """The course's members from the platform (Names and Role Provisioning Services), each
        with their quizsvc results in this course and the passback of each."""
        state = services()
        course = state.store.get_context(context_id)
        if course is None:
            raise ApiError(404, f"No LTI context with id {context_id!r}.")
        registration = state.store.get_registration(course.registration_id)
        assert registration is not None  # a context row references its registration
        if course.memberships_url is None:
            raise ApiError(
                409, "The LMS offered no Names and Role Provisioning Service for this course."
            )
        key = state.store.signing_key(state.clock())
        if key is None:
            raise ApiError(503, "The tool has no signing key yet: run 'quizsvc lti keys rotate'.")
        try:
            members = fetch_members(
                course.memberships_url,
                registration.auth_token_url,
                registration.client_id,
                key.kid,
                key.private_pem,
                outbound_policy(),
            )
        except MembershipError as exc:
            raise ApiError(502, f"The LMS's membership service failed: {exc}") from None
        results: dict[str, list[dict[str, Any]]] = {}
        exams: dict[str, Exam | None] = {}
        for launch in state.store.context_launches(course.id):
            attempt = state.store.get_attempt(launch.attempt_id)
            if attempt is None:
                continue
            if attempt.exam_id not in exams:
                exams[attempt.exam_id] = state.store.get_exam(attempt.exam_id)
            exam = exams[attempt.exam_id]
            result = attempt.result or {}
            graded = attempt.status == "graded"
            passback = latest_passback(attempt.id)
            results.setdefault(launch.subject, []).append(
                {
                    "attempt_id": attempt.id,
                    "exam_id": attempt.exam_id,
                    "exam_title": exam.title if exam else None,
                    "status": attempt.status,
                    "started_at": attempt.started_at,
                    "submitted_at": attempt.submitted_at,
                    "score": result.get("score") if graded else None,
                    "max_score": result.get("max_score") if graded else None,
                    "percent": result.get("percent") if graded else None,
                    "passback": passback_status(passback) if passback else None,
                }
            )
        listed = []
        learners = []
        for member in members:
            staff = any(is_staff_role(role) for role in member.roles)
            learner_id = learner_id_for(registration.issuer, member.user_id)
            if not staff:
                learners.append(learner_id)
            if query["role"] == "learners" and staff:
                continue
            listed.append(
                {
                    "user_id": member.user_id,
                    "learner_id": learner_id,
                    "name": member.name,
                    "email": member.email,
                    "roles": member.roles,
                    "status": member.status,
                    "staff": staff,
                    "results": results.get(member.user_id, []),
                }
            )
        # Staff may give an accommodation to a listed learner before their first launch.
        state.store.record_members(course.id, learners, state.clock())
        return {"context": context_view(course), "members": listed}


# -- cookies and signed values ----------------------------------------------------------------


def serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def set_cookie(response: BaseResponse, name: str, value: str, max_age: int, path: str) -> None:
    insecure = services().settings.insecure_cookies
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        secure=not insecure,
        # An LMS embeds the tool in an iframe and POSTs the launch cross-site: SameSite=None.
        samesite="Lax" if insecure else "None",
        # Partitioned (CHIPS): browsers that block third-party cookies still keep one set in
        # the LMS's iframe, for that LMS only, which is all a launch and its exam page need.
        partitioned=not insecure,
    )


def session_learner() -> str:
    raw = request.cookies.get(SESSION_COOKIE, "")
    try:
        data = serializer("lti-session").loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        raise ApiError(401, "No LTI session: launch this exam from your LMS again.") from None
    return str(data["learner_id"])


def csrf_token(learner_id: str, attempt_id: str) -> str:
    return serializer("lti-csrf").dumps({"learner_id": learner_id, "attempt_id": attempt_id})


def check_csrf(learner_id: str, attempt_id: str) -> None:
    try:
        data = serializer("lti-csrf").loads(
            request.headers.get(CSRF_HEADER, ""), max_age=SESSION_SECONDS
        )
    except BadSignature:
        raise ApiError(403, f"Missing or invalid {CSRF_HEADER} header.") from None
    if data != {"learner_id": learner_id, "attempt_id": attempt_id}:
        raise ApiError(403, f"The {CSRF_HEADER} header belongs to another attempt.")


# -- what the pages let a browser do ------------------------------------------------------------


def web_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, else None: a source a CSP may list.

    Rebuilt from the parsed parts, never copied: a registration's issuer is free text, and a
    ';' or a space in it would otherwise add directives of its own to the policy.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:  # a port out of range, an unclosed IPv6 bracket
        return None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host or not CSP_HOST.fullmatch(host):
        return None
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + ("" if port in (None, default_port) else f":{port}")


def platform_origins() -> list[str]:
    """The origins of the registered LMS platforms: those that may frame the tool's pages."""
    origins: set[str] = set()
    try:
        registrations = services().store.list_registrations()
    except StoreUnavailable:
        # The page (likely an error page already) is then framed by nobody but the tool.
        return []
    for registration in registrations:
        for url in (registration.issuer, registration.auth_login_url):
            origin = web_origin(url)
            if origin is not None:
                origins.add(origin)
    return sorted(origins)


def allow_form_target(url: str) -> None:
    """Let this request's page post a form to ``url`` (the LMS's Deep Linking return)."""
    origin = web_origin(url)
    if origin is None:
        raise ApiError(400, f"The LMS's return URL {url!r} is not an http(s) URL.")
    g.lti_form_targets = [*g.get("lti_form_targets", []), origin]


def content_security_policy() -> str:
    """Nothing inline and nothing from elsewhere: scripts, styles, fetches and images from the
    tool only; forms post to the tool (or the LMS a page returns to); only the tool and the
    registered platforms may frame a page (an LMS shows the tool in an iframe)."""
    return page_content_security_policy(
        form_action=["'self'", *g.get("lti_form_targets", [])],
        frame_ancestors=["'self'", *platform_origins()],
    )


@pages.after_request
def page_security_headers(response: BaseResponse) -> BaseResponse:
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Not no-referrer: with it a browser sends "Origin: null" on the cross-site form post
    # back to the LMS, which an LMS may refuse; this still sends other sites no path (which
    # holds attempt ids), only the tool's origin.
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    # A redirect's body is never shown; skipping it saves reading the registrations.
    if response.mimetype == "text/html" and not 300 <= response.status_code < 400:
        response.headers["Content-Security-Policy"] = content_security_policy()
    return response


def wants_html_error() -> bool:
    """Whether an error is shown to a person: a page the browser navigated to, unless the
    client asks for JSON (a script, or a test speaking the API)."""
    if request.endpoint not in HTML_ENDPOINTS:
        return False
    if request.headers.get("X-Requested-With", "").lower() == "xmlhttprequest":
        return False
    best = request.accept_mimetypes.best_match(
        ["text/html", "application/json"], default="text/html"
    )
    return best != "application/json"


@pages.errorhandler(ApiError)
def page_error(error: ApiError) -> BaseResponse:
    """A page in the learner's words where a browser navigated; the JSON envelope for the
    exam page's fetch() calls (autosave, submit), which read its message."""
    code = error.code or 400
    message = error.description or ""
    response: BaseResponse
    if wants_html_error():
        html = render_template(
            "lti_error.html",
            title=HTML_ENDPOINTS[str(request.endpoint)],
            message=message,
            status=code,
            phrase=HTTPStatus(code).phrase,
        )
        response = make_response(html, code)
        response.headers["Cache-Control"] = "no-store"
    else:
        response = error_response(code, message, error.errors)
    response.headers.update(error.extra_headers)
    return response


def check_target_link_uri(target_link_uri: str) -> None:
    """Refuse a target_link_uri that is not one of this tool's LTI URLs.

    Where the launch lands is the tool's choice, not the request's: a target on another host
    or outside /lti/ could send the learner (and the exam id read from its query) elsewhere.
    """
    own = url_for("lti_pages.launch", _external=True)
    own_origin = web_origin(own)
    prefix = urllib.parse.urlsplit(own).path.rsplit("/", 1)[0] + "/"
    try:
        path = urllib.parse.urlsplit(target_link_uri).path
    except ValueError:
        path = ""
    segments = urllib.parse.unquote(path).split("/")
    if (
        own_origin is None
        or web_origin(target_link_uri) != own_origin
        or not path.startswith(prefix)
        or "." in segments
        or ".." in segments
    ):
        raise ApiError(
            400,
            f"The target_link_uri {target_link_uri!r} is not this tool's: it must be a URL "
            f"under {own_origin}{prefix}, such as {own}.",
        )


# -- the tool's keys --------------------------------------------------------------------------


@pages.get("/jwks")
def tool_jwks() -> Response:
    """Public keys only: the next key (published before it signs), the current signing key
    and recently retired ones."""
    now = services().clock()
    keys = [
        (key.kid, key.private_pem)
        for key in services().store.lti_keys()
        if key.retired_at is None or key.retired_at > now - RETIRED_KEY_GRACE
    ]
    response = jsonify(jwks(keys))
    # 'lti keys rotate' publishes the next key at least this long before it signs.
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    return response


def outbound_policy() -> OutboundPolicy:
    """The SSRF guard's policy for what the tool fetches from platforms (JWKS, NRPS)."""
    return OutboundPolicy.from_setting(services().settings.outbound_allow_hosts)


# -- OIDC login initiation and launch -----------------------------------------------------------


@pages.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    """Third-party initiated login: remember state and nonce, then send the browser back."""
    params = request.values
    issuer = params.get("iss", "")
    login_hint = params.get("login_hint", "")
    target_link_uri = params.get("target_link_uri", "")
    client_id = params.get("client_id") or None
    missing = [
        name
        for name, value in (
            ("iss", issuer),
            ("login_hint", login_hint),
            ("target_link_uri", target_link_uri),
        )
        if not value
    ]
    if missing:
        raise ApiError(400, f"LTI login initiation lacks: {', '.join(missing)}.")
    check_target_link_uri(target_link_uri)
    state = services()
    registrations = state.store.find_registrations(issuer, client_id)
    if not registrations:
        raise ApiError(400, f"No LTI platform is registered for issuer {issuer!r}.")
    if len(registrations) > 1:
        raise ApiError(400, "Several registrations share this issuer: send client_id.")
    registration = registrations[0]
    deployment = params.get("lti_deployment_id")
    if deployment and deployment not in registration.deployment_ids:
        raise ApiError(403, f"Deployment {deployment!r} is not registered for this platform.")
    now = state.clock()
    login_state = state.store.add_login_state(
        LtiLoginState(
            state=new_state(),
            nonce=new_state(),
            registration_id=registration.id,
            created_at=now,
            expires_at=now + timedelta(seconds=LOGIN_STATE_SECONDS),
        )
    )
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": registration.client_id,
        "redirect_uri": url_for("lti_pages.launch", _external=True),
        "login_hint": login_hint,
        "state": login_state.state,
        "nonce": login_state.nonce,
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in registration.auth_login_url else "?"
    response = redirect(
        registration.auth_login_url + separator + urllib.parse.urlencode(query), 302
    )
    set_cookie(
        response,
        STATE_COOKIE_PREFIX + login_state.state,
        login_state.state,
        LOGIN_STATE_SECONDS,
        "/lti",
    )
    return response


def _registration_for(issuer: str, client_ids: list[str]) -> LtiRegistration:
    for registration in services().store.find_registrations(issuer, None):
        if registration.client_id in client_ids:
            return registration
    raise LaunchError(401, "The id_token's issuer and audience match no registered platform.")


def _verified_launch() -> tuple[Launch, LtiRegistration]:
    id_token = request.form.get("id_token", "")
    state_value = request.form.get("state", "")
    if not id_token or not state_value:
        raise LaunchError(400, "An LTI launch needs the form fields id_token and state.")
    if request.cookies.get(STATE_COOKIE_PREFIX + state_value) != state_value:
        raise LaunchError(401, "The launch 'state' was not issued to this browser.")
    issuer, client_ids = peek_issuer_and_client(id_token)
    registration = _registration_for(issuer, client_ids)
    store = services().store
    login_state, problem = store.consume_login_state(state_value, services().clock())
    if problem == "used":
        raise LaunchError(401, "This login's state and nonce were already used: launch again.")
    if login_state is None or problem:
        raise LaunchError(401, f"The launch state is {problem or 'unknown'}: launch again.")
    if login_state.registration_id != registration.id:
        raise LaunchError(401, "The launch state was issued for another platform.")
    platform = PlatformRegistration(
        issuer=registration.issuer,
        client_id=registration.client_id,
        deployment_ids=registration.deployment_ids,
        jwks_url=registration.jwks_url,
    )
    key = platform_signing_key(id_token, registration.jwks_url, outbound_policy())
    return validate_id_token(id_token, platform, login_state.nonce, key), registration


@pages.post("/launch")
def launch() -> BaseResponse:
    """The platform's form post: validate the id_token, then open the exam or the picker."""
    try:
        verified, registration = _verified_launch()
    except LaunchError as error:
        raise ApiError(error.status, error.message) from None
    # Checked at login too, but the id_token's claim is what the platform signed.
    if verified.target_link_uri is not None:
        check_target_link_uri(verified.target_link_uri)
    state_cookie = STATE_COOKIE_PREFIX + request.form.get("state", "")
    course = record_context(verified, registration)
    response: BaseResponse
    if verified.message_type == DEEP_LINKING_REQUEST:
        response = make_response(deep_link_picker(verified, registration))
    else:
        attempt = start_or_resume(verified, registration, course)
        learner = learner_id_for(verified.issuer, verified.subject)
        response = redirect(url_for("lti_pages.attempt_page", attempt_id=attempt.id), 303)
        set_cookie(
            response,
            SESSION_COOKIE,
            serializer("lti-session").dumps({"learner_id": learner}),
            SESSION_SECONDS,
            "/lti",
        )
    response.delete_cookie(state_cookie, path="/lti")
    return response


def record_context(verified: Launch, registration: LtiRegistration) -> LtiContext | None:
    """The launch's course, recorded (with its NRPS endpoint) so staff can list its members."""
    if verified.context_id is None:
        return None
    return services().store.save_context(
        registration.id,
        verified.context_id,
        verified.context_title,
        verified.memberships_url,
        services().clock(),
    )


def linked_exam(verified: Launch) -> Exam:
    exam_id = verified.custom.get("exam_id")
    if not exam_id and verified.target_link_uri:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(verified.target_link_uri).query)
        exam_id = next(iter(query.get("exam_id", [])), None)
    if not exam_id:
        raise ApiError(
            400, "This link names no exam: add the custom parameter exam_id or use Deep Linking."
        )
    exam = services().store.get_exam(str(exam_id))
    if exam is None or exam.owner_learner_id is not None:
        raise ApiError(404, f"No exam with id {exam_id!r}.")
    return exam


def start_or_resume(
    verified: Launch, registration: LtiRegistration, course: LtiContext | None = None
) -> Attempt:
    """The learner's attempt in progress, else a new one, else (all used, or the exam closed)
    the latest attempt, whose review the page shows."""
    state = services()
    exam = linked_exam(verified)
    learner = learner_id_for(verified.issuer, verified.subject)

    def context(attempt_id: str) -> LtiLaunch:
        return LtiLaunch(
            attempt_id=attempt_id,
            registration_id=registration.id,
            issuer=verified.issuer,
            subject=verified.subject,
            deployment_id=verified.deployment_id,
            resource_link_id=verified.resource_link_id,
            lineitem_url=verified.lineitem_url,
            scopes=verified.ags_scopes,
            created_at=state.clock(),
            context_id=course.id if course is not None else None,
        )

    # Attempts whose time is over are graded first, so they count as used and are not
    # resumed; before the start's lock, as grading takes a lock of its own (as the JSON API).
    for earlier in state.store.list_attempts(exam_id=exam.id, learner_id=learner):
        finalize_if_expired(earlier, exam)

    # Resume-or-create under the store's per-(exam, learner) lock, as the JSON API starts
    # attempts: parallel launches (a double click, two tabs) give one attempt, never more
    # than the attempts allowed, and the learner's accommodation is read under the lock.
    outside_window = None
    try:
        attempt, _ = state.store.start_or_resume(
            exam.id, learner, NewAttempt(exam, learner, state.clock)
        )
    except OutsideWindow as exc:
        attempt = None
        outside_window = str(exc)
    if attempt is None:
        used = state.store.list_attempts(exam_id=exam.id, learner_id=learner)
        if not used:
            # With no attempt, only the window starts none.
            assert outside_window is not None
            raise ApiError(409, outside_window)
        return used[-1]
    # The launch context (for the grade passback) is saved on each launch into an attempt in
    # progress, so the newest launch's line item and scopes are the ones in force. Not in
    # start_or_resume's transaction: the redirect to the page comes only after it is saved.
    launch_context = context(attempt.id)
    try:
        state.store.save_launch(launch_context)
    except IntegrityError:
        # save_launch reads, then inserts: a parallel launch of the same attempt inserted the
        # row in between. It is there now, so merging again updates it.
        state.store.save_launch(launch_context)
    return attempt


# -- Deep Linking -------------------------------------------------------------------------------


def deep_link_picker(verified: Launch, registration: LtiRegistration) -> str:
    if not verified.is_staff:
        raise ApiError(403, "Only instructors can choose an exam to link.")
    context = {
        "registration_id": registration.id,
        "deployment_id": verified.deployment_id,
        "return_url": verified.deep_link_return_url,
        "data": verified.deep_link_data,
    }
    accepted = verified.deep_link_accept_types
    if accepted is not None and RESOURCE_LINK_ITEM not in accepted:
        # Deep Linking 2.0: answer with no items and an errormsg rather than an item type
        # the platform said it cannot take.
        return deep_link_reply(
            context,
            [],
            errormsg=(
                "quizsvc adds exams as LTI resource links (ltiResourceLink); this request "
                f"accepts only: {', '.join(accepted) or 'nothing'}."
            ),
        )
    exams, _ = services().store.list_exams(None, True, 0, 200)
    return render_template(
        "lti_deep_link.html",
        exams=[exam for exam in exams if exam.owner_learner_id is None],
        context=serializer("lti-deep-link").dumps(context),
        action=url_for("lti_pages.deep_link_select"),
        course=verified.context_title,
    )


def deep_link_reply(
    context: dict[str, Any],
    content_items: list[dict[str, Any]],
    errormsg: str | None = None,
    msg: str | None = None,
) -> str:
    """The auto-posting page carrying the signed Deep Linking response to the platform."""
    state = services()
    registration = state.store.get_registration(context["registration_id"])
    allow_form_target(context["return_url"])
    key = state.store.signing_key(state.clock())
    if registration is None or key is None:
        raise ApiError(503, "The tool has no signing key yet: run 'quizsvc lti keys rotate'.")
    token = deep_linking_response(
        client_id=registration.client_id,
        platform_issuer=registration.issuer,
        deployment_id=context["deployment_id"],
        data=context["data"],
        content_items=content_items,
        kid=key.kid,
        private_pem=key.private_pem,
        errormsg=errormsg,
        msg=msg,
    )
    return render_template("lti_autopost.html", action=context["return_url"], jwt=token)


@pages.post("/deep-link")
def deep_link_select() -> str:
    """The instructor's choice, returned to the platform as a signed ltiResourceLink; or,
    with ``cancel``, back to the platform with no item (Deep Linking 2.0's empty reply)."""
    try:
        context = serializer("lti-deep-link").loads(
            request.form.get("context", ""), max_age=DEEP_LINK_SECONDS
        )
    except BadSignature:
        raise ApiError(400, "This exam picker has expired: open it again from the LMS.") from None
    if request.form.get("cancel"):
        return deep_link_reply(context, [], msg="No exam was added.")
    exam = services().store.get_exam(request.form.get("exam_id", ""))
    if exam is None or exam.owner_learner_id is not None:
        raise ApiError(422, "Choose one of the listed exams.")
    item = exam_link_item(
        url_for("lti_pages.launch", _external=True),
        exam.id,
        exam.title,
        # A pooled exam freezes more questions than each attempt is given.
        float(questions_per_attempt(exam.questions)),
    )
    return deep_link_reply(context, [item])


# -- the exam page ------------------------------------------------------------------------------


def session_attempt(attempt_id: str) -> tuple[Attempt, Exam, str]:
    learner = session_learner()
    state = services()
    attempt = state.store.get_attempt(attempt_id)
    if attempt is None or attempt.learner_id != learner:
        raise ApiError(404, f"No attempt with id {attempt_id!r} in this LTI session.")
    exam = state.store.get_exam(attempt.exam_id)
    assert exam is not None
    return finalize_if_expired(attempt, exam), exam, learner


@pages.get("/attempts/<string:attempt_id>")
def attempt_page(attempt_id: str) -> Response:
    attempt, exam, learner = session_attempt(attempt_id)
    if attempt.status == "graded":
        passback = passback_view(attempt.id)
        html = render_template(
            "lti_review.html",
            exam=exam,
            result=result_view(attempt, exam, staff=False),
            passback=passback,
        )
    else:
        view = attempt_view(attempt, exam)
        page_data = {
            "attempt_id": attempt.id,
            "deadline": view["deadline"].isoformat(),
            "server_time": view["server_time"].isoformat(),
            "seconds_remaining": view["seconds_remaining"],
            "answers": {qid: r["answer"] for qid, r in view["responses"].items()},
            "save_url": url_for("lti_pages.attempt_save", attempt_id=attempt.id, question_id=""),
            "submit_url": url_for("lti_pages.attempt_submit", attempt_id=attempt.id),
            "page_url": url_for("lti_pages.attempt_page", attempt_id=attempt.id),
            "csrf": csrf_token(learner, attempt.id),
        }
        html = render_template("lti_exam.html", exam=exam, view=view, page_data=page_data)
    response = make_response(html)
    response.headers["Cache-Control"] = "no-store"
    # Its Content-Security-Policy is set, as on every LTI page, by page_security_headers.
    return response


@pages.put("/attempts/<string:attempt_id>/responses/<string:question_id>")
def attempt_save(attempt_id: str, question_id: str) -> Response:
    """Autosave from the exam page (session cookie + CSRF header), as the JSON API does."""
    attempt, exam, learner = session_attempt(attempt_id)
    check_csrf(learner, attempt.id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "answer" not in body:
        raise ApiError(422, "Send a JSON object with an 'answer'.")
    state = services()
    public = PublicIds.of(attempt.layout)
    exam_question_id = public.exam_question(question_id)
    question = next((q for q in exam.questions if q["delivery"]["id"] == exam_question_id), None)
    if exam_question_id is None or question is None:
        raise ApiError(404, f"No question {question_id!r} in this attempt.")
    timing = timing_of(attempt, exam)
    if attempt.status != "in_progress":
        raise ApiError(
            409,
            time_is_up(timing)
            if attempt.finalized_by == "expiry"
            else "This attempt is already submitted; answers can no longer change.",
        )
    try:
        answer = check_answer(
            question,
            public.exam_answer(exam_question_id, body["answer"]),
            state.settings.max_answer_chars,
        )
    except InvalidAnswer as exc:
        raise ApiError(422, f"Invalid answer: {exc}.") from exc
    now = state.clock()
    saved = state.store.save_response(
        attempt.id, exam_question_id, answer, now, timing.accept_until, exam.grace_seconds
    )
    if saved is None:
        raise ApiError(409, time_is_up(timing))
    return jsonify(
        {
            "question_id": question_id,
            "revision": saved.revision,
            "seconds_remaining": timing.seconds_remaining(now),
        }
    )


@pages.post("/attempts/<string:attempt_id>/submit")
def attempt_submit(attempt_id: str) -> Response:
    attempt, exam, learner = session_attempt(attempt_id)
    check_csrf(learner, attempt.id)
    if attempt.status != "graded":
        now = services().clock()
        finalized = services().store.finalize_attempt(
            attempt.id, now, "submit", grade_callback(exam, now)
        )
        assert finalized is not None
        attempt = finalized
    return jsonify(
        {
            "status": attempt.status,
            "review_url": url_for("lti_pages.attempt_page", attempt_id=attempt.id),
        }
    )


__all__ = ["AGS_SCORE_SCOPE", "blp", "pages"]
