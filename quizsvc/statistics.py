"""Item statistics for instructors, by classical test theory (numpy only: no web, no storage).

The input is a :class:`ResponseMatrix` built from graded attempts' results (see
``quizsvc.attempts.build_result``: every question of the exam is in every result, scored in
[0, 1], with the learner's answer in the exam's own option ids). From it, per question:

* **facility**: the mean score (the share answering right, for questions scored 0 or 1);
* **discrimination**: the corrected item-total correlation, i.e. the Pearson correlation of
  the item's score with the total of the *other* items (the rest score). For an item scored
  0 or 1 that is its point-biserial correlation. Leaving the item out of the total keeps it
  from correlating with itself, which flatters short exams most;
* **upper-lower index**: the mean item score of the top 27% minus that of the bottom 27% of
  attempts ranked by rest score (Kelley's groups; ties at a boundary are broken by attempt
  order, so the index is stable from one request to the next);
* for choice questions, each option's **pick rate** and its own discrimination (the
  point-biserial of picking it against the rest score: against the raw total, every
  distractor would look negatively discriminating by construction, since picking it scores 0
  on this item). A good distractor discriminates negatively: weaker learners pick it;
* **median seconds** on the item (see :func:`seconds_per_question` for the approximation).

Per exam: the mean and standard deviation of total scores, Cronbach's alpha (KR-20 too when
every score is 0 or 1: then the two are the same number) and the standard error of
measurement, SEM = SD * sqrt(1 - alpha). Variances are population variances (ddof 0)
throughout, so that KR-20's sum of p * q is exactly the sum of the item variances.

Everything is computed on whole arrays: an exam of 2,000 attempts x 65 questions takes a few
tens of milliseconds once the matrix is built (``bench/item_statistics.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from quizsvc.spreadsheet import csv_text

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

CHOICE_TYPES = frozenset({"multiple_choice", "multiple_response"})

#: Flags and the thresholds that raise them (facility and discrimination as defined above).
TOO_EASY_ABOVE = 0.9
TOO_HARD_BELOW = 0.2
LOW_DISCRIMINATION_BELOW = 0.1
NEGATIVE_DISCRIMINATION_BELOW = 0.0
DEAD_DISTRACTOR_BELOW = 0.05
#: A wrong option whose pick correlates positively with the rest score draws the stronger
#: learners: it is probably also right, or misleading, rather than a plausible error.
WRONG_WAY_DISTRACTOR_ABOVE = 0.0
#: Share of attempts in each of the upper and lower groups of the upper-lower index.
UPPER_LOWER_FRACTION = 0.27

TOO_EASY = "too_easy"
TOO_HARD = "too_hard"
LOW_DISCRIMINATION = "low_discrimination"
NEGATIVE_DISCRIMINATION = "negative_discrimination"
DEAD_DISTRACTOR = "dead_distractor"
WRONG_WAY_DISTRACTOR = "wrong_way_distractor"

#: The columns of the CSV exports, one row per question and one per option of a choice
#: question (option columns empty on question rows, question columns empty on option rows).
CSV_COLUMNS = (
    "exam_id",
    "question_id",
    "card_id",
    "type",
    "topic",
    "option_id",
    "option_text",
    "correct",
    "attempts",
    "facility",
    "discrimination",
    "upper_lower_index",
    "median_seconds",
    "pick_rate",
    "option_discrimination",
    "flags",
)
#: Written in the ``exam_id`` column of a card's pooled rows (over every exam).
ALL_EXAMS = "all"


# -- the response matrix -------------------------------------------------------------------


@dataclass(frozen=True)
class OptionInfo:
    option_id: str
    text: str
    correct: bool
    #: The card the option's text was taken from (from the exam's key), when known.
    source_card_id: str | None = None


@dataclass(frozen=True)
class ItemInfo:
    question_id: str
    type: str
    topic: str
    #: The bank card (or authored question) the item was made from, when the key is known.
    card_id: str | None
    options: tuple[OptionInfo, ...] = ()

    @property
    def is_choice(self) -> bool:
        return self.type in CHOICE_TYPES and bool(self.options)


@dataclass(frozen=True, eq=False)
class ResponseMatrix:
    """One exam's graded attempts as arrays: row i is attempt i, column j is ``items[j]``.

    ``picks`` has one column per option of every choice item, items in order and each
    item's options in key order; ``option_item[c]`` is the item column of option column c.
    """

    items: tuple[ItemInfo, ...]
    #: Score in [0, 1]; 0 for a question missing from an attempt's result.
    scores: FloatArray
    #: Whether the learner gave any answer (blank answers and empty selections are not).
    answered: BoolArray
    picks: BoolArray
    option_item: IntArray
    #: Seconds on each item (NaN when unknown, e.g. never answered).
    seconds: FloatArray
    #: Whether each attempt was given each item: an attempt at a pooled exam
    #: (``quizsvc.exams.pools``) has only its draw. None: every attempt had every item.
    presented: BoolArray | None = None

    @property
    def pooled(self) -> bool:
        return self.presented is not None and not bool(self.presented.all())

    @property
    def attempts(self) -> int:
        return int(self.scores.shape[0])

    def option_columns(self, item_index: int) -> IntArray:
        return np.flatnonzero(self.option_item == item_index)


def _items_from_keys(keys: Sequence[Mapping[str, Any]]) -> list[ItemInfo]:
    items = []
    for key in keys:
        correct = set(key.get("correct_option_ids") or ())
        sources = list(key.get("option_sources") or ())
        options = tuple(
            OptionInfo(
                option["id"],
                option.get("text", ""),
                option["id"] in correct,
                sources[position] if position < len(sources) else None,
            )
            for position, option in enumerate(key.get("options") or ())
        )
        items.append(
            ItemInfo(key["question_id"], key["type"], key.get("topic", ""), key["card_id"], options)
        )
    return items


def _items_from_results(results: Iterable[Mapping[str, Any]]) -> list[ItemInfo]:
    """The items in order of first appearance, when the exam's keys are not at hand."""
    items: dict[str, ItemInfo] = {}
    for result in results:
        for question in result.get("questions") or ():
            question_id = question["question_id"]
            if question_id in items:
                continue
            correct = set(question.get("correct_option_ids") or ())
            options = tuple(
                OptionInfo(option["id"], option.get("text", ""), option["id"] in correct)
                for option in question.get("options") or ()
            )
            items[question_id] = ItemInfo(
                question_id, question["type"], question.get("topic", ""), None, options
            )
    return list(items.values())


