"""CSV exports that open safely in a spreadsheet: one writer for every CSV the service
gives out (exam results, item statistics)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: A cell starting with one of these would run as a formula in Excel or LibreOffice.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` with a leading quote when, as text, it would start a formula (a learner id
    or an option text starting with = + - @ is data, not a formula)."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The rows as CSV under a header of ``columns`` (a column a row lacks stays empty);
    dates and times as ISO 8601, every cell made :func:`spreadsheet_safe`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: _cell(value) for column, value in row.items()})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    return spreadsheet_safe(value.isoformat() if hasattr(value, "isoformat") else value)
