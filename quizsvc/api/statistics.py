"""Item statistics for instructors: per exam and per card, as JSON or CSV. The numbers come
from ``quizsvc.statistics``; this module only reads graded attempts from the store."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from quizsvc.api.auth import STAFF, roles_required
from quizsvc.api.errors import ApiError
from quizsvc.api.exams import load_visible_exam
from quizsvc.api.services import services
from quizsvc.statistics import (
    DEAD_DISTRACTOR_BELOW,
    LOW_DISCRIMINATION_BELOW,
    TOO_EASY_ABOVE,
    TOO_HARD_BELOW,
    ResponseMatrix,
    build_response_matrix,
    card_statistics,
    card_statistics_csv,
    exam_statistics,
    exam_statistics_csv,
    seconds_per_question,
)
from quizsvc.store import Exam, Store

blp = Blueprint(
    "statistics",
    __name__,
    url_prefix="/v1",
    description="Item statistics (classical test theory) over graded attempts, for instructors",
)

#: Exams read per query while looking for the ones that asked a card.
EXAM_PAGE_SIZE = 100

FLAGS_DESCRIPTION = (
    f"too_easy: facility > {TOO_EASY_ABOVE}; too_hard: facility < {TOO_HARD_BELOW}; "
    f"low_discrimination: discrimination < {LOW_DISCRIMINATION_BELOW}; "
    "negative_discrimination: discrimination < 0; "
    f"dead_distractor: a wrong option picked by < {DEAD_DISTRACTOR_BELOW:.0%} of attempts."
)


class OptionStatisticsSchema(Schema):
    option_id = fields.String(required=True, metadata={"description": "The exam's own id."})
    text = fields.String(required=True)
    correct = fields.Boolean(required=True)
    source_card_id = fields.String(
        allow_none=True, metadata={"description": "The card the option's text came from."}
    )
    pick_rate = fields.Float(allow_none=True)
    discrimination = fields.Float(
        allow_none=True,
        metadata={
            "description": "Point-biserial of picking this option against the total of the "
            "other questions (negative is what a good distractor shows)."
        },
    )
    flags = fields.List(fields.String(), required=True)


class ItemStatisticsSchema(Schema):
    exam_id = fields.String(metadata={"description": "On a card's items only."})
    question_id = fields.String(required=True)
    type = fields.String(required=True)
    topic = fields.String(required=True)
    card_id = fields.String(allow_none=True)
    attempts = fields.Integer(required=True)
    answered_rate = fields.Float(allow_none=True)
    facility = fields.Float(allow_none=True, metadata={"description": "Mean score (0-1)."})
    discrimination = fields.Float(
        allow_none=True,
        metadata={
            "description": "Corrected item-total correlation: the item's score against the "
            "total of the other questions (point-biserial for right/wrong items)."
        },
    )
    upper_lower_index = fields.Float(
        allow_none=True,
        metadata={
            "description": "Mean score of the top 27% minus the bottom 27% of attempts, "
            "ranked by the total of the other questions."
        },
    )
    median_seconds = fields.Float(
        allow_none=True,
        metadata={
            "description": "Approximate: from the previous saved answer (or the attempt's "
            "start) to this question's last save."
        },
    )
    options = fields.List(fields.Nested(OptionStatisticsSchema), required=True)
    flags = fields.List(fields.String(), required=True, metadata={"description": FLAGS_DESCRIPTION})


class ExamStatisticsSchema(Schema):
    exam_id = fields.String(required=True)
    attempts = fields.Integer(required=True, metadata={"description": "Graded attempts."})
    questions = fields.Integer(required=True)
    mean_score = fields.Float(allow_none=True, metadata={"description": "In points (1 each)."})
    sd_score = fields.Float(allow_none=True)
    cronbach_alpha = fields.Float(allow_none=True)
    kr20 = fields.Float(
        allow_none=True, metadata={"description": "Only when every score is 0 or 1."}
    )
    sem = fields.Float(
        allow_none=True,
        metadata={"description": "Standard error of measurement in points: SD*sqrt(1-alpha)."},
    )
    items = fields.List(fields.Nested(ItemStatisticsSchema), required=True)


class DistractorStatisticsSchema(Schema):
    text = fields.String(required=True)
    source_card_ids = fields.List(fields.String(), required=True)
    offered = fields.Integer(required=True, metadata={"description": "Attempts shown it."})
    pick_rate = fields.Float(allow_none=True)
    discrimination = fields.Float(allow_none=True)
    flags = fields.List(fields.String(), required=True)


class CardStatisticsSchema(Schema):
    card_id = fields.String(required=True)
    exams = fields.Integer(required=True, metadata={"description": "Exams that asked it."})
    attempts = fields.Integer(required=True)
    facility = fields.Float(allow_none=True)
    discrimination = fields.Float(
        allow_none=True,
        metadata={"description": "The per-exam discriminations, weighted by attempts."},
    )
    upper_lower_index = fields.Float(allow_none=True)
    median_seconds = fields.Float(allow_none=True)
    flags = fields.List(fields.String(), required=True, metadata={"description": FLAGS_DESCRIPTION})
    distractors = fields.List(
        fields.Nested(DistractorStatisticsSchema),
        required=True,
        metadata={"description": "Wrong options pooled over exams by their text."},
    )
    items = fields.List(fields.Nested(ItemStatisticsSchema), required=True)


# -- reading graded attempts (also used by ``quizsvc stats``) ---------------------------------


def exam_response_matrix(store: Store, exam: Exam) -> ResponseMatrix:
    """The response matrix of the exam's graded attempts, with the time on each question
    from the answers' save times. Attempts in progress, or past their time but not yet
    finalised by the expiry sweep, are not counted."""
    graded = [
        attempt
        for attempt in store.list_attempts(exam_id=exam.id)
        if attempt.status == "graded" and attempt.result
    ]
    seconds = [
        seconds_per_question(
            attempt.started_at,
            {question_id: row.saved_at for question_id, row in store.responses(attempt.id).items()},
        )
        for attempt in graded
    ]
    return build_response_matrix(
        [attempt.result or {} for attempt in graded],
        seconds,
        keys=[question["key"] for question in exam.questions],
    )


def exams_asking_card(store: Store, card_id: str) -> list[Exam]:
    """Every exam (instructors' and learners' practice ones) with a question on the card."""
    found: dict[str, Exam] = {}
    offset = 0
    while True:
        page, total = store.list_exams(None, True, offset, EXAM_PAGE_SIZE)
        for exam in page:
            if any(question["key"].get("card_id") == card_id for question in exam.questions):
                # Keyed by id: an exam created meanwhile shifts the pages by one.
                found.setdefault(exam.id, exam)
        offset += EXAM_PAGE_SIZE
        if not page or offset >= total:
            return list(found.values())


def wants_csv() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


@blp.route("/exams/<string:exam_id>/statistics")
class ExamStatistics(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, ExamStatisticsSchema)
    @blp.alt_response(
        200,
        description="One row per question and per option when the client accepts text/csv",
        content_type="text/csv",
    )
    def get(self, exam_id: str) -> Any:
        """Item statistics of this exam's graded attempts: facility, discrimination, option
        pick rates, median time, flags; reliability (Cronbach's alpha, KR-20, SEM)."""
        exam = load_visible_exam(exam_id)
        statistics = exam_statistics(exam_response_matrix(services().store, exam), exam.id)
        if wants_csv():
            return Response(exam_statistics_csv(statistics), mimetype="text/csv")
        return statistics.to_dict()


@blp.route("/cards/<string:card_id>/statistics")
class CardStatistics(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, CardStatisticsSchema)
    @blp.alt_response(
        200,
        description="The pooled rows (exam_id 'all'), then each exam's rows, as text/csv",
        content_type="text/csv",
    )
    def get(self, card_id: str) -> Any:
        """The card's items over every exam that asked it: pooled facility, discrimination
        and distractors, and each exam's item statistics."""
        state = services()
        exams = exams_asking_card(state.store, card_id)
        known = state.bank.get(card_id) is not None or any(
            question.id == card_id for question in state.bank.questions
        )
        if not exams and not known:
            raise ApiError(404, f"No card with id {card_id!r}.")
        statistics = card_statistics(
            card_id, [(exam.id, exam_response_matrix(state.store, exam)) for exam in exams]
        )
        if wants_csv():
            return Response(card_statistics_csv(statistics), mimetype="text/csv")
        return statistics.to_dict()
