"""Page-number pagination, the same for every listing: ``?page=&page_size=`` in, a page out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marshmallow import Schema, fields, validate

MAX_PAGE_SIZE = 100


class PageQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class PageSchema(Schema):
    """A page of a listing; subclasses declare ``items``."""

    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)


def offset_of(query: dict[str, Any]) -> int:
    """How many items come before the requested page."""
    return int((query["page"] - 1) * query["page_size"])


def page_of(items: Sequence[Any], total: int, query: dict[str, Any]) -> dict[str, Any]:
    return {
        "items": list(items),
        "total": total,
        "page": query["page"],
        "page_size": query["page_size"],
    }
