"""Exams: built from a blueprint, stored with a frozen copy of questions and keys."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from quizsvc.accommodations import window_problems
from quizsvc.api.auth import STAFF, authenticated, current_principal, is_staff, roles_required
from quizsvc.api.csv_export import csv_response, wants_csv
from quizsvc.api.errors import ApiError
from quizsvc.api.headers import LOCATION
from quizsvc.api.pagination import PageQuerySchema, PageSchema, offset_of, page_of
from quizsvc.api.services import Services, services
from quizsvc.exams import Blueprint as ExamBlueprint
from quizsvc.exams import BlueprintError, InsufficientQuestionsError, QuestionType, build_exam
from quizsvc.exams import Exam as BuiltExam
from quizsvc.exams.builder import SEED_RANGE
from quizsvc.exams.pools import (
    MAX_POOL_SIZE,
    POOL_KINDS,
    PoolLine,
    PoolLineError,
    build_pools,
    questions_per_attempt,
)
from quizsvc.review_policy import ReviewOptions, ReviewWhen
from quizsvc.store import Attempt, Exam, new_id

blp = Blueprint("exams", __name__, url_prefix="/v1", description="Exams built from the bank")

MAX_QUESTIONS_PER_TYPE = 200
MAX_POOL_LINES = 20
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


class PoolLineSchema(Schema):
    type = fields.String(
        required=True,
        validate=validate.OneOf(POOL_KINDS),
        metadata={"description": "A question type of counts (scenario included)."},
    )
    draw = fields.Integer(
        required=True,
        validate=validate.Range(1, MAX_POOL_SIZE),
        metadata={"description": "Questions each attempt gets from this pool."},
    )
    pool_size = fields.Integer(
        required=True,
        validate=validate.Range(1, MAX_POOL_SIZE),
        metadata={"description": "Questions frozen in the pool when the exam is built."},
    )
    topics = fields.List(
        fields.String(validate=validate.Length(1, 80)),
        load_default=None,
        allow_none=True,
        metadata={"description": "The pool's topics; default: the exam's topics."},
    )
    difficulty = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(["easy", "medium", "hard"])
    )

    @validates_schema
    def _draw_fits(self, data: dict[str, Any], **_: Any) -> None:
        if "draw" in data and "pool_size" in data and data["draw"] > data["pool_size"]:
            raise ValidationError(
                f"Must be at least draw ({data['draw']}): a pool cannot give more questions "
                "than it holds.",
                "pool_size",
            )


class ExamCreateSchema(Schema):
    title = fields.String(load_default="Practice exam", validate=validate.Length(1, 200))
    deck = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 80))
    topics = fields.List(
        fields.String(validate=validate.Length(1, 80)), load_default=None, allow_none=True
    )
    counts = fields.Nested(CountsSchema, load_default=lambda: CountsSchema().load({}))
    pools = fields.List(
        fields.Nested(PoolLineSchema),
        load_default=list,
        validate=validate.Length(max=MAX_POOL_LINES),
        metadata={
            "description": "Question pools: each line freezes pool_size questions and each "
            "attempt draws its own `draw` of them (reproducibly, from the attempt's id), "
            "beside the fixed questions of counts."
        },
    )
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
    opens_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "No attempt starts before this time (409)."},
    )
    closes_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "No attempt starts after this time (409); an attempt ends at it "
            "at the latest (its deadline is the shorter of its time limit and the close, "
            "unless the learner's accommodation extends the close); review then opens."
        },
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

    @validates_schema
    def _questions_and_window(self, data: dict[str, Any], **_: Any) -> None:
        if sum(data.get("counts", {}).values()) == 0 and not data.get("pools"):
            raise ValidationError({"_schema": ["Ask for at least one question."]}, "counts")
        for field, problem in window_problems(data.get("opens_at"), data.get("closes_at")).items():
            raise ValidationError(problem, field)


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
    opens_at = fields.DateTime(allow_none=True)
    closes_at = fields.DateTime(allow_none=True)
    pools = fields.List(
        fields.Nested(lambda: PoolViewSchema()),
        required=True,
        metadata={"description": "The exam's question pools (empty when it has none)."},
    )
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


class PoolViewSchema(Schema):
    type = fields.String(required=True)
    draw = fields.Integer(required=True)
    pool_size = fields.Integer(required=True)
    topics = fields.List(fields.String(), required=True)
    difficulty = fields.String(allow_none=True)
    question_ids = fields.List(
        fields.String(),
        metadata={"description": "Staff (and personal practice exams): the pool's questions."},
    )


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


def resolve_deck(state: Services, requested: str | None) -> str:
    """The deck a blueprint names, or the bank's only deck; 422 naming ``deck`` otherwise."""
    decks = list(state.bank.decks)
    deck = requested or (decks[0] if len(decks) == 1 else None)
    if deck is None:
        raise ApiError(
            422, "Name a deck.", {"json": {"deck": ["Required when the bank has several decks."]}}
        )
    known_deck(state, deck)
    return deck


