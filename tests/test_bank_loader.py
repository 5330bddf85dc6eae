"""The bank loader: the real bank is sound, and every kind of problem in a deck is reported
with its file, line, card id and field, all at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from quizsvc.bank import Bank, BankError, Problem, load_bank, validate_bank
from quizsvc.bank.loader import SCHEMA_PATH
from quizsvc.config import Settings

# -- the real bank -----------------------------------------------------------------------------


def test_real_bank_has_no_problems(settings: Settings) -> None:
    _, problems = validate_bank(settings.bank_dir)
    assert problems == [], "\n".join(str(problem) for problem in problems)


def test_real_bank_is_large_enough(bank: Bank) -> None:
    topics = {(card.deck, card.topic) for card in bank}
    assert len(bank) >= 100
    assert len(topics) >= 12


def test_every_real_card_has_a_non_blank_key_point(bank: Bank) -> None:
    lacking = [card.id for card in bank if not any(point.strip() for point in card.key_points)]
    assert lacking == []


def test_real_card_ids_are_unique_across_files(settings: Settings) -> None:
    # Read the files directly: a loaded Bank would hide a duplicate behind its id index.
    ids: list[str] = []
    for path in sorted(settings.bank_dir.glob("*/*.yaml")):
        if path.name != "deck.yaml":
            ids.extend(card["id"] for card in yaml.safe_load(path.read_text("utf-8"))["cards"])
    assert len(ids) >= 100
    duplicates = sorted({card_id for card_id in ids if ids.count(card_id) > 1})
    assert duplicates == []


# -- small decks written for each case ---------------------------------------------------------

DECK_YAML = """\
deck: demo
title: Demo deck
topics:
  basics: Basics
  more: More
"""


def card_yaml(card_id: str, prompt: str | None = None, **fields: str) -> str:
    """A valid card as a YAML list item; ``fields`` replace or add raw ``key: value`` lines."""
    values = {
        "id": card_id,
        "prompt": prompt or f"What is {card_id}?",
        "answer": f"The answer about {card_id}.",
        "key_points": f"\n      - The fact about {card_id}",
    }
    values.update(fields)
    lines = [f"{key}: {value}" for key, value in values.items() if value != "<omit>"]
    return "  - " + "\n    ".join(lines) + "\n"


def topic_yaml(topic: str, *cards: str) -> str:
    return f"topic: {topic}\ncards:\n" + "".join(cards)


def make_bank(root: Path, files: dict[str, str], deck_yaml: str = DECK_YAML) -> Path:
    """``root/bank/demo/`` with a deck.yaml and the given files; returns the bank dir."""
    deck_dir = root / "bank" / "demo"
    deck_dir.mkdir(parents=True)
    (deck_dir / "deck.yaml").write_text(deck_yaml, encoding="utf-8")
    for name, text in files.items():
        (deck_dir / name).write_text(text, encoding="utf-8")
    return root / "bank"


def line_of(text: str, start: str) -> int:
    """1-based number of the first line of ``text`` that starts with ``start``, ignoring
    indentation and a list dash."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().removeprefix("- ").startswith(start.removeprefix("- ")):
            return number
    raise AssertionError(f"no line starts with {start!r}")


def card_lines(text: str) -> list[int]:
    """Line numbers where the cards of a topic file start."""
    return [n for n, line in enumerate(text.splitlines(), start=1) if line.startswith("  - ")]


def test_a_sound_small_deck_loads(tmp_path: Path) -> None:
    root = make_bank(
        tmp_path,
        {
            "basics.yaml": topic_yaml(
                "basics",
                card_yaml("alpha", accept="\n      - Alpha", tags="[one, two]"),
                card_yaml("beta", difficulty="hard"),
            ),
            "more.yaml": topic_yaml("more", card_yaml("gamma")),
        },
    )
    bank = load_bank(root)
    assert [card.id for card in bank] == ["alpha", "beta", "gamma"]
    alpha = bank.card("alpha")
    assert (alpha.deck, alpha.topic, alpha.accept, alpha.tags) == (
        "demo",
        "basics",
        ("Alpha",),
        ("one", "two"),
    )
    assert bank.card("gamma").topic == "more"
    assert bank.decks["demo"].title == "Demo deck"


# One schema violation per card field: (field, replacement YAML value, expected message part).
# "<omit>" removes a required field.
FIELD_VIOLATIONS = {
    "id": ("Not A Slug", "is not a slug"),
    "deck": ("Demo Deck", "is not a slug"),
    "topic": ("42", "is not of type 'string'"),
    "prompt": ('"   "', "must not be blank"),
    "answer": ('""', "must not be empty"),
    "term": ("[a, b]", "is not of type 'string'"),
    "key_points": ("[]", "must not be empty"),
    "accept": ("just one string", "is not of type 'array'"),
    "short_answers": ("just one string", "is not of type 'array'"),
    "misconceptions": ("[{text: no explanation}]", "is required"),
    "explanation": ("x" * 4001, "is too long"),
    "tags": ("[Not A Slug]", "is not a slug"),
    "difficulty": ("extreme", "is not one of"),
    "source_note": ("null", "is not of type 'string'"),
}
MISSING_REQUIRED = ("id", "prompt", "answer", "key_points")


