"""Staff edit the bank over the API, on SQLite and PostgreSQL: cards and authored questions
are created, edited and retired with the rules of ``bank validate`` (422 naming the field),
each edit a version (who, when, the diff); a stale If-Match gets 412 and two concurrent
edits never lose one; a retired card is never drawn again but stays readable; another app
instance on the same database sees the edits; exams keep their frozen copy and a regrade
applies the fix."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from quizsvc.api import bank_editing
from quizsvc.app import create_app
from quizsvc.bank import load_bank, validate_bank
from quizsvc.cli import main
from quizsvc.config import PROJECT_ROOT, Settings
from quizsvc.embedding import HashingEncoder
from tests.conftest import FakeClock, serve_in_thread, wait_until

Headers = dict[str, str]

DECK = "aws-ml-modeling"
#: A card of the YAML bank, and the five-card topic it is in.
CARD = "sm-pipe-mode"
SMALL_TOPIC = "sagemaker-general"


def new_card(**fields: Any) -> dict[str, Any]:
    card = {
        "id": "sm-model-registry",
        "deck": DECK,
        "topic": SMALL_TOPIC,
        "prompt": "What does the SageMaker Model Registry keep for each model package group?",
        "answer": "Versioned model packages with their approval status and metadata.",
        "key_points": ["versioned model packages", "approval status"],
        "tags": ["sagemaker"],
    }
    card.update(fields)
    return card


def make_app(database_url: str, instance_dir: Path, clock: FakeClock | None = None) -> Flask:
    settings = Settings.from_env(
        instance_dir=instance_dir, database_url=database_url, rate_limit="100000/minute"
    )
    return create_app(
        {
            "SETTINGS": settings,
            "ENCODER": HashingEncoder(),
            "CLOCK": clock or FakeClock(),
            "TESTING": True,
        }
    )


@pytest.fixture
def app(database_url: str, tmp_path: Path, clock: FakeClock) -> Flask:
    """The app with a stand-in encoder: editing the bank grades nothing."""
    return make_app(database_url, tmp_path / "instance", clock)


def key_for(app: Flask, role: str, label: str | None = None) -> Headers:
    key, _ = app.extensions["quizsvc"].store.create_key(
        role, "ada" if role == "learner" else None, label
    )
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def staff(app: Flask) -> Headers:
    return key_for(app, "instructor", "Ines the instructor")


def get_card(client: FlaskClient, card_id: str, headers: Headers) -> Any:
    reply = client.get(f"/v1/cards/{card_id}", headers=headers)
    assert reply.status_code == 200, reply.get_json()
    return reply


def patch(
    client: FlaskClient, card_id: str, body: dict[str, Any], headers: Headers, etag: str
) -> Any:
    return client.patch(f"/v1/cards/{card_id}", json=body, headers={**headers, "If-Match": etag})


def test_create_edit_retire_a_card_with_its_history(
    app: Flask, client: FlaskClient, staff: Headers, clock: FakeClock
) -> None:
    created = client.post("/v1/cards", json=new_card(), headers=staff)
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"] == "/v1/cards/sm-model-registry"
    assert created.headers["ETag"] == '"1"'
    body = created.get_json()
    assert (body["version"], body["retired"], body["topic"]) == (1, False, SMALL_TOPIC)
    listed = client.get(f"/v1/cards?topic={SMALL_TOPIC}&page_size=100", headers=staff)
    assert "sm-model-registry" in [card["id"] for card in listed.get_json()["items"]]

    clock.advance(60)
    edited = patch(
        client,
        "sm-model-registry",
        {"answer": "Versioned model packages, each with an approval status.", "tags": None},
        staff,
        '"1"',
    )
    assert edited.status_code == 200, edited.get_json()
    assert edited.headers["ETag"] == '"2"'
    assert edited.get_json()["answer"] == "Versioned model packages, each with an approval status."
    assert edited.get_json()["tags"] == []
    read = get_card(client, "sm-model-registry", staff)
    assert read.headers["ETag"] == '"2"'
    assert read.get_json()["answer"].startswith("Versioned model packages, each")

    # A card of the YAML bank: its first edit keeps the file's version as version 1.
    pipe = get_card(client, CARD, staff)
    assert pipe.headers["ETag"] == '"1"'
    old_explanation = pipe.get_json()["explanation"]
    fixed = patch(client, CARD, {"explanation": "Pipe mode streams from S3."}, staff, '"1"')
    assert fixed.status_code == 200, fixed.get_json()

    history = client.get(f"/v1/cards/{CARD}/versions", headers=staff)
    assert history.status_code == 200
    versions = history.get_json()
    assert (versions["version"], versions["retired"]) == (2, False)
    bank_file, edit = versions["items"]
    assert (bank_file["version"], bank_file["action"], bank_file["by"]) == (1, "bank-file", None)
    assert bank_file["item"]["explanation"] == old_explanation
    assert edit["version"] == 2
    assert edit["action"] == "edited"
    assert edit["by"]["label"] == "Ines the instructor"
    assert edit["by"]["role"] == "instructor"
    assert isinstance(edit["by"]["key_id"], int)
    assert edit["at"].startswith(clock.now.isoformat()[:19])
    assert edit["changes"] == {
        "explanation": {"before": old_explanation, "after": "Pipe mode streams from S3."}
    }

    created_history = client.get("/v1/cards/sm-model-registry/versions", headers=staff)
    first, second = created_history.get_json()["items"]
    assert first["action"] == "created"
    assert first["changes"]["prompt"]["before"] is None
    assert set(second["changes"]) == {"answer", "tags"}
    assert second["changes"]["tags"] == {"before": ["sagemaker"], "after": []}

    # Retire: gone from listings and draws, still readable, one more version.
    retired = client.delete("/v1/cards/sm-model-registry", headers=staff)
    assert retired.status_code == 204
    assert retired.headers["ETag"] == '"3"'
    again = get_card(client, "sm-model-registry", staff).get_json()
    assert (again["retired"], again["version"]) == (True, 3)
    learner = key_for(app, "learner")
    assert get_card(client, "sm-model-registry", learner).get_json() == {
        "id": "sm-model-registry",
        "deck": DECK,
        "topic": SMALL_TOPIC,
        "prompt": new_card()["prompt"],
    }
    listed = client.get(f"/v1/cards?topic={SMALL_TOPIC}&page_size=100", headers=staff)
    assert "sm-model-registry" not in [card["id"] for card in listed.get_json()["items"]]
    last = client.get("/v1/cards/sm-model-registry/versions", headers=staff).get_json()
    assert last["items"][-1]["action"] == "retired"
    assert last["items"][-1]["changes"] == {"retired": {"before": False, "after": True}}
    # Retired cards are not edited (a new card replaces them) and retiring twice is a no-op.
    assert patch(client, "sm-model-registry", {"answer": "x"}, staff, '"3"').status_code == 409
    assert client.delete("/v1/cards/sm-model-registry", headers=staff).status_code == 204
    assert len(client.get("/v1/cards/sm-model-registry/versions", headers=staff).json["items"]) == 3


def test_learners_cannot_edit_and_unknown_cards_are_404(
    app: Flask, client: FlaskClient, staff: Headers
) -> None:
    learner = key_for(app, "learner")
    assert client.post("/v1/cards", json=new_card(), headers=learner).status_code == 403
    assert patch(client, CARD, {"answer": "x"}, learner, '"1"').status_code == 403
    assert client.delete(f"/v1/cards/{CARD}", headers=learner).status_code == 403
    assert client.get(f"/v1/cards/{CARD}/versions", headers=learner).status_code == 403
    assert patch(client, "no-such-card", {"answer": "x"}, staff, '"1"').status_code == 404
    assert client.delete("/v1/cards/no-such-card", headers=staff).status_code == 404
    assert client.get("/v1/cards/no-such-card/versions", headers=staff).status_code == 404


def validator_errors(card: dict[str, Any], tmp_path: Path) -> dict[str, list[str]]:
    """What ``bank validate`` says of ``card`` written into a copy of the YAML bank: field ->
    messages, without the file places."""
    bank_dir = tmp_path / "bank-copy"
    shutil.copytree(PROJECT_ROOT / "bank", bank_dir)
    path = bank_dir / DECK / f"{SMALL_TOPIC}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["cards"].append({k: v for k, v in card.items() if k not in ("deck", "topic")})
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    _, problems = validate_bank(bank_dir)
    found: dict[str, list[str]] = {}
    for problem in problems:
        message = problem.message.split(" (")[0]
        found.setdefault(problem.field or "body", []).append(message)
    return found


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"prompt": 42}, {"prompt"}),
        ({"key_points": []}, {"key_points"}),
        ({"key_points": ["one", "One "]}, {"key_points[1]"}),
        ({"difficulty": "brutal"}, {"difficulty"}),
        ({"colour": "red"}, {"colour"}),
        ({"id": "Not A Slug"}, {"id"}),
        (
            {"accept": ["Versioned model packages with their approval status and metadata."]},
            {"accept[0]"},
        ),
        (
            {
                "misconceptions": [
                    {
                        "text": "Versioned model packages with their approval status and metadata.",
                        "explanation": "no",
                    }
                ]
            },
            {"misconceptions[0]"},
        ),
        (
            {"prompt": "How does Pipe mode deliver training data, and why is it more efficient?"},
            {"prompt"},
        ),
    ],
)
def test_validation_is_bank_validate_and_names_the_field(
    client: FlaskClient,
    staff: Headers,
    tmp_path: Path,
    changes: dict[str, Any],
    fields: set[str],
) -> None:
    card = new_card(**changes)
    reply = client.post("/v1/cards", json=card, headers=staff)
    assert reply.status_code == 422, reply.get_json()
    errors = reply.get_json()["errors"]["json"]
    assert set(errors) == fields
    for field in fields:
        assert field in reply.get_json()["message"]
    # The same messages as 'bank validate' gives for that card in a YAML file.
    expected = validator_errors(card, tmp_path)
    assert {
        field: [m.split(" (")[0].removeprefix(f"{CARD}: ") for m in messages]
        for field, messages in errors.items()
    } == expected
    # Nothing was stored.
    assert client.get(f"/v1/cards/{card['id']}", headers=staff).status_code == 404


def test_edit_validation_names_the_field_and_stores_nothing(
    client: FlaskClient, staff: Headers
) -> None:
    for body, field in [
        ({"topic": "no-such-topic"}, "topic"),
        ({"id": "renamed"}, "id"),
        ({"deck": "another-deck"}, "deck"),
        ({"key_points": "not a list"}, "key_points"),
        ({"answer": None}, "answer"),
    ]:
        reply = patch(client, CARD, body, staff, '"1"')
        assert reply.status_code == 422, (body, reply.get_json())
        assert field in reply.get_json()["errors"]["json"], reply.get_json()
    assert get_card(client, CARD, staff).headers["ETag"] == '"1"'
    versions = client.get(f"/v1/cards/{CARD}/versions", headers=staff).get_json()["items"]
    assert [version["action"] for version in versions] == ["bank-file"]
    unknown_deck = client.post("/v1/cards", json=new_card(deck="nope"), headers=staff)
    assert unknown_deck.status_code == 422
    assert "deck" in unknown_deck.get_json()["errors"]["json"]
    taken = client.post("/v1/cards", json=new_card(id=CARD), headers=staff)
    assert taken.status_code == 422
    assert "id" in taken.get_json()["errors"]["json"]


def test_a_stale_version_is_412_and_a_missing_one_428(client: FlaskClient, staff: Headers) -> None:
    first = patch(client, CARD, {"explanation": "First fix."}, staff, '"1"')
    assert first.status_code == 200
    stale = patch(client, CARD, {"explanation": "Based on the old version."}, staff, '"1"')
    assert stale.status_code == 412
    assert stale.headers["ETag"] == '"2"'
    assert "version 2" in stale.get_json()["message"]
    missing = client.patch(f"/v1/cards/{CARD}", json={"explanation": "x"}, headers=staff)
    assert missing.status_code == 428
    assert get_card(client, CARD, staff).get_json()["explanation"] == "First fix."
    # '*' is a deliberate overwrite of whatever version is current.
    overwrite = patch(client, CARD, {"explanation": "Overwritten."}, staff, "*")
    assert overwrite.status_code == 200
    assert overwrite.headers["ETag"] == '"3"'
    assert (
        client.delete(f"/v1/cards/{CARD}", headers={**staff, "If-Match": '"1"'}).status_code == 412
    )
    assert not get_card(client, CARD, staff).get_json()["retired"]


@pytest.mark.http
@pytest.mark.parametrize("base_version", [1, 2])
def test_two_concurrent_edits_of_one_card_lose_neither(
    app: Flask, staff: Headers, base_version: int
) -> None:
    """Two staff PATCH the same version at once over real HTTP: one wins, the other gets
    412 and nothing of its change is stored (first edit: both insert the card's row; later
    edits: both update it)."""
    with serve_in_thread(app) as url:
        if base_version == 2:
            warm = requests.patch(
                f"{url}/v1/cards/{CARD}",
                json={"explanation": "Warm-up edit."},
                headers={**staff, "If-Match": '"1"'},
                timeout=60,
            )
            assert warm.status_code == 200
        barrier = threading.Barrier(2)
        replies: dict[str, requests.Response] = {}

        def edit(text: str) -> None:
            barrier.wait()
            replies[text] = requests.patch(
                f"{url}/v1/cards/{CARD}",
                json={"explanation": text},
                headers={**staff, "If-Match": f'"{base_version}"'},
                timeout=60,
            )

        threads = [threading.Thread(target=edit, args=(text,)) for text in ("Alpha.", "Beta.")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = sorted(reply.status_code for reply in replies.values())
        assert statuses == [200, 412], {k: r.text for k, r in replies.items()}
        (winner,) = [text for text, reply in replies.items() if reply.status_code == 200]
        card = requests.get(f"{url}/v1/cards/{CARD}", headers=staff, timeout=30)
        assert card.json()["explanation"] == winner
        assert card.headers["ETag"] == f'"{base_version + 1}"'
        versions = requests.get(f"{url}/v1/cards/{CARD}/versions", headers=staff, timeout=30)
        items = versions.json()["items"]
        assert [item["version"] for item in items] == list(range(1, base_version + 2))
        assert items[-1]["changes"]["explanation"]["after"] == winner


def exam_card_ids(client: FlaskClient, staff: Headers, **blueprint: Any) -> Any:
    reply = client.post(
        "/v1/exams",
        json={"title": "Drill", "topics": [SMALL_TOPIC], "seed": 3, **blueprint},
        headers=staff,
    )
    if reply.status_code != 201:
        return reply
    exam = reply.get_json()
    keys = client.get(f"/v1/exams/{exam['id']}?include=key", headers=staff).get_json()["key"]
    return {key["card_id"] for key in keys}


def test_a_retired_card_is_not_drawn_by_a_new_exam(
    app: Flask, client: FlaskClient, staff: Headers
) -> None:
    bank = app.extensions["quizsvc"].bank
    topic_cards = {card.id for card in bank.select(DECK, [SMALL_TOPIC])}
    assert CARD in topic_cards
    everything = exam_card_ids(client, staff, counts={"free_answer": len(topic_cards)})
    assert everything == topic_cards
    assert client.delete(f"/v1/cards/{CARD}", headers=staff).status_code == 204
    drawn = exam_card_ids(client, staff, counts={"free_answer": len(topic_cards) - 1})
    assert drawn == topic_cards - {CARD}
    too_many = exam_card_ids(client, staff, counts={"free_answer": len(topic_cards)})
    assert too_many.status_code in (409, 422), too_many.get_json()


def test_authored_questions_are_created_edited_and_retired(
    app: Flask, client: FlaskClient, staff: Headers
) -> None:
    bank = app.extensions["quizsvc"].bank
    existing = bank.questions[0]
    question = {
        **existing.to_dict(),
        "id": "scn-new-question",
        "stem": "A team must pick an algorithm for a new, unlabeled tabular data set "
        "and group similar rows. Which algorithm fits?",
    }
    for option in question["options"]:
        option["text"] = option["text"] + " (variant)"
    created = client.post("/v1/questions", json=question, headers=staff)
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"] == "/v1/questions/scn-new-question"
    assert created.get_json()["version"] == 1

    # Two right options in a multiple choice question: named, nothing stored.
    options = [{**option, "correct": True} for option in question["options"]]
    wrong = client.patch(
        "/v1/questions/scn-new-question",
        json={"options": options},
        headers={**staff, "If-Match": '"1"'},
    )
    assert wrong.status_code == 422
    assert "options" in wrong.get_json()["errors"]["json"]
    too_few = client.patch(
        "/v1/questions/scn-new-question",
        json={"options": question["options"][:3]},
        headers={**staff, "If-Match": '"1"'},
    )
    assert too_few.status_code == 422
    assert "options" in too_few.get_json()["errors"]["json"]
    missing = client.post(
        "/v1/questions", json={**question, "id": "scn-x", "sources": []}, headers=staff
    )
    assert missing.status_code == 422
    assert set(missing.get_json()["errors"]["json"]) >= {"sources"}

    fixed = client.patch(
        "/v1/questions/scn-new-question",
        json={"explanation": "Unlabeled rows: clustering."},
        headers={**staff, "If-Match": '"1"'},
    )
    assert fixed.status_code == 200, fixed.get_json()
    assert fixed.headers["ETag"] == '"2"'
    history = client.get("/v1/questions/scn-new-question/versions", headers=staff).get_json()
    assert [item["action"] for item in history["items"]] == ["created", "edited"]
    assert set(history["items"][1]["changes"]) == {"explanation"}

    assert client.delete(f"/v1/questions/{existing.id}", headers=staff).status_code == 204
    read = client.get(f"/v1/questions/{existing.id}", headers=staff)
    assert read.status_code == 200
    assert read.get_json()["retired"] is True
    live = app.extensions["quizsvc"].bank
    assert existing.id not in [q.id for q in live.select_questions(DECK)]
    assert "scn-new-question" in [q.id for q in live.select_questions(DECK)]


@pytest.mark.http
def test_another_instance_sees_the_edits(
    app: Flask, staff: Headers, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances on one database (as behind a proxy): an edit and a retirement made on
    one are read, and drawn from, on the other."""
    other = make_app(database_url, tmp_path / "other-instance")
    with serve_in_thread(app) as first, serve_in_thread(other) as second:
        # Both have read the bank before the edit.
        for url in (first, second):
            assert requests.get(f"{url}/v1/cards/{CARD}", headers=staff, timeout=30).ok
        edited = requests.patch(
            f"{first}/v1/cards/{CARD}",
            json={"explanation": "Edited on the first instance."},
            headers={**staff, "If-Match": '"1"'},
            timeout=60,
        )
        assert edited.status_code == 200, edited.text
        # No waiting in the test: the other instance checks on its next request.
        monkeypatch.setattr(bank_editing, "BANK_REFRESH_SECONDS", 0.0)
        seen = requests.get(f"{second}/v1/cards/{CARD}", headers=staff, timeout=30)
        assert seen.json()["explanation"] == "Edited on the first instance."
        assert seen.headers["ETag"] == '"2"'
        # The second instance's edit must name version 2, or it is refused.
        stale = requests.patch(
            f"{second}/v1/cards/{CARD}",
            json={"explanation": "Based on version 1."},
            headers={**staff, "If-Match": '"1"'},
            timeout=60,
        )
        assert stale.status_code == 412
        assert requests.delete(f"{first}/v1/cards/{CARD}", headers=staff, timeout=60).ok
        exam = requests.post(
            f"{second}/v1/exams",
            json={
                "title": "Drill",
                "topics": [SMALL_TOPIC],
                "seed": 3,
                "counts": {"free_answer": 4},
            },
            headers=staff,
            timeout=60,
        )
        assert exam.status_code == 201, exam.text
        keys = requests.get(
            f"{second}/v1/exams/{exam.json()['id']}?include=key", headers=staff, timeout=30
        ).json()["key"]
        assert CARD not in {key["card_id"] for key in keys}


