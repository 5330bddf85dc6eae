"""``quizsvc serve``, ``db``, ``keys`` and ``attempts``: running and administering the service."""

from __future__ import annotations

import click

from quizsvc.bank import BankError
from quizsvc.cli.common import settings_from_env
from quizsvc.config import ConfigError
from quizsvc.embedding import ModelLoadError
from quizsvc.store import ROLES, Store


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="QUIZSVC_HOST",
    help="Interface to bind.",
)
@click.option(
    "--port", default=8000, show_default=True, envvar="QUIZSVC_PORT", type=click.IntRange(1, 65535)
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    envvar="QUIZSVC_WORKERS",
    type=click.IntRange(1, 64),
    help="gunicorn worker processes; the model is loaded once, before they fork.",
)
def serve(host: str, port: int, workers: int) -> None:
    """Apply migrations, load the bank and model once, and serve the API with gunicorn.

    Logs go to standard error as JSON lines (QUIZSVC_LOG_FORMAT=text for plain lines). With
    several workers, /metrics sums all of them through files in PROMETHEUS_MULTIPROC_DIR
    (default: a folder in the instance directory).
    """
    import os
    from pathlib import Path

    from quizsvc.logs import configure_logging
    from quizsvc.observability import enable_multiprocess

    settings = settings_from_env()
    try:
        configure_logging(settings.log_format)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if workers > 1:
        enable_multiprocess(
            Path(
                os.environ.get("PROMETHEUS_MULTIPROC_DIR")
                or settings.instance_dir / "prometheus-multiproc"
            )
        )

    from quizsvc.app import create_app
    from quizsvc.embedding.factory import build_encoder
    from quizsvc.server import serve as run_server

    try:
        # Weights load here, in gunicorn's master, on the CPU; each worker moves them to the
        # GPU after the fork (the master must never initialise CUDA).
        encoder = build_encoder(settings, prepare=True, before_fork=True)
        app = create_app({"SETTINGS": settings, "ENCODER": encoder})
    except (ConfigError, ModelLoadError, BankError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"quizsvc: serving on http://{host}:{port}/v1 with {workers} worker(s)")
    run_server(app, host, port, workers, on_worker_start=getattr(encoder, "attach_device", None))


@click.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations to the configured database."""
    from quizsvc.migrate import current_revision, upgrade

    url = settings_from_env().resolved_database_url
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)}")


@click.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--learner", "learner_id", help="The learner this key belongs to (learner role).")
@click.option("--label", help="A note on who holds the key.")
def keys_create(role: str, learner_id: str | None, label: str | None) -> None:
    """Create a key and print it once; only its hash is stored."""
    from quizsvc.migrate import upgrade

    if role == "learner" and not learner_id:
        raise click.UsageError("--learner is required for a learner key")
    if role != "learner" and learner_id:
        raise click.UsageError("--learner applies only to learner keys")
    url = settings_from_env().resolved_database_url
    upgrade(url)
    key, record = Store(url).create_key(role, learner_id, label)
    click.echo(key)
    click.echo(f"role={record.role} learner={record.learner_id or '-'} (shown once)", err=True)


@keys.command("list")
@click.option("--role", type=click.Choice(ROLES), help="Only this role.")
@click.option("--all", "include_revoked", is_flag=True, help="Revoked keys too.")
def keys_list(role: str | None, include_revoked: bool) -> None:
    """Print the keys (id, prefix, role, learner, label, created, revoked); never a secret."""
    store = Store(settings_from_env().resolved_database_url)
    records, _ = store.list_keys(role, None, include_revoked)
    for record in records:
        revoked = record.revoked_at.isoformat() if record.revoked_at else "-"
        click.echo(
            f"{record.id}\t{record.prefix}\t{record.role}\t{record.learner_id or '-'}\t"
            f"{record.label or '-'}\t{record.created_at.isoformat()}\trevoked={revoked}"
        )


@keys.command("revoke")
@click.argument("key_id", type=int)
def keys_revoke(key_id: int) -> None:
    """Revoke the key with this id (from 'keys list'); running servers refuse it at once."""
    from datetime import UTC, datetime

    record = Store(settings_from_env().resolved_database_url).revoke_key(key_id, datetime.now(UTC))
    if record is None:
        raise click.ClickException(f"no API key with id {key_id}")
    click.echo(f"revoked key {record.id} ({record.prefix}..., role {record.role})")


@click.group()
def attempts() -> None:
    """Timed attempts."""


@attempts.command("finalize-expired")
def attempts_finalize_expired() -> None:
    """Grade every attempt whose time is over, with the answers saved in time."""
    from quizsvc.api.attempts import finalize_if_expired
    from quizsvc.api.services import services
    from quizsvc.app import create_app

    app = create_app({"SETTINGS": settings_from_env()})
    finalized = 0
    with app.app_context():
        state = services()
        for attempt_id in state.store.expired_attempt_ids(state.clock()):
            attempt = state.store.get_attempt(attempt_id)
            exam = state.store.get_exam(attempt.exam_id) if attempt else None
            if attempt is None or exam is None:
                continue
            if finalize_if_expired(attempt, exam).status == "graded":
                finalized += 1
    click.echo(f"finalized {finalized} expired attempt(s)")


@click.command("openapi")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write here instead of standard output (api_spec/openapi.yaml is the committed copy).",
)
def openapi(output: str | None) -> None:
    """Print or write the OpenAPI document generated from the API schemas."""
    import tempfile
    from pathlib import Path

    from quizsvc.api.spec import render_spec, spec_app

    with tempfile.TemporaryDirectory() as instance:
        text = render_spec(spec_app(Path(instance)))
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
