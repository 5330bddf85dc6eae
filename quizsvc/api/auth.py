"""API keys as ``Authorization: Bearer <key>`` and role checks."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from quizsvc.api.errors import ApiError
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
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
    principal = services().store.principal_for(key.strip())
    if principal is None:
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


def authenticated(view: F) -> F:
    return roles_required("admin", "instructor", "learner")(view)


def is_staff(principal: Principal) -> bool:
    return principal.role in STAFF
