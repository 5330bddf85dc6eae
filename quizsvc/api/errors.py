"""One JSON error envelope, ``{code, status, message, errors}``, for every 4xx and 5xx."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from quizsvc.store import StoreUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class ApiError(HTTPException):
    """An HTTP error with a message and optional per-field errors."""

    def __init__(
        self,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description=message)
        self.code = code
        self.errors = errors or {}
        self.extra_headers = headers or {}


def error_response(code: int, message: str, errors: dict[str, Any] | None = None) -> Response:
    response = jsonify(
        {
            "code": code,
            "status": HTTPStatus(code).phrase,
            "message": message,
            "errors": errors or {},
        }
    )
    response.status_code = code
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        response = error_response(error.code or 400, error.description or "", error.errors)
        response.headers.update(error.extra_headers)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        code = error.code or 500
        errors: dict[str, Any] = {}
        # webargs/flask-smorest attach per-field validation messages here.
        data = getattr(error, "data", None) or {}
        messages = data.get("messages") if isinstance(data, dict) else None
        if messages:
            # {"json": {...}} / {"query": {...}}: keep the location so the field is unambiguous
            errors = messages
        message = error.description or ""
        if code == 422 and errors:
            message = "The request has invalid fields: " + ", ".join(_field_paths(errors))
        response = error_response(code, message, errors)
        for header, value in error.get_headers():
            if header.lower() in {"retry-after", "allow", "www-authenticate"}:
                response.headers[header] = value
        return response

    @app.errorhandler(StoreUnavailable)
    def _store_unavailable(error: StoreUnavailable) -> Response:
        log.warning("database unavailable: %s", error)
        response = error_response(
            503, "The database is temporarily unavailable; retry shortly. Nothing was lost."
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        g.retry_after = RETRY_AFTER_SECONDS  # the rate limiter would overwrite the header
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return _http_error(error)
        log.exception("unhandled error")
        return error_response(500, InternalServerError.description or "Internal server error")


def _field_paths(errors: dict[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, value in errors.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key in {"json", "query", "form", "headers", "files", "view_args"} and not prefix:
            path = ""
        if isinstance(value, dict):
            paths.extend(_field_paths(value, path))
        else:
            paths.append(path or str(key))
    return paths
