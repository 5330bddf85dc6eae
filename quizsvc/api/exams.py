"""Exams: built from a blueprint, stored with a frozen copy of questions and keys."""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from typing import Any

from flask import Response, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from quizsvc.api.auth import authenticated, current_principal, is_staff, roles_required
from quizsvc.api.errors import ApiError
from quizsvc.api.headers import LOCATION
from quizsvc.api.pagination import PageQuerySchema, PageSchema, offset_of, page_of
from quizsvc.api.services import services
from quizsvc.exams import Blueprint as ExamBlueprint
from quizsvc.exams import BlueprintError, InsufficientQuestionsError, QuestionType, build_exam
from quizsvc.exams.builder import SEED_RANGE
from quizsvc.review_policy import ReviewOptions, ReviewWhen
from quizsvc.store import Attempt, Exam, new_id

blp = Blueprint("exams", __name__, url_prefix="/v1", description="Exams built from the bank")

MAX_QUESTIONS_PER_TYPE = 200
#: How long after grading a learner may appeal a question, unless the exam says otherwise.
DEFAULT_APPEAL_DAYS = 7


class CountsSchema(Schema):
    reverse_multiple_choice = fields.Integer(
        load_default=0,
        validate=validate.Range(0, MAX_QUESTIONS_PER_TYPE),
        metadata={
            "description": "Multiple choice the other way round: a definition, pick the term."
        },
    )
    multiple_choice = fields.Integer(
        load_default=0, validate=validate.Range(0, MAX_QUESTIONS_PER_TYPE)
    )
    multiple_response = fields.Integer(
        load_default=0, validate=validate.Range(0, MAX_QUESTIONS_PER_TYPE)
    )
    fill_in = fields.Integer(load_default=0, validate=validate.Range(0, MAX_QUESTIONS_PER_TYPE))
    free_answer = fields.Integer(load_default=0, validate=validate.Range(0, MAX_QUESTIONS_PER_TYPE))
    scenario = fields.Integer(
        load_default=0,
        validate=validate.Range(0, MAX_QUESTIONS_PER_TYPE),
        metadata={
            "description": "Authored scenario questions (multiple choice or 'Choose TWO'), "
            "each option with its rationale."
        },
    )

    @validates_schema
    def _at_least_one(self, data: dict[str, int], **_: Any) -> None:
        if sum(data.values()) == 0:
            raise ValidationError("Ask for at least one question.", "_schema")


class ExamCreateSchema(Schema):
    title = fields.String(load_default="Practice exam", validate=validate.Length(1, 200))
    deck = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 80))
    topics = fields.List(
        fields.String(validate=validate.Length(1, 80)), load_default=None, allow_none=True
    )
    counts = fields.Nested(CountsSchema, required=True)
    difficulty = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(["easy", "medium", "hard"])
    )
    seed = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(0, 2**53))
    time_limit_seconds = fields.Integer(
        load_default=1800, validate=validate.Range(30, 7 * 24 * 3600)
    )
    grace_seconds = fields.Integer(load_default=30, validate=validate.Range(0, 3600))
    max_attempts = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(1, 1000)
    )
    pass_mark = fields.Float(load_default=70.0, validate=validate.Range(0, 100))
    review = fields.Nested(
        lambda: ReviewOptionsSchema(),
        load_default=None,
        allow_none=True,
        metadata={
            "description": "When learners may see each part of a graded attempt. Instructor "
            "exams default to score, verdicts and feedback immediately and the correct answers "
            "after_close; personal practice exams show everything immediately."
        },
    )
    closes_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "No attempt starts after this time; review then opens."},
    )
    review_below = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(0, 1),
        metadata={
            "description": "Free answers graded with a confidence below this go to the "
            "review queue (besides those the grader flags itself)."
        },
    )
    appeal_days = fields.Integer(
        load_default=DEFAULT_APPEAL_DAYS,
        validate=validate.Range(0, 365),
        metadata={
            "description": "Days after grading a learner may appeal a question (0: no appeals)."
        },
    )


REVIEW_WHEN = validate.OneOf([when.value for when in ReviewWhen])


class ReviewOptionsSchema(Schema):
    score = fields.String(validate=REVIEW_WHEN)
    verdicts = fields.String(validate=REVIEW_WHEN)
    feedback = fields.String(validate=REVIEW_WHEN)
    correct_answers = fields.String(validate=REVIEW_WHEN)


