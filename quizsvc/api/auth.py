"""API keys as ``Authorization: Bearer <key>`` and role checks."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from quizsvc.api.errors import ApiError
from quizsvc.api.ratelimit import auth_failures
from quizsvc.api.services import services
from quizsvc.store import Principal

F = TypeVar("F", bound=Callable[..., Any])

STAFF = ("admin", "instructor")


def current_principal() -> Principal:
    principal: Principal | None = g.get("principal")
    if principal is None:
        principal = _authenticate()
        g.principal = principal
    return principal


def _authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    store = services().store
    failures = auth_failures()
    # Checked before the lookup, so that a client guessing keys costs no database query once
    # over the limit. A key this worker verified recently skips the check: a client that
    # authenticated fine is not locked out by others failing behind the same address.
    if not (key and store.recently_verified(key)):
        retry_after = failures.retry_after()
        if retry_after is not None:
            g.retry_after = retry_after  # the request limit's headers would replace it
            raise ApiError(
                429,
                "Too many failed authentications from this address; "
                f"retry in {retry_after} s with a valid API key.",
                headers={"Retry-After": str(retry_after)},
            )
    if scheme.lower() != "bearer" or not key:
        failures.record()
        raise _unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
    principal = store.principal_for(key)
    if principal is None:
        failures.record()
        raise _unauthorized("Invalid or revoked API key.")
    return principal


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer realm="quizsvc"'})


def roles_required(*roles: str) -> Callable[[F], F]:
    """401 without a valid key; 403 when its role is not one of ``roles``."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal.role not in roles:
                raise ApiError(403, f"This operation needs one of the roles: {', '.join(roles)}.")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


#: Set by :func:`learner_write_confirmed_by_statement`: the id of a key taken from memory,
#: which the request's write must confirm unrevoked in its own statement.
UNCONFIRMED_KEY = "unconfirmed_key_id"


def learner_write_confirmed_by_statement(view: F) -> F:
    """``roles_required("learner")`` for a write whose statement checks the key itself (the
    autosave: ``save_response(key_id=...)``), so that it costs one round trip, not two.

    A key this worker verified within ``PRINCIPAL_CACHE_SECONDS`` comes from memory and its
    id is left in ``g`` for the write (:func:`unconfirmed_key_id`); when the write finds it
    revoked, the view calls :func:`confirm_key`, which answers 401 as any request would. Any
    other key is looked up first, as everywhere else.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        remembered = (
            services().store.remembered_principal(key.strip())
            if scheme.lower() == "bearer" and key.strip() and g.get("principal") is None
            else None
        )
        if remembered is not None and remembered.role == "learner":
            g.principal = remembered
            setattr(g, UNCONFIRMED_KEY, remembered.key_id)
            return view(*args, **kwargs)
        return roles_required("learner")(view)(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def unconfirmed_key_id() -> int | None:
    """The key the request's write must confirm unrevoked, or None (already confirmed)."""
    key_id: int | None = g.get(UNCONFIRMED_KEY)
    return key_id


def confirm_key() -> None:
    """Look the key up after a write that refused it: 401 (and a counted failure) when it is
    revoked; otherwise the key is confirmed and the refusal had another reason."""
    g.pop(UNCONFIRMED_KEY, None)
    g.principal = _authenticate()


def authenticated(view: F) -> F:
    return roles_required("admin", "instructor", "learner")(view)


def is_staff(principal: Principal) -> bool:
    return principal.role in STAFF
