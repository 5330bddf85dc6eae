"""Metrics (/metrics), request ids and structured logs."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from quizsvc.config import Settings
from quizsvc.embedding import Encoder
from quizsvc.logs import JsonFormatter, RequestIdFilter, configure_logging
from quizsvc.observability import Metrics, metrics_of
from tests.conftest import FakeClock

pytestmark = pytest.mark.model

Headers = dict[str, str]
EXAM_ROUTE = "/v1/exams/<string:exam_id>"


@pytest.fixture
def make_app(tmp_path: Path, shared_instance_dir: Path, model: Encoder) -> Callable[..., Flask]:
    def make(**overrides: Any) -> Flask:
        from quizsvc.app import create_app

        clock = overrides.pop("clock", None) or FakeClock()
        settings = Settings.from_env(
            instance_dir=shared_instance_dir,
            database_url=f"sqlite:///{tmp_path / 'quizsvc.sqlite3'}",
            **{"rate_limit": "100000/minute", **overrides},
        )
        return create_app({"SETTINGS": settings, "ENCODER": model, "CLOCK": clock})

    return make


@pytest.fixture
def obs_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def obs_app(make_app: Callable[..., Flask], obs_clock: FakeClock) -> Flask:
    return make_app(clock=obs_clock)


def key(app: Flask, role: str, learner_id: str | None = None) -> Headers:
    return {
        "Authorization": f"Bearer {app.extensions['quizsvc'].store.create_key(role, learner_id)[0]}"
    }


def sample(app: Flask, name: str, **labels: str) -> float:
    value = metrics_of(app).registry.get_sample_value(name, labels)
    return value or 0.0


def scraped(client: FlaskClient) -> dict[str, Any]:
    """The /metrics page parsed: family name -> samples."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {
        family.name: family.samples
        for family in text_string_to_metric_families(response.get_data(as_text=True))
    }


# -- /metrics ---------------------------------------------------------------------------------


def test_metrics_page_is_public_by_default_and_lists_every_metric(obs_app: Flask) -> None:
    families = scraped(obs_app.test_client())
    for name in (
        "quizsvc_request_duration_seconds",
        "quizsvc_grading_duration_seconds",
        "quizsvc_encode_batch_size",
        "quizsvc_encode_duration_seconds",
        "quizsvc_attempts_started",
        "quizsvc_attempts_submitted",
        "quizsvc_attempts_expired",
    ):
        assert name in families, sorted(families)


def test_request_latency_is_labelled_by_route_template_not_raw_path(obs_app: Flask) -> None:
    client = obs_app.test_client()
    staff = key(obs_app, "instructor")
    for exam_id in ("first-missing", "second-missing"):
        assert client.get(f"/v1/exams/{exam_id}", headers=staff).status_code == 404
    assert client.get("/v1/decks", headers=staff).status_code == 200
    assert client.get("/no/such/route").status_code == 404

    count = "quizsvc_request_duration_seconds_count"
    assert sample(obs_app, count, endpoint=EXAM_ROUTE, method="GET", status="404") == 2
    assert sample(obs_app, count, endpoint="/v1/decks", method="GET", status="200") == 1
    assert sample(obs_app, count, endpoint="unmatched", method="GET", status="404") == 1

    samples = scraped(client)["quizsvc_request_duration_seconds"]
    endpoints = {s.labels["endpoint"] for s in samples}
    assert EXAM_ROUTE in endpoints
    assert not any("missing" in endpoint for endpoint in endpoints)
    buckets = [
        s for s in samples if s.name.endswith("_bucket") and s.labels["endpoint"] == EXAM_ROUTE
    ]
    assert buckets[-1].labels["le"] == "+Inf"
    assert buckets[-1].value == 2