def test_violation_cases_cover_every_card_field() -> None:
    schema = json.loads(SCHEMA_PATH.read_text("utf-8"))
    card_schema = schema["$defs"]["card"]
    assert set(FIELD_VIOLATIONS) == set(card_schema["properties"])
    assert set(MISSING_REQUIRED) == set(card_schema["required"])


@pytest.mark.parametrize("field", sorted(FIELD_VIOLATIONS))
def test_schema_violation_names_file_line_card_and_field(tmp_path: Path, field: str) -> None:
    value, message = FIELD_VIOLATIONS[field]
    text = topic_yaml("basics", card_yaml("fine-card"), card_yaml("bad-card", **{field: value}))
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)

    assert problems, f"no problem reported for a bad {field}"
    expected_id = "Not A Slug" if field == "id" else "bad-card"
    expected_line = line_of(text, f"{field}: {value}"[:40])
    matching = [p for p in problems if p.field is not None and p.field.split("[")[0] == field]
    assert matching, problems
    for problem in matching:
        assert problem.file == "bank/demo/basics.yaml"
        assert problem.card_id == expected_id
        assert problem.line == expected_line
    assert any(message in problem.message for problem in matching), matching
    # The violation belongs to that card and field only.
    assert all(problem.card_id == expected_id for problem in problems), problems
    rendered = str(matching[0])
    assert rendered.startswith(f"bank/demo/basics.yaml:{expected_line}: card {expected_id}")
    assert repr(matching[0].field) in rendered


@pytest.mark.parametrize("field", MISSING_REQUIRED)
def test_missing_required_field_is_reported(tmp_path: Path, field: str) -> None:
    text = topic_yaml("basics", card_yaml("fine-card"), card_yaml("bad-card", **{field: "<omit>"}))
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)
    expected_id = "#2" if field == "id" else "bad-card"
    assert problems == [
        Problem("bank/demo/basics.yaml", card_lines(text)[1], expected_id, field, "is required")
    ]


def test_unknown_card_field_is_reported_at_its_line(tmp_path: Path) -> None:
    text = topic_yaml("basics", card_yaml("alpha", colour="blue", size="3"))
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)
    assert sorted(problems, key=Problem.sort_key) == [
        Problem(
            "bank/demo/basics.yaml",
            line_of(text, "colour:"),
            "alpha",
            "colour",
            "is not a known field",
        ),
        Problem(
            "bank/demo/basics.yaml", line_of(text, "size:"), "alpha", "size", "is not a known field"
        ),
    ]


@pytest.mark.parametrize(
    ("deck_yaml", "field", "message"),
    [
        ("deck: Demo Deck\ntitle: Demo\n", "deck", "is not a slug"),
        ("deck: demo\n", "title", "is required"),
        ("deck: demo\ntitle: '  '\n", "title", "must not be blank"),
        ("deck: demo\ntitle: Demo\nowner: me\n", "owner", "is not a known field"),
        ("deck: demo\ntitle: Demo\ntopics:\n  Bad Topic: Bad\n", "topics", "is not a slug"),
        ("deck: demo\ntitle: Demo\nglossary:\n  'a b c': x\n", "glossary", "does not match"),
    ],
)
def test_deck_file_violations(tmp_path: Path, deck_yaml: str, field: str, message: str) -> None:
    root = make_bank(tmp_path, {"basics.yaml": topic_yaml("basics", card_yaml("alpha"))}, deck_yaml)
    _, problems = validate_bank(root)
    deck_problems = [p for p in problems if p.file == "bank/demo/deck.yaml"]
    assert deck_problems, problems
    assert any(p.field == field and message in p.message for p in deck_problems), deck_problems
    assert all(p.line is not None for p in deck_problems)


def test_duplicate_ids_across_files_name_both_places(tmp_path: Path) -> None:
    basics = topic_yaml("basics", card_yaml("alpha"), card_yaml("shared"))
    more = topic_yaml("more", card_yaml("gamma"), card_yaml("shared", prompt="Something else?"))
    root = make_bank(tmp_path, {"basics.yaml": basics, "more.yaml": more})
    _, problems = validate_bank(root)
    first_line = line_of(basics, "- id: shared")
    second_line = line_of(more, "- id: shared")
    assert problems == [
        Problem(
            "bank/demo/more.yaml",
            second_line,
            "shared",
            "id",
            f"duplicate id (first defined at bank/demo/basics.yaml:{first_line})",
        )
    ]


