"""The learning loop as plain data: what a graded answer says about a learner's memory of a
card, and what that learner should practise next.

Every graded answer (choice, fill-in or free answer, in any attempt) is a review of the card
its question was made from (an authored question is its own card). The review's rating
follows from the grade (:func:`rating_for`); a learner's memory of a card is what the FSRS
scheduler of the ``fsrs`` package makes of the card's reviews replayed in order
(:func:`replay`). Nothing here stores or serves anything: ``quizsvc.persistence.learning``
keeps the log and the states, the API and the command line show them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import fsrs

from quizsvc.bank.model import Bank

#: The scheduler every state is computed with. A learner meets a card at most once per exam,
#: and exams are hours or days apart, so fsrs's minute-long (re)learning steps would only
#: make every card answered today due again at once: each review goes straight to day-scale
#: intervals instead. Fuzzing is off because it draws from the global random generator, and
#: replaying the same log must always give the same state.
SCHEDULER = fsrs.Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
#: The recall probability the scheduler plans reviews for (fsrs's default, 0.9).
DESIRED_RETENTION: float = SCHEDULER.desired_retention
#: A grade the grader is less sure of than this counts as Hard however right it looks: an
#: unsure "correct" must not push the next review weeks away.
LOW_CONFIDENCE = 0.6
#: A right answer given within this many seconds (per question type) was recalled easily.
FAST_ANSWER_SECONDS: Mapping[str, float] = {
    "multiple_choice": 20.0,
    "multiple_response": 40.0,
    "fill_in": 30.0,
    "free_answer": 90.0,
}
#: A card whose memory lasts this long (fsrs stability, in days) counts as mastered.
MASTERED_STABILITY_DAYS = 21.0
#: "Due soon": how far ahead the due list looks by default.
DUE_SOON = timedelta(hours=24)
#: At most this share of a practice exam goes to not-yet-due cards of the learner's weakest
#: topics, so that new cards still come in.
WEAK_TOPIC_SHARE = 0.25
#: Why a review is in the log: the attempt's own grade, a person's decision, a regrade.
CAUSES = ("attempt", "override", "regrade")
#: Why a card is in a practice exam, in the order they are chosen.
REASONS = ("due", "weak_topic", "new", "review_ahead")


def as_utc(moment: datetime) -> datetime:
    """fsrs accepts only aware datetimes whose zone is UTC itself (not just +00:00)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime; the learning loop needs timezone-aware UTC")
    return moment.astimezone(UTC)


def rating_for(
    verdict: str,
    confidence: float | None,
    answer_seconds: float | None,
    question_type: str,
) -> fsrs.Rating:
    """The review rating of one graded answer.

    Incorrect is Again and partial is Hard. Correct is Good, or Easy when the answer came
    quickly (``FAST_ANSWER_SECONDS``, where the time is known), but only Hard when the
    grader was unsure (confidence below ``LOW_CONFIDENCE``). An unsure *incorrect* stays
    Again: fsrs has nothing between Again and Hard, and Hard counts as remembered, which
    would hide a gap; a person who looks at the grade later changes it, and the card's state
    is recomputed then.
    """
    if verdict == "incorrect":
        return fsrs.Rating.Again
    if verdict == "partial":
        return fsrs.Rating.Hard
    if verdict != "correct":
        raise ValueError(f"unknown verdict {verdict!r}")
    if confidence is not None and confidence < LOW_CONFIDENCE:
        return fsrs.Rating.Hard
    fast = FAST_ANSWER_SECONDS.get(question_type)
    if answer_seconds is not None and fast is not None and answer_seconds <= fast:
        return fsrs.Rating.Easy
    return fsrs.Rating.Good


@dataclass(frozen=True)
class AnswerSaves:
    """When a question's answer was first and last autosaved (the first is unknown for
    answers saved before it was recorded)."""

    first_saved_at: datetime | None
    last_saved_at: datetime


