"""Accommodations per learner and exam (extra time, extra attempts, a later close), their
audit trail, and the exam's window (when it opens and closes). Staff only.

Every change moves the deadlines of the attempts in progress it concerns at once (see
``quizsvc.accommodations`` for the rules); the learner's next read of the attempt shows the
new deadline, and answers are accepted until it (plus the exam's grace).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from quizsvc.accommodations import (
    MAX_CLOSE_EXTENSION_MINUTES,
    MAX_EXTRA_ATTEMPTS,
    MAX_EXTRA_MINUTES,
    MAX_TIME_MULTIPLIER,
    Accommodation,
    window_problems,
)
from quizsvc.api.attempts import (
    exam_rules,
    finalize_if_expired,
    learner_rules,
    rescheduler,
    timing_of,
)
from quizsvc.api.auth import STAFF, current_principal, roles_required
from quizsvc.api.errors import ApiError
from quizsvc.api.exams import load_visible_exam
from quizsvc.api.headers import LOCATION
from quizsvc.api.pagination import PageQuerySchema, PageSchema, offset_of, page_of
from quizsvc.api.services import services
from quizsvc.store import AccommodationChange, AccommodationRow, Actor, Exam

blp = Blueprint(
    "accommodations",
    __name__,
    url_prefix="/v1",
    description="Accommodations per learner and exam, their audit trail, and exam windows",
)


class AccommodationInputSchema(Schema):
    """The whole accommodation (PUT replaces it): fields left out are no accommodation."""

    extra_minutes = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(0, MAX_EXTRA_MINUTES),
        metadata={"description": "Minutes added to the exam's time limit."},
    )
    time_multiplier = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(1, MAX_TIME_MULTIPLIER),
        metadata={
            "description": "The time limit times this (1.5: time and a half); not with "
            "extra_minutes."
        },
    )
    extra_attempts = fields.Integer(
        load_default=0,
        validate=validate.Range(0, MAX_EXTRA_ATTEMPTS),
        metadata={"description": "Attempts allowed beyond the exam's max_attempts."},
    )
    close_extension_minutes = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(0, MAX_CLOSE_EXTENSION_MINUTES),
        metadata={
            "description": "The exam closes this much later for this learner (without it "
            "the close caps everyone, extra time or not)."
        },
    )
    note = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "Why (for staff; kept in the history)."},
    )

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("extra_minutes") is not None and data.get("time_multiplier") is not None:
            raise ValidationError(
                "Give extra_minutes or time_multiplier, not both.", "time_multiplier"
            )
        if (
            not data.get("extra_minutes")
            and not data.get("time_multiplier")
            and not data.get("extra_attempts")
            and not data.get("close_extension_minutes")
        ):
            raise ValidationError(
                "An accommodation gives extra time, extra attempts or a later close; "
                "DELETE removes one.",
                "_schema",
            )


class EffectiveRulesSchema(Schema):
    time_limit_seconds = fields.Integer(required=True)
    max_attempts = fields.Integer(required=True, allow_none=True)
    opens_at = fields.DateTime(required=True, allow_none=True)
    closes_at = fields.DateTime(required=True, allow_none=True)


class AttemptDeadlineSchema(Schema):
    attempt_id = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    deadline = fields.DateTime(required=True)
    accept_until = fields.DateTime(required=True)


class AccommodationSchema(Schema):
    exam_id = fields.String(required=True)
    learner_id = fields.String(required=True)
    extra_minutes = fields.Integer(required=True, allow_none=True)
    time_multiplier = fields.Float(required=True, allow_none=True)
    extra_attempts = fields.Integer(required=True)
    close_extension_minutes = fields.Integer(required=True, allow_none=True)
    note = fields.String(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    updated_by = fields.Integer(required=True, metadata={"description": "API key id."})
    effective = fields.Nested(
        EffectiveRulesSchema,
        required=True,
        metadata={"description": "The exam's rules as they apply to this learner now."},
    )
    attempts_in_progress = fields.List(
        fields.Nested(AttemptDeadlineSchema),
        required=True,
        metadata={"description": "The learner's attempts in progress, with their deadlines."},
    )


class AccommodationPageSchema(PageSchema):
    items = fields.List(fields.Nested(AccommodationSchema), required=True)


class AccommodationValuesSchema(Schema):
    extra_minutes = fields.Integer(allow_none=True)
    time_multiplier = fields.Float(allow_none=True)
    extra_attempts = fields.Integer()
    close_extension_minutes = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)


class MovedAttemptSchema(Schema):
    attempt_id = fields.String(required=True)
    deadline_before = fields.DateTime(required=True)
    deadline_after = fields.DateTime(required=True)


class AccommodationChangeSchema(Schema):
    id = fields.Integer(required=True)
    exam_id = fields.String(required=True)
    learner_id = fields.String(required=True)
    action = fields.String(required=True, validate=validate.OneOf(["set", "delete"]))
    before = fields.Nested(AccommodationValuesSchema, required=True, allow_none=True)
    after = fields.Nested(AccommodationValuesSchema, required=True, allow_none=True)
    changed_by = fields.Integer(required=True, metadata={"description": "API key id."})
    changed_by_role = fields.String(required=True)
    changed_at = fields.DateTime(required=True)
    moved_attempts = fields.List(
        fields.Nested(MovedAttemptSchema),
        required=True,
        metadata={"description": "Attempts in progress whose deadline this change moved."},
    )


class AccommodationChangePageSchema(PageSchema):
    items = fields.List(fields.Nested(AccommodationChangeSchema), required=True)


class WindowSchema(Schema):
    opens_at = fields.AwareDateTime(
        required=True,
        allow_none=True,
        metadata={"description": "No attempt starts before this (null: open now)."},
    )
    closes_at = fields.AwareDateTime(
        required=True,
        allow_none=True,
        metadata={
            "description": "No attempt starts after this, and attempts in progress end at "
            "it at the latest (null: never closes)."
        },
    )

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        for field, problem in window_problems(data.get("opens_at"), data.get("closes_at")).items():
            raise ValidationError(problem, field)


class WindowResultSchema(Schema):
    exam_id = fields.String(required=True)
    opens_at = fields.DateTime(required=True, allow_none=True)
    closes_at = fields.DateTime(required=True, allow_none=True)
    moved_attempts = fields.List(
        fields.Nested(MovedAttemptSchema),
        required=True,
        metadata={"description": "Attempts in progress whose deadline the change moved."},
    )


def accommodation_view(row: AccommodationRow, exam: Exam) -> dict[str, Any]:
    rules = learner_rules(exam, row.learner_id)
    in_progress = [
        attempt
        for attempt in services().store.list_attempts(exam_id=exam.id, learner_id=row.learner_id)
        if attempt.status == "in_progress"
    ]
    return {
        "exam_id": row.exam_id,
        "learner_id": row.learner_id,
        **row.values(),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "updated_by": row.updated_by,
        "effective": {
            "time_limit_seconds": rules.time_limit_seconds,
            "max_attempts": rules.max_attempts,
            "opens_at": rules.opens_at,
            "closes_at": rules.closes_at,
        },
        "attempts_in_progress": [
            {
                "attempt_id": attempt.id,
                "started_at": attempt.started_at,
                "deadline": attempt.deadline,
                "accept_until": timing_of(attempt, exam).accept_until,
            }
            for attempt in in_progress
        ],
    }


def change_view(change: AccommodationChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "exam_id": change.exam_id,
        "learner_id": change.learner_id,
        "action": change.action,
        "before": change.before,
        "after": change.after,
        "changed_by": change.changed_by,
        "changed_by_role": change.changed_by_role,
        "changed_at": change.changed_at,
        "moved_attempts": moved_view(change.moved_attempts),
    }


def moved_view(moved: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Moved attempts as recorded (ISO 8601 text) with their times as datetimes."""
    return [
        {
            "attempt_id": item["attempt_id"],
            "deadline_before": datetime.fromisoformat(item["deadline_before"]),
            "deadline_after": datetime.fromisoformat(item["deadline_after"]),
        }
        for item in moved
    ]


