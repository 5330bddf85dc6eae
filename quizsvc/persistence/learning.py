"""The learning log and each learner's memory of each card.

``learning_reviews`` is append-only: one row per graded answer, written in the same
transaction as the grade it records (:func:`record_learning_reviews`, called by
``finalize_attempt`` and ``update_attempt_result``), so that the log never disagrees with the
results. A changed grade (an override, a resolved review, a regrade) does not edit its row: it
marks it superseded and adds the new one. ``learner_cards`` holds the fsrs state per learner
and card, always recomputed by replaying the card's rows in force, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import fsrs
from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from quizsvc.learning import (
    AnswerSaves,
    CardMemory,
    Review,
    answer_seconds,
    as_utc,
    memory_of,
    rating_for,
)
from quizsvc.persistence.base import Base, StoreBase, UTCDateTime, new_id

if TYPE_CHECKING:
    from fsrs.card import CardDict

    from quizsvc.persistence.attempts import Attempt, Response


class LearningReview(Base):
    """One graded answer as a review of its card (append-only)."""

    __tablename__ = "learning_reviews"
    __table_args__ = (Index("ix_learning_reviews_learner_card", "learner_id", "card_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    learner_id: Mapped[str] = mapped_column(String(200))
    card_id: Mapped[str] = mapped_column(String(64))
    deck: Mapped[str] = mapped_column(String(80))
    topic: Mapped[str] = mapped_column(String(80))
    exam_id: Mapped[str] = mapped_column(String(32))
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), index=True)
    #: The exam's own question id (not the attempt's public one).
    question_id: Mapped[str] = mapped_column(String(32))
    question_type: Mapped[str] = mapped_column(String(32))
    #: fsrs rating: 1 Again, 2 Hard, 3 Good, 4 Easy (``quizsvc.learning.rating_for``).
    rating: Mapped[int] = mapped_column(Integer)
    #: When the learner answered (the last autosave; the attempt's end when unanswered). A
    #: changed grade keeps it: the learner's recall happened then, not when a person decided.
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verdict: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Seconds spent on the question before answering (estimated from autosaves).
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: attempt | override | regrade (``quizsvc.learning.CAUSES``).
    cause: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The row that replaced this one when the grade changed; None while in force.
    superseded_by: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)

    def review(self) -> Review:
        return Review(fsrs.Rating(self.rating), self.reviewed_at, self.duration_seconds)


class LearnerCard(Base):
    """A learner's memory of one card: the replay of its reviews in force."""

    __tablename__ = "learner_cards"

    learner_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    card_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deck: Mapped[str] = mapped_column(String(80))
    topic: Mapped[str] = mapped_column(String(80))
    #: ``fsrs.Card.to_dict()``.
    memory: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Copied out of ``memory`` so that due lists are one indexed query.
    due: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    stability: Mapped[float] = mapped_column(Float)
    reviews: Mapped[int] = mapped_column(Integer)
    lapses: Mapped[int] = mapped_column(Integer)
    last_reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def to_memory(self) -> CardMemory:
        return CardMemory(
            card_id=self.card_id,
            deck=self.deck,
            topic=self.topic,
            card=fsrs.Card.from_dict(cast("CardDict", self.memory)),
            reviews=self.reviews,
            lapses=self.lapses,
        )


@dataclass(frozen=True)
class _Graded:
    """One question of a result as the log records it."""

    question_id: str
    verdict: str
    score: float
    confidence: float | None

    def same_grade(self, row: LearningReview) -> bool:
        return (row.verdict, round(row.score, 4), row.confidence) == (
            self.verdict,
            round(self.score, 4),
            self.confidence,
        )


