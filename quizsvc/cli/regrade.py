"""``quizsvc exams``: exams stored in the service's database (regrade)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import click

from quizsvc.cli.common import settings_from_env
from quizsvc.config import Settings
from quizsvc.regrade import POLICIES, KeyRefresh, RegradeError, RegradeOptions

if TYPE_CHECKING:
    from flask import Flask

#: While another worker (a running server) holds the job's remaining messages.
WAIT_SECONDS = 1.0


def service_app(settings: Settings) -> Flask:
    """The app as a server builds it (model, bank with the stored edits, grading settings,
    senders), with its outbox worker stopped: the command delivers in the foreground."""
    from quizsvc.api.bank_editing import live_bank
    from quizsvc.api.services import EXTENSION_KEY
    from quizsvc.app import OUTBOX_WORKER_KEY, create_app

    app = create_app({"SETTINGS": settings})
    app.extensions[OUTBOX_WORKER_KEY].stop()
    # The bank with the cards staff edited over the API, as the server's requests see it
    # (a regrade with --refresh-keys takes their keys from it).
    live_bank(app).refresh(app.extensions[EXTENSION_KEY], force=True)
    return app


@click.group()
def exams() -> None:
    """Exams stored in the service's database."""


@exams.command("regrade")
@click.argument("exam_id")
@click.option("--dry-run", is_flag=True, help="Print what would change as JSON; change nothing.")
@click.option(
    "--policy",
    type=click.Choice(POLICIES),
    default="update",
    show_default=True,
    help="update: new grades up or down; only_raise: never lower a question's grade; "
    "full_credit_for_question: full marks for the --question ones.",
)
@click.option(
    "--question",
    "question_ids",
    multiple=True,
    help="Only this question (the exam's id, e.g. q3, or an attempt's public id); repeatable.",
)
@click.option("--refresh-keys", is_flag=True, help="Rebuild the keys from the current bank first.")
@click.option(
    "--include-overridden",
    is_flag=True,
    help="Regrade questions a person graded (override, review, appeal) too.",
)
def exams_regrade(
    exam_id: str,
    dry_run: bool,
    policy: str,
    question_ids: tuple[str, ...],
    refresh_keys: bool,
    include_overridden: bool,
) -> None:
    """Regrade EXAM_ID's graded attempts from their stored answers, as
    ``POST /v1/exams/{id}/regrade`` does: a job, delivered here (a running server helps
    with its messages), with progress on standard error and the final counts; or, with
    --dry-run, the old and new grades as JSON. Changes are audited with no API key (the
    system)."""
    from quizsvc.api.services import EXTENSION_KEY, Services
    from quizsvc.app import OUTBOX_WORKER_KEY
    from quizsvc.lms.outbox import deliver_due
    from quizsvc.regrade import dry_run_view, resolve_question_ids
    from quizsvc.regrade import refresh_keys as refreshed_keys

    app = service_app(settings_from_env())
    state: Services = app.extensions[EXTENSION_KEY]
    store = state.store
    exam = store.load_exam(exam_id)
    if exam is None:
        raise click.ClickException(f"no exam with id {exam_id!r}")
    resolved, unknown = resolve_question_ids(
        exam.questions, (a.layout for a in store.graded_attempts(exam.id)), question_ids
    )
    if unknown:
        raise click.ClickException(f"not questions of this exam: {', '.join(unknown)}")
    try:
        options = RegradeOptions(policy, resolved, include_overridden, refresh_keys)
    except RegradeError as exc:
        raise click.UsageError(str(exc)) from exc
    seed = exam.blueprint.get("seed")

    if dry_run:
        questions: list[dict[str, Any]] = list(exam.questions)
        keys: list[KeyRefresh] = []
        if refresh_keys:
            questions, keys = refreshed_keys(questions, state.bank, seed, resolved)
        previews = store.regrade_preview(exam, questions, options, state.grade_many)
        view = dry_run_view(exam.id, options, previews, keys)
        click.echo(json.dumps(view, indent=2, ensure_ascii=False))
        return

    def refresh(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return refreshed_keys(questions, state.bank, seed, resolved)[0]

    job = store.create_regrade_job(
        exam.id, options, None, state.clock(), refresh if refresh_keys else None
    )
    assert job is not None
    click.echo(f"regrade job {job.id}: {job.total} graded attempt(s)", err=True)
    senders = app.extensions[OUTBOX_WORKER_KEY].senders
    while job.done < job.total:
        report = deliver_due(store, state.clock(), senders)
        current = store.get_regrade_job(job.id)
        assert current is not None
        job = current
        click.echo(
            f"{job.done}/{job.total} done: {job.changed} changed, {job.unchanged} unchanged, "
            f"{job.error_count} error(s)",
            err=True,
        )
        if job.done >= job.total:
            break
        if report.tried == 0:
            if not store.pending_regrade_messages(job.id):
                raise click.ClickException(
                    f"regrade job {job.id} stopped at {job.done}/{job.total}: its remaining "
                    "messages failed (see 'quizsvc outbox retry')"
                )
            # Another worker holds them, or a retry is due later.
            time.sleep(WAIT_SECONDS)
    for item in store.regrade_job_errors(job.id):
        click.echo(f"error: attempt {item.attempt_id}: {item.error}", err=True)
    click.echo(
        f"regrade job {job.id} {job.status}: {job.total} attempt(s), {job.changed} changed, "
        f"{job.unchanged} unchanged, {job.error_count} error(s)"
    )
