"""Property-based fuzzing of every operation in the committed OpenAPI document (schemathesis).

Each operation runs with a valid key for each role against a real app (SQLite, the real model,
since several operations grade), with an exam and an attempt already there so that generated
requests also reach real ids. Every response must be a non-5xx that the spec documents: its
status code, content type and body schema.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from quizsvc.api.spec import SPEC_PATH
from quizsvc.config import Settings
from quizsvc.embedding import Encoder
from tests.conftest import _truncate_postgres as truncate_postgres

pytestmark = pytest.mark.model

#: Examples per operation and role: the whole module stays well under 3 minutes on 2 cores.
#: Raise it (and set QUIZSVC_FUZZ_RANDOM=1 for new examples each run) to search longer.
MAX_EXAMPLES = int(os.environ.get("QUIZSVC_FUZZ_EXAMPLES", "25"))
DERANDOMIZE = os.environ.get("QUIZSVC_FUZZ_RANDOM", "") != "1"

ROLES = ("admin", "instructor", "learner")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

SCHEMA = schemathesis.openapi.from_path(SPEC_PATH)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}
#: Autosave before submit, submit before reading the result, so that each reaches its state.
LAST = ("POST /v1/attempts/{attempt_id}/submit", "GET /v1/attempts/{attempt_id}/result")
ORDERED = sorted(OPERATIONS, key=lambda label: (LAST.index(label) if label in LAST else -1, label))

#: Text rich in control characters (NUL included), which databases treat differently.
TEXT = st.text(st.one_of(st.characters(max_codepoint=0x1F), st.characters()), max_size=300)
AUTOSAVE = "PUT /v1/attempts/{attempt_id}/responses/{question_id}"
#: Answers of every shape, into the seeded attempt while it is in progress.
ANSWERS = st.one_of(st.none(), TEXT, st.lists(st.text(max_size=20), max_size=4), st.integers())
#: Bodies that pass validation, so that requests get past it to the model and the database;
#: random bodies from the spec alone are almost never valid (either card_id or reference).
VALID_BODIES: dict[str, st.SearchStrategy[Any]] = {
    "POST /v1/grade": st.fixed_dictionaries(
        {"reference": TEXT.filter(str.strip), "answer": TEXT},
        optional={"key_points": st.lists(st.text(min_size=1, max_size=100), max_size=5)},
    ),
    "POST /v1/exams": st.fixed_dictionaries(
        {
            "counts": st.fixed_dictionaries(
                {},
                optional={
                    kind: st.integers(1, 3)
                    for kind in ("multiple_choice", "multiple_response", "fill_in", "free_answer")
                },
            ).filter(bool),
            "title": TEXT.filter(bool),
        },
        optional={
            "seed": st.integers(0, 2**53),
            "difficulty": st.sampled_from(["easy", "medium", "hard"]),
        },
    ),
}
#: Explicit requests run first, every time: text that one database stores and another refuses
#: (NUL, lone surrogates) in bodies, queries and paths.
HOSTILE = ["a\x00b", "\ud800", "'; DROP TABLE exams; --<script>]]>&amp;"]


def explicit_cases(operation: Any, seeded: Seeded) -> list[Any]:
    label = operation.label
    names = [parameter.name for parameter in operation.path_parameters]
    real = {name: seeded.path_values[name] for name in names if name in seeded.path_values}
    cases = []
    for text in HOSTILE:
        if label == "POST /v1/exams":
            body = {"title": text, "counts": {"free_answer": 1}}
            cases.append(operation.Case(body=body, media_type="application/json"))
        elif label == "POST /v1/grade":
            body = {"reference": text, "key_points": [text], "answer": text}
            cases.append(operation.Case(body=body, media_type="application/json"))
        elif label == AUTOSAVE:
            cases.append(
                operation.Case(
                    path_parameters=real, body={"answer": text}, media_type="application/json"
                )
            )
        # A URL cannot carry a lone surrogate at all: those go in bodies only.
        in_url = text.encode("utf-8", "surrogatepass").decode("utf-8", "ignore") == text
        if label == "GET /v1/cards" and in_url:
            cases.append(operation.Case(query={"q": text}))
        if in_url and names and len(real) == len(names) and operation.method.upper() == "GET":
            cases.append(operation.Case(path_parameters={**real, names[-1]: text}))
    return cases


@dataclass
class Seeded:
    app: Flask
    headers: dict[str, dict[str, str]]
    path_values: dict[str, str]
    #: An attempt submitted while seeding, for the result; fuzzing submits the other one.
    graded_attempt_id: str


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_instance_dir: Path,
    model: Encoder,
) -> Iterator[Seeded]:
    """An app with data, on SQLite and on PostgreSQL (which refuses more text than SQLite)."""
    from quizsvc.app import create_app

    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'quizsvc.sqlite3'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
        truncate_postgres(database_url)
    # A copy of the bank: POST /v1/decks/import writes decks into the bank directory.
    bank_dir = tmp_path_factory.mktemp("fuzz-bank") / "bank"
    shutil.copytree(Settings.from_env().bank_dir, bank_dir)
    app_settings = Settings.from_env(
        instance_dir=shared_instance_dir,
        database_url=database_url,
        rate_limit="1000000/minute",
        bank_dir=bank_dir,
    )
    app = create_app({"SETTINGS": app_settings, "ENCODER": model, "TESTING": True})
    store = app.extensions["quizsvc"].store
    headers = {
        role: {"Authorization": f"Bearer {store.create_key(role, learner)[0]}"}
        for role, learner in (("admin", None), ("instructor", None), ("learner", "fuzzer"))
    }
    client = app.test_client()
    exam = client.post(
        "/v1/exams",
        json={"counts": {"multiple_choice": 1, "fill_in": 1, "free_answer": 1}, "seed": 5},
        headers=headers["instructor"],
    )
    assert exam.status_code == 201, exam.get_json()
    attempt = client.post(f"/v1/exams/{exam.get_json()['id']}/attempts", headers=headers["learner"])
    assert attempt.status_code == 201, attempt.get_json()
    other_exam = client.post(
        "/v1/exams", json={"counts": {"free_answer": 1}, "seed": 6}, headers=headers["instructor"]
    )
    graded = client.post(
        f"/v1/exams/{other_exam.get_json()['id']}/attempts", headers=headers["learner"]
    ).get_json()
    submitted = client.post(f"/v1/attempts/{graded['id']}/submit", headers=headers["learner"])
    assert submitted.status_code == 200, submitted.get_json()
    card_id = app.extensions["quizsvc"].bank.cards[0].id
    yield Seeded(
        app=app,
        headers=headers,
        path_values={
            "exam_id": exam.get_json()["id"],
            "attempt_id": attempt.get_json()["id"],
            "question_id": attempt.get_json()["questions"][0]["id"],
            "card_id": card_id,
            "learner_id": "fuzzer",
            # A key nobody uses, so that a fuzzed delete (revoke) costs no role its access.
            "key_id": str(store.create_key("instructor", label="fuzz target")[1].id),
        },
        graded_attempt_id=graded["id"],
    )
    store.engine.dispose()


def cases(operation: Any, seeded: Seeded) -> st.SearchStrategy[Any]:
    strategies = [
        operation.as_strategy(generation_mode=mode)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    names = [parameter.name for parameter in operation.path_parameters]
    if names and set(names) <= set(seeded.path_values):
        real = {name: seeded.path_values[name] for name in names}
        if operation.label.endswith("/result"):
            real["attempt_id"] = seeded.graded_attempt_id
        strategies.append(operation.as_strategy(path_parameters=real))
    if operation.label in VALID_BODIES:
        strategies.append(
            VALID_BODIES[operation.label].flatmap(lambda body: operation.as_strategy(body=body))
        )
    if operation.label == AUTOSAVE:
        real = {name: seeded.path_values[name] for name in names}
        strategies.append(
            ANSWERS.flatmap(
                lambda answer: operation.as_strategy(path_parameters=real, body={"answer": answer})
            )
        )
    return st.one_of(strategies)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("label", ORDERED)
def test_operation_conforms_to_the_spec(seeded: Seeded, label: str, role: str) -> None:
    operation = OPERATIONS[label]
    headers = seeded.headers[role]

    @given(case=cases(operation, seeded))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = case.call(app=seeded.app, headers=headers)
        case.validate_response(
            response, checks=CHECKS, headers=headers, transport_kwargs={"app": seeded.app}
        )

    for case in explicit_cases(operation, seeded):
        check = example(case=case)(check)
    check()
