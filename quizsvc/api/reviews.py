"""People in the loop: the review queue, instructor overrides, learner appeals, the audit
trail of grade changes, and what reviews teach the grader (export, agreement per card)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from quizsvc.api.attempts import load_visible_attempt
from quizsvc.api.auth import STAFF, current_principal, roles_required
from quizsvc.api.errors import ApiError
from quizsvc.api.exams import appeal_days
from quizsvc.api.headers import LOCATION
from quizsvc.api.pagination import PageQuerySchema, PageSchema, offset_of, page_of
from quizsvc.api.services import services
from quizsvc.attempts import PublicIds
from quizsvc.persistence.reviews import GradeChange, GradeReview, automatic_grade
from quizsvc.reviews import (
    REVIEWED,
    GradeChangeError,
    change_question_grade,
    checked_grade,
    mark_awaiting_review,
)
from quizsvc.store import Attempt, Exam, new_id

blp = Blueprint(
    "reviews", __name__, url_prefix="/v1", description="Review queue, overrides and appeals"
)


class ReviewQuerySchema(PageQuerySchema):
    exam_id = fields.String(validate=validate.Length(1, 32))
    status = fields.String(
        load_default="pending", validate=validate.OneOf(["pending", "resolved", "all"])
    )


class ReviewSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    attempt_id = fields.String(required=True)
    exam_id = fields.String(required=True)
    learner_id = fields.String(required=True)
    question_id = fields.String(
        required=True, metadata={"description": "The question's id in the learner's attempt."}
    )
    reasons = fields.List(fields.String(), required=True)
    question = fields.Dict(
        required=True,
        metadata={"description": "Type, prompt, reference answer and key points."},
    )
    answer = fields.Raw(allow_none=True, metadata={"description": "The learner's answer."})
    automatic = fields.Dict(
        required=True,
        metadata={
            "description": "The automatic grade: score, verdict, confidence, feedback, "
            "evidence, grader version."
        },
    )
    appealed = fields.Boolean(required=True)
    appeal_comment = fields.String(allow_none=True)
    appealed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)
    resolved_at = fields.DateTime(allow_none=True)
    resolved_by = fields.Integer(allow_none=True)
    resolution = fields.Dict(allow_none=True)


class ReviewPageSchema(PageSchema):
    items = fields.List(fields.Nested(ReviewSchema), required=True)


class GradeSetSchema(Schema):
    score = fields.Float(
        required=True, validate=validate.Range(0, 1), metadata={"description": "0 to 1."}
    )
    verdict = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(["correct", "partial", "incorrect"]),
        metadata={"description": "Defaults from the score; must agree with it."},
    )
    comment = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Shown to the learner with the grade."},
    )


class ResolveSchema(Schema):
    score = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(0, 1),
        metadata={"description": "Omit to keep the automatic grade."},
    )
    verdict = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(["correct", "partial", "incorrect"]),
    )
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class AppealSchema(Schema):
    comment = fields.String(required=True, validate=validate.Length(1, 2000))


class AppealSchemaOut(Schema):
    """What a learner reads back about their appeal: never the key or the grader's
    evidence, which the exam's review options may still hide."""

    id = fields.String(required=True)
    status = fields.String(required=True)
    attempt_id = fields.String(required=True)
    question_id = fields.String(
        required=True, metadata={"description": "The question's id in your attempt."}
    )
    appeal_comment = fields.String(required=True)
    appealed_at = fields.DateTime(required=True)


class GradeChangeSchema(Schema):
    id = fields.String(required=True)
    question_id = fields.String(required=True)
    kind = fields.String(required=True)
    changed_by = fields.Integer(allow_none=True)
    changed_at = fields.DateTime(required=True)
    before = fields.Dict(required=True)
    after = fields.Dict(required=True)
    comment = fields.String(allow_none=True)
    grader_version = fields.String(allow_none=True)


class GradeChangeListSchema(Schema):
    items = fields.List(fields.Nested(GradeChangeSchema), required=True)


