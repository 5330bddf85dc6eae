"""LMS integration and outgoing messages: LTI registrations, keys, login states and
launches; webhook subscriptions; the outbox of grade passbacks and webhook events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from quizsvc.persistence.base import Base, StoreBase, UTCDateTime, new_id

if TYPE_CHECKING:
    from quizsvc.persistence.attempts import Attempt

AGS_SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
OUTBOX_KINDS = ("ags_score", "webhook", "regrade")


class LtiRegistration(Base):
    """An LMS platform this tool trusts (LTI 1.3), by issuer and client id."""

    __tablename__ = "lti_registrations"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500), index=True)
    client_id: Mapped[str] = mapped_column(String(200))
    deployment_ids: Mapped[list[str]] = mapped_column(JSON)
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    jwks_url: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LtiKey(Base):
    """The tool's own RSA signing keys. A key is published in the JWKS from its creation and
    signs from ``activates_at`` until ``retired_at``: a rotation publishes the next key first,
    so platforms that cache the JWKS know it before anything is signed with it."""

    __tablename__ = "lti_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Signs from then on; None: from its creation (also keys made before rotations were
    #: staged).
    activates_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Stops signing then; retired keys stay published for a while so tokens signed just
    #: before still verify.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def signs_at(self, when: datetime) -> bool:
        started = self.activates_at is None or self.activates_at <= when
        return started and (self.retired_at is None or self.retired_at > when)

    @property
    def signing_from(self) -> datetime:
        return self.activates_at or self.created_at


class LtiLoginState(Base):
    """One OIDC login initiation: its ``state`` (bound to a browser cookie) and ``nonce``."""

    __tablename__ = "lti_login_states"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("lti_registrations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LtiLaunch(Base):
    """The LMS context of an attempt started by an LTI launch, for grade passback."""

    __tablename__ = "lti_launches"

    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), primary_key=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("lti_registrations.id"))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(String(255))
    resource_link_id: Mapped[str | None] = mapped_column(String(255))
    lineitem_url: Mapped[str | None] = mapped_column(String(1000))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The course (``LtiContext.id``) the launch came from, when the platform named one.
    context_id: Mapped[str | None] = mapped_column(String(32), index=True)


class LtiContext(Base):
    """A course (LTI context) that launched the tool, with its Names and Role Provisioning
    Services endpoint when the platform offers one: what staff list learners by."""

    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("registration_id", "lms_context_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("lti_registrations.id"))
    #: The platform's own id of the course (the context claim's ``id``).
    lms_context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    memberships_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LtiMember(Base):
    """A learner a course's roster (Names and Role Provisioning Services) listed, by their
    quizsvc learner id: staff can give them an accommodation before their first launch.
    Nothing else about them is kept but when they were first listed (names and emails
    stay in the LMS)."""

    __tablename__ = "lti_members"

    context_id: Mapped[str] = mapped_column(ForeignKey("lti_contexts.id"), primary_key=True)
    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(1000))
    secret: Mapped[str] = mapped_column(String(200))
    #: None: every exam.
    exam_id: Mapped[str | None] = mapped_column(ForeignKey("exams.id"), index=True)
    events: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """A message to another system, written in the same transaction as what caused it.

    ``kind`` is ``ags_score``, ``webhook`` or ``regrade`` (one attempt of a regrade job). A
    message is delivered at most once (``idempotency_key`` is unique and a worker claims a
    row before sending it) and is retried with backoff until it is delivered or its attempts
    run out (``failed``).
    """

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    attempt_id: Mapped[str | None] = mapped_column(ForeignKey("attempts.id"), index=True)
    subscription_id: Mapped[str | None] = mapped_column(
        ForeignKey("webhook_subscriptions.id"), index=True
    )
    target: Mapped[str] = mapped_column(String(1000))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: pending -> delivered | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    #: One entry per try: {"at", "status_code", "error"}.
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LmsStore(StoreBase):
    # -- LTI ------------------------------------------------------------------------------------

    def add_registration(self, registration: LtiRegistration) -> LtiRegistration:
        with self.session() as session:
            session.add(registration)
        return registration

    def list_registrations(self) -> list[LtiRegistration]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(LtiRegistration).order_by(LtiRegistration.created_at, LtiRegistration.id)
                )
            )

    def get_registration(self, registration_id: str) -> LtiRegistration | None:
        with self.session() as session:
            return session.get(LtiRegistration, registration_id)

    def find_registrations(self, issuer: str, client_id: str | None) -> list[LtiRegistration]:
        query = select(LtiRegistration).where(LtiRegistration.issuer == issuer)
        if client_id:
            query = query.where(LtiRegistration.client_id == client_id)
        with self.session() as session:
            return list(session.scalars(query.order_by(LtiRegistration.created_at)))

    def add_lti_key(
        self, kid: str, private_pem: str, now: datetime, activates_at: datetime | None = None
    ) -> LtiKey:
        """A new key, published now and signing from ``activates_at`` (None: at once); the
        keys before it stop signing then (and stay published a while)."""
        starts = activates_at or now
        key = LtiKey(kid=kid, private_pem=private_pem, created_at=now, activates_at=activates_at)
        with self.session() as session:
            session.execute(
                update(LtiKey).where(LtiKey.retired_at.is_(None)).values(retired_at=starts)
            )
            session.add(key)
        return key

    def activate_lti_key(self, kid: str, now: datetime) -> LtiKey | None:
        """Let a published next key sign from ``now``; the others stop signing now."""
        with self.session() as session:
            key = session.get(LtiKey, kid)
            if key is None or (key.retired_at is not None and key.retired_at <= now):
                return None
            session.execute(
                update(LtiKey)
                .where(LtiKey.kid != kid)
                .where((LtiKey.retired_at.is_(None)) | (LtiKey.retired_at > now))
                .values(retired_at=now)
            )
            key.activates_at = None
            key.retired_at = None
            return key

    def signing_key(self, now: datetime) -> LtiKey | None:
        """The key that signs at ``now``: the latest activated one that is not retired."""
        signing = [key for key in self.lti_keys() if key.signs_at(now)]
        return max(signing, key=lambda key: key.signing_from, default=None)

    def lti_keys(self) -> list[LtiKey]:
        """Every stored key, newest first."""
        with self.session() as session:
            return list(
                session.scalars(select(LtiKey).order_by(LtiKey.created_at.desc(), LtiKey.kid))
            )

    def delete_lti_keys_retired_before(self, cutoff: datetime) -> int:
        with self.session() as session:
            keys = session.scalars(select(LtiKey).where(LtiKey.retired_at < cutoff))
            count = 0
            for key in keys:
                session.delete(key)
                count += 1
            return count

    def add_login_state(self, state: LtiLoginState) -> LtiLoginState:
        """Store a login's state and nonce, dropping ones expired long enough ago that any
        id_token carrying them has expired too."""
        with self.session() as session:
            session.execute(
                delete(LtiLoginState).where(
                    LtiLoginState.expires_at < state.created_at - timedelta(hours=2)
                )
            )
            session.add(state)
        return state

    def consume_login_state(self, state: str, now: datetime) -> tuple[LtiLoginState | None, str]:
        """Mark a login state used, once: (row, "") or (row or None, why it cannot be used)."""
        with self.session() as session:
            row = session.get(LtiLoginState, state)
            if row is None:
                return None, "unknown"
            if row.expires_at < now:
                return row, "expired"
            claimed = session.execute(
                update(LtiLoginState)
                .where(LtiLoginState.state == state, LtiLoginState.used_at.is_(None))
                .values(used_at=now)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return row, "used"
            return row, ""

    def save_launch(self, launch: LtiLaunch) -> LtiLaunch:
        """Record (or refresh, on a later launch of the same attempt) an attempt's LMS context."""
        with self.session() as session:
            return session.merge(launch)

    def get_launch(self, attempt_id: str) -> LtiLaunch | None:
        with self.session() as session:
            return session.get(LtiLaunch, attempt_id)

    def save_context(
        self,
        registration_id: str,
        lms_context_id: str,
        title: str | None,
        memberships_url: str | None,
        now: datetime,
    ) -> LtiContext:
        """Record a course on its first launch; later launches refresh its title and NRPS URL
        (kept when a launch omits it: platforms send the claim on some messages only)."""
        query = select(LtiContext).where(
            LtiContext.registration_id == registration_id,
            LtiContext.lms_context_id == lms_context_id,
        )
        for _ in range(2):  # a parallel first launch may insert between the read and ours
            try:
                with self.session() as session:
                    found = session.scalars(query).first()
                    if found is None:
                        found = LtiContext(
                            id=new_id(),
                            registration_id=registration_id,
                            lms_context_id=lms_context_id,
                            created_at=now,
                        )
                        session.add(found)
                    found.title = title or found.title
                    found.memberships_url = memberships_url or found.memberships_url
                    found.updated_at = now
                    return found
            except IntegrityError:
                continue
        raise RuntimeError("could not record the LTI context")

    def get_context(self, context_id: str) -> LtiContext | None:
        with self.session() as session:
            return session.get(LtiContext, context_id)

    def list_contexts(self) -> list[LtiContext]:
        with self.session() as session:
            return list(
                session.scalars(select(LtiContext).order_by(LtiContext.created_at, LtiContext.id))
            )

    def record_members(self, context_id: str, learner_ids: Iterable[str], now: datetime) -> None:
        """Remember the learners a course's roster listed (see :class:`LtiMember`), each
        with the time it was first listed; listing them again (a parallel fetch included)
        changes nothing."""
        rows = [
            {"context_id": context_id, "learner_id": learner_id, "listed_at": now}
            for learner_id in sorted(set(learner_ids))
        ]
        if not rows:
            return
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        with self.session() as session:
            session.execute(insert(LtiMember).values(rows).on_conflict_do_nothing())

    def listed_in_a_roster(self, learner_id: str) -> bool:
        with self.session() as session:
            found = session.scalar(
                select(LtiMember.learner_id).where(LtiMember.learner_id == learner_id).limit(1)
            )
            return found is not None

    def context_launches(self, context_id: str) -> list[LtiLaunch]:
        """The attempts launched from a course, oldest first."""
        with self.session() as session:
            return list(
                session.scalars(
                    select(LtiLaunch)
                    .where(LtiLaunch.context_id == context_id)
                    .order_by(LtiLaunch.created_at, LtiLaunch.attempt_id)
                )
            )

    # -- webhooks -----------------------------------------------------------------------------

    def add_subscription(self, subscription: WebhookSubscription) -> WebhookSubscription:
        with self.session() as session:
            session.add(subscription)
        return subscription

    def list_subscriptions(self) -> list[WebhookSubscription]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(WebhookSubscription).order_by(
                        WebhookSubscription.created_at, WebhookSubscription.id
                    )
                )
            )

    def page_subscriptions(self, offset: int, limit: int) -> tuple[list[WebhookSubscription], int]:
        """One page of the subscriptions, oldest first, and how many there are in all."""
        query = select(WebhookSubscription)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(WebhookSubscription.created_at, WebhookSubscription.id)
                .offset(offset)
                .limit(limit)
            )
            return list(rows), total

    def page_deliveries(
        self, subscription_id: str, offset: int, limit: int
    ) -> tuple[list[OutboxMessage], int]:
        """One page of a subscription's webhook messages, oldest first, and the total."""
        query = select(OutboxMessage).where(
            OutboxMessage.kind == "webhook", OutboxMessage.subscription_id == subscription_id
        )
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(
                query.order_by(OutboxMessage.created_at, OutboxMessage.id)
                .offset(offset)
                .limit(limit)
            )
            return list(rows), total

    def get_subscription(self, subscription_id: str) -> WebhookSubscription | None:
        with self.session() as session:
            return session.get(WebhookSubscription, subscription_id)

    def deactivate_subscription(self, subscription_id: str) -> bool:
        with self.session() as session:
            found = session.get(WebhookSubscription, subscription_id)
            if found is None:
                return False
            found.active = False
            return True

    # -- outbox -------------------------------------------------------------------------------

    def claim_due_messages(
        self, now: datetime, lease_until: datetime, limit: int = 50
    ) -> list[OutboxMessage]:
        """Due pending messages, each claimed by moving its next try to ``lease_until``.

        The claim is a conditional update, so when several workers (threads, processes,
        replicas) poll the same outbox each message goes to exactly one of them.
        """
        with self.session() as session:
            due = list(
                session.scalars(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(limit)
                )
            )
        claimed: list[OutboxMessage] = []
        for message_id in due:
            with self.session() as session:
                result = session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == message_id,
                        OutboxMessage.status == "pending",
                        OutboxMessage.next_attempt_at <= now,
                    )
                    .values(next_attempt_at=lease_until)
                )
                if getattr(result, "rowcount", 0) == 1:
                    message = session.get(OutboxMessage, message_id, populate_existing=True)
                    assert message is not None
                    claimed.append(message)
        return claimed

    def record_delivery(
        self,
        message_id: str,
        now: datetime,
        status_code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> OutboxMessage | None:
        """One try's outcome: delivered (no error), retry at ``next_attempt_at``, or failed."""
        with self.session() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None:
                return None
            message.attempts += 1
            message.last_status_code = status_code
            message.last_error = error
            message.log = [
                *message.log,
                {"at": now.isoformat(), "status_code": status_code, "error": error},
            ]
            if error is None:
                message.status = "delivered"
                message.delivered_at = now
            elif next_attempt_at is None:
                message.status = "failed"
            else:
                message.next_attempt_at = next_attempt_at
            return message

    def retry_message(self, message_id: str, now: datetime) -> OutboxMessage | None:
        """Put a failed (or pending) message back in line to be sent now."""
        with self.session() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.status == "delivered":
                return message
            message.status = "pending"
            message.next_attempt_at = now
        self._notify_outbox()
        return message

    def resend_score(self, attempt_id: str, now: datetime) -> OutboxMessage | None:
        """Send an attempt's grade to its LMS again: the latest AGS score message is put back
        in line when it is not delivered; a delivered one is copied into a new message with a
        new timestamp (platforms ignore a score no newer than the one they hold). None when
        the attempt has no score message."""
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.kind == "ags_score", OutboxMessage.attempt_id == attempt_id)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        )
        with self.session() as session:
            latest = session.scalars(query).first()
            if latest is None:
                return None
            if latest.status != "delivered":
                latest.status = "pending"
                latest.next_attempt_at = now
                message = latest
            else:
                payload = dict(latest.payload)
                payload["score"] = {**payload["score"], "timestamp": now.isoformat()}
                base = latest.idempotency_key.split(":resend:", 1)[0]
                message = _outbox_message(
                    "ags_score",
                    f"{base}:resend:{new_id()}",
                    latest.target,
                    payload,
                    now,
                    attempt_id=attempt_id,
                )
                session.add(message)
        self._notify_outbox()
        return message

    def list_outbox(
        self,
        kind: str | None = None,
        attempt_id: str | None = None,
        subscription_id: str | None = None,
        status: str | None = None,
    ) -> list[OutboxMessage]:
        query = select(OutboxMessage)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        if attempt_id is not None:
            query = query.where(OutboxMessage.attempt_id == attempt_id)
        if subscription_id is not None:
            query = query.where(OutboxMessage.subscription_id == subscription_id)
        if status is not None:
            query = query.where(OutboxMessage.status == status)
        with self.session() as session:
            return list(session.scalars(query.order_by(OutboxMessage.created_at, OutboxMessage.id)))

    def count_pending_messages(self) -> int:
        with self.session() as session:
            return (
                session.scalar(select(func.count()).where(OutboxMessage.status == "pending")) or 0
            )


