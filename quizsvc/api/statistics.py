"""Item statistics for instructors: per exam and per card, as JSON or CSV. The numbers come
from ``quizsvc.statistics``; this module only reads graded attempts from the store."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from quizsvc.api.auth import STAFF, current_principal, roles_required
from quizsvc.api.csv_export import wants_csv
from quizsvc.api.errors import ApiError
from quizsvc.api.exams import load_visible_exam
from quizsvc.api.headers import LOCATION
from quizsvc.api.services import services
from quizsvc.exams.distractors import compact
from quizsvc.persistence.distractors import (
    MAX_OPTION_TEXT,
    MAX_REASON,
    AlreadySuppressed,
    DistractorSuppression,
)
from quizsvc.statistics import (
    DEAD_DISTRACTOR_BELOW,
    LOW_DISCRIMINATION_BELOW,
    TOO_EASY_ABOVE,
    TOO_HARD_BELOW,
    WRONG_WAY_DISTRACTOR_ABOVE,
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
    f"dead_distractor: a wrong option picked by < {DEAD_DISTRACTOR_BELOW:.0%} of attempts; "
    "wrong_way_distractor (cards): a wrong option whose pick correlates "
    f"> {WRONG_WAY_DISTRACTOR_ABOVE} with the rest score (stronger learners pick it)."
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
    suppression_id = fields.String(
        allow_none=True,
        metadata={
            "description": "Set while an instructor has suppressed this option for the card: "
            "exams built since never offer it in this card's questions."
        },
    )


class SuppressionCreateSchema(Schema):
    text = fields.String(
        required=True,
        validate=validate.Length(1, MAX_OPTION_TEXT),
        metadata={"description": "The wrong option's text, as the statistics show it."},
    )
    reason = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=MAX_REASON)
    )


class SuppressionSchema(Schema):
    id = fields.String(required=True)
    card_id = fields.String(required=True)
    text = fields.String(required=True)
    reason = fields.String(allow_none=True)
    active = fields.Boolean(required=True)
    suppressed_by = fields.Integer(allow_none=True, metadata={"description": "API key id."})
    suppressed_at = fields.DateTime(required=True)
    lifted_by = fields.Integer(allow_none=True)
    lifted_at = fields.DateTime(allow_none=True)


class SuppressionQuerySchema(Schema):
    include_lifted = fields.Boolean(
        load_default=False, metadata={"description": "Also the lifted ones (the audit trail)."}
    )


class SuppressionListSchema(Schema):
    card_id = fields.String(required=True)
    suppressions = fields.List(fields.Nested(SuppressionSchema), required=True)


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
        suppressed = {row.text_key: row.id for row in state.store.distractor_suppressions(card_id)}
        data = statistics.to_dict()
        for distractor in data["distractors"]:
            distractor["suppression_id"] = suppressed.get(compact(distractor["text"]))
        return data


def _known_card(card_id: str) -> None:
    if services().bank.get(card_id) is None:
        raise ApiError(404, f"No card with id {card_id!r}.")


def _suppression(row: DistractorSuppression) -> dict[str, Any]:
    return {
        "id": row.id,
        "card_id": row.card_id,
        "text": row.text,
        "reason": row.reason,
        "active": row.active,
        "suppressed_by": row.suppressed_by,
        "suppressed_at": row.suppressed_at,
        "lifted_by": row.lifted_by,
        "lifted_at": row.lifted_at,
    }


@blp.route("/cards/<string:card_id>/distractors/suppressed")
class SuppressedDistractors(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(SuppressionQuerySchema, location="query")
    @blp.response(200, SuppressionListSchema)
    def get(self, query: dict[str, Any], card_id: str) -> dict[str, Any]:
        """The wrong options suppressed for this card, oldest first (with
        ``include_lifted``, the lifted ones too: who suppressed and lifted each, when)."""
        _known_card(card_id)
        rows = services().store.distractor_suppressions(card_id, query["include_lifted"])
        return {"card_id": card_id, "suppressions": [_suppression(row) for row in rows]}

    @roles_required(*STAFF)
    @blp.arguments(SuppressionCreateSchema)
    @blp.response(201, SuppressionSchema, headers=LOCATION)
    @blp.alt_response(409, description="The option is already suppressed for this card")
    def post(self, body: dict[str, Any], card_id: str) -> tuple[dict[str, Any], int, Any]:
        """Suppress a wrong option for this card (typically one the card's statistics flag
        as dead or wrong way): exams built from now on do not offer it in this card's
        questions; past exams keep their questions. Undo with DELETE."""
        _known_card(card_id)
        text = body["text"].strip()
        if not compact(text):
            raise ApiError(
                422, "The option text has no words.", {"json": {"text": ["Give the option."]}}
            )
        try:
            row = services().store.suppress_distractor(
                card_id, text, current_principal().key_id, body["reason"]
            )
        except AlreadySuppressed as exc:
            raise ApiError(
                409,
                f"This option is already suppressed for card {card_id!r} "
                f"(suppression {exc.existing_id}).",
                {"json": {"text": ["Already suppressed for this card."]}},
            ) from exc
        location = f"/v1/cards/{card_id}/distractors/suppressed/{row.id}"
        return _suppression(row), 201, {"Location": location}


@blp.route("/cards/<string:card_id>/distractors/suppressed/<string:suppression_id>")
class SuppressedDistractor(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, SuppressionSchema)
    def get(self, card_id: str, suppression_id: str) -> dict[str, Any]:
        """One suppression of the card, in force or lifted (with who lifted it and when)."""
        _known_card(card_id)
        rows = services().store.distractor_suppressions(card_id, include_lifted=True)
        for row in rows:
            if row.id == suppression_id:
                return _suppression(row)
        raise ApiError(404, f"No suppression {suppression_id!r} for this card.")

    @roles_required(*STAFF)
    @blp.response(200, SuppressionSchema)
    def delete(self, card_id: str, suppression_id: str) -> dict[str, Any]:
        """Undo a suppression: the option may be drawn for this card again. The row stays,
        stamped with who lifted it and when."""
        _known_card(card_id)
        row = services().store.lift_distractor_suppression(
            card_id, suppression_id, current_principal().key_id
        )
        if row is None:
            raise ApiError(404, f"No suppression {suppression_id!r} in force for this card.")
        return _suppression(row)