def _chosen_options(answer: Any) -> Sequence[Any]:
    if isinstance(answer, str):
        return (answer,)
    if isinstance(answer, list):
        return answer
    return ()


def _is_answered(answer: Any) -> bool:
    if answer is None:
        return False
    if isinstance(answer, str):
        return bool(answer.strip())
    if isinstance(answer, list):
        return bool(answer)
    return True


def build_response_matrix(
    results: Sequence[Mapping[str, Any]],
    seconds: Sequence[Mapping[str, float]] | None = None,
    keys: Sequence[Mapping[str, Any]] | None = None,
) -> ResponseMatrix:
    """The response matrix of graded attempts' results (stored in the exam's own ids).

    ``seconds``, parallel to ``results``, maps question ids to seconds spent (see
    :func:`seconds_per_question`). ``keys`` are the exam's answer keys
    (``QuestionKey.to_dict``): they fix the item order and add each item's card and each
    option's source card; without them the items come from the results.
    """
    items = _items_from_keys(keys) if keys is not None else _items_from_results(results)
    item_index = {item.question_id: column for column, item in enumerate(items)}
    option_column: dict[tuple[str, str], int] = {}
    option_item: list[int] = []
    for column, item in enumerate(items):
        if item.is_choice:
            for option in item.options:
                option_column[(item.question_id, option.option_id)] = len(option_item)
                option_item.append(column)
    attempts = len(results)
    scores = np.zeros((attempts, len(items)))
    answered = np.zeros((attempts, len(items)), dtype=bool)
    picks = np.zeros((attempts, len(option_item)), dtype=bool)
    # Coordinates are gathered in plain lists and written in one assignment per array: the
    # per-question Python work is then a few dict look-ups.
    score_rows: list[int] = []
    score_columns: list[int] = []
    score_values: list[float] = []
    answered_rows: list[int] = []
    answered_columns: list[int] = []
    pick_rows: list[int] = []
    pick_columns: list[int] = []
    for row, result in enumerate(results):
        for question in result.get("questions") or ():
            question_id = question["question_id"]
            item_column = item_index.get(question_id)
            if item_column is None:
                continue
            score_rows.append(row)
            score_columns.append(item_column)
            score_values.append(float(question.get("score") or 0.0))
            answer = question.get("your_answer")
            if _is_answered(answer):
                answered_rows.append(row)
                answered_columns.append(item_column)
            for option_id in _chosen_options(answer):
                chosen = option_column.get((question_id, option_id))
                if chosen is not None:
                    pick_rows.append(row)
                    pick_columns.append(chosen)
    scores[score_rows, score_columns] = score_values
    presented = np.zeros((attempts, len(items)), dtype=bool)
    presented[score_rows, score_columns] = True
    answered[answered_rows, answered_columns] = True
    picks[pick_rows, pick_columns] = True
    timings = np.full((attempts, len(items)), np.nan)
    for row, spent in enumerate(seconds or ()):
        for question_id, value in spent.items():
            item_column = item_index.get(question_id)
            if item_column is not None:
                timings[row, item_column] = value
    return ResponseMatrix(
        items=tuple(items),
        scores=scores,
        answered=answered,
        picks=picks,
        option_item=np.asarray(option_item, dtype=np.intp),
        seconds=timings,
        presented=presented,
    )


