"""Spaced repetition in simulation: practice chosen by the service's FSRS loop against random
practice of the same deck.

Simulated learners study the real bank's cards (their ids and topics) for 30 days, one
practice exam of N questions each morning. Each learner has a hidden memory of every card:
recall decays exponentially, p = 2^(-days since last study / half-life). A card never studied
is known only by guessing (one of four options), except for the quarter the learner already
knew a little. Every practice exam shows the right answers, so a question always teaches:
a first sight sets the card's half-life (shorter in harder topics and for harder cards); a
success multiplies it, more when the recall was harder (the spacing effect); a failure halves
it (never below the first one). Answers the learner recalls well come quickly.

Two ways to choose each day's N cards, on the same learners (same hidden memories, same
random draws of who recalls what):

- FSRS: ``quizsvc.learning.practice_order`` over the states the scheduler makes of the graded
  answers (``rating_for`` from verdict and time, ``after_review``): due cards first, then
  the weakest topics, then new cards; the simulation takes its first N (the exam builder's
  per-kind constraints are left out);
- random: N distinct cards drawn uniformly.

Mastery at day 30 is the share of the deck the learner truly recalls with p >= 0.9. The run
prints, for several N, the mastery each way reaches, and the questions each needs to get 90%
of the deck there.

Run: ``.venv/bin/python bench/spaced_repetition.py`` (about 20 seconds on 2 CPU cores).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from quizsvc.bank import Card, load_bank
from quizsvc.config import Settings
from quizsvc.learning import CardMemory, Review, after_review, practice_order, rating_for

DAYS = 30
LEARNERS = 12
#: Practice exam sizes tried, in steps of 5: the questions needed are known to within 150.
DAILY_QUESTIONS = tuple(range(5, 125, 5))
#: Questions per day of the row "at equal question count" in the summary table: a practice
#: exam of 30 questions a day, fixed before looking at the results.
EQUAL_COUNT = 30
#: A card is mastered when the learner recalls it with this probability at the end.
TARGET_RECALL = 0.9
#: ... and the target is this share of the deck mastered.
TARGET_SHARE = 0.9
GUESS = 0.25
KNOWN_SHARE = 0.25
FIRST_HALF_LIFE_DAYS = 1.5
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
QUICK_SECONDS = 10.0
SLOW_SECONDS = 45.0


@dataclass
class HiddenCard:
    """What the learner really knows of one card; the scheduler never sees it."""

    first_half_life: float
    half_life: float = 0.0
    #: Days since the start at the last study; None: never studied.
    last_study: float | None = None

    def recall(self, day: float) -> float:
        if self.last_study is None:
            return 0.0
        return float(2.0 ** (-(day - self.last_study) / self.half_life))

    def study(self, day: float, recalled: bool) -> None:
        if self.last_study is None:
            self.half_life = self.first_half_life
        elif recalled:
            self.half_life *= 1.5 + 3.0 * (1.0 - self.recall(day))
        else:
            self.half_life = max(self.first_half_life, self.half_life / 2)
        self.last_study = day


@dataclass
class Learner:
    cards: dict[str, HiddenCard]
    rng: random.Random
    memories: dict[str, CardMemory] = field(default_factory=dict)
    questions: int = 0

    def answer(self, card: Card, at: datetime) -> None:
        """One question: recall (or guess), learn from the shown answer, and let the
        scheduler rate the graded answer."""
        day = (at - START) / timedelta(days=1)
        hidden = self.cards[card.id]
        recall = hidden.recall(day)
        recalled = self.rng.random() < recall
        correct = recalled or self.rng.random() < GUESS
        seconds = QUICK_SECONDS if recalled and recall >= 0.8 else SLOW_SECONDS
        hidden.study(day, recalled)
        rating = rating_for("correct" if correct else "incorrect", 1.0, seconds, "multiple_choice")
        self.memories[card.id] = after_review(
            self.memories.get(card.id),
            card.id,
            card.deck,
            card.topic,
            Review(rating, at, seconds),
        )
        self.questions += 1

    def mastery(self, day: float) -> float:
        mastered = sum(1 for card in self.cards.values() if card.recall(day) >= TARGET_RECALL)
        return mastered / len(self.cards)


def make_learner(cards: Sequence[Card], seed: int) -> Learner:
    """A learner whose topics and cards differ in difficulty, who knows a quarter of the
    deck a little already."""
    rng = random.Random(seed)
    topic_ease = {topic: math.exp(rng.gauss(0, 0.4)) for topic in sorted({c.topic for c in cards})}
    hidden = {}
    for card in cards:
        first = FIRST_HALF_LIFE_DAYS * topic_ease[card.topic] * math.exp(rng.gauss(0, 0.4))
        found = HiddenCard(first)
        if rng.random() < KNOWN_SHARE:
            found.half_life = first * rng.uniform(2, 6)
            found.last_study = -rng.uniform(0, 10)
        hidden[card.id] = found
    return Learner(hidden, random.Random(seed + 1))


Chooser = Callable[[Learner, Sequence[Card], datetime, int, random.Random], list[Card]]


def fsrs_choice(
    learner: Learner, cards: Sequence[Card], now: datetime, count: int, rng: random.Random
) -> list[Card]:
    by_id = {card.id: card for card in cards}
    order = practice_order(cards, learner.memories, now, count, rng)
    return [by_id[choice.card_id] for choice in order[:count]]


def random_choice(
    learner: Learner, cards: Sequence[Card], now: datetime, count: int, rng: random.Random
) -> list[Card]:
    return rng.sample(list(cards), min(count, len(cards)))


def simulate(cards: Sequence[Card], choose: Chooser, per_day: int, seed: int) -> float:
    """One learner's 30 days; the mastery at the morning of day 30."""
    learner = make_learner(cards, seed)
    rng = random.Random(seed + 2)
    for day in range(DAYS):
        now = START + timedelta(days=day)
        for index, card in enumerate(choose(learner, cards, now, per_day, rng)):
            learner.answer(card, now + timedelta(minutes=index))
    return learner.mastery(DAYS)


