"""``quizsvc lti`` (platform registrations, the tool's keys) and ``quizsvc outbox``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from quizsvc.cli.common import settings_from_env
from quizsvc.config import Settings
from quizsvc.lms.outbox import Sender
from quizsvc.store import OutboxMessage, Store


def _store() -> Store:
    from quizsvc.migrate import upgrade

    url = settings_from_env().resolved_database_url
    upgrade(url)
    return Store(url)


@click.group()
def lti() -> None:
    """LTI 1.3: platform registrations and the tool's signing keys."""


@lti.command("register")
@click.option("--issuer", required=True, help="The platform's issuer ('iss').")
@click.option("--client-id", required=True, help="The client id the platform gave this tool.")
@click.option("--deployment-id", "deployment_ids", multiple=True, required=True, help="Repeatable.")
@click.option("--auth-login-url", required=True, help="The platform's OIDC authorization URL.")
@click.option("--auth-token-url", required=True, help="The platform's OAuth2 token URL.")
@click.option("--jwks-url", required=True, help="The platform's public JWKS URL.")
def lti_register(
    issuer: str,
    client_id: str,
    deployment_ids: tuple[str, ...],
    auth_login_url: str,
    auth_token_url: str,
    jwks_url: str,
) -> None:
    """Register (trust) an LMS platform."""
    from quizsvc.store import LtiRegistration, new_id

    store = _store()
    if store.find_registrations(issuer, client_id):
        raise click.ClickException("this issuer and client id are already registered")
    registration = store.add_registration(
        LtiRegistration(
            id=new_id(),
            issuer=issuer,
            client_id=client_id,
            deployment_ids=list(dict.fromkeys(deployment_ids)),
            auth_login_url=auth_login_url,
            auth_token_url=auth_token_url,
            jwks_url=jwks_url,
            created_at=datetime.now(UTC),
        )
    )
    click.echo(registration.id)
    if store.signing_key(datetime.now(UTC)) is None:
        click.echo("note: the tool has no signing key yet; run 'quizsvc lti keys rotate'", err=True)


@lti.group("keys")
def lti_keys() -> None:
    """The tool's RSA signing keys (published at /lti/jwks, public halves only)."""


@lti_keys.command("rotate")
@click.option(
    "--prune-days",
    type=click.IntRange(0),
    default=30,
    show_default=True,
    help="Delete keys retired more than this many days ago.",
)
@click.option(
    "--now",
    "at_once",
    is_flag=True,
    help="Sign with the new key at once (a leaked key): platforms that cached the JWKS "
    "refuse what it signs until their cache expires.",
)
def lti_keys_rotate(prune_days: int, at_once: bool) -> None:
    """Generate the next signing key: published in /lti/jwks now, signing only once every
    platform's cached copy of the JWKS has expired (its max-age); the previous key signs
    until then and stays published a while after. 'lti keys activate' switches earlier."""
    from quizsvc.lms.lti import JWKS_MAX_AGE_SECONDS, generate_private_key_pem, new_kid

    store = _store()
    now = datetime.now(UTC)
    # With no key signing yet nothing can be verified with a cached JWKS: start at once.
    staged = not at_once and store.signing_key(now) is not None
    activates_at = now + timedelta(seconds=JWKS_MAX_AGE_SECONDS) if staged else None
    key = store.add_lti_key(new_kid(), generate_private_key_pem(), now, activates_at)
    pruned = store.delete_lti_keys_retired_before(now - timedelta(days=prune_days))
    click.echo(key.kid)
    when = f"from {activates_at.isoformat()}" if activates_at else "now"
    click.echo(
        f"new key {key.kid} published, signing {when}; {pruned} old key(s) deleted", err=True
    )


@lti_keys.command("activate")
@click.argument("kid")
def lti_keys_activate(kid: str) -> None:
    """Sign with a published next key from now on (after 'rotate', before its time)."""
    key = _store().activate_lti_key(kid, datetime.now(UTC))
    if key is None:
        raise click.ClickException(f"no published, unretired key {kid!r}")
    click.echo(f"{key.kid} signs from now on")


@lti_keys.command("list")
def lti_keys_list() -> None:
    """Key ids, creation times and states: next (signs from ...), current, retired (never the
    keys)."""
    now = datetime.now(UTC)
    for key in _store().lti_keys():
        if key.signs_at(now):
            state = "current"
        elif key.signing_from > now:
            state = f"next, signs from {key.signing_from.isoformat()}"
        else:
            assert key.retired_at is not None
            state = f"retired {key.retired_at.isoformat()}"
        click.echo(f"{key.kid}\t{key.created_at.isoformat()}\t{state}")


@click.group()
def outbox() -> None:
    """Messages to other systems (AGS scores, webhooks) and their retries."""


def outbox_senders(store: Store, settings: Settings) -> dict[str, Sender]:
    """The senders a server wires, for delivering from the command line. Regrading needs
    the model: it is loaded at the first ``regrade`` message only."""
    from quizsvc.lms.ags import ags_sender
    from quizsvc.lms.webhooks import webhook_sender

    regrade: list[Sender] = []

    def send_regrade(message: OutboxMessage) -> int:
        if not regrade:
            from quizsvc.app import OUTBOX_WORKER_KEY
            from quizsvc.cli.regrade import service_app

            app = service_app(settings)
            regrade.append(app.extensions[OUTBOX_WORKER_KEY].senders["regrade"])
        return regrade[0](message)

    # The same outbound allow-list as the servers, so cron delivers where they would.
    allow_hosts = settings.outbound_allow_hosts
    return {
        "ags_score": ags_sender(store, allow_hosts=allow_hosts),
        "webhook": webhook_sender(store, allow_hosts=allow_hosts),
        "regrade": send_regrade,
    }


@outbox.command("deliver")
@click.option(
    "--until-idle",
    is_flag=True,
    help="Deliver round after round until nothing is due (a regrade job's many messages).",
)
def outbox_deliver(until_idle: bool) -> None:
    """Send every message that is due now (for cron; running servers also do this)."""
    from quizsvc.lms.outbox import deliver_due

    store = _store()
    senders = outbox_senders(store, settings_from_env())
    delivered = retrying = failed = 0
    while True:
        report = deliver_due(store, datetime.now(UTC), senders)
        delivered += report.delivered
        retrying += report.retrying
        failed += report.failed
        if not until_idle or report.tried == 0:
            break
    click.echo(f"delivered {delivered}, retrying {retrying}, failed {failed}")


@outbox.command("retry")
@click.argument("message_ids", nargs=-1, required=True)
def outbox_retry(message_ids: tuple[str, ...]) -> None:
    """Put failed messages back in line (delivered ones are never sent again)."""
    store = _store()
    for message_id in message_ids:
        message = store.retry_message(message_id, datetime.now(UTC))
        if message is None:
            raise click.ClickException(f"no outbox message {message_id!r}")
        click.echo(f"{message.id}\t{message.status}")