def seconds_per_question(
    started_at: datetime, last_saved_at: Mapping[str, datetime]
) -> dict[str, float]:
    """Seconds spent on each answered question of one attempt: an approximation.

    The service keeps only each answer's *last* save time (``responses.saved_at``; an
    autosave overwrites the previous one), not when a question was shown. So the answers are
    put in order of their last save, and each question is credited with the time from the
    previous save (the attempt's start for the first) to its own. Reading time before the
    first save is counted; a question revisited later is credited with the gap since the
    save before its last one, and time on a question left unanswered goes to the next one
    saved. Unanswered questions get no time (they are left out of the median).
    """
    spent = {}
    previous = started_at
    for question_id, saved_at in sorted(last_saved_at.items(), key=lambda pair: pair[1]):
        spent[question_id] = max(0.0, (saved_at - previous).total_seconds())
        previous = max(previous, saved_at)
    return spent


# -- results -----------------------------------------------------------------------------


def _number(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


@dataclass(frozen=True)
class OptionStatistics:
    option_id: str
    text: str
    correct: bool
    source_card_id: str | None
    pick_rate: float
    #: Point-biserial of picking this option against the rest score (None: undefined).
    discrimination: float | None
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "option_id": self.option_id,
            "text": self.text,
            "correct": self.correct,
            "source_card_id": self.source_card_id,
            "pick_rate": _number(self.pick_rate),
            "discrimination": _number(self.discrimination),
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class ItemStatistics:
    question_id: str
    type: str
    topic: str
    card_id: str | None
    attempts: int
    answered_rate: float | None
    facility: float | None
    discrimination: float | None
    upper_lower_index: float | None
    median_seconds: float | None
    options: tuple[OptionStatistics, ...] = ()
    flags: tuple[str, ...] = ()
    #: Set on a card's items, which come from several exams.
    exam_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **({"exam_id": self.exam_id} if self.exam_id is not None else {}),
            "question_id": self.question_id,
            "type": self.type,
            "topic": self.topic,
            "card_id": self.card_id,
            "attempts": self.attempts,
            "answered_rate": _number(self.answered_rate),
            "facility": _number(self.facility),
            "discrimination": _number(self.discrimination),
            "upper_lower_index": _number(self.upper_lower_index),
            "median_seconds": _number(self.median_seconds, 1),
            "options": [option.to_dict() for option in self.options],
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class ExamStatistics:
    exam_id: str | None
    attempts: int
    questions: int
    #: Mean and population standard deviation of total scores (in points: 1 per question).
    mean_score: float | None
    sd_score: float | None
    cronbach_alpha: float | None
    #: Only when every score is 0 or 1 (then it equals Cronbach's alpha).
    kr20: float | None
    #: Standard error of measurement in points: SD * sqrt(1 - alpha).
    sem: float | None
    items: tuple[ItemStatistics, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "exam_id": self.exam_id,
            "attempts": self.attempts,
            "questions": self.questions,
            "mean_score": _number(self.mean_score),
            "sd_score": _number(self.sd_score),
            "cronbach_alpha": _number(self.cronbach_alpha),
            "kr20": _number(self.kr20),
            "sem": _number(self.sem),
            "items": [item.to_dict() for item in self.items],
        }


@dataclass(frozen=True)
class DistractorStatistics:
    """One wrong option of a card's choice items, pooled over every exam that offered it
    (options are matched by text: each exam draws and labels its own)."""

    text: str
    source_card_ids: tuple[str, ...]
    #: Attempts that were shown this option.
    offered: int
    pick_rate: float
    #: Mean of the per-exam point-biserials, weighted by attempts (None: none defined).
    discrimination: float | None
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "source_card_ids": list(self.source_card_ids),
            "offered": self.offered,
            "pick_rate": _number(self.pick_rate),
            "discrimination": _number(self.discrimination),
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class CardStatistics:
    """A card's items pooled over every exam that asked it. Facility and the median time
    pool the responses; discrimination is a within-exam quantity (each exam has its own
    total), so the pooled figures are the per-exam ones averaged, weighted by attempts."""

    card_id: str
    exams: int
    attempts: int
    facility: float | None
    discrimination: float | None
    upper_lower_index: float | None
    median_seconds: float | None
    flags: tuple[str, ...] = ()
    distractors: tuple[DistractorStatistics, ...] = ()
    items: tuple[ItemStatistics, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "card_id": self.card_id,
            "exams": self.exams,
            "attempts": self.attempts,
            "facility": _number(self.facility),
            "discrimination": _number(self.discrimination),
            "upper_lower_index": _number(self.upper_lower_index),
            "median_seconds": _number(self.median_seconds, 1),
            "flags": list(self.flags),
            "distractors": [distractor.to_dict() for distractor in self.distractors],
            "items": [item.to_dict() for item in self.items],
        }


# -- computation -----------------------------------------------------------------------------


def column_correlations(x: FloatArray, y: FloatArray) -> FloatArray:
    """Pearson r of each column of ``x`` with the same column of ``y``; NaN where either
    column is constant (or there are fewer than two rows), as the correlation is undefined."""
    if x.shape[0] < 2:
        return np.full(x.shape[1], np.nan)
    x_centred = x - x.mean(axis=0)
    y_centred = y - y.mean(axis=0)
    denominator = np.sqrt((x_centred**2).sum(axis=0) * (y_centred**2).sum(axis=0))
    # Exact comparisons: a constant column's centred values may be 1e-17 rather than 0,
    # which would otherwise give a meaningless r.
    constant = (x.max(axis=0) == x.min(axis=0)) | (y.max(axis=0) == y.min(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlations = (x_centred * y_centred).sum(axis=0) / denominator
    correlations[constant] = np.nan
    return np.asarray(np.clip(correlations, -1.0, 1.0), dtype=np.float64)


def upper_lower_indices(scores: FloatArray, rest: FloatArray) -> FloatArray:
    """Per item: mean score of the top 27% by rest score minus that of the bottom 27%."""
    attempts = scores.shape[0]
    group = round(UPPER_LOWER_FRACTION * attempts)
    if attempts < 2 or group < 1:
        return np.full(scores.shape[1], np.nan)
    # A stable sort breaks ties by attempt order, so the groups do not change between runs.
    order = np.argsort(rest, axis=0, kind="stable")
    lower = np.take_along_axis(scores, order[:group], axis=0).mean(axis=0)
    upper = np.take_along_axis(scores, order[-group:], axis=0).mean(axis=0)
    return np.asarray(upper - lower, dtype=np.float64)


def reliability(scores: FloatArray) -> tuple[float | None, float | None, float | None]:
    """Cronbach's alpha, KR-20 (None unless every score is 0 or 1) and the SEM in points.

    alpha = k / (k - 1) * (1 - sum of item variances / variance of totals); KR-20 is the
    same with p * q for each item's variance, which is that variance when scores are 0 or 1.
    """
    attempts, questions = scores.shape
    if attempts < 2 or questions < 2:
        return None, None, None
    totals = scores.sum(axis=1)
    total_variance = float(totals.var())
    if total_variance == 0.0:
        return None, None, None
    ratio = questions / (questions - 1)
    alpha = ratio * (1.0 - float(scores.var(axis=0).sum()) / total_variance)
    kr20 = None
    if bool(np.isin(scores, (0.0, 1.0)).all()):
        facility = scores.mean(axis=0)
        kr20 = ratio * (1.0 - float((facility * (1.0 - facility)).sum()) / total_variance)
    sem = math.sqrt(total_variance) * math.sqrt(max(0.0, 1.0 - alpha))
    return alpha, kr20, sem


def item_flags(facility: float | None, discrimination: float | None) -> list[str]:
    flags = []
    if facility is not None and math.isfinite(facility):
        if facility > TOO_EASY_ABOVE:
            flags.append(TOO_EASY)
        if facility < TOO_HARD_BELOW:
            flags.append(TOO_HARD)
    if discrimination is not None and math.isfinite(discrimination):
        if discrimination < LOW_DISCRIMINATION_BELOW:
            flags.append(LOW_DISCRIMINATION)
        if discrimination < NEGATIVE_DISCRIMINATION_BELOW:
            flags.append(NEGATIVE_DISCRIMINATION)
    return flags


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _column_medians(values: FloatArray) -> FloatArray:
    """Median of each column's known (non-NaN) values; NaN for a column with none."""
    medians = np.full(values.shape[1], np.nan)
    known = ~np.isnan(values)
    has_values = known.any(axis=0)
    if has_values.any():
        # nanmedian warns on a column without values; those are left NaN instead.
        medians[has_values] = np.nanmedian(values[:, has_values], axis=0)
    return medians


def exam_statistics(matrix: ResponseMatrix, exam_id: str | None = None) -> ExamStatistics:
    """Item and exam statistics of one exam's response matrix (see the module docstring)."""
    scores = matrix.scores
    attempts, questions = scores.shape
    totals = scores.sum(axis=1)
    rest = totals[:, None] - scores
    if attempts:
        facility = scores.mean(axis=0)
        answered_rate = matrix.answered.mean(axis=0)
        pick_rate = matrix.picks.mean(axis=0)
    else:
        facility = answered_rate = np.full(questions, np.nan)
        pick_rate = np.full(matrix.picks.shape[1], np.nan)
    discrimination = column_correlations(scores, rest)
    upper_lower = upper_lower_indices(scores, rest)
    option_discrimination = column_correlations(
        matrix.picks.astype(np.float64), rest[:, matrix.option_item]
    )
    median_seconds = _column_medians(matrix.seconds)
    alpha, kr20, sem = reliability(scores)
    item_attempts = np.full(questions, attempts)
    if matrix.pooled:
        assert matrix.presented is not None
        # Each item over the attempts that were given it; reliability needs every attempt
        # to answer every item, so a pooled exam has none.
        facility, answered_rate, pick_rate, discrimination, upper_lower, option_discrimination = (
            _per_presented_item(matrix, rest)
        )
        item_attempts = matrix.presented.sum(axis=0)
        alpha = kr20 = sem = None

    items = []
    for column, item in enumerate(matrix.items):
        options = []
        for option_column, option in zip(
            matrix.option_columns(column), item.options if item.is_choice else (), strict=True
        ):
            rate = float(pick_rate[option_column])
            dead = not option.correct and math.isfinite(rate) and rate < DEAD_DISTRACTOR_BELOW
            options.append(
                OptionStatistics(
                    option.option_id,
                    option.text,
                    option.correct,
                    option.source_card_id,
                    rate,
                    _finite_or_none(option_discrimination[option_column]),
                    (DEAD_DISTRACTOR,) if dead else (),
                )
            )
        item_facility = _finite_or_none(facility[column])
        item_discrimination = _finite_or_none(discrimination[column])
        flags = item_flags(item_facility, item_discrimination)
        if any(DEAD_DISTRACTOR in option.flags for option in options):
            flags.append(DEAD_DISTRACTOR)
        items.append(
            ItemStatistics(
                question_id=item.question_id,
                type=item.type,
                topic=item.topic,
                card_id=item.card_id,
                attempts=int(item_attempts[column]),
                answered_rate=_finite_or_none(answered_rate[column]),
                facility=item_facility,
                discrimination=item_discrimination,
                upper_lower_index=_finite_or_none(upper_lower[column]),
                median_seconds=_finite_or_none(median_seconds[column]),
                options=tuple(options),
                flags=tuple(flags),
            )
        )
    return ExamStatistics(
        exam_id=exam_id,
        attempts=attempts,
        questions=questions,
        mean_score=float(totals.mean()) if attempts else None,
        sd_score=float(totals.std()) if attempts else None,
        cronbach_alpha=alpha,
        kr20=kr20,
        sem=sem,
        items=tuple(items),
    )


def distractor_flags(pick_rate: float, discrimination: float | None) -> tuple[str, ...]:
    """A card's pooled wrong option: dead (hardly picked), or picked more by the learners who
    score higher on the rest of the exam (wrong way); either is worth suppressing."""
    flags = []
    if math.isfinite(pick_rate) and pick_rate < DEAD_DISTRACTOR_BELOW:
        flags.append(DEAD_DISTRACTOR)
    if discrimination is not None and discrimination > WRONG_WAY_DISTRACTOR_ABOVE:
        flags.append(WRONG_WAY_DISTRACTOR)
    return tuple(flags)


def _per_presented_item(
    matrix: ResponseMatrix, rest: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Facility, answered rate, pick rates, discrimination, upper-lower index and option
    discrimination of each item computed over the attempts that were given it."""
    assert matrix.presented is not None
    questions = matrix.scores.shape[1]
    facility = np.full(questions, np.nan)
    answered_rate = np.full(questions, np.nan)
    discrimination = np.full(questions, np.nan)
    upper_lower = np.full(questions, np.nan)
    pick_rate = np.full(matrix.picks.shape[1], np.nan)
    option_discrimination = np.full(matrix.picks.shape[1], np.nan)
    picks = matrix.picks.astype(np.float64)
    for column in range(questions):
        rows = matrix.presented[:, column]
        if not rows.any():
            continue
        item_scores = matrix.scores[rows, column : column + 1]
        item_rest = rest[rows, column : column + 1]
        facility[column] = item_scores.mean()
        answered_rate[column] = matrix.answered[rows, column].mean()
        discrimination[column] = column_correlations(item_scores, item_rest)[0]
        upper_lower[column] = upper_lower_indices(item_scores, item_rest)[0]
        options = matrix.option_columns(column)
        if options.size:
            pick_rate[options] = picks[np.ix_(rows, options)].mean(axis=0)
            option_discrimination[options] = column_correlations(
                picks[np.ix_(rows, options)], np.repeat(item_rest, options.size, axis=1)
            )
    return facility, answered_rate, pick_rate, discrimination, upper_lower, option_discrimination


def _weighted_mean(pairs: Iterable[tuple[float | None, int]]) -> float | None:
    defined = [(value, weight) for value, weight in pairs if value is not None and weight > 0]
    total_weight = sum(weight for _, weight in defined)
    if not total_weight:
        return None
    return sum(value * weight for value, weight in defined) / total_weight


def card_statistics(card_id: str, exams: Sequence[tuple[str, ResponseMatrix]]) -> CardStatistics:
    """The card's items over every exam given (``(exam_id, matrix)`` pairs; exams that did
    not ask the card add nothing). Each exam's statistics are computed on its whole matrix,
    since an item's discrimination depends on the other items of its exam."""
    items: list[ItemStatistics] = []
    timings: list[FloatArray] = []
    asked_in = 0
    pooled: dict[str, dict[str, Any]] = {}
    for exam_id, matrix in exams:
        columns = [j for j, item in enumerate(matrix.items) if item.card_id == card_id]
        if not columns:
            continue
        asked_in += 1
        statistics = exam_statistics(matrix, exam_id)
        for column in columns:
            item = statistics.items[column]
            items.append(replace(item, exam_id=exam_id))
            timings.append(matrix.seconds[:, column])
            for option in item.options:
                if option.correct:
                    continue
                entry = pooled.setdefault(
                    option.text, {"sources": [], "offered": 0, "picked": 0.0, "r": []}
                )
                if option.source_card_id and option.source_card_id not in entry["sources"]:
                    entry["sources"].append(option.source_card_id)
                entry["offered"] += item.attempts
                entry["picked"] += option.pick_rate * item.attempts
                entry["r"].append((option.discrimination, item.attempts))
    attempts = sum(item.attempts for item in items)
    facility = _weighted_mean((item.facility, item.attempts) for item in items)
    discrimination = _weighted_mean((item.discrimination, item.attempts) for item in items)
    known_times = np.concatenate(timings) if timings else np.empty(0)
    known_times = known_times[~np.isnan(known_times)]
    distractors = []
    for text, entry in pooled.items():
        rate = entry["picked"] / entry["offered"] if entry["offered"] else math.nan
        option_discrimination = _weighted_mean(entry["r"])
        distractors.append(
            DistractorStatistics(
                text=text,
                source_card_ids=tuple(entry["sources"]),
                offered=entry["offered"],
                pick_rate=rate,
                discrimination=option_discrimination,
                flags=distractor_flags(rate, option_discrimination),
            )
        )
    flags = item_flags(facility, discrimination)
    for flag in (DEAD_DISTRACTOR, WRONG_WAY_DISTRACTOR):
        if any(flag in distractor.flags for distractor in distractors):
            flags.append(flag)
    return CardStatistics(
        card_id=card_id,
        exams=asked_in,
        attempts=attempts,
        facility=facility,
        discrimination=discrimination,
        upper_lower_index=_weighted_mean((item.upper_lower_index, item.attempts) for item in items),
        median_seconds=float(np.median(known_times)) if known_times.size else None,
        flags=tuple(flags),
        distractors=tuple(sorted(distractors, key=lambda distractor: -distractor.pick_rate)),
        items=tuple(items),
    )


# -- CSV ---------------------------------------------------------------------------------------


def _item_rows(item: ItemStatistics, exam_id: str | None) -> list[dict[str, Any]]:
    exam = item.exam_id if item.exam_id is not None else exam_id
    common = {
        "exam_id": exam,
        "question_id": item.question_id,
        "card_id": item.card_id,
        "type": item.type,
        "topic": item.topic,
    }
    rows = [
        {
            **common,
            "attempts": item.attempts,
            "facility": _number(item.facility),
            "discrimination": _number(item.discrimination),
            "upper_lower_index": _number(item.upper_lower_index),
            "median_seconds": _number(item.median_seconds, 1),
            "flags": ";".join(item.flags),
        }
    ]
    for option in item.options:
        rows.append(
            {
                **common,
                "option_id": option.option_id,
                "option_text": option.text,
                "correct": option.correct,
                "attempts": item.attempts,
                "pick_rate": _number(option.pick_rate),
                "option_discrimination": _number(option.discrimination),
                "flags": ";".join(option.flags),
            }
        )
    return rows


def exam_statistics_csv(statistics: ExamStatistics) -> str:
    """One row per question, then one per option of a choice question (``CSV_COLUMNS``).
    The exam-level figures (alpha, KR-20, SEM) are in the JSON view only."""
    return csv_text(
        (row for item in statistics.items for row in _item_rows(item, statistics.exam_id)),
        CSV_COLUMNS,
    )


def card_statistics_csv(statistics: CardStatistics) -> str:
    """The pooled card first (``exam_id`` "all": one row, then one per distractor), then
    each exam's item rows as in :func:`exam_statistics_csv`."""
    pooled = {"exam_id": ALL_EXAMS, "card_id": statistics.card_id}
    rows: list[dict[str, Any]] = [
        {
            **pooled,
            "attempts": statistics.attempts,
            "facility": _number(statistics.facility),
            "discrimination": _number(statistics.discrimination),
            "upper_lower_index": _number(statistics.upper_lower_index),
            "median_seconds": _number(statistics.median_seconds, 1),
            "flags": ";".join(statistics.flags),
        }
    ]
    rows += [
        {
            **pooled,
            "option_text": distractor.text,
            "correct": False,
            "attempts": distractor.offered,
            "pick_rate": _number(distractor.pick_rate),
            "option_discrimination": _number(distractor.discrimination),
            "flags": ";".join(distractor.flags),
        }
        for distractor in statistics.distractors
    ]
    rows += [row for item in statistics.items for row in _item_rows(item, None)]
    return csv_text(rows, CSV_COLUMNS)