# -- frozen copies and regrade (the real model grades) ------------------------------------------

REGRADE_CARD = "metrics-roc-expansion"
NEW_ANSWER = "Relative Operating Characteristic"


@pytest.mark.model
def test_a_past_exam_keeps_its_copy_and_a_regrade_applies_the_fix(
    fast_outbox_app: Flask, database_url: str, shared_instance_dir: Path
) -> None:
    graded_app = fast_outbox_app
    client = graded_app.test_client()
    staff = key_for(graded_app, "instructor", "Ines")
    learner = key_for(graded_app, "learner")
    # The builder decides which cards an exam asks; take the first seed that asks the card.
    for seed in range(1, 60):
        exam = client.post(
            "/v1/exams",
            json={"title": "ROC", "topics": ["metrics"], "counts": {"fill_in": 4}, "seed": seed},
            headers=staff,
        ).get_json()
        keys = client.get(f"/v1/exams/{exam['id']}?include=key", headers=staff).get_json()["key"]
        found = [key for key in keys if key["card_id"] == REGRADE_CARD]
        if found:
            (target,) = found
            break
    else:
        pytest.fail(f"no seed asks {REGRADE_CARD}")
    old_answer = target["answer"]

    # The learner writes the corrected expansion, wrong under the exam's (old) key.
    attempt = client.post(f"/v1/exams/{exam['id']}/attempts", headers=learner).get_json()
    attempt_keys = client.get(
        f"/v1/attempts/{attempt['id']}?include=key", headers=staff
    ).get_json()["key"]
    slots = client.get(f"/v1/attempts/{attempt['id']}", headers=learner).get_json()["questions"]
    by_prompt = {slot["prompt"]: slot["id"] for slot in slots}
    target_public = by_prompt[target["prompt"]]
    for key in attempt_keys:
        if key["question_id"] == target_public:
            answer: Any = NEW_ANSWER
        elif key["type"] == "multiple_choice":
            answer = key["correct_option_ids"][0]
        else:
            answer = key["accept"][0]
        saved = client.put(
            f"/v1/attempts/{attempt['id']}/responses/{key['question_id']}",
            json={"answer": answer},
            headers=learner,
        )
        assert saved.status_code == 200, saved.get_json()
    assert client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner).status_code == 200

    def target_grade() -> tuple[float, str]:
        result = client.get(f"/v1/attempts/{attempt['id']}/result", headers=staff).get_json()
        item = next(q for q in result["questions"] if q["question_id"] == target_public)
        return item["score"], item["verdict"]

    assert target_grade() == (0.0, "incorrect")

    # Staff correct the card over the API.
    fixed = patch(
        client,
        REGRADE_CARD,
        {
            "answer": NEW_ANSWER,
            "accept": [f"{NEW_ANSWER} curve"],
            "short_answers": [],
            "key_points": [NEW_ANSWER],
        },
        staff,
        '"1"',
    )
    assert fixed.status_code == 200, fixed.get_json()
    # The exam keeps the copy it froze: its key and the learner's grade are unchanged.
    keys_after = client.get(f"/v1/exams/{exam['id']}?include=key", headers=staff).get_json()
    frozen = next(key for key in keys_after["key"] if key["card_id"] == REGRADE_CARD)
    assert frozen["answer"] == old_answer
    assert target_grade() == (0.0, "incorrect")

    # The command line sees the edit too: its dry run refreshes the key from the edited card.
    env = {
        "QUIZSVC_DATABASE_URL": database_url,
        "QUIZSVC_INSTANCE_DIR": str(shared_instance_dir),
        "HF_HUB_OFFLINE": "1",
    }
    dry = CliRunner().invoke(
        main, ["exams", "regrade", exam["id"], "--refresh-keys", "--dry-run"], env=env
    )
    assert dry.exit_code == 0, dry.output
    (changed,) = [item for item in json.loads(dry.stdout)["keys"] if item["status"] == "changed"]
    assert changed["question_id"] == target["question_id"]
    assert target_grade() == (0.0, "incorrect")

    # A regrade with the keys refreshed from the bank applies the fix.
    started = client.post(
        f"/v1/exams/{exam['id']}/regrade",
        json={"dry_run": False, "refresh_keys": True},
        headers=staff,
    )
    assert started.status_code == 202, started.get_json()
    job_id = started.get_json()["id"]
    wait_until(
        lambda: client.get(f"/v1/jobs/{job_id}", headers=staff).get_json()["status"] == "done",
        what="the regrade job",
    )
    assert target_grade() == (1.0, "correct")
    refreshed = client.get(f"/v1/exams/{exam['id']}?include=key", headers=staff).get_json()
    assert next(k for k in refreshed["key"] if k["card_id"] == REGRADE_CARD)["answer"] == (
        NEW_ANSWER
    )


