"""Faults under load: PostgreSQL going away mid-run, and a worker killed mid-submit.

Runs ``quizsvc serve`` (gunicorn, 2 workers) on the session's throwaway PostgreSQL database.
Stopping the PostgreSQL server affects every database on it; the test always starts it again
and waits until it answers before it finishes, pass or fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from quizsvc.api.errors import RETRY_AFTER_SECONDS
from quizsvc.store import Store
from tests.conftest import _truncate_postgres, free_port

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.http, pytest.mark.model]

LEARNERS = 100
SAVES = 20
CLIENT_THREADS = 16
QUESTION_TYPES = {"free_answer": 10, "fill_in": 10}


def postgres_version() -> str:
    versions = sorted(Path("/etc/postgresql").iterdir(), key=lambda p: int(p.name))
    return versions[-1].name


def pg_ctl(action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", postgres_version(), "main", action],
        check=True,
        capture_output=True,
        timeout=120,
    )


def wait_for_postgres(url: str, timeout: float = 60) -> None:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(plain, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture
def postgres_restored(postgres_url: str) -> Iterator[str]:
    """The database URL; the server is running again after the test, whatever happened."""
    try:
        yield postgres_url
    finally:
        try:
            wait_for_postgres(postgres_url, timeout=3)
        except psycopg.OperationalError:
            pg_ctl("start")
            wait_for_postgres(postgres_url)


@dataclass
class Server:
    base: str
    process: subprocess.Popen[str]
    staff: dict[str, str]
    learners: list[dict[str, str]] = field(default_factory=list)

    def workers(self) -> list[int]:
        """The gunicorn worker processes (children of the master)."""
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid:
                children.append(int(entry.name))
        return children


def start_server(database_url: str, instance_dir: Path, **env: str) -> Server:
    store = Store(database_url)
    staff = {"Authorization": f"Bearer {store.create_key('instructor')[0]}"}
    learners = [
        {"Authorization": f"Bearer {store.create_key('learner', f'learner-{n}')[0]}"}
        for n in range(LEARNERS)
    ]
    store.engine.dispose()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "quizsvc", "serve", "--port", str(port), "--workers", "2"],
        env={
            **os.environ,
            "QUIZSVC_INSTANCE_DIR": str(instance_dir),
            "QUIZSVC_DATABASE_URL": database_url,
            "QUIZSVC_RATE_LIMIT": "1000000/minute",
            "QUIZSVC_LOG_FORMAT": "json",
            "HF_HUB_OFFLINE": "1",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    server = Server(f"http://127.0.0.1:{port}", process, staff, learners)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{server.base}/v1/ready", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            time.sleep(0.3)
    stop_server(server)
    pytest.fail("quizsvc serve did not become ready in 120 s")


def stop_server(server: Server) -> None:
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=30)


@pytest.fixture
def server(postgres_restored: str, shared_instance_dir: Path) -> Iterator[Server]:
    _truncate_postgres(postgres_restored)
    started = start_server(postgres_restored, shared_instance_dir)
    yield started
    stop_server(started)


def call(
    method: str, url: str, log: list[tuple[str, int, str | None]], **kwargs: Any
) -> requests.Response:
    response = requests.request(method, url, timeout=60, **kwargs)
    log.append((url, response.status_code, response.headers.get("Retry-After")))
    return response


def with_retry(
    method: str, url: str, log: list[tuple[str, int, str | None]], **kwargs: Any
) -> requests.Response:
    """As a client should: a 503 is retried after the Retry-After it names (shortened here)."""
    for _ in range(100):
        response = call(method, url, log, **kwargs)
        if response.status_code != 503:
            return response
        time.sleep(0.2)
    return response


def test_autosaves_survive_a_postgres_restart(server: Server, postgres_restored: str) -> None:
    exam = requests.post(
        f"{server.base}/v1/exams",
        json={"counts": QUESTION_TYPES, "seed": 1, "time_limit_seconds": 3600},
        headers=server.staff,
        timeout=120,
    )
    assert exam.status_code == 201, exam.text
    exam_id = exam.json()["id"]
    log: list[tuple[str, int, str | None]] = []
    accepted: dict[int, dict[str, str]] = {}  # learner -> question -> last answer saved (2xx)
    attempt_ids: dict[int, str] = {}
    progress = threading.Semaphore(0)

    def learner_run(n: int) -> None:
        headers = server.learners[n]
        started = with_retry(
            "POST", f"{server.base}/v1/exams/{exam_id}/attempts", log, headers=headers
        )
        assert started.status_code in (200, 201), started.text
        attempt = started.json()
        attempt_ids[n] = attempt["id"]
        saved: dict[str, str] = {}
        questions = [q["id"] for q in attempt["questions"]]
        for i in range(SAVES):
            question = questions[i % len(questions)]
            answer = f"learner {n} save {i}: regularization penalises large weights"
            response = call(
                "PUT",
                f"{server.base}/v1/attempts/{attempt['id']}/responses/{question}",
                log,
                json={"answer": answer},
                headers=headers,
            )
            if 200 <= response.status_code < 300:
                assert response.json()["answer"] == answer
                saved[question] = answer
            progress.release()
        accepted[n] = saved

    outage: list[tuple[int, str | None]] = []

    def restart_midway() -> None:
        for _ in range(LEARNERS * SAVES // 3):
            progress.acquire()
        pg_ctl("stop")
        try:
            # Requests during the outage: from the test itself too, so one is certainly seen.
            for _ in range(3):
                response = requests.get(
                    f"{server.base}/v1/attempts/{next(iter(attempt_ids.values()))}",
                    headers=server.learners[next(iter(attempt_ids))],
                    timeout=30,
                )
                outage.append((response.status_code, response.headers.get("Retry-After")))
                time.sleep(0.3)
            ready = requests.get(f"{server.base}/v1/ready", timeout=30)
            outage.append((ready.status_code, None))
        finally:
            pg_ctl("start")

    restarter = threading.Thread(target=restart_midway, daemon=True)
    restarter.start()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(learner_run, range(LEARNERS)))
    restarter.join(timeout=300)
    wait_for_postgres(postgres_restored)

    statuses = {status for _, status, _ in log}
    assert 500 not in statuses, [entry for entry in log if entry[1] >= 500][:5]
    assert statuses <= {200, 201, 503}, statuses
    assert all(retry == str(RETRY_AFTER_SECONDS) for _, status, retry in log if status == 503)
    assert [status for status, _ in outage[:3]] == [503] * 3, outage
    assert all(retry == str(RETRY_AFTER_SECONDS) for _, retry in outage[:3]), outage
    assert outage[3][0] == 503  # not ready while the database is away
    saves = [entry for entry in log if "/responses/" in entry[0]]
    assert len(saves) == LEARNERS * SAVES

    # Recovered without restarting quizsvc: same processes, requests succeed again.
    assert server.process.poll() is None
    deadline = time.monotonic() + 30
    while requests.get(f"{server.base}/v1/ready", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "quizsvc did not recover after PostgreSQL came back"
        time.sleep(0.3)

    def final_answers(n: int) -> dict[str, Any]:
        result = with_retry(
            "POST",
            f"{server.base}/v1/attempts/{attempt_ids[n]}/submit",
            log,
            headers=server.learners[n],
        )
        assert result.status_code == 200, result.text
        return {q["question_id"]: q["your_answer"] for q in result.json()["questions"]}

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(final_answers, range(LEARNERS)))
    for n, stored in enumerate(results):
        for question, answer in accepted[n].items():
            assert stored[question] == answer, (n, question)
    assert sum(len(saved) for saved in accepted.values()) > LEARNERS * SAVES // 2

    # Every worker's numbers, summed (multiprocess metrics under gunicorn).
    metrics = requests.get(f"{server.base}/metrics", timeout=10).text
    assert f"quizsvc_attempts_started_total {float(LEARNERS)}" in metrics


def test_worker_killed_during_submit_leaves_attempt_graded_once_or_submittable(
    postgres_restored: str, shared_instance_dir: Path
) -> None:
    _truncate_postgres(postgres_restored)
    server = start_server(
        postgres_restored, shared_instance_dir, QUIZSVC_DEBUG_GRADING_DELAY_MS="3000"
    )
    try:
        exam = requests.post(
            f"{server.base}/v1/exams",
            json={"counts": {"free_answer": 2}, "seed": 4},
            headers=server.staff,
            timeout=120,
        ).json()
        learner = server.learners[0]
        attempt = requests.post(
            f"{server.base}/v1/exams/{exam['id']}/attempts", headers=learner, timeout=30
        ).json()
        for question in attempt["questions"]:
            requests.put(
                f"{server.base}/v1/attempts/{attempt['id']}/responses/{question['id']}",
                json={"answer": "weights are penalised"},
                headers=learner,
                timeout=30,
            ).raise_for_status()

        outcome: list[Any] = []

        def submit() -> None:
            try:
                outcome.append(
                    requests.post(
                        f"{server.base}/v1/attempts/{attempt['id']}/submit",
                        headers=learner,
                        timeout=60,
                    )
                )
            except requests.ConnectionError as exc:
                outcome.append(exc)

        submitter = threading.Thread(target=submit)
        submitter.start()
        time.sleep(1.5)  # inside the 3 s of grading
        killed = server.workers()
        assert len(killed) == 2
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        submitter.join(timeout=60)
        assert isinstance(outcome[0], requests.ConnectionError), outcome

        # gunicorn replaces the workers; the attempt is either graded or can be submitted.
        deadline = time.monotonic() + 60
        while True:
            try:
                state = requests.get(
                    f"{server.base}/v1/attempts/{attempt['id']}", headers=learner, timeout=30
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        assert state.status_code == 200, state.text
        assert state.json()["status"] in ("in_progress", "graded")
        first = requests.post(
            f"{server.base}/v1/attempts/{attempt['id']}/submit", headers=learner, timeout=60
        )
        again = requests.post(
            f"{server.base}/v1/attempts/{attempt['id']}/submit", headers=learner, timeout=60
        )
        assert first.status_code == again.status_code == 200, (first.text, again.text)
        assert first.json() == again.json()  # graded once: the same stored result
        assert first.json()["finalized_by"] == "submit"
        assert not set(killed) & set(server.workers())
    finally:
        stop_server(server)