class OptionSchema(Schema):
    id = fields.String(required=True)
    text = fields.String(required=True)


class DeliveredQuestionSchema(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf([t.value for t in QuestionType]))
    topic = fields.String(required=True)
    prompt = fields.String(required=True)
    options = fields.List(fields.Nested(OptionSchema))
    select = fields.Integer()
    position = fields.Integer()


class QuestionKeySchema(Schema):
    question_id = fields.String(required=True)
    type = fields.String(required=True)
    card_id = fields.String(required=True)
    deck = fields.String(required=True)
    topic = fields.String(required=True)
    prompt = fields.String(required=True)
    answer = fields.String(required=True)
    options = fields.List(fields.Nested(OptionSchema))
    correct_option_ids = fields.List(fields.String())
    accept = fields.List(fields.String())
    key_points = fields.List(fields.String())
    explanation = fields.String(allow_none=True)
    option_sources = fields.List(
        fields.String(), metadata={"description": "The card each option was taken from."}
    )


class ExamSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    deck = fields.String(required=True)
    topics = fields.List(fields.String(), allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    difficulty = fields.String(allow_none=True)
    seed = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "Rebuilds the exam; null for learners on shared exams."},
    )
    time_limit_seconds = fields.Integer(required=True)
    grace_seconds = fields.Integer(required=True)
    max_attempts = fields.Integer(allow_none=True)
    pass_mark = fields.Float(required=True)
    review = fields.Nested(ReviewOptionsSchema, required=True)
    closes_at = fields.DateTime(allow_none=True)
    review_below = fields.Float(allow_none=True)
    appeal_days = fields.Integer(required=True)
    personal = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    question_count = fields.Integer(required=True)
    questions = fields.List(
        fields.Nested(DeliveredQuestionSchema),
        required=True,
        metadata={
            "description": "Empty for learners on instructors' exams: they see the questions "
            "when they start an attempt, in that attempt's own ids."
        },
    )
    key = fields.List(fields.Nested(QuestionKeySchema))


class ExamQuerySchema(Schema):
    include = fields.String(validate=validate.OneOf(["key"]))


class ExamSummarySchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    deck = fields.String(required=True)
    question_count = fields.Integer(required=True)
    time_limit_seconds = fields.Integer(required=True)
    personal = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class ExamPageSchema(PageSchema):
    items = fields.List(fields.Nested(ExamSummarySchema), required=True)


class ExamResultRowSchema(Schema):
    attempt_id = fields.String(required=True)
    learner_id = fields.String(required=True)
    status = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    submitted_at = fields.DateTime(allow_none=True)
    finalized_by = fields.String(allow_none=True)
    score = fields.Float(allow_none=True)
    percent = fields.Float(allow_none=True)
    passed = fields.Boolean(allow_none=True)


class ExamResultsSchema(PageSchema):
    exam_id = fields.String(required=True)
    items = fields.List(fields.Nested(ExamResultRowSchema), required=True)


def review_options(exam: Exam) -> ReviewOptions:
    if exam.owner_learner_id is not None:
        return ReviewOptions.for_practice()
    return ReviewOptions.for_staff_exam(exam.review)


def appeal_days(exam: Exam) -> int:
    return DEFAULT_APPEAL_DAYS if exam.appeal_days is None else exam.appeal_days


