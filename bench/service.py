"""The served API under load: ``python -m quizsvc serve --workers 2`` (gunicorn, preloaded app)
on a throwaway PostgreSQL database (closer to production than SQLite for concurrent writes;
SQLite is used only when PostgreSQL is unreachable, and the report says so).

Measured in one run, against one server:

* cold start: process start until ``GET /v1/ready`` answers 200;
* hello world: ``GET /v1/health`` at 50 concurrent clients (throughput, p50, p99), sequential
  latency;
* autosave: ``PUT /v1/attempts/{id}/responses/{qid}`` at 50 concurrent clients, each a learner
  with their own key and attempt;
* exam build: ``POST /v1/exams`` with 65 mixed questions, sequential latency (after warm-up
  builds have filled the bank embedding cache);
* RSS (and unique memory) of each gunicorn worker after the load.

The load generator is a thread pool in this process, one ``requests.Session`` per client; it
shares the machine's cores (and its own GIL) with the server, so absolute throughputs are
lower bounds; the ratios compare two endpoints under the same handicap. The per-key rate limit
is raised for the run (it would otherwise answer 429s, which measure nothing).

Run: ``.venv/bin/python bench/service.py`` (1-3 minutes on 2 CPU cores).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from quizsvc.config import Settings
from quizsvc.embedding.factory import resolve_backend

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
CLIENTS = 50
REQUESTS_PER_CLIENT = 60
WARM_UP_PER_CLIENT = 5
WORKERS = 2
BUILD_ROUNDS = 10
LATENCY_ROUNDS = 200
#: The 65 questions of bench/exam_build.py (few list cards make a multiple-response question
#: whose wrong items are known wrong, and one exam's questions take none from each other).
EXAM_COUNTS = {
    "multiple_choice": 30,
    "multiple_response": 3,
    "fill_in": 12,
    "free_answer": 12,
    "reverse_multiple_choice": 8,
}
AUTOSAVE_COUNTS = {"free_answer": 10}
READY_TIMEOUT = 180.0


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float] = field(repr=False)
    failures: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def p50(self) -> float:
        return self.percentile(0.50)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


@dataclass
class ServiceReport:
    database: str
    backend: str
    cold_start_s: float
    health: LoadResult
    autosave: LoadResult
    hello_latency_ms: float
    build_latency_ms: float
    worker_rss_mb: list[float]
    worker_uss_mb: list[float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def throwaway_database() -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, kind): a fresh PostgreSQL database, dropped afterwards; else SQLite."""
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except Exception as exc:
        print(f"PostgreSQL unreachable ({exc}); falling back to SQLite", file=sys.stderr)
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}", "SQLite"
        return
    name = f"quizsvc_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", "PostgreSQL"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_load(
    clients: int,
    requests_per_client: int,
    call: Callable[[requests.Session, int, int], requests.Response],
) -> LoadResult:
    """``clients`` threads, each with its own session, each making its requests back to back."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        nonlocal failures
        own: list[float] = []
        failed = 0
        with requests.Session() as session:
            start.wait()
            for number in range(requests_per_client):
                began = time.perf_counter()
                response = call(session, index, number)
                own.append(time.perf_counter() - began)
                failed += response.status_code != 200
        with lock:
            latencies.extend(own)
            failures += failed

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client, index) for index in range(clients)]
        start.wait()
        began = time.perf_counter()
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - began
    return LoadResult(len(latencies), elapsed, latencies, failures)


def sequential_ms(call: Callable[[], requests.Response], rounds: int) -> float:
    durations = []
    for _ in range(rounds):
        began = time.perf_counter()
        response = call()
        durations.append(time.perf_counter() - began)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return statistics.median(durations) * 1000


def wait_ready(base: str, server: subprocess.Popen[bytes], started: float) -> float:
    while time.perf_counter() - started < READY_TIMEOUT:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before it was ready")
        try:
            if requests.get(f"{base}/v1/ready", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or a worker still importing
        time.sleep(0.05)
    raise RuntimeError(f"the server was not ready after {READY_TIMEOUT:.0f} s")


def measure(
    settings: Settings | None = None,
    clients: int = CLIENTS,
    requests_per_client: int = REQUESTS_PER_CLIENT,
    log: Callable[[str], None] = print,
) -> ServiceReport:
    settings = settings or Settings.from_env()
    from quizsvc.migrate import upgrade
    from quizsvc.store import Store

    with throwaway_database() as (database_url, database), tempfile.TemporaryFile() as server_log:
        upgrade(database_url)
        store = Store(database_url)
        instructor = {"Authorization": f"Bearer {store.create_key('instructor')[0]}"}
        learners = [
            {"Authorization": f"Bearer {store.create_key('learner', f'bench-{index}')[0]}"}
            for index in range(clients)
        ]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "QUIZSVC_DATABASE_URL": database_url,
            "QUIZSVC_INSTANCE_DIR": str(settings.instance_dir),
            "QUIZSVC_RATE_LIMIT": "1000000/minute",
        }
        started = time.perf_counter()
        command = [sys.executable, "-m", "quizsvc", "serve"]
        server = subprocess.Popen(
            [*command, "--port", str(port), "--workers", str(WORKERS)],
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            cold_start = wait_ready(base, server, started)
            log(f"service: ready in {cold_start:.1f} s on {database}")
            http = requests.Session()
            hello_ms = sequential_ms(lambda: http.get(f"{base}/v1/health"), LATENCY_ROUNDS)

            seeds = iter(range(10_000))

            def build() -> requests.Response:
                return http.post(
                    f"{base}/v1/exams",
                    json={"counts": EXAM_COUNTS, "seed": next(seeds)},
                    headers=instructor,
                    timeout=120,
                )

            # Warm-up: both workers fill their bank embeddings (from the on-disk cache).
            sequential_ms(build, 2 * WORKERS)
            build_ms = sequential_ms(build, BUILD_ROUNDS)
            log(f"service: exam build {build_ms:.1f} ms, hello world {hello_ms:.2f} ms")

            exam = http.post(
                f"{base}/v1/exams",
                json={"counts": AUTOSAVE_COUNTS, "seed": 1, "time_limit_seconds": 24 * 3600},
                headers=instructor,
                timeout=120,
            )
            exam.raise_for_status()
            exam_id = exam.json()["id"]
            attempts = []
            for headers in learners:
                attempt = http.post(f"{base}/v1/exams/{exam_id}/attempts", headers=headers)
                attempt.raise_for_status()
                body = attempt.json()
                attempts.append((body["id"], [q["id"] for q in body["questions"]]))

            def health(session: requests.Session, index: int, number: int) -> requests.Response:
                return session.get(f"{base}/v1/health", timeout=60)

            def autosave(session: requests.Session, index: int, number: int) -> requests.Response:
                attempt_id, question_ids = attempts[index]
                question_id = question_ids[number % len(question_ids)]
                return session.put(
                    f"{base}/v1/attempts/{attempt_id}/responses/{question_id}",
                    json={"answer": f"draft {number}: regularization shrinks the weights"},
                    headers=learners[index],
                    timeout=60,
                )

            run_load(clients, WARM_UP_PER_CLIENT, health)
            health_load = run_load(clients, requests_per_client, health)
            run_load(clients, WARM_UP_PER_CLIENT, autosave)
            autosave_load = run_load(clients, requests_per_client, autosave)
            log(
                f"service: health {health_load.throughput:.0f}/s, "
                f"autosave {autosave_load.throughput:.0f}/s"
            )

            workers = psutil.Process(server.pid).children()
            rss = [worker.memory_info().rss / 2**20 for worker in workers]
            uss = [worker.memory_full_info().uss / 2**20 for worker in workers]
        except Exception:
            server_log.seek(0)
            tail = server_log.read().decode(errors="replace")[-3000:]
            print(f"server output (tail):\n{tail}", file=sys.stderr)
            raise
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            store.engine.dispose()
        return ServiceReport(
            database=database,
            backend=resolve_backend(settings),
            cold_start_s=cold_start,
            health=health_load,
            autosave=autosave_load,
            hello_latency_ms=hello_ms,
            build_latency_ms=build_ms,
            worker_rss_mb=rss,
            worker_uss_mb=uss,
        )


def describe_load(name: str, result: LoadResult) -> str:
    return (
        f"{name}: {result.requests} requests in {result.seconds:.1f} s = "
        f"{result.throughput:.0f} req/s, p50 {result.p50 * 1000:.1f} ms, "
        f"p99 {result.p99 * 1000:.1f} ms, {result.failures} non-200"
    )


def main() -> ServiceReport:
    report = measure()
    print(f"quizsvc serve --workers {WORKERS} on {report.database}, encoder {report.backend}")
    print(f"cold start to ready: {report.cold_start_s:.1f} s")
    print(describe_load(f"GET /v1/health, {CLIENTS} clients", report.health))
    print(describe_load(f"PUT autosave, {CLIENTS} clients", report.autosave))
    print(
        f"autosave / hello throughput: {report.autosave.throughput / report.health.throughput:.0%}"
        f"; autosave p99/p50: {report.autosave.p99 / report.autosave.p50:.1f}x"
    )
    print(
        f"exam build (65 questions): {report.build_latency_ms:.1f} ms vs hello world "
        f"{report.hello_latency_ms:.2f} ms"
    )
    for number, (rss, uss) in enumerate(
        zip(report.worker_rss_mb, report.worker_uss_mb, strict=True), 1
    ):
        print(f"worker {number}: RSS {rss:.0f} MiB, unique {uss:.0f} MiB")
    return report


if __name__ == "__main__":
    main()