def test_duplicate_ids_across_decks_are_reported(tmp_path: Path) -> None:
    root = make_bank(tmp_path, {"basics.yaml": topic_yaml("basics", card_yaml("alpha"))})
    other = root / "other"
    other.mkdir()
    (other / "deck.yaml").write_text("deck: other\ntitle: Other\n", encoding="utf-8")
    (other / "t.yaml").write_text(topic_yaml("t", card_yaml("alpha")), encoding="utf-8")
    _, problems = validate_bank(root)
    assert [(p.file, p.card_id, p.field) for p in problems] == [
        ("bank/other/t.yaml", "alpha", "id")
    ]
    assert "bank/demo/basics.yaml:" in problems[0].message


def test_duplicate_prompts_are_reported(tmp_path: Path) -> None:
    text = topic_yaml(
        "basics",
        card_yaml("alpha", prompt="What is  overfitting?"),
        card_yaml("beta", prompt="what is overfitting?"),
    )
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.card_id, problem.field) == ("beta", "prompt")
    assert problem.line == line_of(text, "- id: beta")
    assert "alpha" in problem.message
    assert f"basics.yaml:{line_of(text, '- id: alpha')}" in problem.message


def test_accept_repeating_the_answer_or_itself_is_reported(tmp_path: Path) -> None:
    text = topic_yaml(
        "basics",
        card_yaml(
            "alpha",
            answer="Mean squared error",
            accept="\n      - MSE\n      - mean  squared ERROR\n      - mse",
        ),
    )
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)
    assert sorted((p.field, p.card_id, p.line) for p in problems) == [
        ("accept[1]", "alpha", line_of(text, "accept:")),
        ("accept[2]", "alpha", line_of(text, "accept:")),
    ]
    messages = {p.field: p.message for p in problems}
    assert "repeats the answer" in messages["accept[1]"]
    assert "listed twice" in messages["accept[2]"]


def test_repeated_key_point_is_reported(tmp_path: Path) -> None:
    text = topic_yaml("basics", card_yaml("alpha", key_points="[One fact, one  FACT]"))
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)
    assert [(p.card_id, p.field) for p in problems] == [("alpha", "key_points[1]")]


def test_card_deck_and_topic_must_match_their_files(tmp_path: Path) -> None:
    text = topic_yaml("basics", card_yaml("alpha", deck="other-deck", topic="other-topic"))
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)
    assert sorted((p.field, p.card_id, p.line) for p in problems) == [
        ("deck", "alpha", line_of(text, "deck:")),
        ("topic", "alpha", line_of(text, "topic: other-topic")),
    ]
    assert all("does not match" in p.message for p in problems)


def test_matching_card_deck_and_topic_are_accepted(tmp_path: Path) -> None:
    text = topic_yaml("basics", card_yaml("alpha", deck="demo", topic="basics"))
    assert len(load_bank(make_bank(tmp_path, {"basics.yaml": text}))) == 1


def test_topic_missing_from_deck_topics_is_reported(tmp_path: Path) -> None:
    root = make_bank(tmp_path, {"extra.yaml": topic_yaml("extra", card_yaml("alpha"))})
    _, problems = validate_bank(root)
    assert [(p.file, p.line, p.field) for p in problems] == [("bank/demo/extra.yaml", 1, "topic")]


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    text = topic_yaml(
        "basics", card_yaml("alpha"), card_yaml("beta", answer="precision: recall: f1")
    )
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)
    assert len(problems) == 1
    problem = problems[0]
    assert problem.file == "bank/demo/basics.yaml"
    assert problem.line == line_of(text, "answer: precision")
    assert problem.message.startswith("invalid YAML")
    assert str(problem).startswith(f"bank/demo/basics.yaml:{problem.line}: invalid YAML")


def test_unclosed_bracket_points_near_its_line(tmp_path: Path) -> None:
    text = "topic: basics\ncards:\n  - id: alpha\n    key_points: [one, two\n    prompt: x\n"
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)
    assert len(problems) == 1
    assert problems[0].line is not None
    assert 4 <= problems[0].line <= 6


def test_duplicate_yaml_key_is_reported(tmp_path: Path) -> None:
    text = topic_yaml("basics", card_yaml("alpha") + "    answer: A second answer.\n")
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)
    assert [(p.line, p.field) for p in problems] == [(line_of(text, "answer: A second"), "answer")]
    assert "twice" in problems[0].message


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "file is empty"), ("- just\n- a list\n", "is not of type 'object'")],
)
def test_topic_file_of_the_wrong_shape(tmp_path: Path, text: str, message: str) -> None:
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)
    assert [p.file for p in problems] == ["bank/demo/basics.yaml"]
    assert message in problems[0].message