def _outbox_message(
    kind: str,
    idempotency_key: str,
    target: str,
    payload: dict[str, Any],
    now: datetime,
    attempt_id: str | None = None,
    subscription_id: str | None = None,
) -> OutboxMessage:
    return OutboxMessage(
        id=new_id(),
        kind=kind,
        idempotency_key=idempotency_key,
        attempt_id=attempt_id,
        subscription_id=subscription_id,
        target=target,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        log=[],
        created_at=now,
    )


def enqueue_result_messages(
    session: Session,
    attempt: Attempt,
    now: datetime,
    event_types: str | list[str],
    detail: dict[str, Any] | None = None,
) -> int:
    """In the caller's transaction: the attempt's current score to its LMS (an LTI launch
    with the AGS score scope), and each of ``event_types`` to every webhook subscribed to it. The
    AGS score says ``PendingManual`` while a question awaits a person; each later change of
    the grade sends the score again (the result's ``revision`` keeps the messages apart)."""
    result = attempt.result or {}
    revision = int(result.get("revision", 0))
    progress = str(result.get("grading_progress", "FullyGraded"))
    count = 0
    launch = session.get(LtiLaunch, attempt.id)
    if launch is not None and launch.lineitem_url and AGS_SCORE_SCOPE in launch.scopes:
        comment = (
            f"Finalized by {attempt.finalized_by}."
            if revision == 0
            else "Grade changed by an instructor."
        )
        if progress != "FullyGraded":
            comment += " Some answers await an instructor's review."
        session.add(
            _outbox_message(
                "ags_score",
                f"ags_score:{attempt.id}" + (f":{revision}" if revision else ""),
                launch.lineitem_url,
                {
                    "registration_id": launch.registration_id,
                    "score": {
                        "userId": launch.subject,
                        "scoreGiven": float(result.get("score", 0.0)),
                        "scoreMaximum": float(result.get("max_score", 0) or 0),
                        "activityProgress": "Completed",
                        "gradingProgress": progress,
                        "timestamp": now.isoformat(),
                        "comment": comment,
                    },
                },
                now,
                attempt_id=attempt.id,
            )
        )
        count += 1
    subscriptions = session.scalars(
        select(WebhookSubscription).where(
            WebhookSubscription.active.is_(True),
            (WebhookSubscription.exam_id == attempt.exam_id)
            | WebhookSubscription.exam_id.is_(None),
        )
    )
    wanted = [event_types] if isinstance(event_types, str) else list(event_types)
    subscribed = list(subscriptions)
    for event_type in wanted:
        count += _enqueue_webhooks(session, subscribed, attempt, now, event_type, detail)
    return count


