"""``quizsvc bank`` through click's test runner, and ``--help`` on every command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import genanki
import pytest
from click.testing import CliRunner, Result

from quizsvc.bank import Bank, Card, load_bank
from quizsvc.cli import main
from quizsvc.config import Settings


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output


# -- --help everywhere -------------------------------------------------------------------------


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand under ``group``, found by walking it."""
    context = click.Context(group)
    paths = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


def test_command_walk_finds_the_bank_commands() -> None:
    paths = command_paths(main)
    for expected in ("validate", "stats", "export", "import"):
        assert ("bank", expected) in paths


@pytest.mark.parametrize("path", [(), *command_paths(main)], ids=lambda p: " ".join(p) or "quizsvc")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_works_for_every_command(runner: CliRunner, path: tuple[str, ...], flag: str) -> None:
    result = run(runner, *path, flag)
    assert result.exit_code == 0, result.output
    usage = result.output.splitlines()[0]
    assert usage.startswith("Usage: ")
    assert " ".join(path) in usage
    assert "Options:" in result.output


# -- validate, stats, export on the real bank --------------------------------------------------


def test_validate_the_real_bank(runner: CliRunner, settings: Settings) -> None:
    result = run(runner, "bank", "validate", str(settings.bank_dir))
    assert result.exit_code == 0, result.output
    assert re.search(
        r": (\d+) cards(?: and \d+ authored questions)? in \d+ deck\(s\), all valid", result.stdout
    )


def test_validate_uses_the_configured_bank(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "bank", "validate", env={"QUIZSVC_BANK_DIR": str(tmp_path / "none")})
    assert result.exit_code == 1
    assert "bank directory does not exist" in result.stderr


def test_validate_a_broken_bank_lists_every_problem(runner: CliRunner, tmp_path: Path) -> None:
    deck = tmp_path / "bank" / "demo"
    deck.mkdir(parents=True)
    (deck / "deck.yaml").write_text("deck: demo\ntitle: Demo\n", encoding="utf-8")
    (deck / "a.yaml").write_text(
        "topic: a\ncards:\n  - id: one\n    prompt: Q?\n    answer: A\n    key_points: []\n",
        encoding="utf-8",
    )
    (deck / "b.yaml").write_text("topic: b\ncards: [unclosed\n", encoding="utf-8")
    (deck / "c.yaml").write_text("", encoding="utf-8")
    (tmp_path / "bank" / "no-deck-file").mkdir()

    result = run(runner, "bank", "validate", str(tmp_path / "bank"))
    assert result.exit_code == 1
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert lines[0] == f"4 problem(s) in {tmp_path / 'bank'}:"
    assert lines[1:] == [
        "  bank/demo/a.yaml:6: card one: field 'key_points': must not be empty",
        lines[2],
        "  bank/demo/c.yaml: file is empty",
        "  bank/no-deck-file/deck.yaml: deck.yaml is missing",
    ]
    assert re.fullmatch(r"  bank/demo/b\.yaml:\d+: invalid YAML: .+", lines[2])


def test_stats_shows_totals(runner: CliRunner, settings: Settings, bank: Bank) -> None:
    result = run(runner, "bank", "stats", str(settings.bank_dir))
    assert result.exit_code == 0, result.output
    totals = re.findall(r"^  total\s+(\d+) cards in (\d+) topics$", result.output, re.MULTILINE)
    assert len(totals) == len(bank.decks)
    assert sum(int(cards) for cards, _ in totals) == len(bank) >= 100
    assert sum(int(topics) for _, topics in totals) >= 12
    for deck in bank.decks:
        for topic, count in bank.topics(deck).items():
            assert re.search(rf"^  {re.escape(topic)}\s+{count}$", result.output, re.MULTILINE)


def test_stats_on_a_broken_bank_is_a_readable_error(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "bank", "stats", str(tmp_path))
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert "no deck directories found" in result.stderr


def test_export_prints_every_card_with_every_field(
    runner: CliRunner, settings: Settings, bank: Bank
) -> None:
    result = run(runner, "bank", "export", "--format", "json", str(settings.bank_dir))
    assert result.exit_code == 0, result.stderr
    exported = json.loads(result.stdout)
    assert isinstance(exported, list)
    assert len(exported) == len(bank)
    fields = set(Card.__dataclass_fields__)
    assert all(set(item) == fields for item in exported)
    assert [Card.from_dict(item) for item in exported] == list(bank)


def test_export_filters_and_rejects_unknown_names(
    runner: CliRunner, settings: Settings, bank: Bank
) -> None:
    deck = next(iter(bank.decks))
    topic = next(iter(bank.topics(deck)))
    result = run(runner, "bank", "export", str(settings.bank_dir), "--deck", deck, "--topic", topic)
    assert result.exit_code == 0
    assert [item["id"] for item in json.loads(result.stdout)] == [
        card.id for card in bank.select(deck, [topic])
    ]
    result = run(runner, "bank", "export", str(settings.bank_dir), "--deck", "no-such-deck")
    assert result.exit_code == 2
    assert "no deck 'no-such-deck'" in result.stderr
    result = run(runner, "bank", "export", str(settings.bank_dir), "--topic", "no-such-topic")
    assert result.exit_code == 2
    assert "no topic 'no-such-topic'" in result.stderr


# -- import ------------------------------------------------------------------------------------

CSV_TEXT = (
    "front,back,topic\n"
    "What is overfitting?,The model learns noise in the training data,Regularization\n"
    '"Name two ways to fight it","Dropout\nEarly stopping",Regularization\n'
    "What does AUC stand for?,Area under the curve,Metrics\n"
)


