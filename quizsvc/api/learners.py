"""A learner's history across attempts, with a per-topic trend."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from quizsvc.api.attempts import finalize_if_expired, score_shown
from quizsvc.api.auth import authenticated, current_principal, is_staff
from quizsvc.api.errors import ApiError
from quizsvc.api.pagination import PageQuerySchema, PageSchema, offset_of, page_of
from quizsvc.api.services import services
from quizsvc.store import Attempt

blp = Blueprint("learners", __name__, url_prefix="/v1", description="Learners' results")


class HistoryItemSchema(Schema):
    attempt_id = fields.String(required=True)
    exam_id = fields.String(required=True)
    exam_title = fields.String(required=True)
    status = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    submitted_at = fields.DateTime(allow_none=True)
    percent = fields.Float(allow_none=True)
    passed = fields.Boolean(allow_none=True)


class TopicTrendSchema(Schema):
    topic = fields.String(required=True)
    title = fields.String(required=True)
    attempts = fields.Integer(required=True)
    percents = fields.List(fields.Float(), required=True, metadata={"description": "Oldest first."})
    latest = fields.Float(required=True)
    change = fields.Float(
        required=True, metadata={"description": "Latest minus first, in percentage points."}
    )


class LearnerResultsSchema(PageSchema):
    learner_id = fields.String(required=True)
    attempts = fields.List(
        fields.Nested(HistoryItemSchema),
        required=True,
        metadata={"description": "One page of the attempts, oldest first (total: all of them)."},
    )
    topics = fields.List(
        fields.Nested(TopicTrendSchema),
        required=True,
        metadata={"description": "Trends over every attempt, not only this page's."},
    )


@blp.route("/learners/<string:learner_id>/results")
class LearnerResults(MethodView):
    @authenticated
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, LearnerResultsSchema)
    def get(self, query: dict[str, Any], learner_id: str) -> dict[str, Any]:
        """Graded history across attempts, a page at a time, and how each topic is trending."""
        principal = current_principal()
        if not is_staff(principal) and principal.learner_id != learner_id:
            raise ApiError(404, f"No learner {learner_id!r}.")
        state = services()
        # Staff get the same 404 as learners for an id nobody has: a typo is not "no results".
        if is_staff(principal) and not state.store.learner_known(learner_id):
            raise ApiError(404, f"No learner {learner_id!r}.")
        history = []
        trends: dict[str, dict[str, Any]] = {}
        attempts = state.store.list_attempts(learner_id=learner_id)
        by_exam: dict[str, list[Attempt]] = {}
        for attempt in attempts:
            by_exam.setdefault(attempt.exam_id, []).append(attempt)
        for attempt in attempts:
            # Exams are frozen and the store keeps them in memory: no per-attempt query.
            exam = state.store.get_exam(attempt.exam_id)
            assert exam is not None
            attempt = finalize_if_expired(attempt, exam)
            result = attempt.result or {}
            # Whether the score shows depends on all the learner's attempts at the exam,
            # which are here already: no query per attempt.
            if not is_staff(principal) and not score_shown(exam, learner_id, by_exam[exam.id]):
                result = {}
            history.append(
                {
                    "attempt_id": attempt.id,
                    "exam_id": exam.id,
                    "exam_title": exam.title,
                    "status": attempt.status,
                    "started_at": attempt.started_at,
                    "submitted_at": attempt.submitted_at,
                    "percent": result.get("percent"),
                    "passed": result.get("passed"),
                }
            )
            for topic in result.get("topics", []):
                trend = trends.setdefault(
                    topic["topic"],
                    {"topic": topic["topic"], "title": topic["title"], "percents": []},
                )
                trend["percents"].append(topic["percent"])
        topics = [
            {
                **trend,
                "attempts": len(trend["percents"]),
                "latest": trend["percents"][-1],
                "change": round(trend["percents"][-1] - trend["percents"][0], 2),
            }
            for trend in trends.values()
        ]
        page = page_of(history[offset_of(query) :][: query["page_size"]], len(history), query)
        return {
            "learner_id": learner_id,
            "attempts": page.pop("items"),
            **page,
            "topics": topics,
        }