def test_the_yaml_bank_itself_is_not_written(client: FlaskClient, staff: Headers) -> None:
    """Edits live in the database; the YAML files change only by ``bank write-back``."""
    before = (PROJECT_ROOT / "bank" / DECK / f"{SMALL_TOPIC}.yaml").read_text(encoding="utf-8")
    assert patch(client, CARD, {"explanation": "Database only."}, staff, '"1"').status_code == 200
    after = (PROJECT_ROOT / "bank" / DECK / f"{SMALL_TOPIC}.yaml").read_text(encoding="utf-8")
    assert after == before
    assert load_bank(PROJECT_ROOT / "bank").card(CARD).explanation != "Database only."


def test_write_back_puts_the_edits_into_yaml_decks(
    app: Flask, client: FlaskClient, staff: Headers, database_url: str, tmp_path: Path
) -> None:
    assert patch(client, CARD, {"explanation": "Written back."}, staff, '"1"').status_code == 200
    assert client.post("/v1/cards", json=new_card(), headers=staff).status_code == 201
    retired_question = app.extensions["quizsvc"].bank.questions[0].id
    assert client.delete(f"/v1/questions/{retired_question}", headers=staff).status_code == 204
    out = tmp_path / "written"
    env = {"QUIZSVC_DATABASE_URL": database_url, "QUIZSVC_INSTANCE_DIR": str(tmp_path)}
    written = CliRunner().invoke(main, ["bank", "write-back", "--output", str(out)], env=env)
    assert written.exit_code == 0, written.output
    assert "3 changed over the API, 1 of them retired" in written.output
    validated = CliRunner().invoke(main, ["bank", "validate", str(out)], env=env)
    assert validated.exit_code == 0, validated.output
    bank = load_bank(out)
    original = load_bank(PROJECT_ROOT / "bank")
    assert bank.card(CARD).explanation == "Written back."
    assert bank.card("sm-model-registry").prompt == new_card()["prompt"]
    assert len(bank.cards) == len(original.cards) + 1
    assert retired_question not in {question.id for question in bank.questions}
    assert len(bank.questions) == len(original.questions) - 1
