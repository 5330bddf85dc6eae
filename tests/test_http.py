"""Over real HTTP: a threaded werkzeug server, and the pre-forking gunicorn server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from quizsvc.cli import main as cli
from tests.conftest import free_port

pytestmark = [pytest.mark.http, pytest.mark.model]


def cli_key(database_url: str, *args: str) -> dict[str, str]:
    result = CliRunner().invoke(
        cli, ["keys", "create", *args], env={"QUIZSVC_DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[0]
    return {"Authorization": f"Bearer {key}"}


def test_timed_exam_end_to_end(live_url: str, database_url: str) -> None:
    instructor = cli_key(database_url, "--role", "instructor")
    learner = cli_key(database_url, "--role", "learner", "--learner", "ada")
    http = requests.Session()

    assert http.get(f"{live_url}/v1/ready").json()["ready"] is True
    exam = http.post(
        f"{live_url}/v1/exams",
        json={
            "title": "Regularization drill",
            "topics": ["regularization", "metrics"],
            "counts": {"multiple_choice": 2, "fill_in": 1, "free_answer": 2},
            "seed": 3,
            "time_limit_seconds": 900,
        },
        headers=instructor,
    )
    assert exam.status_code == 201, exam.text
    exam_id = exam.json()["id"]

    attempt = http.post(f"{live_url}/v1/exams/{exam_id}/attempts", headers=learner).json()
    # Question and option ids are the attempt's own: the key in them is for staff only.
    attempt_key = http.get(
        f"{live_url}/v1/attempts/{attempt['id']}?include=key", headers=instructor
    ).json()["key"]
    keys = {key["question_id"]: key for key in attempt_key}
    answers: dict[str, Any] = {}
    for question in attempt["questions"]:
        key = keys[question["id"]]
        if question["type"] == "multiple_choice":
            answers[question["id"]] = key["correct_option_ids"][0]
        elif question["type"] == "fill_in":
            answers[question["id"]] = key["accept"][0]
        else:
            answers[question["id"]] = "I don't know"
        saved = http.put(
            f"{live_url}/v1/attempts/{attempt['id']}/responses/{question['id']}",
            json={"answer": answers[question["id"]]},
            headers=learner,
        )
        assert saved.status_code == 200, saved.text

    resumed = http.get(f"{live_url}/v1/attempts/{attempt['id']}", headers=learner).json()
    assert {qid: r["answer"] for qid, r in resumed["responses"].items()} == answers

    result = http.post(f"{live_url}/v1/attempts/{attempt['id']}/submit", headers=learner)
    assert result.status_code == 200, result.text
    review = http.get(f"{live_url}/v1/attempts/{attempt['id']}/result", headers=learner).json()
    assert review == result.json()
    verdicts = {q["type"]: q["verdict"] for q in review["questions"]}
    assert verdicts["multiple_choice"] == "correct"
    assert verdicts["free_answer"] == "incorrect"
    assert review["percent"] == pytest.approx(60.0, abs=0.01)
    # An instructor's exam with attempts left keeps its answers hidden (review options).
    assert review["review"]["correct_answers"] is False
    assert all(q["correct_answer"] is None for q in review["questions"])
    assert not any(q["feedback"]["reference"] for q in review["questions"])


def test_200_concurrent_autosaves_lose_nothing(live_url: str, database_url: str) -> None:
    instructor = cli_key(database_url, "--role", "instructor")
    learner = cli_key(database_url, "--role", "learner", "--learner", "ada")
    exam = requests.post(
        f"{live_url}/v1/exams",
        json={"counts": {"free_answer": 8}, "seed": 1},
        headers=instructor,
    ).json()
    attempt = requests.post(f"{live_url}/v1/exams/{exam['id']}/attempts", headers=learner).json()
    question_ids = [q["id"] for q in attempt["questions"]]

    def autosave(index: int) -> tuple[str, str, int]:
        question_id = question_ids[index % len(question_ids)]
        answer = f"answer number {index}"
        response = requests.put(
            f"{live_url}/v1/attempts/{attempt['id']}/responses/{question_id}",
            json={"answer": answer},
            headers=learner,
            timeout=60,
        )
        return question_id, answer, response.status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(autosave, range(200)))
    assert [status for *_, status in outcomes] == [200] * 200

    final = requests.get(f"{live_url}/v1/attempts/{attempt['id']}", headers=learner).json()
    for question_id in question_ids:
        written = [answer for qid, answer, _ in outcomes if qid == question_id]
        saved = final["responses"][question_id]
        assert saved["revision"] == len(written)
        assert saved["answer"] in written


@pytest.mark.parametrize(
    ("backend", "expected"), [("", "onnx-int8"), ("torch", "torch")], ids=["default", "torch"]
)
def test_preloaded_multi_worker_gunicorn_server_grades(
    tmp_path: Path, backend: str, expected: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "QUIZSVC_INSTANCE_DIR": str(tmp_path),
        "QUIZSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}",
        "QUIZSVC_ENCODER_BACKEND": backend,
        "QUIZSVC_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
    }
    quizsvc = [sys.executable, "-m", "quizsvc"]
    run = {"env": env, "capture_output": True, "text": True, "timeout": 120, "check": True}
    instructor = subprocess.run([*quizsvc, "keys", "create", "--role", "instructor"], **run)
    learner = subprocess.run(
        [*quizsvc, "keys", "create", "--role", "learner", "--learner", "ada"], **run
    )
    staff_headers = {"Authorization": f"Bearer {instructor.stdout.strip()}"}
    learner_headers = {"Authorization": f"Bearer {learner.stdout.strip()}"}

    server = subprocess.Popen(
        [*quizsvc, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/v1/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            pytest.fail("server did not become ready in 120 s")
        assert requests.get(f"{base}/v1/ready", timeout=5).json()["encoder"] == expected
        # What gunicorn refuses before the app sees it is still in the JSON envelope.
        too_long = requests.get(f"{base}/v1/cards?q={'x' * 5000}", timeout=10)
        assert too_long.status_code == 414
        assert too_long.headers["Content-Type"] == "application/json"
        assert too_long.json()["code"] == 414
        assert too_long.json()["errors"] == {}
        # A chunked body over the limit is 413, not a JSON parse error of its first MiB.
        chunked = requests.post(
            f"{base}/v1/grade",
            data=(b"x" * 1024 for _ in range(1100)),
            headers={"Content-Type": "application/json", **staff_headers},
            timeout=30,
        )
        assert chunked.status_code == 413, chunked.text

        results = []
        for round_number in range(3):
            exam = requests.post(
                f"{base}/v1/exams",
                json={"counts": {"free_answer": 2}, "topics": ["metrics"], "seed": round_number},
                headers=staff_headers,
                timeout=60,
            )
            assert exam.status_code == 201, exam.text
            attempt = requests.post(
                f"{base}/v1/exams/{exam.json()['id']}/attempts", headers=learner_headers, timeout=30
            ).json()
            attempt_key = requests.get(
                f"{base}/v1/attempts/{attempt['id']}?include=key",
                headers=staff_headers,
                timeout=30,
            ).json()["key"]
            key = {k["question_id"]: k for k in attempt_key}
            for question in attempt["questions"]:
                requests.put(
                    f"{base}/v1/attempts/{attempt['id']}/responses/{question['id']}",
                    json={"answer": key[question["id"]]["answer"]},
                    headers=learner_headers,
                    timeout=30,
                ).raise_for_status()
            graded = requests.post(
                f"{base}/v1/attempts/{attempt['id']}/submit", headers=learner_headers, timeout=60
            )
            assert graded.status_code == 200, graded.text
            results.append(graded.json()["percent"])
        assert results == [100.0, 100.0, 100.0]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
