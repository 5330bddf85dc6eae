"""Authored questions beside the cards (scenario questions in the exam's style): the schema
and the validator's rules, exams that mix them with generated questions, and the
per-option rationale in review feedback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from quizsvc.bank.loader import validate_bank
from quizsvc.bank.model import Bank
from quizsvc.embedding import HashingEncoder
from quizsvc.exams import Blueprint, QuestionType, build_exam
from quizsvc.exams.builder import BlueprintError
from tests.test_bank_loader import DECK_YAML, card_yaml, make_bank, topic_yaml

QUESTION = """\
  - id: {id}
    type: {type}
{select}    difficulty: medium
    stem: A team needs one thing under one constraint. Which choice fits best?
    options:
      - id: A
        text: The first choice
        correct: {a}
        rationale: Why the first is {a_word}.
      - id: B
        text: The second choice
        correct: {b}
        rationale: Why the second is {b_word}.
      - id: C
        text: The third choice
        rationale: Why the third is wrong.
      - id: D
        text: The fourth choice
        rationale: Why the fourth is wrong.
{extra}    sources:
      - "A documentation page"
"""


def question(
    question_id: str,
    kind: str = "multiple_choice",
    b: bool = False,
    select: int | None = None,
    extra: str = "",
) -> str:
    return QUESTION.format(
        id=question_id,
        type=kind,
        select=f"    select: {select}\n" if select else "",
        a="true",
        a_word="right",
        b="true" if b else "false",
        b_word="right" if b else "wrong",
        extra=extra,
    )


def deck_with_questions(tmp_path: Path, *questions: str, topic: str = "basics") -> Path:
    root = make_bank(tmp_path, {"basics.yaml": topic_yaml("basics", card_yaml("alpha"))})
    (root / "demo" / "questions").mkdir()
    (root / "demo" / "questions" / "scenarios.yaml").write_text(
        f"topic: {topic}\nquestions:\n" + "".join(questions), encoding="utf-8"
    )
    return root


def test_authored_questions_load_beside_cards(tmp_path: Path) -> None:
    root = deck_with_questions(
        tmp_path,
        question("scn-one"),
        question("scn-two", "multiple_response", b=True, select=2),
    )
    bank, problems = validate_bank(root)
    assert problems == []
    assert [q.id for q in bank.questions] == ["scn-one", "scn-two"]
    first = bank.question("scn-one")
    assert first.correct_option_ids == ("A",)
    assert first.options[2].rationale == "Why the third is wrong."
    assert first.topic == "basics"
    assert bank.question("scn-two").select == 2


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (question("scn-x", b=True), "options", "exactly one correct"),
        (question("scn-x", "multiple_response", b=True), "select", "needs 'select'"),
        (question("scn-x", "multiple_response", select=2), "options", "select is 2 but 1"),
        (question("scn-x", select=2), "select", "only multiple response"),
        (
            question("scn-x").replace("text: The second choice", "text: The first choice"),
            "options",
            "same text",
        ),
        (
            question("scn-x").replace("Which choice fits best?", "Is it the first choice?"),
            "stem",
            "contains its answer",
        ),
        (
            question("scn-x").replace("        rationale: Why the third is wrong.\n", ""),
            None,
            "rationale",
        ),
        (question("alpha"), "id", "duplicate id"),
    ],
    ids=[
        "two-right-for-mc",
        "mr-without-select",
        "select-mismatch",
        "select-on-mc",
        "duplicate-option",
        "stem-names-answer",
        "missing-rationale",
        "id-of-a-card",
    ],
)
def test_validator_refuses_broken_questions(
    tmp_path: Path, text: str, field: str | None, message: str
) -> None:
    _, problems = validate_bank(deck_with_questions(tmp_path, text))
    assert problems, "the broken question must be reported"
    assert any(message in str(problem) for problem in problems), problems
    if field is not None:
        assert any(problem.field == field for problem in problems), problems


def test_question_topic_must_be_a_deck_topic(tmp_path: Path) -> None:
    _, problems = validate_bank(deck_with_questions(tmp_path, question("scn-x"), topic="elsewhere"))
    assert any("not listed under 'topics'" in str(problem) for problem in problems)


def small_bank(tmp_path: Path) -> Bank:
    deck = DECK_YAML
    root = make_bank(
        tmp_path,
        {"basics.yaml": topic_yaml("basics", *(card_yaml(f"card-{n}") for n in range(6)))},
        deck,
    )
    (root / "demo" / "questions").mkdir()
    (root / "demo" / "questions" / "scenarios.yaml").write_text(
        "topic: more\nquestions:\n"
        + "".join(question(f"scn-{n}") for n in range(3))
        + question("scn-pick-two", "multiple_response", b=True, select=2),
        encoding="utf-8",
    )
    bank, problems = validate_bank(root)
    assert problems == []
    return bank


def test_blueprint_mixes_generated_and_authored_questions(tmp_path: Path) -> None:
    bank = small_bank(tmp_path)
    blueprint = Blueprint(counts={QuestionType.FILL_IN: 1}, scenario=2, seed=3)
    exam = build_exam(bank.cards, blueprint, HashingEncoder(), authored=bank.questions)
    assert [q.id for q in exam.questions] == ["q1", "q2", "q3"]
    authored = [q for q in exam.questions if q.key.card_id.startswith("scn-")]
    assert len(authored) == 2
    for item in authored:
        source = bank.question(item.key.card_id)
        assert item.delivery.prompt == source.stem
        assert item.key.correct_option_ids == source.correct_option_ids
        assert item.key.option_rationales == tuple(o.rationale for o in source.options)
        assert "rationale" not in str(item.delivery.to_dict())
    again = build_exam(bank.cards, blueprint, HashingEncoder(), authored=bank.questions)
    assert [q.key.card_id for q in again.questions] == [q.key.card_id for q in exam.questions]
    only = build_exam(
        bank.cards, Blueprint(scenario=4, seed=1), HashingEncoder(), authored=bank.questions
    )
    assert {q.key.card_id for q in only.questions} == {q.id for q in bank.questions}
    with pytest.raises(BlueprintError, match="only 4 authored"):
        build_exam(
            bank.cards, Blueprint(scenario=5, seed=1), HashingEncoder(), authored=bank.questions
        )


def test_generated_choice_questions_carry_a_rationale_per_option(tmp_path: Path) -> None:
    bank = small_bank(tmp_path)
    exam = build_exam(
        bank.cards, Blueprint(counts={QuestionType.MULTIPLE_CHOICE: 2}, seed=2), HashingEncoder()
    )
    for item in exam.questions:
        assert len(item.key.option_rationales) == len(item.key.options)
        right = item.key.options.index(
            next(o for o in item.key.options if o.id in item.key.correct_option_ids)
        )
        assert item.key.option_rationales[right].startswith("Right")
        wrong = [r for i, r in enumerate(item.key.option_rationales) if i != right]
        assert all(r.startswith("Not this one: it answers") for r in wrong)


@pytest.mark.model
def test_scenario_questions_over_http_show_rationales_with_the_answers(
    client: FlaskClient, make_key: Callable[..., dict[str, str]], bank: Bank
) -> None:
    learner = make_key("learner", "ada")
    exam = client.post("/v1/exams", json={"counts": {"scenario": 2}, "seed": 5}, headers=learner)
    assert exam.status_code == 201, exam.get_json()
    attempt = client.post(f"/v1/exams/{exam.get_json()['id']}/attempts", headers=learner)
    body = attempt.get_json()
    assert all(q["type"] in ("multiple_choice", "multiple_response") for q in body["questions"])
    result = client.post(f"/v1/attempts/{body['id']}/submit", headers=learner).get_json()
    assert len(result["questions"]) == 2
    for item in result["questions"]:
        # A practice exam shows the answers at once, and with them why each option is
        # right or wrong, in the attempt's own option ids.
        assert set(item["rationales"]) == {option["id"] for option in item["options"]}
        assert all(item["rationales"].values())
    bad = client.post("/v1/exams", json={"counts": {"scenario": 500}}, headers=learner)
    assert bad.status_code == 422


def test_the_scenario_deck_covers_the_modeling_domain(bank: Bank) -> None:
    """At least 60 authored scenario questions, about a quarter 'Choose TWO', over the
    topics the issue names, every one with its sources."""
    assert len(bank.questions) >= 60
    assert sum(q.type == "multiple_response" for q in bank.questions) >= 12
    topics = {q.topic for q in bank.questions}
    assert {"algorithm-selection", "hyperparameter-tuning", "metrics"} <= topics
    assert "training-infrastructure" in topics
    assert all(q.sources and all(o.rationale for o in q.options) for q in bank.questions)
    text = " ".join(q.stem + " " + " ".join(o.text for o in q.options) for q in bank.questions)
    for algorithm in (
        "K-Means",
        "Random Cut Forest",
        "Factorization Machines",
        "IP Insights",
        "PCA",
        "Object Detection",
        "Hyperband",
        "warm start",
        "Spot",
        "Pipe",
        "FastFile",
    ):
        assert algorithm.casefold() in text.casefold(), algorithm


def test_bank_export_lists_authored_questions(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from quizsvc.cli import main as cli

    root = deck_with_questions(tmp_path, question("scn-one"))
    exported = CliRunner().invoke(cli, ["bank", "export", "--questions", str(root)])
    assert exported.exit_code == 0, exported.output
    (item,) = json.loads(exported.output)
    assert item["id"] == "scn-one"
    assert item["options"][0]["rationale"] == "Why the first is right."
    validated = CliRunner().invoke(cli, ["bank", "validate", str(root)])
    assert "1 authored questions" in validated.output


@pytest.mark.model
def test_a_scenario_only_topic_can_be_asked_for(
    client: FlaskClient, make_key: Callable[..., dict[str, str]]
) -> None:
    staff = make_key("instructor")
    exam = client.post(
        "/v1/exams",
        json={"topics": ["hyperparameter-tuning"], "counts": {"scenario": 3}, "seed": 2},
        headers=staff,
    )
    assert exam.status_code == 201, exam.get_json()
    assert {key["topic"] for key in exam.get_json()["key"]} == {"hyperparameter-tuning"}
    assert all(key["card_id"].startswith("scn-hpo-") for key in exam.get_json()["key"])
