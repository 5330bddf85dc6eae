"""Accommodations and exam windows without any web or storage concern: who may start an
attempt when, and when each attempt's time is up.

An accommodation belongs to one learner at one exam and may give:

- extra time, as ``extra_minutes`` added to the exam's time limit or as a
  ``time_multiplier`` of it (1.5: time and a half), never both;
- ``extra_attempts`` beyond the exam's ``max_attempts``;
- ``close_extension_minutes``: the exam's close moves this much later for this learner only
  (Canvas's per-student "until" date). Without it the close caps everyone: an
  accommodated learner who starts 20 minutes before the close gets 20 minutes, extra time or
  not, as Moodle and Canvas do.

An attempt's deadline is the shorter of its start plus its (accommodated) time limit and the
(learner's) close. When staff change an accommodation while an attempt runs, its deadline is
computed again from its start, so extra time granted mid-attempt moves the deadline; a
deadline never moves before the moment of the change (answers already accepted stay
accepted and the learner is not cut off retroactively).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

#: Limits that keep a typo from giving a learner a year.
MAX_EXTRA_MINUTES = 7 * 24 * 60
MAX_TIME_MULTIPLIER = 10.0
MAX_EXTRA_ATTEMPTS = 100
MAX_CLOSE_EXTENSION_MINUTES = 365 * 24 * 60


class OutsideWindow(Exception):
    """No attempt may start now; the message says why, for the learner."""


@dataclass(frozen=True)
class Accommodation:
    extra_minutes: int | None = None
    time_multiplier: float | None = None
    extra_attempts: int = 0
    close_extension_minutes: int | None = None

    def __post_init__(self) -> None:
        for name, problem in self.problems().items():
            raise ValueError(f"{name}: {problem}")

    def problems(self) -> dict[str, str]:
        """What is wrong with these values, by field (empty when they are usable)."""
        problems: dict[str, str] = {}
        if self.extra_minutes is not None and self.time_multiplier is not None:
            problems["time_multiplier"] = "Give extra_minutes or time_multiplier, not both."
        if self.extra_minutes is not None and not 0 <= self.extra_minutes <= MAX_EXTRA_MINUTES:
            problems["extra_minutes"] = f"Must be between 0 and {MAX_EXTRA_MINUTES}."
        if self.time_multiplier is not None and not (
            1.0 <= self.time_multiplier <= MAX_TIME_MULTIPLIER
        ):
            problems["time_multiplier"] = f"Must be between 1 and {MAX_TIME_MULTIPLIER:g}."
        if not 0 <= self.extra_attempts <= MAX_EXTRA_ATTEMPTS:
            problems["extra_attempts"] = f"Must be between 0 and {MAX_EXTRA_ATTEMPTS}."
        if self.close_extension_minutes is not None and not (
            0 <= self.close_extension_minutes <= MAX_CLOSE_EXTENSION_MINUTES
        ):
            problems["close_extension_minutes"] = (
                f"Must be between 0 and {MAX_CLOSE_EXTENSION_MINUTES}."
            )
        return problems

    def time_limit_seconds(self, base_seconds: int) -> int:
        if self.time_multiplier is not None:
            return round(base_seconds * self.time_multiplier)
        return base_seconds + 60 * (self.extra_minutes or 0)

    def closes_at(self, exam_closes_at: datetime | None) -> datetime | None:
        if exam_closes_at is None or not self.close_extension_minutes:
            return exam_closes_at
        return exam_closes_at + timedelta(minutes=self.close_extension_minutes)

    def max_attempts(self, exam_max_attempts: int | None) -> int | None:
        return None if exam_max_attempts is None else exam_max_attempts + self.extra_attempts

    def to_dict(self) -> dict[str, Any]:
        return {
            "extra_minutes": self.extra_minutes,
            "time_multiplier": self.time_multiplier,
            "extra_attempts": self.extra_attempts,
            "close_extension_minutes": self.close_extension_minutes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Accommodation:
        return cls(
            extra_minutes=data.get("extra_minutes"),
            time_multiplier=data.get("time_multiplier"),
            extra_attempts=data.get("extra_attempts") or 0,
            close_extension_minutes=data.get("close_extension_minutes"),
        )


#: What a learner without an accommodation gets: the exam's own rules.
NO_ACCOMMODATION = Accommodation()


@dataclass(frozen=True)
class ExamRules:
    """The parts of an exam that decide when attempts run."""

    time_limit_seconds: int
    max_attempts: int | None
    opens_at: datetime | None
    closes_at: datetime | None

    def for_learner(self, accommodation: Accommodation | None) -> ExamRules:
        """The rules as they apply to one learner."""
        given = accommodation or NO_ACCOMMODATION
        return ExamRules(
            time_limit_seconds=given.time_limit_seconds(self.time_limit_seconds),
            max_attempts=given.max_attempts(self.max_attempts),
            opens_at=self.opens_at,
            closes_at=given.closes_at(self.closes_at),
        )

    def check_start(self, now: datetime) -> None:
        """Raise :class:`OutsideWindow` unless an attempt may start at ``now``."""
        if self.opens_at is not None and now < self.opens_at:
            raise OutsideWindow(
                f"This exam opens at {self.opens_at.isoformat()}; no attempt starts before."
            )
        if self.closes_at is not None and now >= self.closes_at:
            raise OutsideWindow(
                f"This exam closed at {self.closes_at.isoformat()}; no attempt starts."
            )

    def deadline(self, started_at: datetime) -> datetime:
        """The shorter of the time limit and the close."""
        by_limit = started_at + timedelta(seconds=self.time_limit_seconds)
        return by_limit if self.closes_at is None else min(by_limit, self.closes_at)


def window_problems(opens_at: datetime | None, closes_at: datetime | None) -> dict[str, str]:
    """What is wrong with a window, by field."""
    if opens_at is not None and closes_at is not None and opens_at >= closes_at:
        return {"opens_at": "Must be before closes_at."}
    return {}


def moved_deadline(current: datetime, recomputed: datetime, now: datetime) -> datetime:
    """An attempt's deadline after its rules changed while it runs: the recomputed one, but
    never before ``now``, so that time taken away (an accommodation removed) ends the
    attempt now at the earliest, never retroactively."""
    return recomputed if recomputed >= now else min(current, now)
