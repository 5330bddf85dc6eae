"""``quizsvc stats``: item statistics from the service's database, as the API gives them."""

from __future__ import annotations

import json

import click

from quizsvc.cli.common import settings_from_env


@click.group()
def stats() -> None:
    """Item statistics (classical test theory) over graded attempts."""


@stats.command("exam")
@click.argument("exam_id")
@click.option("--csv", "as_csv", is_flag=True, help="One row per question and option, as CSV.")
def stats_exam(exam_id: str, as_csv: bool) -> None:
    """Statistics of EXAM_ID, as ``GET /v1/exams/{id}/statistics`` returns them (JSON)."""
    # Imported here: the store and the API's readers are not needed for --help.
    from quizsvc.api.statistics import exam_response_matrix
    from quizsvc.statistics import exam_statistics, exam_statistics_csv
    from quizsvc.store import Store

    store = Store(settings_from_env().resolved_database_url)
    exam = store.get_exam(exam_id)
    if exam is None:
        raise click.ClickException(f"no exam with id {exam_id!r}")
    statistics = exam_statistics(exam_response_matrix(store, exam), exam.id)
    if as_csv:
        click.echo(exam_statistics_csv(statistics), nl=False)
    else:
        click.echo(json.dumps(statistics.to_dict(), indent=2, ensure_ascii=False))


@stats.command("card")
@click.argument("card_id")
@click.option("--csv", "as_csv", is_flag=True, help="Pooled rows, then each exam's, as CSV.")
def stats_card(card_id: str, as_csv: bool) -> None:
    """Statistics of CARD_ID over every exam that asked it (``GET /v1/cards/{id}/statistics``)."""
    from quizsvc.api.statistics import exam_response_matrix, exams_asking_card
    from quizsvc.statistics import card_statistics, card_statistics_csv
    from quizsvc.store import Store

    store = Store(settings_from_env().resolved_database_url)
    exams = exams_asking_card(store, card_id)
    if not exams:
        raise click.ClickException(f"no exam has asked card {card_id!r}")
    statistics = card_statistics(
        card_id, [(exam.id, exam_response_matrix(store, exam)) for exam in exams]
    )
    if as_csv:
        click.echo(card_statistics_csv(statistics), nl=False)
    else:
        click.echo(json.dumps(statistics.to_dict(), indent=2, ensure_ascii=False))