class AgreementQuerySchema(Schema):
    exam_id = fields.String(validate=validate.Length(1, 32))


class CardAgreementSchema(Schema):
    card_id = fields.String(required=True)
    reviews = fields.Integer(required=True)
    overridden = fields.Integer(required=True)
    override_rate = fields.Float(required=True)
    confusion = fields.Dict(
        required=True,
        metadata={"description": "automatic verdict -> human verdict -> count"},
    )


class AgreementSchema(Schema):
    reviews = fields.Integer(required=True)
    agreement = fields.Float(
        allow_none=True,
        metadata={"description": "Share of reviews where the person kept the automatic verdict."},
    )
    cards = fields.List(fields.Nested(CardAgreementSchema), required=True)


# -- views ------------------------------------------------------------------------------------


def key_of(exam: Exam | None, question_id: str) -> dict[str, Any]:
    """The exam's answer key of one question (empty when unknown)."""
    for question in exam.questions if exam is not None else []:
        if question["key"]["question_id"] == question_id:
            key: dict[str, Any] = question["key"]
            return key
    return {}


def review_view(review: GradeReview, attempt: Attempt | None, exam: Exam | None) -> dict[str, Any]:
    public = PublicIds.of(attempt.layout) if attempt is not None else PublicIds({}, {})
    key = key_of(exam, review.question_id)
    return {
        "id": review.id,
        "status": review.status,
        "attempt_id": review.attempt_id,
        "exam_id": review.exam_id,
        "learner_id": review.learner_id,
        "question_id": public.question(review.question_id),
        "reasons": review.reasons,
        "question": {
            "type": key.get("type"),
            "card_id": key.get("card_id"),
            "prompt": key.get("prompt"),
            "reference": key.get("answer"),
            "key_points": key.get("key_points", []),
        },
        "answer": public.public_answer(review.question_id, review.automatic.get("your_answer")),
        "automatic": review.automatic,
        "appealed": review.appealed,
        "appeal_comment": review.appeal_comment,
        "appealed_at": review.appealed_at,
        "created_at": review.created_at,
        "resolved_at": review.resolved_at,
        "resolved_by": review.resolved_by,
        "resolution": review.resolution,
    }


def _load_review(review_id: str) -> tuple[GradeReview, Attempt, Exam]:
    state = services()
    review = state.store.get_review(review_id)
    if review is None:
        raise ApiError(404, f"No review with id {review_id!r}.")
    attempt = state.store.get_attempt(review.attempt_id)
    exam = state.store.get_exam(review.exam_id)
    assert attempt is not None
    assert exam is not None
    return review, attempt, exam


def _question_of(attempt: Attempt, public_question_id: str) -> str:
    question_id = PublicIds.of(attempt.layout).exam_question(public_question_id)
    if question_id is None:
        raise ApiError(404, f"No question {public_question_id!r} in this attempt.")
    return question_id