def known_learner(learner_id: str) -> str:
    """A learner with a key or an attempt, or listed by an LMS course's roster (an LTI
    learner who has not launched yet); 404 otherwise, so a mistyped id is not accommodated."""
    store = services().store
    if not (store.learner_known(learner_id) or store.listed_in_a_roster(learner_id)):
        raise ApiError(
            404,
            f"No learner with id {learner_id!r}.",
            {
                "path": {
                    "learner_id": [
                        "No API key, attempt or LMS course roster has this learner id "
                        "(GET /v1/lti/contexts/{id}/members lists a course's learners)."
                    ]
                }
            },
        )
    return learner_id


def finalize_over_time(exam: Exam, learner_id: str | None) -> None:
    """Grade the attempts whose time is already over first: a change comes too late for
    them (they are not revived), as it would had the expiry sweep run a moment earlier."""
    for attempt in services().store.list_attempts(exam_id=exam.id, learner_id=learner_id):
        finalize_if_expired(attempt, exam)


def actor() -> Actor:
    principal = current_principal()
    return Actor(principal.key_id, principal.role)


def _change_ready(exam_id: str, learner_id: str) -> tuple[Exam, datetime]:
    """The exam and the time of a change to a learner's accommodation, once the learner is
    known and their attempts already over time are graded."""
    exam = load_visible_exam(exam_id)
    known_learner(learner_id)
    now = services().clock()
    finalize_over_time(exam, learner_id)
    return exam, now


def _no_accommodation(learner_id: str) -> ApiError:
    return ApiError(404, f"Learner {learner_id!r} has no accommodation at this exam.")