def personal_seed(learner_id: str, seed: int) -> int:
    """The seed a learner's practice exam is built with: their seed mixed with their id, so
    that no learner can choose a seed that rebuilds an instructor's exam (and its key)."""
    digest = hashlib.sha256(f"personal:{learner_id}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_RANGE


def exam_view(exam: Exam, include_key: bool) -> dict[str, Any]:
    """The exam; the seed and keys only with ``include_key``. A learner sees the seed of
    their own practice exams only (the seed they chose) and the questions of those only:
    an instructor's exam is shown question by question in an attempt, in its own ids."""
    blueprint = exam.blueprint
    personal = exam.owner_learner_id is not None
    if include_key:
        seed = blueprint["seed"]
    elif personal:
        seed = blueprint.get("learner_seed", blueprint["seed"])
    else:
        seed = None
    view = {
        "id": exam.id,
        "title": exam.title,
        "deck": exam.deck,
        "topics": blueprint.get("topics") or None,
        "counts": {
            **{kind: count for kind, count in blueprint["counts"].items() if count},
            **(
                {"reverse_multiple_choice": blueprint["reverse"]}
                if blueprint.get("reverse")
                else {}
            ),
            **({"scenario": blueprint["scenario"]} if blueprint.get("scenario") else {}),
        },
        "difficulty": blueprint.get("difficulty"),
        "seed": seed,
        "time_limit_seconds": exam.time_limit_seconds,
        "grace_seconds": exam.grace_seconds,
        "max_attempts": exam.max_attempts,
        "pass_mark": exam.pass_mark,
        "review": review_options(exam).to_dict(),
        "closes_at": exam.closes_at,
        "review_below": exam.review_below,
        "appeal_days": appeal_days(exam),
        "personal": personal,
        "created_at": exam.created_at,
        "question_count": len(exam.questions),
        "questions": [question["delivery"] for question in exam.questions]
        if include_key or personal
        else [],
    }
    if include_key:
        view["key"] = [question["key"] for question in exam.questions]
    return view


def load_visible_exam(exam_id: str) -> Exam:
    """The exam, or 404 when it does not exist or is another learner's personal exam."""
    exam = services().store.get_exam(exam_id)
    principal = current_principal()
    if exam is None or (
        not is_staff(principal)
        and exam.owner_learner_id is not None
        and exam.owner_learner_id != principal.learner_id
    ):
        raise ApiError(404, f"No exam with id {exam_id!r}.")
    return exam


@blp.route("/exams")
class Exams(MethodView):
    @authenticated
    @blp.arguments(ExamCreateSchema)
    @blp.response(201, ExamSchema, headers=LOCATION)
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Build an exam from a blueprint (learners build personal practice exams)."""
        state = services()
        principal = current_principal()
        decks = list(state.bank.decks)
        deck = body["deck"] or (decks[0] if len(decks) == 1 else None)
        if deck is None:
            raise ApiError(
                422,
                "Name a deck.",
                {"json": {"deck": ["Required when the bank has several decks."]}},
            )
        if deck not in state.bank.decks:
            raise ApiError(
                422,
                f"Unknown deck {deck!r}.",
                {"json": {"deck": [f"Choose one of: {', '.join(decks)}."]}},
            )
        known_topics = list(
            dict.fromkeys(
                [
                    *state.bank.topics(deck),
                    *(question.topic for question in state.bank.select_questions(deck)),
                ]
            )
        )
        unknown = [topic for topic in body["topics"] or [] if topic not in known_topics]
        if unknown:
            raise ApiError(
                422,
                f"Unknown topic(s) in deck {deck!r}: {', '.join(unknown)}.",
                {"json": {"topics": [f"Choose from: {', '.join(known_topics)}."]}},
            )
        requested = dict(body["counts"])
        reverse = requested.pop("reverse_multiple_choice")
        scenario = requested.pop("scenario")
        seed = body["seed"]
        learner_seed = None
        if principal.role == "learner":
            assert principal.learner_id is not None
            learner_seed = seed if seed is not None else secrets.randbelow(SEED_RANGE)
            seed = personal_seed(principal.learner_id, learner_seed)
        blueprint = ExamBlueprint(
            deck=deck,
            topics=tuple(body["topics"] or ()),
            counts={QuestionType(kind): count for kind, count in requested.items()},
            reverse=reverse,
            scenario=scenario,
            difficulty=body["difficulty"],
            seed=seed,
        )
        try:
            built = build_exam(
                state.bank.select(deck),
                blueprint,
                state.bank_encoder,
                authored=state.bank.select_questions(deck),
                glossaries={name: state.bank.glossary(name) for name in state.bank.decks},
            )
        except BlueprintError as exc:
            raise ApiError(422, str(exc), {"json": {"_schema": [str(exc)]}}) from exc
        except InsufficientQuestionsError as exc:
            available = {
                kind.value: by_topic
                for kind, by_topic in exc.available.items()
                if any(by_topic.values())
            }
            raise ApiError(
                422,
                str(exc).splitlines()[0] + " (see errors.json.counts for what is available)",
                {"json": {"counts": {"message": str(exc), "available": available}}},
            ) from exc
        exam = Exam(
            id=new_id(),
            title=body["title"],
            deck=deck,
            owner_learner_id=principal.learner_id if principal.role == "learner" else None,
            created_by=principal.key_id,
            blueprint={
                **built.blueprint.to_dict(),
                **({"learner_seed": learner_seed} if learner_seed is not None else {}),
            },
            questions=[
                {"delivery": question.delivery.to_dict(), "key": question.key.to_dict()}
                for question in built.questions
            ],
            time_limit_seconds=body["time_limit_seconds"],
            grace_seconds=body["grace_seconds"],
            max_attempts=body["max_attempts"],
            pass_mark=body["pass_mark"],
            created_at=state.clock(),
            review=ReviewOptions.for_staff_exam(body["review"]).to_dict()
            if principal.role != "learner"
            else None,
            closes_at=body["closes_at"],
            review_below=body["review_below"],
            appeal_days=body["appeal_days"],
        )
        state.store.add_exam(exam)
        return (
            exam_view(exam, include_key=is_staff(principal)),
            201,
            {"Location": url_for("exams.ExamById", exam_id=exam.id)},
        )

    @authenticated
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, ExamPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Exams you can take or manage, newest first."""
        principal = current_principal()
        exams, total = services().store.list_exams(
            owner_learner_id=None if is_staff(principal) else principal.learner_id,
            include_shared=True,
            offset=offset_of(query),
            limit=query["page_size"],
        )
        return page_of(
            [
                {
                    "id": exam.id,
                    "title": exam.title,
                    "deck": exam.deck,
                    "question_count": len(exam.questions),
                    "time_limit_seconds": exam.time_limit_seconds,
                    "personal": exam.owner_learner_id is not None,
                    "created_at": exam.created_at,
                }
                for exam in exams
            ],
            total,
            query,
        )


@blp.route("/exams/<string:exam_id>")
class ExamById(MethodView):
    @authenticated
    @blp.arguments(ExamQuerySchema, location="query")
    @blp.response(200, ExamSchema)
    def get(self, query: dict[str, Any], exam_id: str) -> dict[str, Any]:
        """One exam in the delivery view; ``include=key`` adds answer keys (staff only)."""
        exam = load_visible_exam(exam_id)
        wants_key = query.get("include") == "key"
        if wants_key and not is_staff(current_principal()):
            raise ApiError(403, "Only instructors and admins may see answer keys.")
        return exam_view(exam, include_key=wants_key)


@blp.route("/exams/<string:exam_id>/results")
class ExamResults(MethodView):
    @roles_required("admin", "instructor")
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, ExamResultsSchema)
    @blp.alt_response(
        200,
        description="CSV of every attempt (not paged) when the client accepts text/csv",
        content_type="text/csv",
    )
    def get(self, query: dict[str, Any], exam_id: str) -> Any:
        """Attempts at this exam, oldest first, a page at a time; every attempt as CSV with
        ``Accept: text/csv``."""
        exam = load_visible_exam(exam_id)
        store = services().store
        wants_csv = (
            request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"
        )
        if wants_csv:
            attempts = store.list_attempts(exam_id=exam.id)
            total = len(attempts)
        else:
            attempts, total = store.page_attempts(exam.id, offset_of(query), query["page_size"])
        rows = [_result_row(attempt, exam) for attempt in attempts]
        if wants_csv:
            return _csv(rows)
        return {"exam_id": exam.id, **page_of(rows, total, query)}


def _result_row(attempt: Attempt, exam: Exam) -> dict[str, Any]:
    from quizsvc.api.attempts import finalize_if_expired

    attempt = finalize_if_expired(attempt, exam)
    result = attempt.result or {}
    return {
        "attempt_id": attempt.id,
        "learner_id": attempt.learner_id,
        "status": attempt.status,
        "started_at": attempt.started_at,
        "submitted_at": attempt.submitted_at,
        "finalized_by": attempt.finalized_by,
        "score": attempt.score,
        "percent": result.get("percent"),
        "passed": result.get("passed"),
    }


def _csv(rows: list[dict[str, Any]]) -> Response:
    buffer = io.StringIO()
    columns = list(ExamResultRowSchema().fields)
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                column: (_csv_cell(value.isoformat() if hasattr(value, "isoformat") else value))
                for column, value in row.items()
            }
        )
    return Response(buffer.getvalue(), mimetype="text/csv")


def _csv_cell(value: Any) -> Any:
    # A learner id starting with = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
