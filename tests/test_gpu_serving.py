"""GPU serving: the gunicorn master never initialises CUDA; each worker does, after the fork.

A CUDA context does not survive a fork: a master that loads the model with ``device="cuda"``
(``preload_app``) leaves every worker failing its first encode with "Cannot re-initialize
CUDA in forked subprocess". Without a GPU here, the real ``quizsvc serve`` runs with torch's
CUDA entry points replaced by recorders that write the calling process id to a file (and a
``Module.to("cuda")`` that initialises the recorded CUDA and keeps the weights where they
are), so the test sees which process would have touched CUDA.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from quizsvc.store import Store
from tests.conftest import free_port

pytestmark = [pytest.mark.http, pytest.mark.model]

#: Imported before ``quizsvc serve`` runs in the same process (the gunicorn master).
RECORDING_TORCH = textwrap.dedent(
    """
    import os
    import sys

    import torch

    LOG = os.environ["CUDA_CALL_LOG"]


    def record(name):
        with open(LOG, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {name}\\n")


    def recorder(name, result=None):
        def call(*args, **kwargs):
            record(name)
            return result

        return call


    torch.version.cuda = "12.8"
    torch.cuda.is_available = recorder("is_available", True)
    torch.cuda.device_count = recorder("device_count", 1)
    torch.cuda.init = recorder("init")
    torch.cuda._lazy_init = recorder("_lazy_init")
    move = torch.nn.Module.to


    def to(self, *args, **kwargs):
        device = args[0] if args else kwargs.get("device")
        if device is not None and str(device).startswith("cuda"):
            torch.cuda._lazy_init()  # what the real move does first
            return self
        return move(self, *args, **kwargs)


    torch.nn.Module.to = to

    from quizsvc.cli import main

    main(sys.argv[1:])
    """
)


def cuda_calls(log: Path) -> dict[int, list[str]]:
    calls: dict[int, list[str]] = {}
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            pid, name = line.split()
            calls.setdefault(int(pid), []).append(name)
    return calls


@pytest.fixture
def gpu_server(tmp_path: Path, shared_instance_dir: Path) -> Iterator[tuple[str, int, Path, str]]:
    """``quizsvc serve --workers 2`` with QUIZSVC_DEVICE=cuda under the recording torch:
    (base URL, master pid, call log, instructor key)."""
    database_url = f"sqlite:///{tmp_path / 'gpu.sqlite3'}"
    from quizsvc.migrate import upgrade

    upgrade(database_url)
    key = Store(database_url).create_key("instructor")[0]
    script = tmp_path / "recording_serve.py"
    script.write_text(RECORDING_TORCH, encoding="utf-8")
    log = tmp_path / "cuda-calls.log"
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "CUDA_CALL_LOG": str(log),
        "QUIZSVC_DEVICE": "cuda",
        # The GPU image's backend: on a GPU ``auto`` picks torch too.
        "QUIZSVC_ENCODER_BACKEND": "torch",
        "QUIZSVC_DATABASE_URL": database_url,
        "QUIZSVC_INSTANCE_DIR": str(shared_instance_dir),
        "QUIZSVC_LOG_FORMAT": "text",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    output = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, str(script), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if requests.get(f"{base}/v1/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("quizsvc serve was not ready in 120 s")
        yield base, server.pid, log, key
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        output.close()


def test_serve_never_initialises_cuda_in_the_gunicorn_master(
    gpu_server: tuple[str, int, Path, str],
) -> None:
    base, master, log, key = gpu_server
    deadline = time.monotonic() + 60
    while len(psutil.Process(master).children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = {child.pid for child in psutil.Process(master).children()}
    assert len(workers) == 2
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(4):  # both workers grade (sync workers take turns on one socket)
        graded = requests.post(
            f"{base}/v1/grade",
            json={
                "question": "What does regularization do?",
                "reference": "It penalizes large weights to reduce overfitting.",
                "answer": "It shrinks the weights so the model overfits less.",
            },
            headers=headers,
            timeout=60,
        )
        assert graded.status_code == 200, graded.text
        assert 0.0 <= graded.json()["score"] <= 1.0

    calls = cuda_calls(log)
    assert master not in calls, f"the master touched CUDA: {calls[master]}"
    for worker in workers:
        # Each worker asked for the GPU and moved the weights there itself, after the fork.
        assert calls.get(worker, [])[:2] == ["is_available", "_lazy_init"], calls


def test_cuda_is_probed_in_a_child_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from quizsvc.embedding.sentence import cuda_available_in_child

    def initialised_here() -> bool:
        raise AssertionError("torch.cuda.is_available ran in this process")

    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", initialised_here)
    # The child runs the real (CPU-only) torch here: no GPU, and nothing ran in this process.
    assert cuda_available_in_child() is False
