"""Checks every request passes before a view parses it: size, media type, JSON shape, NUL.

The limits, all answered in the usual error envelope:

- a body over ``MAX_CONTENT_LENGTH`` (1 MiB) gets 413 on every write endpoint, including
  those that take no body, whether it declares its length or comes chunked;
- under ``/v1`` (the JSON API) a non-empty body must be JSON (``application/json`` or
  ``application/*+json``): anything else, form data included, gets 415; browser-facing pages
  outside ``/v1`` (the LTI launch) take form posts, and the file uploads of
  :data:`MULTIPART_UPLOAD_PATHS` take multipart/form-data;
- a body that is not UTF-8 JSON, or nests arrays/objects deeper than
  :data:`MAX_JSON_DEPTH`, gets 400 (Python's parser would otherwise hit its recursion limit);
- the NUL character (U+0000), and lone surrogates (``"\\ud800"`` is valid JSON but no
  Unicode text), are refused with 422 naming the field, in JSON bodies, query parameters and
  path segments alike: PostgreSQL cannot store NUL in text, neither database can store a
  surrogate, and the service answers the same on every database. Other control characters,
  and all other Unicode, are stored and returned verbatim.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request

from quizsvc.api.errors import ApiError

#: Deeper JSON than any request of this API needs; far below Python's recursion limit.
MAX_JSON_DEPTH = 32
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_API_PREFIX = "/v1/"
#: JSON API endpoints that also take a file upload (multipart/form-data); their views check
#: the form fields themselves.
MULTIPART_UPLOAD_PATHS = frozenset({"/v1/decks/import"})
NUL_MESSAGE = "must not contain the NUL character (U+0000)"
SURROGATE_MESSAGE = "must be valid Unicode (a lone surrogate escape such as \\ud800 is not)"


def init_request_guards(app: Flask) -> None:
    app.before_request(check_request)
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    """On every response: browsers must not guess a type other than the one sent (a JSON
    error echoing input must never run as HTML), and no URL, which may carry an attempt id,
    leaks to other sites in Referer."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def check_request() -> None:
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        raise _too_large(limit)
    _refuse_bad_text("path", request.view_args or {})
    _refuse_bad_text("query", {name: "".join(request.args.getlist(name)) for name in request.args})
    if request.method not in WRITE_METHODS or not request.path.startswith(JSON_API_PREFIX):
        return
    body = request.get_data(cache=True)
    if not body:
        return
    if request.content_length is None and limit is not None and len(body) >= limit:
        # A chunked body has no length to check up front; the server's stream stops at the
        # limit without saying so, and the truncated JSON would read as a parse error.
        raise _too_large(limit)
    if request.mimetype == "multipart/form-data" and request.path in MULTIPART_UPLOAD_PATHS:
        return
    if not request.is_json:
        raise ApiError(
            415,
            f"Unsupported body type {request.mimetype or 'none'!r}: send JSON with "
            "'Content-Type: application/json'.",
        )
    try:
        # Decoded here, strictly: json.loads would also take UTF-16/32, which the views reject.
        document = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise _invalid_json(f"it nests deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise _invalid_json("it is not valid UTF-8") from None
    except ValueError as exc:
        raise _invalid_json(str(exc)) from None
    if _depth(document) > MAX_JSON_DEPTH:
        raise _invalid_json(f"it nests deeper than {MAX_JSON_DEPTH} levels")
    _refuse_bad_text("json", document)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"The request body is larger than the maximum of {limit} bytes ({limit / 2**20:g} MiB).",
    )


def _invalid_json(reason: str) -> ApiError:
    return ApiError(
        400, f"Invalid JSON body: {reason}.", {"json": [f"Invalid JSON body: {reason}."]}
    )


def _depth(document: Any) -> int:
    """Nesting depth without recursion: the document may be as deep as the parser allowed."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            stack.extend((item, depth + 1) for item in value)
    return deepest


def _refuse_bad_text(location: str, document: Any) -> None:
    found = _bad_text(document)
    if found is None:
        return
    path, problem = found
    errors: Any = [problem]
    for key in reversed(path):
        errors = {key: errors}
    field = ".".join(str(key) for key in path) or "body"
    raise ApiError(422, f"The request has invalid fields: {field} ({problem}).", {location: errors})


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL_MESSAGE
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def _bad_text(document: Any) -> tuple[list[str | int], str] | None:
    """The path to the first string (value or key) that cannot be stored, and why."""
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                return path, problem
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = _text_problem(key) if isinstance(key, str) else None
                if problem:
                    return [*path, key], problem
                stack.append((item, [*path, key]))
        elif isinstance(value, list):
            stack.extend((item, [*path, index]) for index, item in enumerate(value))
    return None