@dataclass(frozen=True)
class RepetitionResult:
    cards: int
    learners: int
    #: Questions per day -> mean mastery (FSRS, random).
    mastery: dict[int, tuple[float, float]]

    def questions_to_target(self, index: int) -> int | None:
        """Questions over the 30 days at the smallest N reaching the target (None: none
        of the N tried)."""
        for per_day, values in sorted(self.mastery.items()):
            if values[index] >= TARGET_SHARE:
                return per_day * DAYS
        return None

    @property
    def fsrs_questions(self) -> int | None:
        return self.questions_to_target(0)

    @property
    def random_questions(self) -> int | None:
        return self.questions_to_target(1)


def main() -> RepetitionResult:
    settings = Settings.from_env()
    cards = list(load_bank(settings.bank_dir).cards)
    started = time.perf_counter()
    mastery: dict[int, tuple[float, float]] = {}
    print(
        f"spaced repetition: {len(cards)} cards, {LEARNERS} simulated learners, {DAYS} days; "
        f"mastered = true recall >= {TARGET_RECALL:g} on day {DAYS}"
    )
    print(f"{'questions/day':>13} {'total':>6} {'FSRS':>7} {'random':>7}")
    for per_day in DAILY_QUESTIONS:
        seeds = range(1, LEARNERS + 1)
        fsrs_share = statistics.mean(simulate(cards, fsrs_choice, per_day, s) for s in seeds)
        random_share = statistics.mean(simulate(cards, random_choice, per_day, s) for s in seeds)
        mastery[per_day] = (fsrs_share, random_share)
        print(f"{per_day:>13} {per_day * DAYS:>6} {fsrs_share:>7.1%} {random_share:>7.1%}")
    result = RepetitionResult(len(cards), LEARNERS, mastery)
    target = f"{TARGET_SHARE:.0%} of the deck mastered"
    for name, questions in (("FSRS", result.fsrs_questions), ("random", result.random_questions)):
        reached = f"{questions} questions" if questions else f"not within {max(mastery)}/day"
        print(f"{name}: {target} after {reached}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return result


if __name__ == "__main__":
    main()
