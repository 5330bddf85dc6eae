"""What every page of the web app (``/app``) shares: its blueprints, the browser session,
CSRF tokens, security headers and error pages.

A page module makes its blueprint with :func:`page_blueprint` and guards its views with
:func:`learner_required`, :func:`staff_required` or :func:`signed_in_required`. The session
sets ``g.principal`` as an API key would, so a page can call the JSON API's own view code
(:func:`api_call`) and is refused exactly what the API would refuse the same person.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets
import urllib.parse
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from http import HTTPStatus
from typing import Any, TypeVar

from flask import Blueprint as FlaskBlueprint
from flask import current_app, g, make_response, redirect, render_template, request, url_for
from flask.views import MethodView
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response as BaseResponse

from quizsvc.api.auth import STAFF
from quizsvc.api.errors import ApiError, error_response
from quizsvc.api.headers import page_content_security_policy
from quizsvc.api.services import services
from quizsvc.store import Principal, SessionPrincipal

F = TypeVar("F", bound=Callable[..., Any])

URL_PREFIX = "/app"
SESSION_COOKIE = "quizsvc_app_session"
#: A random value bound to a browser before it signs in, so the sign-in forms carry a CSRF
#: token too (login CSRF: another site signing the browser in as someone else).
NONCE_COOKIE = "quizsvc_app_nonce"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: The exam page's fetch() calls send it; their errors are JSON, a navigation's a page.
FETCH_HEADER = "X-Requested-With"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGN_IN_ENDPOINT = "app_sign_in.sign_in"


def page_blueprint(name: str, import_name: str, url_prefix: str = URL_PREFIX) -> FlaskBlueprint:
    """A blueprint of web pages: session loaded and CSRF checked before each view, the
    pages' security headers after, errors as pages (or JSON for the pages' own fetch())."""
    blueprint = FlaskBlueprint(name, import_name, url_prefix=url_prefix)
    blueprint.before_request(load_session_and_check_csrf)
    blueprint.after_request(page_headers)
    blueprint.register_error_handler(ApiError, page_error)
    blueprint.context_processor(template_context)
    return blueprint


# -- the session ----------------------------------------------------------------------------


def settings_lifetimes() -> tuple[timedelta, timedelta]:
    settings = services().settings
    return (
        timedelta(minutes=settings.web_session_minutes),
        timedelta(minutes=settings.web_session_idle_minutes),
    )


def load_session_and_check_csrf() -> None:
    """Before every page view: who the browser is (``g.web_principal``, also ``g.principal``
    for the API's helpers), then, on a write, the CSRF token."""
    g.web_principal = None
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        _, idle = settings_lifetimes()
        found = services().store.web_session_principal(token, services().clock(), idle)
        if found is not None:
            g.web_principal = found
            g.principal = Principal(found.key_id, found.role, found.learner_id)
        else:
            # Expired, ended or revoked: the browser forgets it with this response.
            g.drop_session_cookie = True
    if request.method in UNSAFE_METHODS:
        check_csrf()


def web_principal() -> SessionPrincipal | None:
    found: SessionPrincipal | None = g.get("web_principal")
    return found


def require_principal(*roles: str) -> SessionPrincipal:
    """The signed-in person, or 401 (a page: the sign-in form); 403 for another role."""
    principal = web_principal()
    if principal is None:
        raise ApiError(401, "Please sign in (your session has ended or you are not signed in).")
    if roles and principal.role not in roles:
        raise ApiError(403, "This page is not for your role.")
    return principal


def _guard(*roles: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            require_principal(*roles)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


#: A view for a signed-in learner (``g.principal.learner_id`` is theirs).
learner_required = _guard("learner")
#: A view for a signed-in instructor or admin.
staff_required = _guard(*STAFF)
#: A view for anyone signed in.
signed_in_required = _guard()


def current_learner_id() -> str:
    learner_id = require_principal("learner").learner_id
    assert learner_id is not None  # learner keys always name their learner
    return learner_id


def home_url(role: str) -> str:
    """Where a person lands after signing in: the learner dashboard, or the staff home
    (the instructor pages' blueprint, when it is installed)."""
    if role == "learner":
        return url_for("app_learner.dashboard")
    try:
        return url_for("app_instructor.home")
    except BuildError:  # the instructor pages are not registered
        return url_for("app_sign_in.signed_in")


def set_session_cookie(response: BaseResponse, token: str) -> None:
    lifetime, _ = settings_lifetimes()
    _set_cookie(response, SESSION_COOKIE, token, int(lifetime.total_seconds()))


def drop_session_cookie(response: BaseResponse) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=URL_PREFIX, secure=secure_cookies(), httponly=True, samesite="Lax"
    )


def secure_cookies() -> bool:
    """Secure everywhere but development over plain http (QUIZSVC_INSECURE_COOKIES)."""
    return not services().settings.insecure_cookies


def _set_cookie(response: BaseResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=URL_PREFIX,
        httponly=True,
        secure=secure_cookies(),
        # Lax: sent when the person follows a link to the app from elsewhere (a sign-in link
        # in an email), never on another site's form post or fetch.
        samesite="Lax",
    )


# -- CSRF -----------------------------------------------------------------------------------


def _csrf_binding() -> str:
    """What a token is bound to: the session, or before sign-in the browser's nonce."""
    if web_principal() is not None:
        return "session:" + request.cookies.get(SESSION_COOKIE, "")
    nonce = request.cookies.get(NONCE_COOKIE) or g.get("new_nonce")
    if not nonce:
        nonce = g.new_nonce = secrets.token_urlsafe(24)
    return "nonce:" + str(nonce)


def _csrf_for(binding: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    message = b"quizsvc-app-csrf\0" + binding.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def csrf_token() -> str:
    """The token every form (hidden field ``csrf_token``) and fetch (header X-CSRF-Token)
    of this browser sends back."""
    return _csrf_for(_csrf_binding())


def check_csrf() -> None:
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if web_principal() is not None:
        binding = "session:" + request.cookies.get(SESSION_COOKIE, "")
    elif request.cookies.get(NONCE_COOKIE):
        binding = "nonce:" + request.cookies[NONCE_COOKIE]
    else:
        binding = ""
    if not sent or not binding or not hmac.compare_digest(sent, _csrf_for(binding)):
        raise ApiError(
            403,
            "This form has expired or did not come from this site (CSRF check failed): "
            "reload the page and try again.",
        )


# -- responses ------------------------------------------------------------------------------


def content_security_policy() -> str:
    """Nothing inline, nothing from elsewhere, framed by nobody (unlike the LTI pages, which
    an LMS frames)."""
    return page_content_security_policy(form_action=["'self'"], frame_ancestors=["'none'"])


def page_headers(response: BaseResponse) -> BaseResponse:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = content_security_policy()
    # Pages hold a person's answers and grades: no shared or back-button cache keeps them.
    response.headers["Cache-Control"] = "no-store"
    if g.get("new_nonce") and not request.cookies.get(NONCE_COOKIE):
        _set_cookie(response, NONCE_COOKIE, str(g.new_nonce), 24 * 3600)
    if g.get("drop_session_cookie"):
        drop_session_cookie(response)
    return response


def wants_json() -> bool:
    """Whether the request is one of the pages' own fetch() calls (errors as JSON)."""
    if request.headers.get(FETCH_HEADER, "").lower() in ("fetch", "xmlhttprequest"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def page_error(error: ApiError) -> BaseResponse:
    """A page in plain words for a navigation; 401 there sends the browser to sign in and
    back; the JSON envelope for the pages' fetch() calls, which show its message."""
    code = error.code or 400
    message = error.description or ""
    response: BaseResponse
    if wants_json():
        response = error_response(code, message, error.errors)
    elif code == 401 and request.method == "GET":
        response = redirect(url_for(SIGN_IN_ENDPOINT, next=safe_next(request.full_path)), 303)
    else:
        html = render_template(
            "app_error.html",
            message=message,
            status=code,
            phrase=HTTPStatus(code).phrase,
        )
        response = make_response(html, code)
    response.headers.update(error.extra_headers)
    return response


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path inside the app (never another site), else None."""
    if not target:
        return None
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(URL_PREFIX + "/"):
        return None
    if "\\" in target or target.startswith("//"):
        return None
    return target.rstrip("?")


def template_context() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "principal": web_principal(), "csrf_field": CSRF_FIELD}


# -- the JSON API's own code, behind the session --------------------------------------------


def api_call(resource: type[MethodView], method: str, *args: Any) -> Any:
    """Run a JSON API resource's view (``api_call(LearnerDue, "get", query, learner_id)``)
    without its HTTP decorators: the page passes what the schema would have loaded, and the
    view reads the session's principal from ``g.principal`` as it would a key's.

    Unwrapping also drops ``roles_required``: call it only from a view whose own guard
    (``learner_required``...) allows no more than the API's.
    """
    return inspect.unwrap(getattr(resource, method))(resource(), *args)