def test_attempt_counters_and_grading_latency(obs_app: Flask, obs_clock: FakeClock) -> None:
    client = obs_app.test_client()
    staff = key(obs_app, "instructor")
    learner = key(obs_app, "learner", "ada")
    exams = [
        client.post(
            "/v1/exams",
            json={"counts": {"free_answer": 1}, "seed": seed, "time_limit_seconds": 60},
            headers=staff,
        ).get_json()["id"]
        for seed in (1, 2)
    ]
    batches_before = sample(obs_app, "quizsvc_encode_batch_size_count")

    attempt = client.post(f"/v1/exams/{exams[0]}/attempts", headers=learner).get_json()
    assert sample(obs_app, "quizsvc_attempts_started_total") == 1
    resumed = client.post(f"/v1/exams/{exams[0]}/attempts", headers=learner)
    assert resumed.status_code == 200
    assert sample(obs_app, "quizsvc_attempts_started_total") == 1  # resumed, not started

    question = attempt["questions"][0]["id"]
    client.put(
        f"/v1/attempts/{attempt['id']}/responses/{question}",
        json={"answer": "It penalises large weights to reduce overfitting."},
        headers=learner,
    )
    for _ in range(2):
        submitted = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner)
        assert submitted.status_code == 200
    assert sample(obs_app, "quizsvc_attempts_submitted_total") == 1  # graded once
    assert sample(obs_app, "quizsvc_grading_duration_seconds_count", kind="submit") == 1
    assert sample(obs_app, "quizsvc_encode_batch_size_count") > batches_before

    expiring = client.post(f"/v1/exams/{exams[1]}/attempts", headers=learner).get_json()
    assert sample(obs_app, "quizsvc_attempts_started_total") == 2
    obs_clock.advance(3600)
    assert (
        client.get(f"/v1/attempts/{expiring['id']}", headers=learner).get_json()["finalized_by"]
        == "expiry"
    )
    client.get(f"/v1/attempts/{expiring['id']}", headers=learner)
    assert sample(obs_app, "quizsvc_attempts_expired_total") == 1
    assert sample(obs_app, "quizsvc_attempts_submitted_total") == 1
    assert sample(obs_app, "quizsvc_grading_duration_seconds_count", kind="expiry") == 1

    families = scraped(client)
    started = [s for s in families["quizsvc_attempts_started"] if s.name.endswith("_total")]
    assert [s.value for s in started] == [2.0]


def test_ad_hoc_grading_records_latency_and_encode_batch_sizes(obs_app: Flask) -> None:
    client = obs_app.test_client()
    staff = key(obs_app, "instructor")
    before_count = sample(obs_app, "quizsvc_encode_batch_size_count")
    before_sum = sample(obs_app, "quizsvc_encode_batch_size_sum")
    graded = client.post(
        "/v1/grade",
        json={
            "reference": "L2 regularization penalises large weights.",
            "key_points": ["penalises large weights", "reduces overfitting"],
            "answer": "It keeps the weights small so the model overfits less.",
        },
        headers=staff,
    )
    assert graded.status_code == 200, graded.get_json()
    assert sample(obs_app, "quizsvc_grading_duration_seconds_count", kind="grade") == 1
    assert sample(obs_app, "quizsvc_grading_duration_seconds_sum", kind="grade") > 0
    calls = sample(obs_app, "quizsvc_encode_batch_size_count") - before_count
    texts = sample(obs_app, "quizsvc_encode_batch_size_sum") - before_sum
    assert calls >= 1
    assert texts >= calls  # several texts share a call
    assert sample(obs_app, "quizsvc_encode_duration_seconds_count") >= calls


def test_each_app_counts_on_its_own_registry(make_app: Callable[..., Flask]) -> None:
    first, second = make_app(), make_app()
    first.test_client().get("/v1/health")
    first.test_client().get("/v1/health")
    second.test_client().get("/v1/health")
    count = "quizsvc_request_duration_seconds_count"
    labels = {"endpoint": "/v1/health", "method": "GET", "status": "200"}
    assert sample(first, count, **labels) == 2
    assert sample(second, count, **labels) == 1
    assert isinstance(metrics_of(first), Metrics)
    assert metrics_of(first).registry is not metrics_of(second).registry


def test_metrics_are_not_rate_limited(make_app: Callable[..., Flask]) -> None:
    app = make_app(rate_limit="2/minute")
    client = app.test_client()
    staff = key(app, "instructor")
    statuses = [client.get("/v1/decks", headers=staff).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert {client.get("/metrics", headers=staff).status_code for _ in range(5)} == {200}


def test_metrics_can_be_admin_only(make_app: Callable[..., Flask]) -> None:
    app = make_app(metrics_access="admin")
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=key(app, "learner", "ada")).status_code == 403
    response = client.get("/metrics", headers=key(app, "admin"))
    assert response.status_code == 200
    assert b"quizsvc_request_duration_seconds" in response.data
    with pytest.raises(ValueError, match="QUIZSVC_METRICS_ACCESS"):
        make_app(metrics_access="everyone")


