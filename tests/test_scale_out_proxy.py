"""Two ``quizsvc serve`` instances behind Debian's nginx, sharing PostgreSQL and Redis; one
instance is killed (SIGKILL of its master and workers, as a crashed container) while learners
are saving answers through the proxy.

What must hold: every answer a learner was told was saved (200) is the one stored, the
learners finish their exams through the surviving instance, and the outbox delivers each
graded attempt's webhook exactly once (the receiver counts deliveries by their
``X-Quizsvc-Delivery`` id). The instance is killed after the webhooks of the attempts already
graded were delivered: a message an instance had claimed when it died is retried only after
the claim's lease (two minutes), longer than this test; that case is covered by
``tests/test_faults.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.cluster import Cluster, cluster, nginx_available
from quizsvc.store import Store
from tests.conftest import _truncate_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.http, pytest.mark.faults]

REDIS_URL = "redis://127.0.0.1:6379"
LEARNERS = 8
EXAM_COUNTS = {"fill_in": 2, "free_answer": 2}


class DeliveryCounter:
    """A webhook receiver counting deliveries per ``X-Quizsvc-Delivery`` id."""

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()
        self.attempts: dict[str, str] = {}
        self.lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                delivery = self.headers.get("X-Quizsvc-Delivery", "")
                event = json.loads(body)
                with counter.lock:
                    counter.deliveries[delivery] += 1
                    counter.attempts[delivery] = str(event["data"]["attempt_id"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered(self) -> int:
        with self.lock:
            return len(self.deliveries)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def two_instances(
    postgres_url: str, shared_instance_dir: Path, tmp_path: Path
) -> Iterator[Cluster]:
    if not nginx_available():
        pytest.skip("Debian nginx (/usr/sbin/nginx, or QUIZSVC_NGINX) is not installed")
    _truncate_postgres(postgres_url)
    import os

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "QUIZSVC_DATABASE_URL": postgres_url,
        "QUIZSVC_RATELIMIT_STORAGE": REDIS_URL,
        "QUIZSVC_INSTANCE_DIR": str(shared_instance_dir),
        "QUIZSVC_OUTBOX_POLL_SECONDS": "1",
        "QUIZSVC_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
        "QUIZSVC_LOG_FORMAT": "text",
    }
    with cluster(env, instances=2, workers=1, folder=tmp_path) as running:
        yield running


def save_until_acknowledged(
    session: requests.Session, url: str, answer: str, headers: dict[str, str]
) -> None:
    """What the exam page does: the same answer again until the service says it is saved."""
    for _ in range(50):
        try:
            reply = session.put(url, json={"answer": answer}, headers=headers, timeout=30)
        except requests.RequestException:
            time.sleep(0.2)
            continue
        if reply.status_code == 200:
            return
        assert reply.status_code in (502, 503, 504), reply.text
        time.sleep(0.2)
    pytest.fail(f"{url} was never acknowledged")


def test_killing_one_instance_loses_no_acknowledged_answer_and_webhooks_arrive_once(
    two_instances: Cluster, postgres_url: str
) -> None:
    proxy = two_instances.url
    store = Store(postgres_url)
    staff = {"Authorization": f"Bearer {store.create_key('instructor')[0]}"}
    learners = [
        {"Authorization": f"Bearer {store.create_key('learner', f'proxy-{n}')[0]}"}
        for n in range(LEARNERS)
    ]
    store.engine.dispose()
    exam = requests.post(
        f"{proxy}/v1/exams",
        json={"counts": EXAM_COUNTS, "seed": 5, "time_limit_seconds": 3600},
        headers=staff,
        timeout=120,
    )
    assert exam.status_code == 201, exam.text
    exam_id = exam.json()["id"]
    receiver = DeliveryCounter()
    try:
        hook = requests.post(
            f"{proxy}/v1/webhooks", json={"url": receiver.url, "exam_id": exam_id}, headers=staff
        )
        assert hook.status_code == 201, hook.text

        attempts = []
        for headers in learners:
            started = requests.post(f"{proxy}/v1/exams/{exam_id}/attempts", headers=headers)
            assert started.status_code == 201, started.text
            body = started.json()
            attempts.append((body["id"], [q["id"] for q in body["questions"]]))

        acknowledged: dict[tuple[str, str], str] = {}
        lock = threading.Lock()
        killed = threading.Event()
        saves_after_kill = Counter[str]()

        stop = threading.Event()
        saves = Counter[str]()

        def learner(index: int, rounds: int) -> None:
            """``rounds`` rounds of saves, or rounds until ``stop`` with rounds=0."""
            attempt_id, questions = attempts[index]
            with requests.Session() as session:
                round_number = 0
                while round_number < rounds or (rounds == 0 and not stop.is_set()):
                    round_number += 1
                    for question in questions:
                        answer = f"learner {index} round {round_number} answer to {question}"
                        url = f"{proxy}/v1/attempts/{attempt_id}/responses/{question}"
                        save_until_acknowledged(session, url, answer, learners[index])
                        with lock:
                            acknowledged[(attempt_id, question)] = answer
                            saves[attempt_id] += 1
                            if killed.is_set():
                                saves_after_kill[attempt_id] += 1

        def submit(index: int) -> None:
            attempt_id, _ = attempts[index]
            for _ in range(50):
                reply = requests.post(
                    f"{proxy}/v1/attempts/{attempt_id}/submit", headers=learners[index], timeout=60
                )
                if reply.status_code == 200:
                    return
                assert reply.status_code in (502, 503, 504), reply.text
                time.sleep(0.2)
            pytest.fail(f"submit of {attempt_id} never succeeded")

        # The first half saves and submits; their webhooks are delivered.
        half = LEARNERS // 2
        with ThreadPoolExecutor(LEARNERS) as pool:
            list(pool.map(lambda index: learner(index, 2), range(half)))
            list(pool.map(submit, range(half)))
        deadline = time.monotonic() + 60
        while receiver.delivered() < half and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.delivered() == half

        # The second half saves continuously while one instance is killed mid-stream.
        def saved(counter: Counter[str]) -> int:
            with lock:
                return sum(counter.values())

        with ThreadPoolExecutor(LEARNERS) as pool:
            before = saved(saves)
            running = [pool.submit(learner, index, 0) for index in range(half, LEARNERS)]
            deadline = time.monotonic() + 60
            while saved(saves) < before + 40 and time.monotonic() < deadline:
                time.sleep(0.01)
            victim = two_instances.instances[0]
            victim.kill()
            killed.set()
            while saved(saves_after_kill) < 80 and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            for future in running:
                future.result()
        assert not victim.running
        assert sum(saves_after_kill.values()) > 0
        with ThreadPoolExecutor(LEARNERS) as pool:
            list(pool.map(submit, range(half, LEARNERS)))

        # Every acknowledged answer is stored (read back through the surviving instance).
        for index, (attempt_id, questions) in enumerate(attempts):
            view = requests.get(f"{proxy}/v1/attempts/{attempt_id}", headers=learners[index])
            assert view.status_code == 200, view.text
            saved = {qid: row["answer"] for qid, row in view.json()["responses"].items()}
            for question in questions:
                assert saved[question] == acknowledged[(attempt_id, question)]
            assert view.json()["status"] == "graded"

        deadline = time.monotonic() + 60
        while receiver.delivered() < LEARNERS and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)  # a duplicate would arrive within the poll interval
        with receiver.lock:
            assert set(receiver.deliveries.values()) == {1}, receiver.deliveries
            assert sorted(receiver.attempts.values()) == sorted(a for a, _ in attempts)
    finally:
        receiver.close()