def answer_seconds(
    started_at: datetime, saves: Mapping[str, AnswerSaves]
) -> dict[str, float | None]:
    """Seconds spent on each answered question before answering it, estimated from the
    autosaves: from the learner's last save of another question before this one's first
    save (or from the start of the attempt) to that first save. Reading ahead counts as time
    on the question answered next, so the estimate errs long: it can turn Easy into Good,
    never the other way. None where the first save is unknown."""
    moments = [
        (moment, question_id)
        for question_id, saved in saves.items()
        for moment in (saved.first_saved_at, saved.last_saved_at)
        if moment is not None
    ]
    seconds: dict[str, float | None] = {}
    for question_id, saved in saves.items():
        first = saved.first_saved_at
        if first is None:
            seconds[question_id] = None
            continue
        before = [moment for moment, other in moments if other != question_id and moment <= first]
        previous = max([started_at, *before])
        seconds[question_id] = max(0.0, (first - previous).total_seconds())
    return seconds


@dataclass(frozen=True)
class Review:
    """One graded answer as the scheduler sees it."""

    rating: fsrs.Rating
    reviewed_at: datetime
    duration_seconds: float | None = None


def memory_card_id(card_id: str) -> int:
    """fsrs numbers its cards and ours have names: a stable number from the name (53 bits,
    so that it survives JSON readers that parse numbers as doubles)."""
    return int.from_bytes(hashlib.sha256(card_id.encode("utf-8")).digest()[:8], "big") >> 11


def replay(card_id: str, reviews: Sequence[Review]) -> fsrs.Card:
    """The memory state after ``reviews``, computed from scratch by the scheduler
    (``Scheduler.reschedule_card``). Reviews are taken in time order; reviews at the same
    moment keep the order given."""
    if not reviews:
        raise ValueError("a card's state needs at least one review")
    number = memory_card_id(card_id)
    logs = [
        fsrs.ReviewLog(
            card_id=number,
            rating=review.rating,
            review_datetime=as_utc(review.reviewed_at),
            review_duration=None
            if review.duration_seconds is None
            else round(review.duration_seconds * 1000),
        )
        for review in reviews
    ]
    start = fsrs.Card(card_id=number, due=as_utc(reviews[0].reviewed_at))
    return SCHEDULER.reschedule_card(start, logs)


@dataclass(frozen=True)
class CardMemory:
    """A learner's memory of one card: the fsrs state and how it got there."""

    card_id: str
    deck: str
    topic: str
    card: fsrs.Card
    reviews: int
    #: Reviews rated Again (answers the learner missed).
    lapses: int

    @property
    def due(self) -> datetime:
        return self.card.due

    @property
    def last_reviewed_at(self) -> datetime | None:
        return self.card.last_review

    @property
    def stability_days(self) -> float:
        return float(self.card.stability or 0.0)

    @property
    def difficulty(self) -> float:
        return float(self.card.difficulty or 0.0)

    @property
    def mastered(self) -> bool:
        return self.stability_days >= MASTERED_STABILITY_DAYS

    def retrievability(self, now: datetime) -> float:
        """The scheduler's probability that the learner recalls the card at ``now``."""
        return float(SCHEDULER.get_card_retrievability(self.card, as_utc(now)))

    def is_due(self, now: datetime) -> bool:
        return self.card.due <= now


def memory_of(card_id: str, deck: str, topic: str, reviews: Sequence[Review]) -> CardMemory:
    """A card's memory from its whole log (see :func:`replay`)."""
    return CardMemory(
        card_id=card_id,
        deck=deck,
        topic=topic,
        card=replay(card_id, reviews),
        reviews=len(reviews),
        lapses=sum(1 for review in reviews if review.rating == fsrs.Rating.Again),
    )


def after_review(
    memory: CardMemory | None, card_id: str, deck: str, topic: str, review: Review
) -> CardMemory:
    """The memory one more review makes of ``memory`` (None: a card never reviewed). The
    same as replaying the whole log with this review last, without replaying it."""
    at = as_utc(review.reviewed_at)
    card = memory.card if memory is not None else fsrs.Card(card_id=memory_card_id(card_id), due=at)
    updated, _ = SCHEDULER.review_card(card, review.rating, at)
    return CardMemory(
        card_id=card_id,
        deck=deck,
        topic=topic,
        card=updated,
        reviews=(memory.reviews if memory else 0) + 1,
        lapses=(memory.lapses if memory else 0) + (review.rating == fsrs.Rating.Again),
    )