def known_deck(state: Services, deck: str | None) -> str | None:
    """``deck`` when the bank has it (or None); 422 naming ``deck`` otherwise."""
    if deck is not None and deck not in state.bank.decks:
        raise ApiError(
            422,
            f"Unknown deck {deck!r}.",
            {"json": {"deck": [f"Choose one of: {', '.join(state.bank.decks)}."]}},
        )
    return deck


def build_from_bank(
    state: Services, blueprint: ExamBlueprint, question_card_ids: Sequence[str] | None = None
) -> BuiltExam:
    """``build_exam`` over the live bank: its authored questions, glossaries and the
    distractors staff suppressed."""
    deck = blueprint.deck
    return build_exam(
        state.bank.select(deck),
        blueprint,
        state.bank_encoder,
        authored=state.bank.select_questions(deck),
        question_card_ids=question_card_ids,
        glossaries={name: state.bank.glossary(name) for name in state.bank.decks},
        suppressed_distractors=state.store.suppressed_distractors(),
    )


def build_or_422(
    state: Services, blueprint: ExamBlueprint, question_card_ids: Sequence[str] | None = None
) -> BuiltExam:
    """``build_from_bank``, its refusals as 422s: a blueprint the deck cannot satisfy names
    ``counts`` with what is available."""
    try:
        return build_from_bank(state, blueprint, question_card_ids)
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


def stored_questions(built: BuiltExam) -> list[dict[str, Any]]:
    """The built questions as an exam row keeps them: delivery and key views."""
    return [
        {"delivery": question.delivery.to_dict(), "key": question.key.to_dict()}
        for question in built.questions
    ]


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
        "opens_at": exam.opens_at,
        "closes_at": exam.closes_at,
        "pools": [
            {
                **line,
                **(
                    {
                        "question_ids": [
                            question["delivery"]["id"]
                            for question in exam.questions
                            if (question.get("pool") or {}).get("line") == number
                        ]
                    }
                    if include_key or personal
                    else {}
                ),
            }
            for number, line in enumerate(blueprint.get("pools") or [])
        ],
        "review_below": exam.review_below,
        "appeal_days": appeal_days(exam),
        "personal": personal,
        "created_at": exam.created_at,
        "question_count": questions_per_attempt(exam.questions),
        "questions": [question["delivery"] for question in exam.questions]
        if include_key or personal
        else [],
    }
    if include_key:
        view["key"] = [question["key"] for question in exam.questions]
    return view


