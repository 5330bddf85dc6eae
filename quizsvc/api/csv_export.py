"""CSV over the API: an endpoint answers in CSV when the client prefers ``text/csv`` to
JSON in ``Accept``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from flask import Response, request

from quizsvc.spreadsheet import csv_text


def wants_csv() -> bool:
    """Whether the request's ``Accept`` prefers ``text/csv`` to ``application/json``."""
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def csv_response(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Response:
    return Response(csv_text(rows, columns), mimetype="text/csv")