# -- what to show and what to practise ----------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """One topic of the bank, with how many cards and authored questions it has."""

    deck: str
    topic: str
    title: str
    items: int


def bank_topics(bank: Bank, deck: str | None = None) -> list[Topic]:
    """Every topic of one deck (or all), in bank order; topics only authored questions have
    included."""
    counts: dict[tuple[str, str], int] = {}
    for card in bank.select(deck):
        counts[card.deck, card.topic] = counts.get((card.deck, card.topic), 0) + 1
    for question in bank.select_questions(deck):
        key = (question.deck, question.topic)
        counts[key] = counts.get(key, 0) + 1
    topics = []
    for (deck_id, topic), items in counts.items():
        found = bank.decks.get(deck_id)
        title = found.topic_title(topic) if found else topic
        topics.append(Topic(deck_id, topic, title, items))
    return topics


def _topic_order(
    topics: Sequence[Topic], memories: Iterable[CardMemory]
) -> list[tuple[str, str, str]]:
    """(deck, topic, title) of the bank's topics, then of any topic only the log knows (a
    card since removed from the bank)."""
    order = {(topic.deck, topic.topic): topic.title for topic in topics}
    for memory in memories:
        order.setdefault((memory.deck, memory.topic), memory.topic)
    return [(deck, topic, title) for (deck, topic), title in order.items()]


def card_view(memory: CardMemory, now: datetime) -> dict[str, Any]:
    return {
        "card_id": memory.card_id,
        "deck": memory.deck,
        "topic": memory.topic,
        "due": memory.due,
        "status": "due" if memory.is_due(now) else "soon",
        "retrievability": round(memory.retrievability(now), 4),
        "stability_days": round(memory.stability_days, 3),
        "difficulty": round(memory.difficulty, 3),
        "reviews": memory.reviews,
        "lapses": memory.lapses,
        "last_reviewed_at": memory.last_reviewed_at,
    }


def due_report(
    memories: Sequence[CardMemory],
    topics: Sequence[Topic],
    now: datetime,
    horizon: timedelta = DUE_SOON,
) -> dict[str, Any]:
    """Cards due now and within ``horizon``, per topic: due ones first, the most forgotten
    first (lowest retrievability), then the soon ones by due time. Topics with nothing due
    are left out."""
    until = now + horizon
    by_topic: dict[tuple[str, str], list[CardMemory]] = {}
    for memory in memories:
        if memory.due <= until:
            by_topic.setdefault((memory.deck, memory.topic), []).append(memory)
    groups = []
    for deck, topic, title in _topic_order(topics, memories):
        found = by_topic.get((deck, topic))
        if not found:
            continue
        due = sorted(
            (memory for memory in found if memory.is_due(now)),
            key=lambda memory: (memory.retrievability(now), memory.due, memory.card_id),
        )
        soon = sorted(
            (memory for memory in found if not memory.is_due(now)),
            key=lambda memory: (memory.due, memory.card_id),
        )
        groups.append(
            {
                "deck": deck,
                "topic": topic,
                "title": title,
                "due_now": len(due),
                "due_soon": len(soon),
                "cards": [card_view(memory, now) for memory in (*due, *soon)],
            }
        )
    return {
        "now": now,
        "due_until": until,
        "due_now": sum(group["due_now"] for group in groups),
        "due_soon": sum(group["due_soon"] for group in groups),
        "topics": groups,
    }


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def progress_report(
    memories: Sequence[CardMemory], topics: Sequence[Topic], now: datetime
) -> dict[str, Any]:
    """Per topic and in all: cards in the bank, seen, mastered (stability of at least
    ``MASTERED_STABILITY_DAYS``), due now, and the predicted retention (the mean
    retrievability of the seen cards now; None before any is seen)."""
    by_topic: dict[tuple[str, str], list[CardMemory]] = {}
    for memory in memories:
        by_topic.setdefault((memory.deck, memory.topic), []).append(memory)
    items = {(topic.deck, topic.topic): topic.items for topic in topics}
    rows = []
    for deck, topic, title in _topic_order(topics, memories):
        seen = by_topic.get((deck, topic), [])
        rows.append(
            {
                "deck": deck,
                "topic": topic,
                "title": title,
                "cards": max(items.get((deck, topic), 0), len(seen)),
                "seen": len(seen),
                "mastered": sum(1 for memory in seen if memory.mastered),
                "due": sum(1 for memory in seen if memory.is_due(now)),
                "predicted_retention": _mean([memory.retrievability(now) for memory in seen]),
            }
        )
    return {
        "now": now,
        "mastery_stability_days": MASTERED_STABILITY_DAYS,
        "totals": {
            "cards": sum(row["cards"] for row in rows),
            "seen": len(memories),
            "mastered": sum(1 for memory in memories if memory.mastered),
            "due": sum(1 for memory in memories if memory.is_due(now)),
            "predicted_retention": _mean([memory.retrievability(now) for memory in memories]),
        },
        "topics": rows,
    }