def build_pooled_questions(
    deck: str, lines: list[PoolLine], seed: int, fixed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The frozen questions of the exam's pools (``quizsvc.exams.pools``), or 422 naming
    the pool line the bank cannot fill."""
    if not lines:
        return []
    state = services()
    try:
        return build_pools(
            state.bank.select(deck),
            deck,
            lines,
            seed,
            state.bank_encoder,
            fixed,
            authored=state.bank.select_questions(deck),
            glossaries={name: state.bank.glossary(name) for name in state.bank.decks},
            suppressed_distractors=state.store.suppressed_distractors(),
        )
    except PoolLineError as exc:
        raise ApiError(
            422,
            f"The bank cannot fill question pool {exc.line}: {exc.problem}",
            {"json": {"pools": {str(exc.line): [exc.problem]}}},
        ) from exc


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
        deck = resolve_deck(state, body["deck"])
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
        choices = ", ".join(known_topics)
        for number, line in enumerate(body["pools"]):
            unknown = [topic for topic in line["topics"] or [] if topic not in known_topics]
            if unknown:
                raise ApiError(
                    422,
                    f"Unknown topic(s) in pool {number}: {', '.join(unknown)}.",
                    {"json": {"pools": {str(number): {"topics": [f"Choose: {choices}."]}}}},
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
        if seed is None:
            seed = secrets.randbelow(SEED_RANGE)
        blueprint = ExamBlueprint(
            deck=deck,
            topics=tuple(body["topics"] or ()),
            counts={QuestionType(kind): count for kind, count in requested.items()},
            reverse=reverse,
            scenario=scenario,
            difficulty=body["difficulty"],
            seed=seed,
        )
        # A blueprint of pools only has no fixed questions to build.
        built = build_or_422(state, blueprint) if blueprint.total else None
        fixed = stored_questions(built) if built is not None else []
        lines = [
            PoolLine(
                type=line["type"],
                draw=line["draw"],
                pool_size=line["pool_size"],
                topics=tuple(line["topics"] or body["topics"] or ()),
                difficulty=line["difficulty"] or body["difficulty"],
            )
            for line in body["pools"]
        ]
        pooled = build_pooled_questions(deck, lines, seed, fixed)
        exam = Exam(
            id=new_id(),
            title=body["title"],
            deck=deck,
            owner_learner_id=principal.learner_id if principal.role == "learner" else None,
            created_by=principal.key_id,
            blueprint={
                **(built.blueprint if built is not None else blueprint).to_dict(),
                **({"learner_seed": learner_seed} if learner_seed is not None else {}),
                **({"pools": [line.to_dict() for line in lines]} if lines else {}),
            },
            questions=fixed + pooled,
            time_limit_seconds=body["time_limit_seconds"],
            grace_seconds=body["grace_seconds"],
            max_attempts=body["max_attempts"],
            pass_mark=body["pass_mark"],
            created_at=state.clock(),
            review=ReviewOptions.for_staff_exam(body["review"]).to_dict()
            if principal.role != "learner"
            else None,
            opens_at=body["opens_at"],
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
                    "question_count": questions_per_attempt(exam.questions),
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
    @roles_required(*STAFF)
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
        if wants_csv():
            return results_csv(exam)
        attempts, total = store.page_attempts(exam.id, offset_of(query), query["page_size"])
        rows = [result_row(attempt, exam) for attempt in attempts]
        return {"exam_id": exam.id, **page_of(rows, total, query)}


def result_row(attempt: Attempt, exam: Exam) -> dict[str, Any]:
    """One attempt's row of the exam's results (``ExamResultRowSchema``), graded first when
    its time is over."""
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


def exam_result_rows(exam: Exam) -> list[dict[str, Any]]:
    """Every attempt at the exam, oldest first, as result rows."""
    attempts = services().store.list_attempts(exam_id=exam.id)
    return [result_row(attempt, exam) for attempt in attempts]


def results_csv(exam: Exam) -> Response:
    """Every attempt at the exam as the CSV of ``GET /v1/exams/{id}/results`` (a learner id
    that would start a formula is quoted)."""
    return csv_response(exam_result_rows(exam), list(ExamResultRowSchema().fields))
