"""One load level of ``bench/capacity.py``, run by Locust in a process of its own.

Locust patches the standard library for gevent when imported, so it never runs inside the
benchmark process: ``bench/capacity.py`` starts this script per level with a JSON plan and
reads back a JSON file of every request (endpoint, seconds, ok).

Each simulated learner holds its own API key, starts an attempt of the exam, answers each
question in order, saving it once or twice with a think time drawn uniformly from
``[think_min, think_max]`` before every save, then submits and leaves. All learners are
spawned within ``spawn_seconds`` (the synchronized start).

Run: ``.venv/bin/python bench/capacity_load.py PLAN.json RESULT.json``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, events, task
from locust.env import Environment

START = "POST /v1/exams/{id}/attempts"
AUTOSAVE = "PUT /v1/attempts/{id}/responses/{qid}"
SUBMIT = "POST /v1/attempts/{id}/submit"
ENDPOINTS = (START, AUTOSAVE, SUBMIT)

FREE_ANSWER = (
    "Regularization adds a penalty on large weights to the loss, which reduces overfitting "
    "and helps the model generalize to data it has not seen."
)


def answer_for(question: dict[str, Any], rng: random.Random, draft: int) -> Any:
    options = question.get("options") or []
    if question["type"] == "multiple_choice" or question["type"].startswith("reverse"):
        return rng.choice(options)["id"]
    if question["type"] == "multiple_response":
        return [option["id"] for option in rng.sample(options, question.get("select") or 1)]
    if question["type"] == "fill_in":
        return ["overfitting", "gradient descent", "precision"][draft % 3]
    return FREE_ANSWER[: 60 + 40 * draft]


def run(plan: dict[str, Any]) -> dict[str, Any]:
    keys: list[str] = list(plan["keys"])
    exam_id: str = plan["exam_id"]
    think_min, think_max = float(plan["think_min"]), float(plan["think_max"])
    rng = random.Random(plan.get("seed", 1))
    start_only = bool(plan.get("start_only"))
    records: list[tuple[str, float, bool, int, float]] = []
    finished: list[float] = []
    failed_starts = [0]

    @events.request.add_listener
    def record(
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: BaseException | None = None,
        response: Any = None,
        **_: Any,
    ) -> None:
        status = getattr(response, "status_code", 0) or 0
        records.append(
            (name, response_time / 1000.0, exception is None, int(status), time.monotonic())
        )

    class Learner(FastHttpUser):  # type: ignore[misc]
        # No wait between tasks: the think times are inside the one task below.
        connection_timeout = 30.0
        network_timeout = 120.0

        def on_start(self) -> None:
            self.key = keys.pop() if keys else None
            self.headers = {"Authorization": f"Bearer {self.key}"}
            self.rng = random.Random(rng.random())

        def stay(self) -> None:
            """Done: idle until the level ends. A stopped user would make Locust spawn
            another to keep the count while the ramp runs (a learner without a key)."""
            while True:
                gevent.sleep(60)

        def think(self) -> None:
            gevent.sleep(self.rng.uniform(think_min, think_max))

        @task
        def take_exam(self) -> None:
            if self.key is None:
                self.stay()
            with self.client.post(
                f"/v1/exams/{exam_id}/attempts",
                headers=self.headers,
                name=START,
                catch_response=True,
            ) as started:
                if started.status_code not in (200, 201):
                    started.failure(f"{started.status_code}: {started.text[:200]}")
                    failed_starts[0] += 1
                    self.stay()
                attempt = started.json()
            if start_only:
                finished.append(time.monotonic())
                self.stay()
            for question in attempt["questions"]:
                for draft in range(self.rng.choice((1, 2))):
                    self.think()
                    self.client.put(
                        f"/v1/attempts/{attempt['id']}/responses/{question['id']}",
                        json={"answer": answer_for(question, self.rng, draft)},
                        headers=self.headers,
                        name=AUTOSAVE,
                    )
            self.think()
            self.client.post(
                f"/v1/attempts/{attempt['id']}/submit", headers=self.headers, name=SUBMIT
            )
            finished.append(time.monotonic())
            self.stay()

    environment = Environment(user_classes=[Learner], host=plan["host"], events=events)
    runner = environment.create_local_runner()
    users = int(plan["users"])
    began = time.monotonic()
    runner.start(users, spawn_rate=max(1.0, users / float(plan["spawn_seconds"])))
    deadline = began + float(plan["max_seconds"])
    while time.monotonic() < deadline:
        gevent.sleep(0.25)
        if len(finished) + failed_starts[0] >= users:
            break
    timed_out = len(finished) < users
    runner.quit()
    return {
        "users": users,
        "finished": len(finished),
        "timed_out": timed_out,
        "seconds": time.monotonic() - began,
        "records": records,
    }


def main(argv: list[str]) -> None:
    plan = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    Path(argv[1]).write_text(json.dumps(run(plan)), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
