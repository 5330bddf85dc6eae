"""Timed attempts: start, autosave, resume, submit, expiry and the graded result.

The clock is the server's. Answers are accepted until ``deadline + grace``; after that an
attempt is finalised with the answers saved in time, on the next access or by
``quizsvc attempts finalize-expired``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from flask import Response as FlaskResponse
from flask import current_app, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from quizsvc.accommodations import Accommodation, ExamRules, OutsideWindow, moved_deadline
from quizsvc.api.auth import (
    authenticated,
    confirm_key,
    current_principal,
    is_staff,
    learner_write_confirmed_by_statement,
    roles_required,
    unconfirmed_key_id,
)
from quizsvc.api.bank_editing import bank_not_read_by
from quizsvc.api.errors import ApiError
from quizsvc.api.exams import (
    DeliveredQuestionSchema,
    ExamQuerySchema,
    OptionSchema,
    QuestionKeySchema,
    load_visible_exam,
    review_options,
)
from quizsvc.api.headers import LOCATION
from quizsvc.api.services import services
from quizsvc.attempts import (
    InvalidAnswer,
    PublicIds,
    Timing,
    build_result,
    check_answer,
    delivery_in_layout,
    make_layout,
)
from quizsvc.observability import metrics_of
from quizsvc.persistence.attempts import LearnerExamState
from quizsvc.review_policy import exam_closed_for, redact_result
from quizsvc.reviews import mark_awaiting_review, questions_to_review
from quizsvc.store import Attempt, Exam, Response, new_id

blp = Blueprint("attempts", __name__, url_prefix="/v1", description="Timed attempts at exams")


class AutosaveSchema(Schema):
    answer = fields.Raw(
        required=True,
        allow_none=True,
        metadata={
            "description": "Option id (multiple choice), list of option ids (multiple response), "
            "or text (fill-in, free answer); null clears it.",
            "nullable": True,
        },
    )


class SavedResponseSchema(AutosaveSchema):
    question_id = fields.String(required=True)
    saved_at = fields.DateTime(required=True)
    revision = fields.Integer(required=True)


class AutosaveResultSchema(SavedResponseSchema):
    seconds_remaining = fields.Integer(required=True)


class PassbackSchema(Schema):
    status = fields.String(
        required=True, validate=validate.OneOf(["pending", "delivered", "failed"])
    )
    attempts = fields.Integer(required=True, metadata={"description": "Tries so far."})
    last_error = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)


class AttemptSchema(Schema):
    id = fields.String(required=True)
    exam_id = fields.String(required=True)
    exam_title = fields.String(required=True)
    learner_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["in_progress", "graded"]))
    finalized_by = fields.String(allow_none=True)
    started_at = fields.DateTime(required=True)
    deadline = fields.DateTime(required=True)
    accept_until = fields.DateTime(required=True)
    server_time = fields.DateTime(required=True)
    seconds_remaining = fields.Integer(required=True)
    questions = fields.List(fields.Nested(DeliveredQuestionSchema), required=True)
    responses = fields.Dict(
        keys=fields.String(), values=fields.Nested(SavedResponseSchema), required=True
    )
    score = fields.Float(allow_none=True)
    key = fields.List(
        fields.Nested(QuestionKeySchema),
        metadata={
            "description": "With include=key (staff only): the answer keys in this "
            "attempt's own question and option ids."
        },
    )
    passback = fields.Nested(
        PassbackSchema,
        allow_none=True,
        metadata={"description": "Grade passback to the LMS (LTI launches only); else null."},
    )


class FeedbackSchema(Schema):
    summary = fields.String(required=True)
    right = fields.List(fields.String(), required=True)
    missing = fields.List(fields.String(), required=True)
    wrong = fields.List(fields.String(), required=True)
    reference = fields.String(required=True)
    explanation = fields.String(allow_none=True)
    text = fields.String(
        required=True, metadata={"description": "All of the feedback as one paragraph."}
    )


HIDDEN_BY_REVIEW = "Null while the exam's review options hide it from the learner."


class ResultQuestionSchema(Schema):
    position = fields.Integer(required=True)
    question_id = fields.String(required=True)
    type = fields.String(required=True)
    topic = fields.String(required=True)
    prompt = fields.String(required=True)
    options = fields.List(fields.Nested(OptionSchema), required=True)
    your_answer = fields.Raw(allow_none=True, metadata={"nullable": True})
    your_answer_text = fields.String(allow_none=True)
    correct_answer = fields.String(
        required=True, allow_none=True, metadata={"description": HIDDEN_BY_REVIEW}
    )
    correct_option_ids = fields.List(fields.String(), required=True)
    rationales = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={
            "description": "Choice questions: why each option (by id) is right or wrong; "
            "empty while the correct answers are hidden."
        },
    )
    score = fields.Float(required=True, allow_none=True, metadata={"description": HIDDEN_BY_REVIEW})
    verdict = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf(["correct", "partial", "incorrect"]),
        metadata={"description": HIDDEN_BY_REVIEW},
    )
    confidence = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Probability that the verdict is right (1 for exact grading)."},
    )
    needs_review = fields.Boolean(
        required=True,
        allow_none=True,
        metadata={"description": "The grade is provisional: an instructor may review it."},
    )
    feedback = fields.Nested(
        FeedbackSchema, required=True, allow_none=True, metadata={"description": HIDDEN_BY_REVIEW}
    )
    review = fields.Nested(
        lambda: QuestionReviewSchema(),
        allow_none=True,
        metadata={
            "description": "A person's part in this grade: awaiting review, or reviewed "
            "(with the instructor's comment); null when none."
        },
    )
    review_reasons = fields.List(
        fields.String(), metadata={"description": "Staff only: why the grader was unsure."}
    )
    evidence = fields.Dict(
        allow_none=True, metadata={"description": "Staff only: what the grader measured."}
    )
    grader_version = fields.String(
        allow_none=True,
        metadata={
            "description": "Staff only: the grader version that produced this grade "
            "(details in the result's grader_versions)."
        },
    )
    missed_key_points = fields.List(fields.String(), required=True)
    explanation = fields.String(allow_none=True)


class QuestionReviewSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["awaiting_review", "reviewed"]))
    reason = fields.String(metadata={"description": "grader (it was unsure) or appeal"})
    comment = fields.String(allow_none=True)
    reviewed_at = fields.String(allow_none=True)
    changed = fields.Boolean(metadata={"description": "The person changed the grade."})
    appealed = fields.Boolean()
    appeal_comment = fields.String(allow_none=True)


class TopicScoreSchema(Schema):
    topic = fields.String(required=True)
    title = fields.String(required=True)
    score = fields.Float(required=True)
    questions = fields.Integer(required=True)
    percent = fields.Float(required=True)


class ReviewShownSchema(Schema):
    score = fields.Boolean(required=True)
    verdicts = fields.Boolean(required=True)
    feedback = fields.Boolean(required=True)
    correct_answers = fields.Boolean(required=True)
    closed = fields.Boolean(
        required=True,
        metadata={"description": "The exam is closed for this learner (after_close applies)."},
    )
    options = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class ResultSchema(Schema):
    attempt_id = fields.String(required=True)
    exam_id = fields.String(required=True)
    learner_id = fields.String(required=True)
    finalized_by = fields.String(required=True)
    submitted_at = fields.DateTime(required=True)
    score = fields.Float(required=True, allow_none=True, metadata={"description": HIDDEN_BY_REVIEW})
    max_score = fields.Integer(required=True)
    percent = fields.Float(required=True, allow_none=True)
    passed = fields.Boolean(required=True, allow_none=True)
    review = fields.Nested(
        ReviewShownSchema,
        required=True,
        allow_none=True,
        metadata={
            "description": "What the exam's review options show the learner now (null for "
            "staff, who see everything)."
        },
    )
    pass_mark = fields.Float(required=True)
    time_used_seconds = fields.Integer(required=True)
    grading_progress = fields.String(
        validate=validate.OneOf(["FullyGraded", "PendingManual"]),
        metadata={
            "description": "PendingManual while a question awaits a person's review: "
            "the score is provisional."
        },
    )
    revision = fields.Integer(
        metadata={"description": "How many times a person (or a regrade) changed this result."}
    )
    grader_versions = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(),
        metadata={
            "description": "Staff only: each grader version used, by id: package, "
            "encoder (backend and weights sha256), grading settings and verdict model sha256."
        },
    )
    questions = fields.List(fields.Nested(ResultQuestionSchema), required=True)
    topics = fields.List(fields.Nested(TopicScoreSchema), required=True)


def time_is_up(timing: Timing) -> str:
    return (
        "Time is up: answers were accepted until "
        f"{timing.accept_until.isoformat()} (deadline plus grace)."
    )


def learner_rules(exam: Exam, learner_id: str) -> ExamRules:
    """The exam's time limit, attempts and window as they apply to this learner. The
    window is read from the database: staff may have changed it since this process cached
    the exam."""
    return rules_in_state(exam, services().store.learner_exam_state(exam.id, learner_id))


def rules_in_state(exam: Exam, state: LearnerExamState) -> ExamRules:
    """The exam's rules with the window as stored and the learner's accommodation."""
    rules = replace(exam_rules(exam), opens_at=state.opens_at, closes_at=state.closes_at)
    return rules.for_learner(state.accommodation)


def exam_rules(exam: Exam) -> ExamRules:
    return ExamRules(
        time_limit_seconds=exam.time_limit_seconds,
        max_attempts=exam.max_attempts,
        opens_at=exam.opens_at,
        closes_at=exam.closes_at,
    )


def rescheduler(
    exam: Exam, now: datetime, rules: ExamRules | None = None
) -> Callable[[Attempt, Accommodation | None], datetime]:
    """An attempt's deadline once its rules changed at ``now`` to ``rules`` (default: the
    exam's), see ``quizsvc.accommodations``; an attempt whose time is already over keeps
    its deadline (the expiry sweep grades it)."""
    rules = rules or exam_rules(exam)

    def deadline_for(attempt: Attempt, accommodation: Accommodation | None) -> datetime:
        if timing_of(attempt, exam).is_over(now):
            return attempt.deadline
        recomputed = rules.for_learner(accommodation).deadline(attempt.started_at)
        return moved_deadline(attempt.deadline, recomputed, now)

    return deadline_for


def timing_of(attempt: Attempt, exam: Exam) -> Timing:
    return Timing(attempt.started_at, attempt.deadline, exam.grace_seconds)


def grade_callback(
    exam: Exam, finished_at: datetime
) -> Callable[[Attempt, dict[str, Response]], dict[str, Any]]:
    state = services()

    def grade(attempt: Attempt, responses: dict[str, Response]) -> dict[str, Any]:
        if state.settings.debug_grading_delay_ms:
            time.sleep(state.settings.debug_grading_delay_ms / 1000)
        deck = state.bank.decks.get(exam.deck)
        # The store has dropped its cached exam if a regrade refreshed the keys since.
        current = state.store.get_exam(exam.id) or exam
        result = build_result(
            current.questions,
            attempt.layout,
            {qid: row.answer for qid, row in responses.items()},
            state.grade_many,
            exam.pass_mark,
            dict(deck.topics) if deck else {},
            timing_of(attempt, exam),
            min(finished_at, timing_of(attempt, exam).accept_until),
        )
        # What a person must look at is decided with the grade, so the LMS is told
        # "PendingManual" from the first score it receives.
        return mark_awaiting_review(result, questions_to_review(result, exam.review_below))

    return grade


def finalize(
    attempt: Attempt, exam: Exam, now: datetime, finalized_by: str, finished_at: datetime
) -> Attempt | None:
    """Grade the attempt once (see ``Store.finalize_attempt``), timed and counted."""
    return counted_finalize(attempt.id, now, finalized_by, grade_callback(exam, finished_at))


def counted_finalize(
    attempt_id: str,
    now: datetime,
    finalized_by: str | Callable[[Attempt], str],
    grade: Callable[[Attempt, dict[str, Response]], dict[str, Any]],
    learner_id: str | None = None,
) -> Attempt | None:
    """``Store.finalize_attempt``, with the grading timed and the attempt counted."""
    metrics = metrics_of(current_app)
    graded_here = False

    def timed_grade(attempt: Attempt, responses: dict[str, Response]) -> dict[str, Any]:
        nonlocal graded_here
        started = time.perf_counter()
        result = grade(attempt, responses)
        # Labelled after grading: a submit past the attempt's time is graded as an expiry.
        label = finalized_by if isinstance(finalized_by, str) else finalized_by(attempt)
        metrics.grading_latency.labels(label).observe(time.perf_counter() - started)
        graded_here = True
        return result

    finalized = services().store.finalize_attempt(
        attempt_id, now, finalized_by, timed_grade, learner_id
    )
    # Counted only when this call's grade was stored, not when another request got there first.
    if graded_here and finalized is not None:
        counter = (
            metrics.attempts_submitted
            if finalized.finalized_by == "submit"
            else metrics.attempts_expired
        )
        counter.inc()
    return finalized


def finalize_if_expired(attempt: Attempt, exam: Exam) -> Attempt:
    """Grade an attempt whose time (deadline + grace) is over, with the answers saved in time."""
    now = services().clock()
    if attempt.status == "in_progress" and timing_of(attempt, exam).is_over(now):
        finalized = finalize(attempt, exam, now, "expiry", attempt.deadline)
        return finalized or attempt
    return attempt


def load_visible_attempt(attempt_id: str) -> tuple[Attempt, Exam]:
    """The attempt (finalised first if its time is over), or 404 when not the caller's."""
    state = services()
    principal = current_principal()
    attempt = state.store.get_attempt(attempt_id)
    if attempt is None or (not is_staff(principal) and attempt.learner_id != principal.learner_id):
        raise ApiError(404, f"No attempt with id {attempt_id!r}.")
    exam = state.store.get_exam(attempt.exam_id)
    assert exam is not None  # attempts reference exams by foreign key
    return finalize_if_expired(attempt, exam), exam