def test_multiprocess_mode_sums_over_worker_processes(tmp_path: Path) -> None:
    """As under gunicorn: metrics made before fork, counted in children, read by any of them."""
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from quizsvc.observability import Metrics, enable_multiprocess

        enable_multiprocess(Path({str(tmp_path / "multiproc")!r}))
        metrics = Metrics()
        children = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                metrics.attempts_started.inc()
                metrics.encode_batch_size.observe(8)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        print(metrics.exposition().decode())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    families = {f.name: f.samples for f in text_string_to_metric_families(done.stdout)}
    started = [s for s in families["quizsvc_attempts_started"] if s.name.endswith("_total")]
    assert [s.value for s in started] == [3.0]
    batch = {
        s.name: s.value for s in families["quizsvc_encode_batch_size"] if not s.labels.get("le")
    }
    assert batch["quizsvc_encode_batch_size_count"] == 3
    assert batch["quizsvc_encode_batch_size_sum"] == 24


# -- request ids and logs ---------------------------------------------------------------------


def test_request_id_is_echoed_or_generated(obs_app: Flask) -> None:
    client = obs_app.test_client()
    given = client.get("/v1/health", headers={"X-Request-ID": "trace-42.a_b:c"})
    assert given.headers["X-Request-ID"] == "trace-42.a_b:c"
    generated = {client.get("/v1/health").headers["X-Request-ID"] for _ in range(3)}
    assert len(generated) == 3
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in generated)
    for unsafe in ("x" * 65, "a b", "<script>", "id;rm -rf", "ünï"):
        echoed = client.get("/v1/health", headers={"X-Request-ID": unsafe}).headers["X-Request-ID"]
        assert echoed != unsafe
        assert len(echoed) == 32
    # Errors, including those refused before any view runs, carry it too.
    missing = client.get("/v1/exams/nope", headers={"X-Request-ID": "err-1"})
    assert (missing.status_code, missing.headers["X-Request-ID"]) == (401, "err-1")
    too_big = client.post(
        "/v1/grade",
        data=b"x" * (1024 * 1024 + 1),
        headers={"X-Request-ID": "big-1", "Content-Type": "application/json"},
    )
    assert (too_big.status_code, too_big.headers["X-Request-ID"]) == (413, "big-1")


@pytest.fixture
def json_log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Installs the JSON log handler; each call returns the lines written since the last."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging("json", stream=stream)

    def lines() -> list[dict[str, Any]]:
        text = stream.getvalue()
        stream.seek(0)
        stream.truncate()
        return [json.loads(line) for line in text.splitlines() if line]

    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


def test_access_log_is_one_json_object_per_request(
    obs_app: Flask, json_log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    client = obs_app.test_client()
    staff = key(obs_app, "instructor")
    json_log_lines()
    client.get("/v1/exams/unknown", headers={**staff, "X-Request-ID": "req-7"})
    access = [line for line in json_log_lines() if line["logger"] == "quizsvc.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "req-7"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/v1/exams/unknown", 404)
    assert line["level"] == "INFO"
    assert line["message"] == "GET /v1/exams/unknown 404"
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert line["timestamp"].endswith("+00:00")


def test_records_logged_during_a_request_carry_its_id(
    obs_app: Flask, json_log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    @obs_app.get("/_test/log")
    def _log() -> str:
        logging.getLogger("quizsvc.test").warning("inside %s", "view")
        return "ok"

    json_log_lines()
    obs_app.test_client().get("/_test/log", headers={"X-Request-ID": "inner-1"})
    inner = [line for line in json_log_lines() if line["logger"] == "quizsvc.test"]
    assert inner == [
        {
            "timestamp": inner[0]["timestamp"],
            "level": "WARNING",
            "logger": "quizsvc.test",
            "message": "inside view",
            "request_id": "inner-1",
        }
    ]


def test_log_formats() -> None:
    record = logging.LogRecord("quizsvc.x", logging.ERROR, __file__, 1, "boom %d", (7,), None)
    RequestIdFilter().filter(record)
    assert record.request_id == ""  # outside a request
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == ("ERROR", "quizsvc.x", "boom 7")
    assert "request_id" not in line
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("text")
    try:
        assert "%(request_id)s" in handler.formatter._fmt  # type: ignore[union-attr]
        assert root.handlers.count(handler) == 1
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    with pytest.raises(ValueError, match="QUIZSVC_LOG_FORMAT"):
        configure_logging("xml")
