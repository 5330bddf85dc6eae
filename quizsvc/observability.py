"""Prometheus metrics and the per-request id, latency and access log.

Every app has its own :class:`Metrics` on its own ``CollectorRegistry``, so several apps in one
process (tests, replicas) never share or clash over metric names. Under gunicorn with several
workers, set ``PROMETHEUS_MULTIPROC_DIR`` before the app is built (``quizsvc serve`` does):
each worker then writes its values to files there and ``/metrics`` reports the sum over all
workers, whichever worker answers. Without it each worker reports only its own numbers.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from quizsvc.embedding import Encoder
from quizsvc.embedding.base import Vectors

EXTENSION_KEY = "quizsvc.metrics"
METRICS_PATH = "/metrics"
REQUEST_ID_HEADER = "X-Request-ID"
#: A client's request id is echoed only when short and made of safe characters (it lands in
#: logs and headers); otherwise the service makes its own.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
METRICS_ACCESS = ("public", "admin")

access_log = logging.getLogger("quizsvc.access")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The service's metrics, registered on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.request_latency = Histogram(
            "quizsvc_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status.",
            ["endpoint", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.grading_latency = Histogram(
            "quizsvc_grading_duration_seconds",
            "Time to grade: a whole attempt (submit, expiry) or one ad-hoc answer (grade).",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.encode_batch_size = Histogram(
            "quizsvc_encode_batch_size",
            "Texts per call to the embedding model.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.encode_latency = Histogram(
            "quizsvc_encode_duration_seconds",
            "Time per call to the embedding model.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.attempts_started = Counter(
            "quizsvc_attempts_started", "Attempts started.", registry=self.registry
        )
        self.attempts_submitted = Counter(
            "quizsvc_attempts_submitted",
            "Attempts graded because the learner submitted.",
            registry=self.registry,
        )
        self.attempts_expired = Counter(
            "quizsvc_attempts_expired",
            "Attempts graded because their time ran out.",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The text format; summed over all workers in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class MeteredEncoder:
    """An :class:`Encoder` that records each call's batch size and duration."""

    def __init__(self, encoder: Encoder, metrics: Metrics) -> None:
        self.inner = encoder
        self.metrics = metrics

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        started = time.perf_counter()
        try:
            return self.inner.encode(texts)
        finally:
            self.metrics.encode_latency.observe(time.perf_counter() - started)
            self.metrics.encode_batch_size.observe(len(texts))

    def __getattr__(self, name: str) -> Any:
        # Backend extras (``device``, ...) stay reachable, as /ready reads the device.
        return getattr(self.inner, name)


def enable_multiprocess(directory: Path) -> None:
    """Share metrics between pre-forked workers through files in ``directory`` (emptied).

    Call before the app (and its metrics) is built; ``quizsvc serve`` does with 2+ workers.
    """
    from prometheus_client import values

    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    # prometheus_client picks its value store on import; pick again now the variable is set.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def metrics_of(app: Flask) -> Metrics:
    found: Metrics = app.extensions[EXTENSION_KEY]
    return found


def request_id() -> str:
    """The current request's id (empty outside a request)."""
    value: str = g.get("request_id", "")
    return value


def init_observability(app: Flask, metrics: Metrics, metrics_access: str = "public") -> None:
    """Request ids, latency metrics and one access log line per request, and ``GET /metrics``.

    ``metrics_access`` is ``public`` (no key needed: scrapers usually hold none, and the
    numbers reveal no learner data) or ``admin`` (an admin API key).
    """
    if metrics_access not in METRICS_ACCESS:
        raise ValueError(
            f"QUIZSVC_METRICS_ACCESS must be one of {', '.join(METRICS_ACCESS)}, "
            f"got {metrics_access!r}"
        )
    app.extensions[EXTENSION_KEY] = metrics

    def _start() -> None:
        g.request_started = time.perf_counter()
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if REQUEST_ID_PATTERN.fullmatch(given) else uuid.uuid4().hex

    # Before every other hook, so rejected and rate-limited requests are counted and logged.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)

    @app.after_request
    def _finish(response: Response) -> Response:
        started = g.get("request_started")
        duration = time.perf_counter() - started if started is not None else 0.0
        rule = request.url_rule
        endpoint = rule.rule if rule is not None else "unmatched"
        metrics.request_latency.labels(endpoint, request.method, str(response.status_code)).observe(
            duration
        )
        response.headers[REQUEST_ID_HEADER] = request_id()
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(duration * 1000, 2),
            },
        )
        return response

    def _metrics() -> Response:
        if metrics_access == "admin":
            from quizsvc.api.auth import current_principal
            from quizsvc.api.errors import ApiError

            if current_principal().role != "admin":
                raise ApiError(403, "Metrics need an admin API key (QUIZSVC_METRICS_ACCESS=admin).")
        return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)

    app.add_url_rule(METRICS_PATH, "metrics", _metrics, methods=["GET"])
