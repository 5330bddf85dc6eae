"""``quizsvc bank``: validate, inspect, import and export decks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from quizsvc.bank import Bank, BankError, load_bank, validate_bank
from quizsvc.cli.common import settings_from_env


@click.group()
def bank() -> None:
    """Validate, inspect, import and export card decks."""


def _bank_path(path: Path | None) -> Path:
    return path if path is not None else settings_from_env().bank_dir


@bank.command("validate")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def bank_validate(path: Path | None) -> None:
    """Check every deck under PATH (default: the configured bank) and list all problems."""
    root = _bank_path(path)
    loaded, problems = validate_bank(root)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {root}:", err=True)
        for problem in sorted(problems):
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    click.echo(f"{root}: {len(loaded)} cards in {len(loaded.decks)} deck(s), all valid")


@bank.command("stats")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def bank_stats(path: Path | None) -> None:
    """Cards per topic for each deck."""
    loaded = _load(_bank_path(path))
    for deck in loaded.decks.values():
        topics = loaded.topics(deck.id)
        click.echo(f"{deck.id}: {deck.title}")
        width = max((len(topic) for topic in topics), default=5)
        for topic, count in topics.items():
            click.echo(f"  {topic:<{width}}  {count:>4}")
        click.echo(f"  {'total':<{width}}  {sum(topics.values()):>4} cards in {len(topics)} topics")


@bank.command("export")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json"]), default="json", show_default=True)
@click.option("--deck", help="Only this deck.")
@click.option("--topic", "topics", multiple=True, help="Only these topics (repeatable).")
def bank_export(path: Path | None, fmt: str, deck: str | None, topics: tuple[str, ...]) -> None:
    """Print the cards as a JSON list."""
    loaded = _load(_bank_path(path))
    cards = loaded.select(deck, topics or None)
    click.echo(json.dumps([card.to_dict() for card in cards], indent=2, ensure_ascii=False))


def _load(root: Path) -> Bank:
    try:
        return load_bank(root)
    except BankError as exc:
        raise click.ClickException(str(exc)) from exc