def test_missing_deck_file_and_empty_bank(tmp_path: Path) -> None:
    (tmp_path / "bank" / "lonely").mkdir(parents=True)
    _, problems = validate_bank(tmp_path / "bank")
    assert [(p.file, p.message) for p in problems] == [
        ("bank/lonely/deck.yaml", "deck.yaml is missing")
    ]
    _, problems = validate_bank(tmp_path / "nowhere")
    assert [p.message for p in problems] == ["bank directory does not exist"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    files = {
        # A schema problem in one card must not hide the other cards of the file.
        "basics.yaml": topic_yaml(
            "basics", card_yaml("alpha", difficulty="extreme"), card_yaml("dup")
        ),
        "more.yaml": topic_yaml("more", card_yaml("dup", prompt="Another prompt?")),
        "broken.yaml": "topic: more\ncards:\n  - id: x\n   prompt: bad indent\n",
        "listed.yaml": topic_yaml(
            "unlisted", card_yaml("gamma", accept="[The answer about gamma.]")
        ),
    }
    root = make_bank(tmp_path, files)
    _, problems = validate_bank(root)
    found = {(p.file.rsplit("/", 1)[-1], p.card_id, p.field) for p in problems}
    assert found == {
        ("basics.yaml", "alpha", "difficulty"),
        ("more.yaml", "dup", "id"),
        ("broken.yaml", None, None),
        ("listed.yaml", None, "topic"),
        ("listed.yaml", "gamma", "accept[0]"),
    }
    with pytest.raises(BankError) as caught:
        load_bank(root)
    assert len(caught.value.problems) == len(problems) == 5
    report = str(caught.value)
    assert report.startswith("5 problem(s)")
    for problem in problems:
        assert str(problem) in report


def test_broken_deck_file_does_not_hide_card_problems(tmp_path: Path) -> None:
    files = {
        "basics.yaml": topic_yaml("basics", card_yaml("alpha"), card_yaml("alpha", prompt="B?")),
    }
    root = make_bank(tmp_path, files, deck_yaml="deck: demo\n")
    bank, problems = validate_bank(root)
    assert {(p.file, p.field) for p in problems} == {
        ("bank/demo/deck.yaml", "title"),
        ("bank/demo/basics.yaml", "id"),
    }
    # Cards of a deck without a valid deck.yaml are not served.
    assert len(bank) == 0


def test_single_deck_directory_can_be_validated(tmp_path: Path) -> None:
    root = make_bank(tmp_path, {"basics.yaml": topic_yaml("basics", card_yaml("alpha"))})
    bank = load_bank(root / "demo")
    assert [card.id for card in bank] == ["alpha"]


def test_problems_sort_with_and_without_lines() -> None:
    problems = [
        Problem("b.yaml", 3, "x", "id", "m"),
        Problem("a.yaml", None, None, None, "m"),
        Problem("b.yaml", None, None, None, "m"),
        Problem("a.yaml", 2, "y", None, "m"),
    ]
    ordered = sorted(problems, key=Problem.sort_key)
    assert [(p.file, p.line) for p in ordered] == [
        ("a.yaml", None),
        ("a.yaml", 2),
        ("b.yaml", None),
        ("b.yaml", 3),
    ]


def test_card_yaml_helper_writes_valid_yaml() -> None:
    # The helpers above build YAML by hand; make sure a plain card parses to what it says.
    parsed = yaml.safe_load(topic_yaml("basics", card_yaml("alpha", tags="[a]")))
    assert parsed == {
        "topic": "basics",
        "cards": [
            {
                "id": "alpha",
                "prompt": "What is alpha?",
                "answer": "The answer about alpha.",
                "key_points": ["The fact about alpha"],
                "tags": ["a"],
            }
        ],
    }


def test_a_misconception_that_repeats_a_right_answer_is_reported(tmp_path: Path) -> None:
    misconceptions = (
        "\n      - text: Harmonic mean of precision and recall"
        "\n        explanation: Wrong on purpose."
        "\n      - text: The arithmetic mean of precision and recall"
        "\n        explanation: F1 is the harmonic mean."
    )
    text = topic_yaml(
        "basics",
        card_yaml(
            "f1-card",
            short_answers="\n      - Harmonic mean of precision and recall",
            misconceptions=misconceptions,
        ),
    )
    root = make_bank(tmp_path, {"basics.yaml": text})
    _, problems = validate_bank(root)

    assert [(p.card_id, p.field) for p in problems] == [("f1-card", "misconceptions[0]")], problems
    assert "repeats a right answer" in problems[0].message
    assert problems[0].line == line_of(text, "misconceptions:")
