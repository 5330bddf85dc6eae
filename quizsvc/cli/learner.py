"""``quizsvc learner``: one learner's due cards and progress, read from the service's
database (as staff see them: nothing withheld)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from quizsvc.bank import Bank
from quizsvc.cli.common import configured_bank, settings_from_env
from quizsvc.learning import DUE_SOON, bank_topics, due_report, progress_report
from quizsvc.store import Store

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
DECK_OPTION = click.option("--deck", help="Only this deck (default: every deck).")


@click.group()
def learner() -> None:
    """A learner's spaced-repetition state (due cards, progress)."""


def _store_and_bank() -> tuple[Store, Bank]:
    settings = settings_from_env()
    return Store(settings.resolved_database_url), configured_bank(settings)


def _echo_json(report: dict[str, Any]) -> None:
    click.echo(
        json.dumps(
            report,
            indent=2,
            default=lambda value: value.isoformat() if isinstance(value, datetime) else str(value),
        )
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


@learner.command("due")
@click.argument("learner_id")
@click.option(
    "--within-hours",
    type=click.FloatRange(0, 24 * 30),
    default=DUE_SOON.total_seconds() / 3600,
    show_default=True,
    help="Also list cards that fall due within this many hours.",
)
@DECK_OPTION
@JSON_OPTION
def learner_due(learner_id: str, within_hours: float, deck: str | None, as_json: bool) -> None:
    """Cards due for review now and soon, per topic, least retrievable first."""
    store, bank = _store_and_bank()
    now = datetime.now(UTC)
    report = {
        "learner_id": learner_id,
        **due_report(
            store.learner_memories(learner_id, deck),
            bank_topics(bank, deck),
            now,
            timedelta(hours=within_hours),
        ),
    }
    if as_json:
        _echo_json(report)
        return
    click.echo(
        f"{learner_id}: {report['due_now']} card(s) due now, {report['due_soon']} more "
        f"within {within_hours:g} h"
    )
    for topic in report["topics"]:
        click.echo(f"\n{topic['title']} ({topic['deck']}/{topic['topic']})")
        for card in topic["cards"]:
            recall = _percent(card["retrievability"])
            click.echo(
                f"  {card['status']:<4}  {card['card_id']:<40} recall {recall:>4}"
                f"  due {card['due']:%Y-%m-%d %H:%M}  stability {card['stability_days']:.1f} d"
                f"  missed {card['lapses']}/{card['reviews']}"
            )


@learner.command("progress")
@click.argument("learner_id")
@DECK_OPTION
@JSON_OPTION
def learner_progress(learner_id: str, deck: str | None, as_json: bool) -> None:
    """Per topic: cards seen, mastered, due and the predicted retention; and the score of
    each graded attempt (run 'quizsvc attempts finalize-expired' first to count attempts
    whose time ran out)."""
    store, bank = _store_and_bank()
    now = datetime.now(UTC)
    history = []
    for attempt in store.list_attempts(learner_id=learner_id):
        exam = store.get_exam(attempt.exam_id)
        if attempt.status != "graded" or exam is None or (deck and exam.deck != deck):
            continue
        result = attempt.result or {}
        history.append(
            {
                "attempt_id": attempt.id,
                "exam_id": exam.id,
                "exam_title": exam.title,
                "personal": exam.owner_learner_id is not None,
                "submitted_at": attempt.submitted_at,
                "score": result.get("score"),
                "max_score": result.get("max_score"),
                "percent": result.get("percent"),
            }
        )
    report = {
        "learner_id": learner_id,
        **progress_report(store.learner_memories(learner_id, deck), bank_topics(bank, deck), now),
        "history": history,
    }
    if as_json:
        _echo_json(report)
        return
    totals = report["totals"]
    click.echo(
        f"{learner_id}: {totals['seen']} of {totals['cards']} card(s) seen, "
        f"{totals['mastered']} mastered, {totals['due']} due, predicted retention "
        f"{_percent(totals['predicted_retention'])}"
    )
    click.echo(f"\n{'topic':<40} {'seen':>9} {'mastered':>8} {'due':>4} {'retention':>9}")
    for row in report["topics"]:
        click.echo(
            f"{row['title'][:40]:<40} {row['seen']:>4}/{row['cards']:<4} {row['mastered']:>8} "
            f"{row['due']:>4} {_percent(row['predicted_retention']):>9}"
        )
    if history:
        click.echo("\nattempts")
        for item in history:
            submitted = item["submitted_at"]
            when = f"{submitted:%Y-%m-%d %H:%M}" if submitted else "-"
            click.echo(f"  {when:<16}  {item['percent']:>6}%  {item['exam_title']}")