def _set_grade(
    attempt_id: str,
    question_id: str,
    score: float | None,
    verdict: str | None,
    comment: str | None,
    kind: str,
) -> Attempt:
    """One question's grade set by a person (``score`` None keeps the automatic one), with
    its audit row, its review resolved, the totals recomputed, and the LMS and webhooks told."""
    state = services()
    principal = current_principal()
    now = state.clock()

    def change(session: Session, attempt: Attempt) -> tuple[dict[str, Any], list[str]] | None:
        result = attempt.result or {}
        item = next(
            (q for q in result.get("questions", []) if q["question_id"] == question_id), None
        )
        if item is None:
            raise ApiError(404, "No such question in this attempt.")
        review = session.scalar(
            select(GradeReview).where(
                GradeReview.attempt_id == attempt.id, GradeReview.question_id == question_id
            )
        )
        new_score, new_verdict = (
            (float(item["score"]), str(item["verdict"]))
            if score is None
            else _checked(score, verdict)
        )
        before = {"score": item["score"], "verdict": item["verdict"]}
        after = {"score": round(new_score, 4), "verdict": new_verdict}
        appealed = bool(review is not None and review.appealed)
        note = {
            "status": REVIEWED,
            "comment": comment,
            "reviewed_at": now.isoformat(),
            "changed": before != after,
            "appealed": appealed,
            "appeal_comment": review.appeal_comment if review is not None else None,
        }
        changed = change_question_grade(result, question_id, new_score, new_verdict, note)
        changed["last_change"] = {
            "question_id": PublicIds.of(attempt.layout).question(question_id),
            "cause": kind,
            "before": before,
            "after": after,
            "comment": comment,
        }
        session.add(
            GradeChange(
                id=new_id(),
                attempt_id=attempt.id,
                question_id=question_id,
                kind=kind,
                changed_by=principal.key_id,
                changed_at=now,
                before=before,
                after=after,
                comment=comment,
                grader_version=item.get("grader_version"),
            )
        )
        if review is not None and review.status == "pending":
            review.status = "resolved"
            review.resolved_at = now
            review.resolved_by = principal.key_id
            review.resolution = {**after, "comment": comment, "changed": before != after}
        events = ["attempt.regraded"] if before != after or kind == "override" else []
        if appealed:
            events.append("appeal.resolved")
        if not events and changed.get("grading_progress") != result.get("grading_progress"):
            # Nothing changed but the last review is done: the LMS learns the grade is final.
            events.append("attempt.regraded")
        return changed, events

    updated = state.store.update_attempt_result(attempt_id, now, change)
    if updated is None:
        raise ApiError(404, f"No attempt with id {attempt_id!r}.")
    return updated


def _checked(score: float, verdict: str | None) -> tuple[float, str]:
    try:
        return checked_grade(score, verdict)
    except GradeChangeError as exc:
        raise ApiError(422, f"Invalid grade: {exc}.", {"json": {exc.field: [str(exc)]}}) from exc


# -- routes -----------------------------------------------------------------------------------