class Practicable(Protocol):
    """A card a practice exam may ask about (a bank card has both)."""

    @property
    def id(self) -> str: ...

    @property
    def topic(self) -> str: ...


@dataclass(frozen=True)
class PracticeChoice:
    card_id: str
    topic: str
    #: One of ``REASONS``.
    reason: str


def topic_weakness(memories: Iterable[CardMemory]) -> dict[str, float]:
    """Per topic, the share of its reviews the learner missed (rated Again)."""
    reviews: dict[str, int] = {}
    lapses: dict[str, int] = {}
    for memory in memories:
        reviews[memory.topic] = reviews.get(memory.topic, 0) + memory.reviews
        lapses[memory.topic] = lapses.get(memory.topic, 0) + memory.lapses
    return {topic: lapses[topic] / count for topic, count in reviews.items() if count}


def practice_order(
    cards: Sequence[Practicable],
    memories: Mapping[str, CardMemory],
    now: datetime,
    size: int,
    rng: random.Random,
) -> list[PracticeChoice]:
    """Every card of ``cards`` in the order a practice exam of ``size`` questions should
    take them: cards due now, the most forgotten first; then, for up to
    ``WEAK_TOPIC_SHARE`` of the exam, cards not yet due from the topics where the learner
    misses most (the least retrievable first); then cards never reviewed, those of weak
    topics first and otherwise in random order; then the remaining reviewed cards, the least
    retrievable first (reviewing ahead, when nothing else is left)."""
    weakness = topic_weakness(memories.values())
    seen = [memories[card.id] for card in cards if card.id in memories]
    due = sorted(
        (memory for memory in seen if memory.is_due(now)),
        key=lambda memory: (memory.retrievability(now), memory.card_id),
    )
    not_due = [memory for memory in seen if not memory.is_due(now)]
    weak = sorted(
        (memory for memory in not_due if weakness.get(memory.topic, 0.0) > 0),
        key=lambda memory: (
            -weakness[memory.topic],
            memory.retrievability(now),
            memory.card_id,
        ),
    )[: max(0, round(size * WEAK_TOPIC_SHARE))]
    new = [card for card in cards if card.id not in memories]
    rng.shuffle(new)
    new.sort(key=lambda card: -weakness.get(card.topic, 0.0))
    chosen = {memory.card_id for memory in (*due, *weak)}
    ahead = sorted(
        (memory for memory in not_due if memory.card_id not in chosen),
        key=lambda memory: (memory.retrievability(now), memory.card_id),
    )
    return [
        *(PracticeChoice(memory.card_id, memory.topic, "due") for memory in due),
        *(PracticeChoice(memory.card_id, memory.topic, "weak_topic") for memory in weak),
        *(PracticeChoice(card.id, card.topic, "new") for card in new),
        *(PracticeChoice(memory.card_id, memory.topic, "review_ahead") for memory in ahead),
    ]
