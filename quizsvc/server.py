"""Runs the app under gunicorn with the model loaded once, before workers fork.

The master loads the weights (create_app) but never runs inference: torch's thread pools do
not survive a fork, and a master that has encoded leaves every worker hanging on its first
encode. Each worker sets its own torch thread count after the fork.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


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


class QuizServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_fork", post_fork)

    def load(self) -> Flask:
        return self.application


def serve(app: Flask, host: str, port: int, workers: int, timeout: int = 120) -> None:
    QuizServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "preload_app": True,
            "timeout": timeout,
            "graceful_timeout": 30,
            "accesslog": "-",
            "errorlog": "-",
        },
    ).run()