@blp.route("/reviews")
class Reviews(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(ReviewQuerySchema, location="query")
    @blp.response(200, ReviewPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The review queue, oldest first: pending reviews unless ``status`` says otherwise."""
        state = services()
        status = None if query["status"] == "all" else query["status"]
        rows, total = state.store.list_reviews(
            query.get("exam_id"), status, offset_of(query), query["page_size"]
        )
        items = [
            review_view(
                row, state.store.get_attempt(row.attempt_id), state.store.get_exam(row.exam_id)
            )
            for row in rows
        ]
        return page_of(items, total, query)


@blp.route("/reviews/<string:review_id>")
class ReviewById(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, ReviewSchema)
    def get(self, review_id: str) -> dict[str, Any]:
        """One review with the question, the answer and the automatic grade."""
        return review_view(*_load_review(review_id))


@blp.route("/reviews/<string:review_id>/resolve")
class ReviewResolve(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(ResolveSchema)
    @blp.response(200, ReviewSchema)
    def post(self, body: dict[str, Any], review_id: str) -> dict[str, Any]:
        """Settle a review: keep the automatic grade (no score) or set one, with a comment
        the learner reads. The result, the LMS score and webhooks follow."""
        review, attempt, _ = _load_review(review_id)
        if review.status == "resolved":
            raise ApiError(409, "This review is already resolved; override the grade instead.")
        if body["score"] is None and body["verdict"] is not None:
            raise ApiError(
                422, "A verdict needs a score.", {"json": {"score": ["required with a verdict"]}}
            )
        kind = "appeal" if review.appealed else "review"
        _set_grade(
            attempt.id, review.question_id, body["score"], body["verdict"], body["comment"], kind
        )
        return review_view(*_load_review(review_id))


@blp.route("/attempts/<string:attempt_id>/questions/<string:question_id>/grade")
class QuestionGrade(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(GradeSetSchema)
    @blp.response(200, GradeChangeListSchema)
    def put(self, body: dict[str, Any], attempt_id: str, question_id: str) -> dict[str, Any]:
        """Override one question's grade (score 0-1, a verdict that fits it, a comment); the
        attempt's score, pass and topics are recomputed and the change is audited. Returns
        the attempt's audit trail."""
        attempt, _ = load_visible_attempt(attempt_id)
        if attempt.status != "graded":
            raise ApiError(409, "This attempt is not graded yet.")
        exam_question = _question_of(attempt, question_id)
        _checked(body["score"], body["verdict"])
        _set_grade(
            attempt.id, exam_question, body["score"], body["verdict"], body["comment"], "override"
        )
        return {
            "items": [change_view(c, attempt) for c in services().store.grade_changes(attempt.id)]
        }


@blp.route("/attempts/<string:attempt_id>/questions/<string:question_id>/appeal")
class QuestionAppeal(MethodView):
    @roles_required("learner")
    @blp.arguments(AppealSchema)
    @blp.response(201, AppealSchemaOut, headers=LOCATION)
    def post(
        self, body: dict[str, Any], attempt_id: str, question_id: str
    ) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Appeal one graded question of your own attempt, once, within the exam's appeal
        window; it goes to the review queue and its grade is provisional until resolved."""
        state = services()
        attempt, exam = load_visible_attempt(attempt_id)
        if attempt.status != "graded" or attempt.submitted_at is None:
            raise ApiError(409, "Only a graded attempt can be appealed.")
        exam_question = _question_of(attempt, question_id)
        now = state.clock()
        window = appeal_days(exam)
        if now > attempt.submitted_at + timedelta(days=window):
            raise ApiError(
                409,
                f"The appeal window of this exam ({window} days after grading) has closed.",
            )
        review_id = _open_appeal(attempt.id, exam_question, body["comment"], now)
        # The learner follows their appeal in the attempt's result (the review itself is
        # staff-only).
        location = url_for("attempts.AttemptResult", attempt_id=attempt.id)
        return (
            {
                "id": review_id,
                "status": "pending",
                "attempt_id": attempt.id,
                "question_id": question_id,
                "appeal_comment": body["comment"],
                "appealed_at": now,
            },
            201,
            {"Location": location},
        )


def _open_appeal(attempt_id: str, question_id: str, comment: str, now: datetime) -> str:
    opened: dict[str, str] = {}

    def change(session: Session, attempt: Attempt) -> tuple[dict[str, Any], list[str]] | None:
        result = attempt.result or {}
        item = next(q for q in result["questions"] if q["question_id"] == question_id)
        review = session.scalar(
            select(GradeReview).where(
                GradeReview.attempt_id == attempt.id, GradeReview.question_id == question_id
            )
        )
        if review is not None and review.appealed:
            raise ApiError(409, "This question was already appealed; each question once.")
        if review is None:
            review = GradeReview(
                id=new_id(),
                attempt_id=attempt.id,
                exam_id=attempt.exam_id,
                learner_id=attempt.learner_id,
                question_id=question_id,
                reasons=["appeal"],
                automatic=automatic_grade(item),
                created_at=now,
            )
            session.add(review)
        else:
            review.reasons = [*review.reasons, "appeal"]
            review.resolved_at = None
            review.resolved_by = None
        review.status = "pending"
        review.appealed = True
        review.appeal_comment = comment
        review.appealed_at = now
        opened["id"] = review.id
        changed = mark_awaiting_review(result, [question_id], reason="appeal")
        for question in changed["questions"]:
            if question["question_id"] == question_id:
                question["review"].update(appealed=True, appeal_comment=comment)
        changed["last_change"] = {
            "question_id": PublicIds.of(attempt.layout).question(question_id),
            "cause": "appeal_opened",
        }
        return changed, ["appeal.opened"]

    state = services()
    if state.store.update_attempt_result(attempt_id, now, change) is None:
        raise ApiError(404, f"No attempt with id {attempt_id!r}.")
    return opened["id"]


def change_view(change: GradeChange, attempt: Attempt) -> dict[str, Any]:
    return {
        "id": change.id,
        "question_id": PublicIds.of(attempt.layout).question(change.question_id),
        "kind": change.kind,
        "changed_by": change.changed_by,
        "changed_at": change.changed_at,
        "before": change.before,
        "after": change.after,
        "comment": change.comment,
        "grader_version": change.grader_version,
    }


@blp.route("/attempts/<string:attempt_id>/grade-changes")
class AttemptGradeChanges(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, GradeChangeListSchema)
    def get(self, attempt_id: str) -> dict[str, Any]:
        """The audit trail: every change of this attempt's grades, who, when, before, after
        and why."""
        attempt, _ = load_visible_attempt(attempt_id)
        return {
            "items": [change_view(c, attempt) for c in services().store.grade_changes(attempt.id)]
        }


@blp.route("/reviews/export")
class ReviewExport(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(AgreementQuerySchema, location="query")
    @blp.doc(
        responses={
            "200": {
                "description": "One JSON object per resolved review (JSON Lines).",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }
        }
    )
    def get(self, query: dict[str, Any]) -> Response:
        """Resolved reviews as JSON Lines, to learn from: the answer, the automatic grade,
        the person's grade, the card and the grader version (``bench/grading_verdict.py
        --reviews FILE`` adds them to the verdict model's training data)."""
        state = services()
        lines = []
        for review in state.store.resolved_reviews(query.get("exam_id")):
            exam = state.store.get_exam(review.exam_id)
            key = key_of(exam, review.question_id)
            resolution = review.resolution or {}
            lines.append(
                json.dumps(
                    {
                        "review_id": review.id,
                        "card_id": key.get("card_id"),
                        "type": key.get("type"),
                        "prompt": key.get("prompt"),
                        "reference": key.get("answer"),
                        "key_points": key.get("key_points", []),
                        "answer": review.automatic.get("your_answer"),
                        "automatic": {
                            "score": review.automatic.get("score"),
                            "verdict": review.automatic.get("verdict"),
                            "confidence": review.automatic.get("confidence"),
                        },
                        "human": {
                            "score": resolution.get("score"),
                            "verdict": resolution.get("verdict"),
                        },
                        "appealed": review.appealed,
                        "grader_version": review.automatic.get("grader_version"),
                    },
                    sort_keys=True,
                )
            )
        body = "\n".join(lines) + ("\n" if lines else "")
        return Response(body, content_type="application/x-ndjson")


@blp.route("/reviews/agreement")
class ReviewAgreement(MethodView):
    @roles_required(*STAFF)
    @blp.arguments(AgreementQuerySchema, location="query")
    @blp.response(200, AgreementSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """How often people agreed with the grader, per card: override rate and the
        confusion of automatic against human verdicts."""
        state = services()
        by_card: dict[str, Counter[tuple[str, str]]] = {}
        for review in state.store.resolved_reviews(query.get("exam_id")):
            exam = state.store.get_exam(review.exam_id)
            card = str(key_of(exam, review.question_id).get("card_id", "?"))
            automatic = str(review.automatic.get("verdict"))
            human = str((review.resolution or {}).get("verdict", automatic))
            by_card.setdefault(card, Counter())[(automatic, human)] += 1
        cards: list[dict[str, Any]] = []
        agreed = total = 0
        for card, counts in sorted(by_card.items()):
            reviews = sum(counts.values())
            overridden = sum(n for (auto, human), n in counts.items() if auto != human)
            agreed += reviews - overridden
            total += reviews
            confusion: dict[str, dict[str, int]] = {}
            for (auto, human), n in counts.items():
                confusion.setdefault(auto, {})[human] = n
            cards.append(
                {
                    "card_id": card,
                    "reviews": reviews,
                    "overridden": overridden,
                    "override_rate": round(overridden / reviews, 4),
                    "confusion": confusion,
                }
            )
        cards.sort(key=lambda item: (-item["override_rate"], -item["reviews"], item["card_id"]))
        return {
            "reviews": total,
            "agreement": round(agreed / total, 4) if total else None,
            "cards": cards,
        }
