"""The web app's sign-in: one-time sign-in links and browser sessions.

Only hashes of the tokens are stored (as for API keys): a copy of the database lets nobody
sign in. A session always stands on an API key row, the learner's or staff member's own
key when they signed in with it, or one minted for the session when they used a sign-in
link; revoking that key ends the session at its next request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Boolean, ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from quizsvc.persistence.base import Base, StoreBase, UTCDateTime
from quizsvc.persistence.keys import KEY_PREFIX, ApiKey, hash_key

#: Label of the API keys minted for a session opened with a sign-in link.
LINK_KEY_LABEL = "web sign-in link"


class SignInLink(Base):
    __tablename__ = "sign_in_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    learner_id: Mapped[str] = mapped_column(String(200), index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSession(Base):
    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    #: Whether the key was minted for this session (a sign-in link): sign-out revokes it.
    owns_key: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class SessionPrincipal:
    """Who a live browser session speaks for."""

    key_id: int
    role: str
    learner_id: str | None
    expires_at: datetime


def new_token() -> str:
    return secrets.token_urlsafe(32)


class WebStore(StoreBase):
    # -- sign-in links ----------------------------------------------------------------------

    def create_sign_in_link(
        self, learner_id: str, created_by: int, now: datetime, lifetime: timedelta
    ) -> tuple[str, SignInLink]:
        """A new one-time link token, returned once; only its hash is stored."""
        token = new_token()
        link = SignInLink(
            token_hash=hash_key(token),
            learner_id=learner_id,
            created_by=created_by,
            created_at=now,
            expires_at=now + lifetime,
            used_at=None,
        )
        with self.session() as session:
            session.add(link)
        return token, link

    def peek_sign_in_link(self, token: str, now: datetime) -> tuple[SignInLink | None, str]:
        """The link and why it cannot be used ("" when it can), without using it."""
        with self.session() as session:
            link = session.get(SignInLink, hash_key(token))
        return link, _link_problem(link, now)

    def redeem_sign_in_link(
        self, token: str, session_token: str, now: datetime, session_lifetime: timedelta
    ) -> tuple[SessionPrincipal | None, str]:
        """Use the link once and open a session for its learner, in one transaction.

        The claim is a conditional UPDATE (unused and unexpired): of two browsers redeeming
        the same link at once, on SQLite or PostgreSQL, exactly one updates the row and the
        other sees "used".
        """
        digest = hash_key(token)
        with self.session() as session:
            claimed = session.execute(
                update(SignInLink)
                .where(
                    SignInLink.token_hash == digest,
                    SignInLink.used_at.is_(None),
                    SignInLink.expires_at > now,
                )
                .values(used_at=now)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                link = session.get(SignInLink, digest)
                return None, _link_problem(link, now) or "used"
            link = session.get(SignInLink, digest)
            assert link is not None
            # The session's own key: never shown to anyone, revoked at sign-out.
            key = KEY_PREFIX + new_token()
            record = ApiKey(
                key_hash=hash_key(key),
                prefix=key[:10],
                role="learner",
                learner_id=link.learner_id,
                label=LINK_KEY_LABEL,
                created_at=now,
            )
            session.add(record)
            session.flush()
            web_session = _new_session(session_token, record.id, True, now, session_lifetime)
            session.add(web_session)
            return (
                SessionPrincipal(record.id, "learner", link.learner_id, web_session.expires_at),
                "",
            )

    # -- sessions ------------------------------------------------------------------------------

    def open_web_session(
        self, session_token: str, key_id: int, now: datetime, lifetime: timedelta
    ) -> WebSession:
        """A session on an existing API key (the person signed in with it)."""
        web_session = _new_session(session_token, key_id, False, now, lifetime)
        with self.session() as session:
            session.add(web_session)
        return web_session

    def web_session_principal(
        self, session_token: str, now: datetime, idle: timedelta
    ) -> SessionPrincipal | None:
        """Who the session speaks for; None when it is unknown, ended, expired (absolutely
        or after ``idle`` without a request) or its key is revoked. A live session's last
        request time moves on, at most once a minute (a write per autosave would be waste).
        """
        digest = hash_key(session_token)
        query = (
            select(WebSession, ApiKey.role, ApiKey.learner_id)
            .join(ApiKey, ApiKey.id == WebSession.key_id)
            .where(
                WebSession.token_hash == digest,
                WebSession.ended_at.is_(None),
                WebSession.expires_at > now,
                WebSession.last_seen_at > now - idle,
                ApiKey.revoked_at.is_(None),
            )
        )
        with self.session() as session:
            row = session.execute(query).first()
            if row is None:
                return None
            web_session, role, learner_id = row
            if now - web_session.last_seen_at > timedelta(minutes=1):
                web_session.last_seen_at = now
            return SessionPrincipal(web_session.key_id, role, learner_id, web_session.expires_at)

    def end_web_session(self, session_token: str, now: datetime) -> None:
        """Sign-out: the session ends, and the key minted for it (a sign-in link's) too."""
        with self.session() as session:
            web_session = session.get(WebSession, hash_key(session_token))
            if web_session is None or web_session.ended_at is not None:
                return
            web_session.ended_at = now
            if web_session.owns_key:
                session.execute(
                    update(ApiKey)
                    .where(ApiKey.id == web_session.key_id, ApiKey.revoked_at.is_(None))
                    .values(revoked_at=now)
                )


def _new_session(
    session_token: str, key_id: int, owns_key: bool, now: datetime, lifetime: timedelta
) -> WebSession:
    return WebSession(
        token_hash=hash_key(session_token),
        key_id=key_id,
        owns_key=owns_key,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        ended_at=None,
    )


def _link_problem(link: SignInLink | None, now: datetime) -> str:
    if link is None:
        return "unknown"
    if link.used_at is not None:
        return "used"
    if link.expires_at <= now:
        return "expired"
    return ""