def _history_page(exam: Exam, learner_id: str | None, query: dict[str, Any]) -> dict[str, Any]:
    """A page of the changes to the exam's accommodations (one learner's, or all), newest
    first."""
    changes, total = services().store.accommodation_history(
        exam.id, learner_id, offset_of(query), query["page_size"]
    )
    return page_of([change_view(change) for change in changes], total, query)


@blp.route("/exams/<string:exam_id>/accommodations")
class ExamAccommodations(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, AccommodationPageSchema)
    def get(self, query: dict[str, Any], exam_id: str) -> dict[str, Any]:
        """The exam's accommodations, by learner id."""
        exam = load_visible_exam(exam_id)
        rows, total = services().store.list_accommodations(
            exam.id, offset_of(query), query["page_size"]
        )
        return page_of([accommodation_view(row, exam) for row in rows], total, query)


@blp.route("/exams/<string:exam_id>/accommodations/<string:learner_id>")
class LearnerAccommodation(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, AccommodationSchema)
    def get(self, exam_id: str, learner_id: str) -> dict[str, Any]:
        """One learner's accommodation at the exam, with the rules that apply to them."""
        exam = load_visible_exam(exam_id)
        row = services().store.get_accommodation(exam.id, known_learner(learner_id))
        if row is None:
            raise _no_accommodation(learner_id)
        return accommodation_view(row, exam)

    @roles_required(*STAFF)
    @blp.arguments(AccommodationInputSchema)
    @blp.response(200, AccommodationSchema)
    @blp.alt_response(201, schema=AccommodationSchema, description="Created", headers=LOCATION)
    def put(
        self, body: dict[str, Any], exam_id: str, learner_id: str
    ) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Give or change a learner's accommodation. Their attempt in progress, if any, gets
        its new deadline at once (never earlier than now); the change is recorded."""
        state = services()
        exam, now = _change_ready(exam_id, learner_id)
        existed = state.store.get_accommodation(exam.id, learner_id) is not None
        row, _ = state.store.set_accommodation(
            exam.id,
            learner_id,
            Accommodation(
                extra_minutes=body["extra_minutes"],
                time_multiplier=body["time_multiplier"],
                extra_attempts=body["extra_attempts"],
                close_extension_minutes=body["close_extension_minutes"],
            ),
            body["note"],
            actor(),
            now,
            rescheduler(exam, now),
        )
        assert row is not None
        location = {
            "Location": url_for(
                "accommodations.LearnerAccommodation", exam_id=exam.id, learner_id=learner_id
            )
        }
        return accommodation_view(row, exam), 200 if existed else 201, location

    @roles_required(*STAFF)
    @blp.response(204)
    def delete(self, exam_id: str, learner_id: str) -> None:
        """Remove a learner's accommodation: the exam's own rules apply again, to their
        attempt in progress too (which then ends now at the earliest)."""
        exam, now = _change_ready(exam_id, learner_id)
        _, change = services().store.set_accommodation(
            exam.id, learner_id, None, None, actor(), now, rescheduler(exam, now)
        )
        if change is None:
            raise _no_accommodation(learner_id)


@blp.route("/exams/<string:exam_id>/accommodations/<string:learner_id>/history")
class LearnerAccommodationHistory(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, AccommodationChangePageSchema)
    def get(self, query: dict[str, Any], exam_id: str, learner_id: str) -> dict[str, Any]:
        """Every change to the learner's accommodation at the exam, newest first."""
        exam = load_visible_exam(exam_id)
        return _history_page(exam, known_learner(learner_id), query)


@blp.route("/exams/<string:exam_id>/accommodation-history")
class ExamAccommodationHistory(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, AccommodationChangePageSchema)
    def get(self, query: dict[str, Any], exam_id: str) -> dict[str, Any]:
        """Every change to the exam's accommodations (all learners), newest first."""
        return _history_page(load_visible_exam(exam_id), None, query)


@blp.route("/exams/<string:exam_id>/window")
class ExamWindow(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(WindowSchema)
    @blp.response(200, WindowResultSchema)
    def put(self, body: dict[str, Any], exam_id: str) -> dict[str, Any]:
        """Set when the exam opens and closes. Attempts in progress get the shorter of their
        (accommodated) time limit and the new close (never earlier than now): closing an
        exam now ends them after the grace, and the expiry path grades them."""
        state = services()
        exam = load_visible_exam(exam_id)
        if exam.owner_learner_id is not None:
            raise ApiError(409, "A personal practice exam has no window.")
        now = state.clock()
        finalize_over_time(exam, None)
        new_rules = replace(
            exam_rules(exam), opens_at=body["opens_at"], closes_at=body["closes_at"]
        )
        moved = state.store.set_exam_window(
            exam.id,
            body["opens_at"],
            body["closes_at"],
            now,
            rescheduler(exam, now, new_rules),
        )
        return {
            "exam_id": exam.id,
            "opens_at": body["opens_at"],
            "closes_at": body["closes_at"],
            "moved_attempts": moved_view(moved),
        }
