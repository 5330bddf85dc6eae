"""Response headers the OpenAPI document declares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Every 201 says where the new resource lives.
LOCATION: dict[str, Any] = {
    "Location": {
        "description": "The path of the resource just created.",
        "schema": {"type": "string", "format": "uri-reference"},
    }
}


def page_content_security_policy(form_action: Sequence[str], frame_ancestors: Sequence[str]) -> str:
    """The Content-Security-Policy of the service's HTML pages: nothing inline and nothing
    from elsewhere (scripts, styles, fetches and images from the service only); forms post
    to ``form_action`` and only ``frame_ancestors`` may frame a page."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "img-src 'self'",
            "base-uri 'none'",
            " ".join(["form-action", *form_action]),
            " ".join(["frame-ancestors", *frame_ancestors]),
        ]
    )