def record_learning_reviews(
    session: Session,
    attempt: Attempt,
    now: datetime,
    *,
    newly_graded: bool = False,
    questions: Sequence[Mapping[str, Any]] | None = None,
    responses: Iterable[Response] | None = None,
) -> int:
    """Bring the attempt's rows of the learning log in line with its result, then recompute
    the learner's states of the cards whose rows changed. Called inside the transaction that
    stores or changes the result. Returns the number of rows added.

    A question with no row in force gets one (cause ``attempt``: the first grade, or an
    attempt graded before the log existed); a question whose grade differs from its row in
    force supersedes that row with a new one, caused by what changed the result (``regrade``
    or, for a person's decision, ``override``). Unanswered questions count: a question left
    blank was not recalled.

    ``finalize_attempt`` passes what it loaded already, saving the reads: ``newly_graded``
    (the attempt was in progress until now, so it has no rows yet), the exam's frozen
    ``questions`` it graded with and the attempt's ``responses``.
    """
    result = attempt.result
    if attempt.status != "graded" or not result:
        return 0
    graded = [
        _Graded(
            str(item["question_id"]),
            str(item["verdict"]),
            float(item["score"]),
            None if item.get("confidence") is None else float(item["confidence"]),
        )
        for item in result.get("questions", [])
        if item.get("verdict") is not None
    ]
    if not graded:
        return 0
    # The attempt's own rows: its row lock, held by the caller, keeps them still.
    in_force = (
        {}
        if newly_graded
        else {
            row.question_id: row
            for row in session.scalars(
                select(LearningReview).where(
                    LearningReview.attempt_id == attempt.id,
                    LearningReview.superseded_by.is_(None),
                )
            )
        }
    )
    first = [item for item in graded if item.question_id not in in_force]
    changed = [
        item
        for item in graded
        if item.question_id in in_force and not item.same_grade(in_force[item.question_id])
    ]
    if not first and not changed:
        return 0
    _lock_learner(session, attempt.learner_id)
    # The keys say which card each question asks about; the autosaves when it was answered.
    keys = _question_keys(session, attempt.exam_id, questions) if first else {}
    timing = _answer_timing(session, attempt, responses) if first else {}
    cause = "regrade" if (result.get("last_change") or {}).get("cause") == "regrade" else "override"
    cards: set[str] = set()
    added = 0
    for item in (*first, *changed):
        earlier = in_force.get(item.question_id)
        row = (
            _first_row(attempt, item, keys, timing, now)
            if earlier is None
            else _replacing_row(earlier, item, cause, now)
        )
        if row is None:
            continue
        if earlier is not None:
            earlier.superseded_by = row.id
        session.add(row)
        cards.add(row.card_id)
        added += 1
    recompute_cards(session, attempt.learner_id, cards, now)
    return added


