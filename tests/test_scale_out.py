"""Several replicas on one PostgreSQL: nothing another replica needs lives in process memory."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from quizsvc.app import create_app
from quizsvc.config import Settings
from quizsvc.embedding import Encoder, HashingEncoder
from tests.conftest import _truncate_postgres, serve_in_thread

pytestmark = [pytest.mark.postgres, pytest.mark.http]


@pytest.fixture
def replicas(
    postgres_url: str, shared_instance_dir: Path, model: Encoder
) -> Iterator[list[tuple[Flask, str]]]:
    _truncate_postgres(postgres_url)
    settings = Settings.from_env(instance_dir=shared_instance_dir, database_url=postgres_url)
    with ExitStack() as servers:
        started = []
        for _ in range(2):
            app = create_app({"SETTINGS": settings, "ENCODER": model})
            started.append((app, servers.enter_context(serve_in_thread(app))))
        yield started


def count_grading(app: Flask, calls: list[int]) -> None:
    services = app.extensions["quizsvc"]
    original: Callable[..., Any] = services.grade_many

    def counting(pairs: Any) -> Any:
        calls.append(len(pairs))
        return original(pairs)

    services.grade_many = counting


@pytest.mark.model
def test_attempt_moves_between_replicas_and_grades_once(
    replicas: list[tuple[Flask, str]],
) -> None:
    (first_app, first), (second_app, second) = replicas
    store = first_app.extensions["quizsvc"].store
    staff = {"Authorization": f"Bearer {store.create_key('instructor')[0]}"}
    learner = {"Authorization": f"Bearer {store.create_key('learner', 'ada')[0]}"}
    calls: list[int] = []
    count_grading(first_app, calls)
    count_grading(second_app, calls)

    exam = requests.post(
        f"{second}/v1/exams",
        json={"counts": {"multiple_choice": 2, "free_answer": 2}, "seed": 5},
        headers=staff,
        timeout=60,
    ).json()
    attempt = requests.post(f"{first}/v1/exams/{exam['id']}/attempts", headers=learner).json()
    for index, question in enumerate(attempt["questions"]):
        replica = (first, second)[index % 2]
        answer: Any = question["options"][0]["id"] if "options" in question else "a guess"
        saved = requests.put(
            f"{replica}/v1/attempts/{attempt['id']}/responses/{question['id']}",
            json={"answer": answer},
            headers=learner,
            timeout=30,
        )
        assert saved.status_code == 200, saved.text
    on_second = requests.get(f"{second}/v1/attempts/{attempt['id']}", headers=learner).json()
    assert len(on_second["responses"]) == 4

    def submit(base: str) -> dict[str, Any]:
        response = requests.post(
            f"{base}/v1/attempts/{attempt['id']}/submit", headers=learner, timeout=60
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(submit, [second, first, second, first]))
    assert all(result == results[0] for result in results)
    assert calls == [4]


def test_rate_limits_are_shared_through_redis(postgres_url: str, tmp_path: Path) -> None:
    _truncate_postgres(postgres_url)
    settings = Settings.from_env(
        instance_dir=tmp_path,
        database_url=postgres_url,
        rate_limit="4/minute",
        ratelimit_storage="redis://127.0.0.1:6379",
    )
    apps = [create_app({"SETTINGS": settings, "ENCODER": HashingEncoder()}) for _ in range(2)]
    # A learner id unique to this run, so earlier runs' counters in Redis do not interfere.
    key, _ = apps[0].extensions["quizsvc"].store.create_key("learner", uuid.uuid4().hex)
    headers = {"Authorization": f"Bearer {key}"}
    statuses = [
        apps[index % 2].test_client().get("/v1/decks", headers=headers).status_code
        for index in range(6)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]