def test_import_end_to_end(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "my cards.csv"
    source.write_text(CSV_TEXT, encoding="utf-8")
    bank_dir = tmp_path / "bank"
    result = run(
        runner, "bank", "import", str(source), "--deck", "My Cards", "--title", "Mine",
        "--out", str(bank_dir),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Imported 3 card(s) from my cards.csv into {bank_dir / 'my-cards'} "
        "(deck my-cards, 2 topic(s))",
        "  regularization     2",
        "  metrics            1",
    ]
    assert run(runner, "bank", "validate", str(bank_dir)).exit_code == 0
    exported = json.loads(run(runner, "bank", "export", str(bank_dir)).stdout)
    assert {(item["prompt"], item["answer"], item["topic"]) for item in exported} == {
        ("What is overfitting?", "The model learns noise in the training data", "regularization"),
        ("Name two ways to fight it", "Dropout\nEarly stopping", "regularization"),
        ("What does AUC stand for?", "Area under the curve", "metrics"),
    }
    assert load_bank(bank_dir).decks["my-cards"].title == "Mine"


def test_import_writes_to_the_configured_bank_and_needs_force_to_replace(
    runner: CliRunner, tmp_path: Path
) -> None:
    source = tmp_path / "cards.csv"
    source.write_text(CSV_TEXT, encoding="utf-8")
    env = {"QUIZSVC_BANK_DIR": str(tmp_path / "configured")}
    assert run(runner, "bank", "import", str(source), "--deck", "d", env=env).exit_code == 0
    assert len(load_bank(tmp_path / "configured")) == 3

    source.write_text("front,back\nOnly one?,Yes\n", encoding="utf-8")
    again = run(runner, "bank", "import", str(source), "--deck", "d", env=env)
    assert again.exit_code == 1
    assert "already exists; use --force to replace it" in again.stderr
    assert len(load_bank(tmp_path / "configured")) == 3

    forced = run(runner, "bank", "import", str(source), "--deck", "d", "--force", env=env)
    assert forced.exit_code == 0, forced.output
    assert [card.prompt for card in load_bank(tmp_path / "configured")] == ["Only one?"]


def test_import_of_a_malformed_file_names_the_row(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("front,back\nfine,row\nno back here\n", encoding="utf-8")
    result = run(runner, "bank", "import", str(source), "--deck", "d", "--out", str(tmp_path / "b"))
    assert result.exit_code == 1
    assert_no_traceback(result)
    assert result.stderr.startswith("Error: bad.csv: row 3: missing back column")
    assert not (tmp_path / "b").exists()


def test_import_warns_about_skipped_rows(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "cards.csv"
    source.write_text("Q1,A1\nQ2,\n", encoding="utf-8")
    result = run(runner, "bank", "import", str(source), "--deck", "d", "--out", str(tmp_path))
    assert result.exit_code == 0
    assert "1 skipped" in result.stdout
    assert result.stderr == "warning: cards.csv: row 2: the back is empty " + (
        "(images and sounds are not imported), skipped\n"
    )


def test_import_apkg(runner: CliRunner, tmp_path: Path) -> None:
    model = genanki.Model(
        1607392321,
        "Simple",
        fields=[{"name": "Front"}, {"name": "Back"}],
        templates=[{"name": "Card 1", "qfmt": "{{Front}}", "afmt": "{{Back}}"}],
    )
    deck = genanki.Deck(2059400300, "Networks::CNN")
    deck.add_note(genanki.Note(model=model, fields=["What does <b>pooling</b> do?", "Shrinks"]))
    package = tmp_path / "cnn.apkg"
    genanki.Package(deck).write_to_file(str(package), timestamp=1_700_000_000.0)

    result = run(runner, "bank", "import", str(package), "--deck", "anki", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    [card] = load_bank(tmp_path)
    assert (card.prompt, card.answer, card.topic) == ("What does pooling do?", "Shrinks", "cnn")


def test_import_refuses_ids_used_by_another_deck(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "cards.csv"
    bank_dir = tmp_path / "bank"
    source.write_text("Q1 A1,B1\n", encoding="utf-8")
    first = run(runner, "bank", "import", str(source), "--deck", "x", "--out", str(bank_dir))
    assert first.exit_code == 0, first.output
    # Deck "x q1" would give the front "A1" the id "x-q1-a1", which deck "x" already uses.
    source.write_text("A1,B2\n", encoding="utf-8")
    result = run(runner, "bank", "import", str(source), "--deck", "x q1", "--out", str(bank_dir))
    assert result.exit_code == 1
    assert "x-q1-a1" in result.stderr
    assert sorted(path.name for path in bank_dir.iterdir()) == ["x"]
    assert run(runner, "bank", "validate", str(bank_dir)).exit_code == 0


def test_import_rejects_a_deck_directory_as_out(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "cards.csv"
    source.write_text("Q1,A1\n", encoding="utf-8")
    assert (
        run(
            runner, "bank", "import", str(source), "--deck", "x", "--out", str(tmp_path / "b")
        ).exit_code
        == 0
    )
    result = run(
        runner, "bank", "import", str(source), "--deck", "y", "--out", str(tmp_path / "b" / "x")
    )
    assert result.exit_code == 2
    assert "is a deck directory" in result.stderr


@pytest.mark.parametrize("name", ["!!!", "  "])
def test_import_rejects_names_without_a_slug(runner: CliRunner, tmp_path: Path, name: str) -> None:
    source = tmp_path / "cards.csv"
    source.write_text("Q1,A1\n", encoding="utf-8")
    for option in ("--deck", "--topic"):
        args = ["--deck", "ok", option, name] if option == "--topic" else ["--deck", name]
        result = run(runner, "bank", "import", str(source), *args, "--out", str(tmp_path))
        assert result.exit_code == 2
        assert "has no letters or digits" in result.stderr
