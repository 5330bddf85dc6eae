"""``quizsvc bank write-back``: the edits staff made over the API, written to YAML decks."""

from __future__ import annotations

import fcntl
from pathlib import Path

import click

from quizsvc.bank.editing import effective_bank
from quizsvc.bank.writer import DeckWriteError, write_deck
from quizsvc.cli.common import configured_bank, settings_from_env
from quizsvc.migrate import upgrade
from quizsvc.store import Store

LOCK_FILE = ".write-back.lock"


@click.command("write-back", short_help="Write the API's card edits to YAML decks.")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Bank directory to write (default: the configured bank, replacing its decks).",
)
def bank_write_back(output: Path | None) -> None:
    """Write the bank as the service serves it (the YAML bank with the cards and questions
    created, edited or retired over the API, stored in the database) as YAML deck
    directories. Each deck is checked by the loader in a staging directory and then moved
    into place in one rename, so a failure leaves the bank as it was; retired items are
    left out. Files are rewritten in the writer's layout (hand-written comments go)."""
    settings = settings_from_env()
    base = configured_bank(settings)
    url = settings.resolved_database_url
    upgrade(url)
    store = Store(url)
    try:
        edits = store.bank_edits()
    finally:
        store.engine.dispose()
    bank = effective_bank(base, edits)
    target = output or settings.bank_dir
    target.mkdir(parents=True, exist_ok=True)
    # One write-back at a time per bank directory: two would each replace whole decks.
    with (target / LOCK_FILE).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for deck in bank.decks.values():
            cards = bank.select(deck.id)
            questions = bank.select_questions(deck.id)
            others = {card.id for card in bank.cards if card.deck != deck.id} | {
                question.id for question in bank.questions if question.deck != deck.id
            }
            try:
                path = write_deck(
                    deck, cards, target, force=True, taken_ids=others, questions=questions
                )
            except DeckWriteError as exc:
                raise click.ClickException(str(exc)) from exc
            edited = [item for item in edits if item.data.get("deck") == deck.id]
            retired = sum(1 for item in edited if item.retired)
            click.echo(
                f"{path}: {len(cards)} cards and {len(questions)} authored questions "
                f"({len(edited)} changed over the API, {retired} of them retired and left out)"
            )
