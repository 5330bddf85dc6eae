"""Persistence: every database read and write of the service goes through ``Store``.

SQLAlchemy 2 on SQLite (default, zero set-up) or PostgreSQL; the schema is owned by the
Alembic migrations in ``quizsvc/migrations``. Exams keep a frozen copy of their questions and
keys, so later bank edits never change a past exam or its grades, unless staff regrade the
exam with its keys refreshed from the bank.

``Store`` is one object behind one engine, made of one part per aggregate, each in its own
module under ``quizsvc/persistence``: API keys (``keys``), exams and attempts (``attempts``),
LMS registrations, webhooks and the outbox (``lms``), the review queue and the audit trail of
grade changes (``reviews``), regrade jobs (``regrade``), the learning log and learners'
card states (``learning``). Callers import from here.
"""

from __future__ import annotations

from quizsvc.persistence.accommodations import (
    AccommodationChange,
    AccommodationRow,
    AccommodationStore,
    Actor,
)
from quizsvc.persistence.attempts import (
    ATTEMPT_HEADER_CACHE_SIZE,
    EXAM_CACHE_SIZE,
    Attempt,
    AttemptHeader,
    AttemptStore,
    Exam,
    Response,
    upsert_open_response_statement,
)
from quizsvc.persistence.base import (
    Base,
    StoreBase,
    StoreUnavailable,
    UTCDateTime,
    make_engine,
    new_id,
    restrict_sqlite_file,
    unavailable_on_outage,
)
from quizsvc.persistence.cards import (
    CardStore,
    ItemVersion,
    ItemWrite,
    StaleVersion,
)
from quizsvc.persistence.distractors import (
    AlreadySuppressed,
    DistractorStore,
    DistractorSuppression,
)
from quizsvc.persistence.keys import (
    KEY_PREFIX,
    PRINCIPAL_CACHE_SECONDS,
    ROLES,
    ApiKey,
    KeyStore,
    Principal,
    hash_key,
)
from quizsvc.persistence.learning import LearnerCard, LearningReview, LearningStore
from quizsvc.persistence.lms import (
    AGS_SCORE_SCOPE,
    OUTBOX_KINDS,
    LmsStore,
    LtiKey,
    LtiLaunch,
    LtiLoginState,
    LtiRegistration,
    OutboxMessage,
    WebhookSubscription,
    _outbox_message,
)
from quizsvc.persistence.regrade import (
    RegradeJob,
    RegradeJobItem,
    RegradePlan,
    RegradeStore,
)
from quizsvc.persistence.reviews import (
    GradeChange,
    GradeReview,
    ReviewStore,
)
from quizsvc.persistence.web import (
    SessionPrincipal,
    SignInLink,
    WebSession,
    WebStore,
)


class Store(
    KeyStore,
    AccommodationStore,
    AttemptStore,
    LmsStore,
    RegradeStore,
    LearningStore,
    WebStore,
    DistractorStore,
    CardStore,
):
    """The service's persistence: every aggregate's reads and writes, one engine (the review
    queue and audit trail come with RegradeStore, which extends ReviewStore)."""


__all__ = [
    "AGS_SCORE_SCOPE",
    "ATTEMPT_HEADER_CACHE_SIZE",
    "EXAM_CACHE_SIZE",
    "KEY_PREFIX",
    "OUTBOX_KINDS",
    "PRINCIPAL_CACHE_SECONDS",
    "ROLES",
    "AccommodationChange",
    "AccommodationRow",
    "AccommodationStore",
    "Actor",
    "AlreadySuppressed",
    "ApiKey",
    "Attempt",
    "AttemptHeader",
    "Base",
    "CardStore",
    "DistractorStore",
    "DistractorSuppression",
    "Exam",
    "GradeChange",
    "GradeReview",
    "ItemVersion",
    "ItemWrite",
    "LearnerCard",
    "LearningReview",
    "LearningStore",
    "LtiKey",
    "LtiLaunch",
    "LtiLoginState",
    "LtiRegistration",
    "OutboxMessage",
    "Principal",
    "RegradeJob",
    "RegradeJobItem",
    "RegradePlan",
    "RegradeStore",
    "Response",
    "ReviewStore",
    "SessionPrincipal",
    "SignInLink",
    "StaleVersion",
    "Store",
    "StoreBase",
    "StoreUnavailable",
    "UTCDateTime",
    "WebSession",
    "WebStore",
    "WebhookSubscription",
    "_outbox_message",
    "hash_key",
    "make_engine",
    "new_id",
    "restrict_sqlite_file",
    "unavailable_on_outage",
    "upsert_open_response_statement",
]
