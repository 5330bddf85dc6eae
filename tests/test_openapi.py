from __future__ import annotations

from pathlib import Path

import yaml
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from quizsvc.api.spec import SPEC_PATH, render_spec, spec_app


def test_committed_spec_matches_the_code(tmp_path: Path) -> None:
    generated = render_spec(spec_app(tmp_path))
    committed = SPEC_PATH.read_text(encoding="utf-8") if SPEC_PATH.exists() else ""
    assert committed == generated, (
        "api_spec/openapi.yaml is stale: run `.venv/bin/quizsvc openapi --output "
        "api_spec/openapi.yaml` and commit it"
    )


def test_committed_spec_is_valid_openapi() -> None:
    validate(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


def test_spec_is_served(client: FlaskClient) -> None:
    served = client.get("/v1/openapi.json")
    assert served.status_code == 200
    assert (
        served.get_json()["paths"].keys() == yaml.safe_load(SPEC_PATH.read_text())["paths"].keys()
    )
