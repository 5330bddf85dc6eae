"""Regrade an exam's graded attempts from the stored answers (a dry run, or a job), and the
jobs' progress."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from quizsvc.api.auth import STAFF, current_principal, roles_required
from quizsvc.api.errors import ApiError
from quizsvc.api.headers import LOCATION
from quizsvc.api.services import services
from quizsvc.regrade import (
    POLICIES,
    KeyRefresh,
    RegradeError,
    RegradeOptions,
    dry_run_view,
    refresh_keys,
    resolve_question_ids,
)
from quizsvc.store import Exam, RegradeJob

blp = Blueprint(
    "regrade", __name__, url_prefix="/v1", description="Regrading exams from stored answers"
)


class RegradeRequestSchema(Schema):
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "Show what would change (200) instead of starting a job."},
    )
    policy = fields.String(
        load_default="update",
        validate=validate.OneOf(POLICIES),
        metadata={
            "description": "update: the new grades, up or down; only_raise: a question's "
            "grade only goes up; full_credit_for_question: full marks for question_ids."
        },
    )
    question_ids = fields.List(
        fields.String(validate=validate.Length(1, 64)),
        load_default=list,
        validate=validate.Length(max=500),
        metadata={
            "description": "Exam question ids, or any attempt's public ones: only these "
            "questions (required for full_credit_for_question; default every question)."
        },
    )
    refresh_keys = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Rebuild the questions' keys from the current bank first (the "
            "exam keeps them); prompts and options stay as learners saw them."
        },
    )
    include_overridden = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Regrade questions a person graded (override, review, appeal) too."
        },
    )


class GradeSchema(Schema):
    score = fields.Float(required=True)
    verdict = fields.String(required=True)


class TotalsSchema(Schema):
    score = fields.Float(allow_none=True)
    percent = fields.Float(allow_none=True)
    passed = fields.Boolean(allow_none=True)


class QuestionDiffSchema(Schema):
    question_id = fields.String(required=True, metadata={"description": "The attempt's id."})
    exam_question_id = fields.String(required=True)
    type = fields.String(allow_none=True)
    before = fields.Nested(GradeSchema, required=True)
    after = fields.Nested(GradeSchema, required=True)


class AttemptDiffSchema(Schema):
    attempt_id = fields.String(required=True)
    learner_id = fields.String(required=True)
    before = fields.Nested(TotalsSchema, required=True)
    after = fields.Nested(TotalsSchema, required=True)
    questions = fields.List(fields.Nested(QuestionDiffSchema), required=True)
    left_alone = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Questions a person graded whose grade would change."},
    )


class KeyRefreshSchema(Schema):
    question_id = fields.String(required=True)
    card_id = fields.String(required=True)
    type = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["changed", "unchanged", "kept"]))
    changed_fields = fields.List(fields.String(), required=True)
    note = fields.String(allow_none=True)


class DryRunSchema(Schema):
    dry_run = fields.Boolean(required=True)
    exam_id = fields.String(required=True)
    policy = fields.String(required=True)
    question_ids = fields.List(fields.String(), required=True)
    refresh_keys = fields.Boolean(required=True)
    include_overridden = fields.Boolean(required=True)
    total = fields.Integer(required=True, metadata={"description": "Graded attempts."})
    changed = fields.Integer(required=True, metadata={"description": "Attempts that change."})
    unchanged = fields.Integer(required=True)
    questions_changed = fields.Integer(required=True)
    left_alone = fields.Integer(
        required=True,
        metadata={"description": "Question grades a person decided that would change."},
    )
    attempts = fields.List(
        fields.Nested(AttemptDiffSchema),
        required=True,
        metadata={"description": "The attempts that change or have a question left alone."},
    )
    keys = fields.List(
        fields.Nested(KeyRefreshSchema),
        required=True,
        metadata={"description": "With refresh_keys: what happened to each question's key."},
    )


class JobErrorSchema(Schema):
    attempt_id = fields.String(required=True)
    error = fields.String(required=True)


class JobSchema(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "regrade"})
    exam_id = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["queued", "running", "done", "failed"]),
        metadata={
            "description": "failed: every attempt was processed, and some could not be "
            "regraded (see errors); the others were."
        },
    )
    dry_run = fields.Boolean(required=True)
    policy = fields.String(required=True)
    question_ids = fields.List(fields.String(), required=True)
    refresh_keys = fields.Boolean(required=True)
    include_overridden = fields.Boolean(required=True)
    total = fields.Integer(required=True)
    done = fields.Integer(required=True)
    changed = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    errors = fields.List(fields.Nested(JobErrorSchema), required=True)
    created_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime(required=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


def job_view(job: RegradeJob) -> dict[str, Any]:
    options = RegradeOptions.from_dict(job.options)
    errors = services().store.regrade_job_errors(job.id)
    return {
        "id": job.id,
        "kind": "regrade",
        "exam_id": job.exam_id,
        "status": job.status,
        "dry_run": False,
        **options.to_dict(),
        "total": job.total,
        "done": job.done,
        "changed": job.changed,
        "unchanged": job.unchanged,
        "errors": [{"attempt_id": item.attempt_id, "error": item.error or ""} for item in errors],
        "created_by": job.created_by,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def exam_question_ids(exam: Exam, requested: list[str]) -> tuple[str, ...]:
    """422 naming the ids that are neither the exam's nor any attempt's public ones."""
    if all(qid in {q["key"]["question_id"] for q in exam.questions} for qid in requested):
        return tuple(dict.fromkeys(requested))
    layouts = (attempt.layout for attempt in services().store.graded_attempts(exam.id))
    resolved, unknown = resolve_question_ids(exam.questions, layouts, requested)
    if unknown:
        message = f"Not questions of this exam: {', '.join(unknown)}."
        raise ApiError(422, message, {"json": {"question_ids": [message]}})
    return resolved


@blp.route("/exams/<string:exam_id>/regrade")
class ExamRegrade(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(RegradeRequestSchema)
    @blp.response(202, JobSchema, headers=LOCATION)
    @blp.alt_response(200, schema=DryRunSchema, description="dry_run: what would change")
    def post(self, body: dict[str, Any], exam_id: str) -> Any:
        """Regrade the exam's graded attempts from their stored answers. A dry run (200)
        lists, per attempt and question, the old and new grade; otherwise a job (202,
        ``Location: /v1/jobs/{id}``) regrades each attempt once, writes a grade change per
        changed question, and sends the ``attempt.regraded`` webhook and the LMS score.
        Questions a person graded are left alone unless ``include_overridden``."""
        state = services()
        exam = state.store.load_exam(exam_id)
        if exam is None:
            raise ApiError(404, f"No exam with id {exam_id!r}.")
        try:
            options = RegradeOptions(
                policy=body["policy"],
                question_ids=exam_question_ids(exam, body["question_ids"]),
                include_overridden=body["include_overridden"],
                refresh_keys=body["refresh_keys"],
            )
        except RegradeError as exc:
            raise ApiError(
                422, f"Invalid regrade: {exc}.", {"json": {exc.field: [str(exc)]}}
            ) from exc
        seed = exam.blueprint.get("seed")

        def refreshed(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return refresh_keys(questions, state.bank, seed, options.question_ids)[0]

        if body["dry_run"]:
            return dry_run(exam, options)
        job = state.store.create_regrade_job(
            exam.id,
            options,
            current_principal().key_id,
            state.clock(),
            refreshed if options.refresh_keys else None,
        )
        if job is None:
            raise ApiError(404, f"No exam with id {exam_id!r}.")
        return (
            job_view(job),
            202,
            {"Location": url_for("regrade.JobById", job_id=job.id)},
        )


def dry_run(exam: Exam, options: RegradeOptions) -> Response:
    state = services()
    questions = list(exam.questions)
    keys: list[KeyRefresh] = []
    if options.refresh_keys:
        questions, keys = refresh_keys(
            questions, state.bank, exam.blueprint.get("seed"), options.question_ids
        )
    previews = state.store.regrade_preview(exam, questions, options, state.grade_many)
    return jsonify(DryRunSchema().dump(dry_run_view(exam.id, options, previews, keys)))


@blp.route("/jobs/<string:job_id>")
class JobById(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, JobSchema)
    def get(self, job_id: str) -> dict[str, Any]:
        """A job's progress: how many attempts are done, changed, unchanged, and errors."""
        job = services().store.get_regrade_job(job_id)
        if job is None:
            raise ApiError(404, f"No job with id {job_id!r}.")
        return job_view(job)
