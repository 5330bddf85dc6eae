"""The OpenAPI document, generated from the marshmallow schemas and committed to api_spec/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from flask import Flask

from quizsvc.config import PROJECT_ROOT, Settings
from quizsvc.embedding import HashingEncoder

SPEC_PATH = PROJECT_ROOT / "api_spec" / "openapi.yaml"


def spec_app(instance_dir: Path) -> Flask:
    """An app good only for rendering the spec: no model, no migrations, a throwaway database."""
    from quizsvc.app import create_app

    settings = Settings.from_env(instance_dir=instance_dir, database_url="sqlite://")
    return create_app({"SETTINGS": settings, "ENCODER": HashingEncoder(), "MIGRATE": False})


def spec_dict(app: Flask) -> dict[str, Any]:
    with app.app_context():
        spec: dict[str, Any] = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    return spec


def render_spec(app: Flask) -> str:
    return yaml.safe_dump(spec_dict(app), sort_keys=True, allow_unicode=True, width=100)
