"""Runs the app under gunicorn with the model loaded once, before workers fork.

The master loads the weights (create_app) but never runs inference: torch's thread pools do
not survive a fork, and a master that has encoded leaves every worker hanging on its first
encode. Each worker sets its own torch thread count after the fork. Nor does the master ever
initialise CUDA (a CUDA context does not survive a fork either): with ``QUIZSVC_DEVICE=cuda``
it loads the weights on the CPU, and each worker moves them to the GPU after the fork
(``on_worker_start``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from flask import Flask
from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as gunicorn_errors
from gunicorn.workers.sync import SyncWorker

#: Requests gunicorn refuses before the app sees them, and the status each gets.
_REFUSED_BEFORE_THE_APP: tuple[tuple[type[Exception], int], ...] = (
    (gunicorn_errors.LimitRequestLine, 414),
    (gunicorn_errors.LimitRequestHeaders, 431),
    (gunicorn_errors.InvalidRequestLine, 400),
    (gunicorn_errors.InvalidRequestMethod, 400),
    (gunicorn_errors.InvalidHTTPVersion, 400),
    (gunicorn_errors.InvalidHeader, 400),
    (gunicorn_errors.InvalidHeaderName, 400),
)


class JsonErrorWorker(SyncWorker):  # type: ignore[misc]
    """gunicorn's sync worker, answering the requests it refuses itself (a request line
    over 4094 bytes, oversized headers, a malformed request line) in the API's JSON error
    envelope instead of gunicorn's HTML page; everything else is gunicorn's own handling."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status = next(
            (code for kind, code in _REFUSED_BEFORE_THE_APP if isinstance(exc, kind)), None
        )
        if status is None:
            super().handle_error(req, client, addr, exc)
            return
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        phrase = HTTPStatus(status).phrase
        body = json.dumps(
            {"code": status, "status": phrase, "message": f"{phrase}: {exc}", "errors": {}}
        ).encode()
        head = (
            f"HTTP/1.1 {status} {phrase}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        try:
            gunicorn_util.write_nonblock(client, head + body)
        except OSError:
            self.log.debug("Failed to send the error response.")


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    return max(1, (cpus or os.cpu_count() or 1) // max(1, workers))


def post_fork(server: Any, worker: Any) -> None:
    import torch

    torch.set_num_threads(threads_per_worker(server.cfg.workers))
    # Database connections the master opened (migrations, start-up checks) must not be shared
    # by the workers: SQLAlchemy's documented fork recipe drops them from the child's pool.
    from quizsvc.api.services import EXTENSION_KEY

    services = server.app.application.extensions.get(EXTENSION_KEY)
    if services is not None:
        services.store.engine.dispose(close=False)
    if server.app.on_worker_start is not None:
        server.app.on_worker_start()


class QuizServer(BaseApplication):  # type: ignore[misc]
    def __init__(
        self,
        app: Flask,
        options: dict[str, Any],
        on_worker_start: Callable[[], object] | None = None,
    ) -> None:
        self.application = app
        self.options = options
        #: Runs in each worker right after the fork (the master never runs it).
        self.on_worker_start = on_worker_start
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_fork", post_fork)

    def load(self) -> Flask:
        return self.application


def serve(
    app: Flask,
    host: str,
    port: int,
    workers: int,
    timeout: int = 120,
    on_worker_start: Callable[[], object] | None = None,
) -> None:
    QuizServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "quizsvc.server.JsonErrorWorker",
            "preload_app": True,
            "timeout": timeout,
            "graceful_timeout": 30,
            "accesslog": "-",
            "errorlog": "-",
        },
        on_worker_start,
    ).run()
