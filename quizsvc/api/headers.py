"""Response headers the OpenAPI document declares."""

from __future__ import annotations

from typing import Any

#: Every 201 says where the new resource lives.
LOCATION: dict[str, Any] = {
    "Location": {
        "description": "The path of the resource just created.",
        "schema": {"type": "string", "format": "uri-reference"},
    }
}