def _lock_learner(session: Session, learner_id: str) -> None:
    """Serialise the recomputes of one learner's cards. Two attempts of the same learner
    graded at once would otherwise each replay a log without the other's rows (and race to
    insert the same state row). SQLite has one writer at a time already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext("learning"), func.hashtext(learner_id)))
        )


def _question_keys(
    session: Session, exam_id: str, questions: Sequence[Mapping[str, Any]] | None
) -> dict[str, Mapping[str, Any]]:
    from quizsvc.persistence.attempts import Exam

    if questions is None:
        questions = session.scalar(select(Exam.questions).where(Exam.id == exam_id)) or []
    return {question["key"]["question_id"]: question["key"] for question in questions}


@dataclass(frozen=True)
class _Timing:
    reviewed_at: datetime
    seconds: float | None


def _answer_timing(
    session: Session, attempt: Attempt, responses: Iterable[Response] | None
) -> dict[str, _Timing]:
    """When each answered question was answered and how long it took (autosaves)."""
    from quizsvc.persistence.attempts import Response

    rows = (
        list(responses)
        if responses is not None
        else session.execute(
            select(Response.question_id, Response.first_saved_at, Response.saved_at).where(
                Response.attempt_id == attempt.id
            )
        ).all()
    )
    saves = {row.question_id: AnswerSaves(row.first_saved_at, row.saved_at) for row in rows}
    seconds = answer_seconds(attempt.started_at, saves)
    return {
        question_id: _Timing(saved.last_saved_at, seconds[question_id])
        for question_id, saved in saves.items()
    }


def _first_row(
    attempt: Attempt,
    item: _Graded,
    keys: Mapping[str, Mapping[str, Any]],
    timing: Mapping[str, _Timing],
    now: datetime,
) -> LearningReview | None:
    key = keys.get(item.question_id)
    if key is None:
        return None
    answered = timing.get(item.question_id)
    # Unanswered: the learner had until the end of the attempt to recall it.
    finished = min(now, attempt.submitted_at or now, attempt.deadline)
    seconds = answered.seconds if answered else None
    return LearningReview(
        id=new_id(),
        learner_id=attempt.learner_id,
        card_id=str(key["card_id"]),
        deck=str(key["deck"]),
        topic=str(key["topic"]),
        exam_id=attempt.exam_id,
        attempt_id=attempt.id,
        question_id=item.question_id,
        question_type=str(key["type"]),
        rating=int(rating_for(item.verdict, item.confidence, seconds, str(key["type"]))),
        reviewed_at=answered.reviewed_at if answered else finished,
        verdict=item.verdict,
        score=item.score,
        confidence=item.confidence,
        duration_seconds=seconds,
        cause="attempt",
        recorded_at=now,
    )


def _replacing_row(
    earlier: LearningReview, item: _Graded, cause: str, now: datetime
) -> LearningReview:
    return LearningReview(
        id=new_id(),
        learner_id=earlier.learner_id,
        card_id=earlier.card_id,
        deck=earlier.deck,
        topic=earlier.topic,
        exam_id=earlier.exam_id,
        attempt_id=earlier.attempt_id,
        question_id=earlier.question_id,
        question_type=earlier.question_type,
        rating=int(
            rating_for(
                item.verdict, item.confidence, earlier.duration_seconds, earlier.question_type
            )
        ),
        reviewed_at=earlier.reviewed_at,
        verdict=item.verdict,
        score=item.score,
        confidence=item.confidence,
        duration_seconds=earlier.duration_seconds,
        cause=cause,
        recorded_at=now,
    )


def recompute_cards(
    session: Session, learner_id: str, card_ids: Iterable[str], now: datetime
) -> int:
    """Replay each card's rows in force (by the time of the answer, then the order they were
    recorded in) and store the state. Returns the number of states written."""
    wanted = sorted(set(card_ids))
    if not wanted:
        return 0
    rows = session.scalars(
        select(LearningReview)
        .where(
            LearningReview.learner_id == learner_id,
            LearningReview.card_id.in_(wanted),
            LearningReview.superseded_by.is_(None),
        )
        .order_by(LearningReview.reviewed_at, LearningReview.recorded_at, LearningReview.id)
    )
    logs: dict[str, list[LearningReview]] = {}
    for row in rows:
        logs.setdefault(row.card_id, []).append(row)
    states = {
        state.card_id: state
        for state in session.scalars(
            select(LearnerCard).where(
                LearnerCard.learner_id == learner_id, LearnerCard.card_id.in_(wanted)
            )
        )
    }
    for card_id, log in logs.items():
        latest = log[-1]
        memory = memory_of(card_id, latest.deck, latest.topic, [row.review() for row in log])
        state = states.get(card_id)
        if state is None:
            state = LearnerCard(learner_id=learner_id, card_id=card_id)
            session.add(state)
        state.deck = memory.deck
        state.topic = memory.topic
        state.memory = dict(memory.card.to_dict())
        state.due = as_utc(memory.due)
        state.stability = memory.stability_days
        state.reviews = memory.reviews
        state.lapses = memory.lapses
        state.last_reviewed_at = as_utc(memory.last_reviewed_at or latest.reviewed_at)
        state.updated_at = now
    return len(logs)


class LearningStore(StoreBase):
    """Reads of the learning log and the learners' card states (the writes happen with the
    grades, see :func:`record_learning_reviews`)."""

    def learner_memories(self, learner_id: str, deck: str | None = None) -> list[CardMemory]:
        query = select(LearnerCard).where(LearnerCard.learner_id == learner_id)
        if deck is not None:
            query = query.where(LearnerCard.deck == deck)
        with self.session() as session:
            return [
                state.to_memory() for state in session.scalars(query.order_by(LearnerCard.card_id))
            ]

    def learning_log(
        self, learner_id: str, card_id: str | None = None, include_superseded: bool = False
    ) -> list[LearningReview]:
        """The learner's reviews in replay order (superseded ones only when asked)."""
        query = select(LearningReview).where(LearningReview.learner_id == learner_id)
        if card_id is not None:
            query = query.where(LearningReview.card_id == card_id)
        if not include_superseded:
            query = query.where(LearningReview.superseded_by.is_(None))
        with self.session() as session:
            return list(
                session.scalars(
                    query.order_by(
                        LearningReview.reviewed_at, LearningReview.recorded_at, LearningReview.id
                    )
                )
            )

    def exams_per_card(self, learner_id: str) -> dict[str, set[str]]:
        """The exams whose answers make each card's state (rows in force)."""
        with self.session() as session:
            rows = session.execute(
                select(LearningReview.card_id, LearningReview.exam_id)
                .where(
                    LearningReview.learner_id == learner_id,
                    LearningReview.superseded_by.is_(None),
                )
                .distinct()
            ).all()
        found: dict[str, set[str]] = {}
        for card_id, exam_id in rows:
            found.setdefault(card_id, set()).add(exam_id)
        return found

    def recompute_learner(self, learner_id: str, now: datetime) -> int:
        """Recompute every card state of one learner from the log."""
        with self.write_session() as session:
            _lock_learner(session, learner_id)
            cards: Sequence[str] = list(
                session.scalars(
                    select(LearningReview.card_id)
                    .where(LearningReview.learner_id == learner_id)
                    .distinct()
                )
            )
            return recompute_cards(session, learner_id, cards, now)
