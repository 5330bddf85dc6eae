"""Signing in to the web app (an API key, or a one-time link staff created) and out."""

from __future__ import annotations

from flask import g, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from quizsvc.api.errors import ApiError
from quizsvc.api.ratelimit import auth_failures
from quizsvc.api.services import services
from quizsvc.persistence.web import new_token
from quizsvc.web.core import (
    SESSION_COOKIE,
    drop_session_cookie,
    home_url,
    page_blueprint,
    safe_next,
    set_session_cookie,
    settings_lifetimes,
    signed_in_required,
    web_principal,
)

pages = page_blueprint("app_sign_in", __name__)

LINK_PROBLEMS = {
    "unknown": (404, "This sign-in link is not valid. Ask your instructor for a new one."),
    "used": (410, "This sign-in link was already used; each link works once. Ask for a new one."),
    "expired": (410, "This sign-in link has expired. Ask your instructor for a new one."),
}


@pages.get("/")
def root() -> BaseResponse:
    principal = web_principal()
    if principal is None:
        return redirect(url_for("app_sign_in.sign_in"), 303)
    return redirect(home_url(principal.role), 303)


@pages.get("/sign-in")
def sign_in() -> str:
    return render_template(
        "app_sign_in.html",
        next=safe_next(request.args.get("next")),
        signed_out=request.args.get("signed_out") == "1",
        error=None,
    )


@pages.post("/sign-in")
def sign_in_with_key() -> BaseResponse:
    key = request.form.get("api_key", "").strip()
    target = safe_next(request.form.get("next"))
    store = services().store
    failures = auth_failures()
    # As the API: past the failure limit a guess is refused before any lookup.
    retry_after = None if (key and store.recently_verified(key)) else failures.retry_after()
    if retry_after is not None:
        message = f"Too many failed sign-ins from this address; try again in {retry_after} s."
        return _sign_in_refused(429, message, target)
    principal = store.principal_for(key) if key else None
    if principal is None:
        failures.record()
        message = "Enter your API key." if not key else "That API key is not valid or is revoked."
        return _sign_in_refused(401, message, target)
    token = new_token()
    lifetime, _ = settings_lifetimes()
    store.open_web_session(token, principal.key_id, services().clock(), lifetime)
    response = redirect(target or home_url(principal.role), 303)
    set_session_cookie(response, token)
    return response


def _sign_in_refused(status: int, message: str, target: str | None) -> BaseResponse:
    html = render_template("app_sign_in.html", next=target, signed_out=False, error=message)
    return make_response(html, status)


@pages.get("/sign-in/link/<string:token>")
def link(token: str) -> str:
    """A confirmation page, not the sign-in: mail scanners and link previews open links, and
    a GET that used the link would spend it before the learner clicks."""
    _, problem = services().store.peek_sign_in_link(token, services().clock())
    if problem:
        status, message = LINK_PROBLEMS[problem]
        raise ApiError(status, message)
    return render_template("app_link.html", token=token)


@pages.post("/sign-in/link/<string:token>")
def redeem_link(token: str) -> BaseResponse:
    state = services()
    lifetime, _ = settings_lifetimes()
    session_token = new_token()
    principal, problem = state.store.redeem_sign_in_link(
        token, session_token, state.clock(), lifetime
    )
    if principal is None:
        status, message = LINK_PROBLEMS[problem]
        raise ApiError(status, message)
    response = redirect(home_url(principal.role), 303)
    set_session_cookie(response, session_token)
    return response


@pages.post("/sign-out")
def sign_out() -> BaseResponse:
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        services().store.end_web_session(token, services().clock())
    response = redirect(url_for("app_sign_in.sign_in", signed_out="1"), 303)
    drop_session_cookie(response)
    g.drop_session_cookie = False  # dropped already
    return response


@pages.get("/signed-in")
@signed_in_required
def signed_in() -> str:
    """Where staff land while no staff page is installed."""
    return render_template("app_signed_in.html")