def response_view(row: Response, public: PublicIds) -> dict[str, Any]:
    return {
        "question_id": public.question(row.question_id),
        "answer": public.public_answer(row.question_id, row.answer),
        "saved_at": row.saved_at,
        "revision": row.revision,
    }


def passback_view(attempt_id: str) -> dict[str, Any] | None:
    """The AGS score message of an LTI-launched attempt, as its passback status."""
    scores = services().store.list_outbox(kind="ags_score", attempt_id=attempt_id)
    if not scores:
        return None
    message = scores[-1]
    return {
        "status": message.status,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "delivered_at": message.delivered_at,
        "next_attempt_at": message.next_attempt_at if message.status == "pending" else None,
    }


def attempt_view(
    attempt: Attempt,
    exam: Exam,
    staff: bool = False,
    responses: dict[str, Response] | None = None,
    with_questions: bool = True,
) -> dict[str, Any]:
    """``responses``: the attempt's saved answers when the caller knows them already;
    ``with_questions`` False leaves out the delivered questions (see :func:`attempt_response`)."""
    state = services()
    now = state.clock()
    timing = timing_of(attempt, exam)
    if responses is None:
        responses = state.store.responses(attempt.id)
    public = PublicIds.of(attempt.layout)
    view: dict[str, Any] = {
        "id": attempt.id,
        "exam_id": exam.id,
        "exam_title": exam.title,
        "learner_id": attempt.learner_id,
        "status": attempt.status,
        "finalized_by": attempt.finalized_by,
        "started_at": attempt.started_at,
        "deadline": attempt.deadline,
        "accept_until": timing.accept_until,
        "server_time": now,
        "seconds_remaining": timing.seconds_remaining(now)
        if attempt.status == "in_progress"
        else 0,
        "responses": {
            public.question(qid): response_view(row, public) for qid, row in responses.items()
        },
        # Only a graded attempt has a score, and only then is its visibility worth a query.
        "score": attempt.score
        if attempt.status == "graded" and (staff or score_shown(exam, attempt.learner_id))
        else None,
        "passback": passback_view(attempt.id) if attempt.status == "graded" else None,
    }
    if with_questions:
        view["questions"] = delivery_in_layout(exam.questions, attempt.layout)
    return view