def _enqueue_webhooks(
    session: Session,
    subscriptions: list[WebhookSubscription],
    attempt: Attempt,
    now: datetime,
    event_type: str,
    detail: dict[str, Any] | None,
) -> int:
    result = attempt.result or {}
    progress = str(result.get("grading_progress", "FullyGraded"))
    count = 0
    event_id = new_id()
    event = {
        "id": event_id,
        "type": event_type,
        "created_at": now.isoformat(),
        "data": {
            "attempt_id": attempt.id,
            "exam_id": attempt.exam_id,
            "learner_id": attempt.learner_id,
            "finalized_by": attempt.finalized_by,
            "submitted_at": (attempt.submitted_at or now).isoformat(),
            "score": float(result.get("score", 0.0)),
            "max_score": result.get("max_score"),
            "percent": result.get("percent"),
            "passed": result.get("passed"),
            "grading_progress": progress,
            **(detail or {}),
        },
    }
    for subscription in subscriptions:
        if event_type not in subscription.events:
            continue
        session.add(
            _outbox_message(
                "webhook",
                f"webhook:{subscription.id}:{event_id}",
                subscription.url,
                {"event": event},
                now,
                attempt_id=attempt.id,
                subscription_id=subscription.id,
            )
        )
        count += 1
    return count
