"""GPU serving: ``quizsvc serve`` with 2 gunicorn workers on the GPU grades 1,000 answers over
HTTP; the same on the CPU in the same run, for the ratio.

The gunicorn master loads the weights on the CPU and never initialises CUDA; each worker
moves them to the GPU after the fork (quizsvc/server.py). A master that did initialise CUDA
would leave every worker failing its first encode ("Cannot re-initialize CUDA in forked
subprocess"), so this run also checks that every answer was graded (200) by a server whose
``/v1/ready`` reports the CUDA device.

Each answer is ``POST /v1/grade`` of a bank card with a learner's answer (distinct texts, so
no cache helps), from ``CLIENTS`` concurrent clients. Where torch sees no GPU the script says
so and exits 0 (it runs where an accelerator is lent).

Run: ``.venv/bin/python bench/gpu_serving.py`` (about a minute on a GPU machine).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cluster

ANSWERS = 1000
CLIENTS = 16
WORKERS = 2
#: Where torch sees no GPU: printed, and the exit status stays 0.
NO_CUDA = "gpu_serving: torch sees no CUDA device here; nothing to measure (run it on a GPU)"


@dataclass(frozen=True)
class ServingResult:
    device: str
    backend: str
    answers: int
    seconds: float
    failures: int

    @property
    def throughput(self) -> float:
        return self.answers / self.seconds


def cuda_available() -> bool:
    """Asked in a child process, as the server's master does (nothing here needs CUDA)."""
    from quizsvc.embedding.sentence import cuda_available_in_child

    return cuda_available_in_child()


def grade_answers(url: str, key: str, count: int) -> tuple[float, int]:
    from quizsvc.bank import load_bank
    from quizsvc.config import Settings

    cards = list(load_bank(Settings.from_env().bank_dir).cards)[:50]
    headers = {"Authorization": f"Bearer {key}"}

    def grade(index: int) -> int:
        card = cards[index % len(cards)]
        body: dict[str, Any] = {
            "card_id": card.id,
            "answer": f"{card.answer.split('.')[0]} (answer {index}, in the learner's words)",
        }
        try:
            reply = requests.post(f"{url}/v1/grade", json=body, headers=headers, timeout=120)
        except requests.RequestException:
            return 0
        return reply.status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(grade, range(2 * CLIENTS)))  # warm-up: every worker's first encode
        began = time.perf_counter()
        statuses = list(pool.map(grade, range(count)))
        seconds = time.perf_counter() - began
    return seconds, sum(status != 200 for status in statuses)


def serve_and_grade(device: str, folder: Path, count: int = ANSWERS) -> ServingResult:
    from quizsvc.migrate import upgrade
    from quizsvc.store import Store

    database_url = f"sqlite:///{folder / f'gpu-{device}.sqlite3'}"
    upgrade(database_url)
    key = Store(database_url).create_key("instructor")[0]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "QUIZSVC_DATABASE_URL": database_url,
        "QUIZSVC_DEVICE": device,
        "QUIZSVC_ENCODER_BACKEND": "auto",  # torch on the GPU, ONNX Runtime int8 on a CPU
        "QUIZSVC_RATE_LIMIT": "1000000/minute",
        "QUIZSVC_LOG_FORMAT": "text",
    }
    instance = cluster.start_instance(env, WORKERS, folder)
    try:
        cluster.wait_ready(instance.url, [instance.process], cluster.READY_TIMEOUT)
        ready = requests.get(f"{instance.url}/v1/ready", timeout=10).json()
        seconds, failures = grade_answers(instance.url, key, count)
    except Exception:
        print(f"server output (tail):\n{instance.tail()}", file=sys.stderr)
        raise
    finally:
        instance.stop()
    encoder = ready.get("encoder") if isinstance(ready, dict) else None
    return ServingResult(
        device=str(ready.get("device", device)) if isinstance(ready, dict) else device,
        backend=str(encoder),
        answers=count,
        seconds=seconds,
        failures=failures,
    )


def main() -> list[ServingResult]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not cuda_available():
        print(NO_CUDA)
        return []
    results = []
    with tempfile.TemporaryDirectory(prefix="quizsvc-gpu-") as temp:
        for device in ("cuda", "cpu"):
            result = serve_and_grade(device, Path(temp))
            results.append(result)
            print(
                f"{device}: {result.answers} answers graded over HTTP by {WORKERS} workers "
                f"(/v1/ready: device {result.device}, encoder {result.backend}) in "
                f"{result.seconds:.1f} s = {result.throughput:.0f} answers/s, "
                f"{result.failures} failures"
            )
    gpu, cpu = results
    print(
        f"GPU / CPU throughput: {gpu.throughput / cpu.throughput:.2f}x "
        f"({gpu.throughput:.0f} vs {cpu.throughput:.0f} answers/s)"
    )
    if gpu.failures or cpu.failures:
        raise SystemExit("some answers were not graded (see the failures above)")
    return results


if __name__ == "__main__":
    main()
    sys.exit(0)