#: Each cached exam's questions with their delivery views as AttemptSchema dumps them (the
#: layout only reorders them and renames ids). Weak keys: an exam the store's cache dropped
#: (a regrade) is forgotten.
_dumped_questions: weakref.WeakKeyDictionary[Exam, list[dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def dumped_delivery(exam: Exam, layout: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``DeliveredQuestionSchema`` dumps of ``delivery_in_layout(exam.questions, layout)``,
    from the exam's dumps made once: a class starting together costs one marshmallow dump
    of the questions per exam and worker, not one per learner."""
    questions = _dumped_questions.get(exam)
    if questions is None:
        schema = DeliveredQuestionSchema()
        questions = [{"delivery": schema.dump(q["delivery"])} for q in exam.questions]
        _dumped_questions[exam] = questions
    return delivery_in_layout(questions, layout)


_ATTEMPT_WITHOUT_QUESTIONS = AttemptSchema(exclude=("questions",))


def attempt_response(
    attempt: Attempt, exam: Exam, responses: dict[str, Response] | None = None
) -> FlaskResponse:
    """The attempt as ``AttemptSchema`` would send it (``tests/test_attempt_round_trips``
    compares the two), with the questions from :func:`dumped_delivery`."""
    body = _ATTEMPT_WITHOUT_QUESTIONS.dump(
        attempt_view(attempt, exam, responses=responses, with_questions=False)
    )
    body["questions"] = dumped_delivery(exam, attempt.layout)
    # Flask's own JSON response, as flask-smorest would make it (typed as werkzeug's base).
    return cast(FlaskResponse, current_app.json.response(body))


def result_view(attempt: Attempt, exam: Exam, staff: bool) -> dict[str, Any]:
    """The graded result in the attempt's public ids; for a learner, only what the exam's
    review options show them now."""
    assert attempt.result is not None
    assert attempt.submitted_at is not None
    result = PublicIds.of(attempt.layout).public_result(attempt.result)
    view = {
        "attempt_id": attempt.id,
        "exam_id": attempt.exam_id,
        "learner_id": attempt.learner_id,
        "finalized_by": attempt.finalized_by,
        "submitted_at": attempt.submitted_at,
        **result,
    }
    if staff:
        return {**view, "review": None}
    return redact_result(view, review_options(exam), exam_closed(exam, attempt.learner_id))


def score_shown(exam: Exam, learner_id: str, attempts: Sequence[Attempt] | None = None) -> bool:
    """Whether the learner may see their score on this exam now (``attempts``: the
    learner's attempts at it, when the caller has them already)."""
    return review_options(exam).score.allows(exam_closed(exam, learner_id, attempts))


def exam_closed(exam: Exam, learner_id: str, attempts: Sequence[Attempt] | None = None) -> bool:
    """Whether review's ``after_close`` has come for this learner."""
    state = services().store.learner_exam_state(exam.id, learner_id)
    if attempts is None:
        attempts = state.attempts
    # The learner's own close and attempts: an accommodation may extend both.
    rules = rules_in_state(exam, state)
    return exam_closed_for(
        services().clock(),
        rules.closes_at,
        rules.max_attempts,
        len(attempts),
        any(attempt.status == "in_progress" for attempt in attempts),
    )


class NewAttempt:
    """Makes a learner's new attempt at an exam for :meth:`Store.start_or_resume`, which
    calls it under the start's per-(exam, learner) lock with what is stored now, so an
    accommodation or window changed meanwhile is seen: None when every attempt allowed is
    used (``used_up`` then says how many), :class:`OutsideWindow` when the exam is not
    open. The JSON API, the web app and LTI launches all start attempts with it.

    The attempt's id and layout are made here, before the lock, so that the lock is held
    for the checks only; a resume throws them away.
    """

    def __init__(self, exam: Exam, learner_id: str, clock: Callable[[], datetime]) -> None:
        self.exam = exam
        self.learner_id = learner_id
        self.clock = clock
        self.attempt_id = new_id()
        self.layout = make_layout(exam.questions, self.attempt_id)
        self.used_up: int | None = None

    def __call__(self, learner_state: LearnerExamState) -> Attempt | None:
        now = self.clock()
        rules = rules_in_state(self.exam, learner_state)
        if rules.max_attempts is not None and len(learner_state.attempts) >= rules.max_attempts:
            self.used_up = rules.max_attempts
            return None
        # An attempt in progress is resumed (it keeps its deadline) before this is called.
        rules.check_start(now)
        return Attempt(
            id=self.attempt_id,
            exam_id=self.exam.id,
            learner_id=self.learner_id,
            started_at=now,
            deadline=rules.deadline(now),
            status="in_progress",
            layout=self.layout,
        )


def start_or_resume_attempt(exam_id: str) -> tuple[Attempt, Exam, bool]:
    """The signed-in learner's attempt in progress at the exam, or a new one when the rules
    allow: ``(attempt, exam, created)``. 409 when every attempt is used or the exam is not
    open. The JSON API and the web app's start button both start attempts through it."""
    state = services()
    principal = current_principal()
    assert principal.learner_id is not None
    learner_id = principal.learner_id
    exam = load_visible_exam(exam_id)
    new_attempt = NewAttempt(exam, learner_id, state.clock)

    def start() -> tuple[Attempt | None, bool]:
        try:
            # Resume-or-create runs under a per-(exam, learner) lock: parallel starts give
            # one attempt, and never more than the attempts allowed (with the learner's
            # extra ones).
            return state.store.start_or_resume(exam.id, learner_id, new_attempt)
        except OutsideWindow as exc:
            raise ApiError(409, str(exc)) from exc

    attempt, created = start()
    if attempt is not None and not created and timing_of(attempt, exam).is_over(state.clock()):
        # Its time is over: graded first (outside the start's lock, as grading takes a
        # lock of its own), so it counts as used and is not resumed.
        finalize_if_expired(attempt, exam)
        attempt, created = start()
    if attempt is None:
        raise ApiError(409, f"All {new_attempt.used_up} attempt(s) at this exam are used.")
    if created:
        metrics_of(current_app).attempts_started.inc()
    return attempt, exam, created


@blp.route("/exams/<string:exam_id>/attempts")
class ExamAttempts(MethodView):
    @roles_required("learner")
    @blp.response(201, AttemptSchema, headers=LOCATION)
    @blp.alt_response(200, schema=AttemptSchema, description="An attempt in progress, resumed")
    def post(self, exam_id: str) -> tuple[FlaskResponse, int, dict[str, str]]:
        """Start a timed attempt, or resume the one in progress."""
        attempt, exam, created = start_or_resume_attempt(exam_id)
        location = {"Location": url_for("attempts.AttemptById", attempt_id=attempt.id)}
        if not created:
            return attempt_response(attempt, exam), 200, location
        # A new attempt has no answers yet: nothing to read back.
        return attempt_response(attempt, exam, responses={}), 201, location


@blp.route("/attempts/<string:attempt_id>")
class AttemptById(MethodView):
    @authenticated
    @blp.arguments(ExamQuerySchema, location="query")
    @blp.response(200, AttemptSchema)
    def get(self, query: dict[str, Any], attempt_id: str) -> dict[str, Any]:
        """The attempt with its saved answers, to resume exactly where it was;
        ``include=key`` adds the answer keys in the attempt's ids (staff only)."""
        attempt, exam = load_visible_attempt(attempt_id)
        staff = is_staff(current_principal())
        if query.get("include") == "key" and not staff:
            raise ApiError(403, "Only instructors and admins may see answer keys.")
        view = attempt_view(attempt, exam, staff)
        if query.get("include") == "key":
            public = PublicIds.of(attempt.layout)
            # A pooled exam's attempt has only the questions drawn for it.
            in_attempt = {slot["question_id"] for slot in attempt.layout}
            view["key"] = [
                public.public_key(question["key"])
                for question in exam.questions
                if question["key"]["question_id"] in in_attempt
            ]
        return view


@blp.route("/attempts/<string:attempt_id>/responses/<string:question_id>")
class AttemptResponse(MethodView):
    @learner_write_confirmed_by_statement
    @blp.arguments(AutosaveSchema)
    @blp.response(200, AutosaveResultSchema)
    def put(self, body: dict[str, Any], attempt_id: str, question_id: str) -> dict[str, Any]:
        """Autosave one answer; idempotent, last write wins."""
        # The hot path of a class taking an exam: only the locked upsert touches the
        # database; the attempt's fixed fields and the frozen exam come from memory.
        state = services()
        header = state.store.attempt_header(attempt_id)
        if header is None or header.learner_id != current_principal().learner_id:
            raise ApiError(404, f"No attempt with id {attempt_id!r}.")
        exam = state.store.get_exam(header.exam_id)
        assert exam is not None  # attempts reference exams by foreign key
        public = PublicIds.of(header.layout)
        exam_question_id = public.exam_question(question_id)
        question = next(
            (q for q in exam.questions if q["delivery"]["id"] == exam_question_id), None
        )
        if exam_question_id is None or question is None:
            raise ApiError(404, f"No question {question_id!r} in this attempt.")
        timing = Timing(header.started_at, header.deadline, exam.grace_seconds)
        try:
            answer = check_answer(
                question,
                public.exam_answer(exam_question_id, body["answer"]),
                state.settings.max_answer_chars,
            )
        except InvalidAnswer as exc:
            refuse_if_closed(attempt_id, exam, timing)
            raise ApiError(
                422, f"Invalid answer: {exc}.", {"json": {"answer": [str(exc)]}}
            ) from exc
        now = state.clock()
        key_id = unconfirmed_key_id()
        saved = state.store.save_response(
            attempt_id,
            exam_question_id,
            answer,
            now,
            timing.accept_until,
            exam.grace_seconds,
            key_id=key_id,
        )
        if saved is None and key_id is not None:
            # The key came from memory and the write checked it: a revoked key is 401 here;
            # a valid one means the attempt refused, and the write is tried as any other.
            confirm_key()
            saved = state.store.save_response(
                attempt_id, exam_question_id, answer, now, timing.accept_until, exam.grace_seconds
            )
        if saved is None:
            # Staff may have moved the deadline since this process cached it (an
            # accommodation, a window change): the stored one decides.
            fresh = state.store.attempt_header(attempt_id, fresh=True)
            if fresh is not None and fresh.deadline != header.deadline:
                timing = Timing(fresh.started_at, fresh.deadline, exam.grace_seconds)
                saved = state.store.save_response(
                    attempt_id,
                    exam_question_id,
                    answer,
                    now,
                    timing.accept_until,
                    exam.grace_seconds,
                )
        if saved is None:
            refuse_if_closed(attempt_id, exam, timing)
            raise ApiError(409, time_is_up(timing))
        return {
            **response_view(saved, public),
            "seconds_remaining": timing.seconds_remaining(now),
        }


def refuse_if_closed(attempt_id: str, exam: Exam, timing: Timing) -> None:
    """409 saying why when the attempt no longer takes answers (finalising it if due)."""
    attempt = services().store.get_attempt(attempt_id)
    assert attempt is not None
    attempt = finalize_if_expired(attempt, exam)
    if attempt.status == "in_progress":
        return
    if attempt.finalized_by == "expiry":
        raise ApiError(409, time_is_up(timing))
    raise ApiError(409, "This attempt is already submitted; answers can no longer change.")


@blp.route("/attempts/<string:attempt_id>/submit")
class AttemptSubmit(MethodView):
    @roles_required("learner")
    @blp.response(200, ResultSchema)
    def post(self, attempt_id: str) -> dict[str, Any]:
        """Grade the attempt; submitting again returns the same result."""
        state = services()
        principal = current_principal()
        now = state.clock()
        # No read before the grade's own locked one: it checks the attempt is this
        # learner's, and grades one whose time is over as an expiry would have.
        attempt = submit(attempt_id, principal.learner_id, now)
        if attempt is None:
            raise ApiError(404, f"No attempt with id {attempt_id!r}.")
        exam = state.store.get_exam(attempt.exam_id)
        assert exam is not None  # attempts reference exams by foreign key
        return result_view(attempt, exam, is_staff(principal))


def submit(attempt_id: str, learner_id: str | None, now: datetime) -> Attempt | None:
    """Grade the learner's attempt at ``now`` (None: no such attempt of theirs); one whose
    time is over is graded as the expiry sweep would (answers until its deadline). Already
    graded, it is returned as it is."""
    store = services().store
    expired: set[str] = set()

    def exam_of(attempt: Attempt) -> Exam:
        exam = store.get_exam(attempt.exam_id)
        assert exam is not None  # attempts reference exams by foreign key
        return exam

    def finalized_by(attempt: Attempt) -> str:
        return "expiry" if attempt.id in expired else "submit"

    def grade(attempt: Attempt, responses: dict[str, Response]) -> dict[str, Any]:
        exam = exam_of(attempt)
        if timing_of(attempt, exam).is_over(now):
            expired.add(attempt.id)
            return grade_callback(exam, attempt.deadline)(attempt, responses)
        return grade_callback(exam, now)(attempt, responses)

    return counted_finalize(attempt_id, now, finalized_by, grade, learner_id)


@blp.route("/attempts/<string:attempt_id>/result")
class AttemptResult(MethodView):
    @authenticated
    @blp.response(200, ResultSchema)
    def get(self, attempt_id: str) -> dict[str, Any]:
        """The graded result with per-question feedback and a per-topic breakdown."""
        attempt, exam = load_visible_attempt(attempt_id)
        if attempt.status != "graded":
            raise ApiError(409, "This attempt is still in progress; submit it to see the result.")
        return result_view(attempt, exam, is_staff(current_principal()))


# Attempts read their exam's frozen copy, never the bank's cards: their requests skip the
# check for other instances' edits (a query at most once a second per worker, on the autosave
# hot path before). Grading reads only the deck's topic titles, which edits never change
# (bank.editing.effective_bank keeps the YAML decks).
bank_not_read_by(
    "attempts.ExamAttempts",
    "attempts.AttemptById",
    "attempts.AttemptResponse",
    "attempts.AttemptSubmit",
    "attempts.AttemptResult",
)
