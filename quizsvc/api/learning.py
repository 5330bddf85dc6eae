"""The learning loop over HTTP: a learner's due cards, progress, and personal practice exams
built from what they miss (``quizsvc.learning`` decides, this module only serves it)."""

from __future__ import annotations

import random
import secrets
from datetime import timedelta
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from quizsvc.api.attempts import exam_closed, finalize_if_expired, score_shown
from quizsvc.api.auth import authenticated, current_principal, is_staff
from quizsvc.api.errors import ApiError
from quizsvc.api.exams import (
    ExamCreateSchema,
    ExamSchema,
    build_from_bank,
    build_or_422,
    exam_view,
    known_deck,
    personal_seed,
    resolve_deck,
    review_options,
    stored_questions,
)
from quizsvc.api.headers import LOCATION
from quizsvc.api.services import Services, services
from quizsvc.exams import Blueprint as ExamBlueprint
from quizsvc.exams import BlueprintError, InsufficientQuestionsError, QuestionType
from quizsvc.exams import Exam as BuiltExam
from quizsvc.exams.builder import SEED_RANGE
from quizsvc.learning import (
    DUE_SOON,
    REASONS,
    CardMemory,
    bank_topics,
    due_report,
    practice_order,
    progress_report,
)
from quizsvc.store import Attempt, Exam, new_id

blp = Blueprint(
    "learning",
    __name__,
    url_prefix="/v1",
    description="Spaced repetition: due cards, progress and practice built from them",
)

#: The furthest ahead the due list looks.
MAX_DUE_HOURS = 24 * 30


class DeckQuerySchema(Schema):
    deck = fields.String(
        load_default=None, metadata={"description": "Only this deck (default: every deck)."}
    )


class DueQuerySchema(DeckQuerySchema):
    within_hours = fields.Float(
        load_default=DUE_SOON.total_seconds() / 3600,
        validate=validate.Range(0, MAX_DUE_HOURS),
        metadata={"description": "Also list cards that fall due within this many hours."},
    )


class MemoryCardSchema(Schema):
    card_id = fields.String(required=True)
    deck = fields.String(required=True)
    topic = fields.String(required=True)
    due = fields.DateTime(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["due", "soon"]),
        metadata={"description": "due: now; soon: within the window asked for."},
    )
    retrievability = fields.Float(
        required=True,
        metadata={"description": "FSRS's probability that the learner recalls it now."},
    )
    stability_days = fields.Float(required=True)
    difficulty = fields.Float(required=True)
    reviews = fields.Integer(required=True)
    lapses = fields.Integer(required=True, metadata={"description": "Answers missed."})
    last_reviewed_at = fields.DateTime(allow_none=True)


class DueTopicSchema(Schema):
    deck = fields.String(required=True)
    topic = fields.String(required=True)
    title = fields.String(required=True)
    due_now = fields.Integer(required=True)
    due_soon = fields.Integer(required=True)
    cards = fields.List(
        fields.Nested(MemoryCardSchema),
        required=True,
        metadata={"description": "Due ones first (least retrievable first), then soon ones."},
    )


WITHHELD = fields.Integer(
    required=True,
    metadata={
        "description": "Cards left out for a learner: answered on an instructor's exam whose "
        "verdicts are not shown yet (they come back when the exam has closed)."
    },
)


class DueSchema(Schema):
    learner_id = fields.String(required=True)
    now = fields.DateTime(required=True)
    due_until = fields.DateTime(required=True)
    due_now = fields.Integer(required=True)
    due_soon = fields.Integer(required=True)
    withheld_cards = WITHHELD
    topics = fields.List(fields.Nested(DueTopicSchema), required=True)


class TopicProgressSchema(Schema):
    deck = fields.String()
    topic = fields.String()
    title = fields.String()
    cards = fields.Integer(
        required=True, metadata={"description": "Cards and authored questions in the bank."}
    )
    seen = fields.Integer(required=True)
    mastered = fields.Integer(
        required=True, metadata={"description": "Seen cards with a stability of 21 days or more."}
    )
    due = fields.Integer(required=True)
    predicted_retention = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "Mean retrievability of the seen cards now."},
    )


class ScoreHistorySchema(Schema):
    attempt_id = fields.String(required=True)
    exam_id = fields.String(required=True)
    exam_title = fields.String(required=True)
    personal = fields.Boolean(required=True)
    submitted_at = fields.DateTime(allow_none=True)
    score = fields.Float(allow_none=True)
    max_score = fields.Integer(allow_none=True)
    percent = fields.Float(
        allow_none=True, metadata={"description": "Null while the exam does not show scores."}
    )


class ProgressSchema(Schema):
    learner_id = fields.String(required=True)
    now = fields.DateTime(required=True)
    mastery_stability_days = fields.Float(required=True)
    totals = fields.Nested(TopicProgressSchema, required=True)
    topics = fields.List(fields.Nested(TopicProgressSchema), required=True)
    history = fields.List(
        fields.Nested(ScoreHistorySchema),
        required=True,
        metadata={"description": "Graded attempts, oldest first."},
    )
    withheld_cards = WITHHELD


class PracticeCreateSchema(ExamCreateSchema):
    """An exam's blueprint options, less those of instructors' exams."""

    class Meta:
        exclude = ("difficulty", "max_attempts", "review", "closes_at", "review_below")


class PracticeCardSchema(Schema):
    question_id = fields.String(required=True)
    card_id = fields.String(required=True)
    topic = fields.String(required=True)
    reason = fields.String(
        required=True,
        validate=validate.OneOf(REASONS),
        metadata={
            "description": "due: due for review now; weak_topic: from a topic the learner "
            "misses most; new: never answered; review_ahead: reviewed before, not due yet."
        },
    )


class PracticeExamSchema(ExamSchema):
    practice = fields.List(
        fields.Nested(PracticeCardSchema),
        required=True,
        metadata={"description": "Why each question's card was chosen."},
    )


def _check_learner(learner_id: str) -> bool:
    """404 unless the caller may read this learner; True when the caller is staff."""
    principal = current_principal()
    staff = is_staff(principal)
    if not staff and principal.learner_id != learner_id:
        raise ApiError(404, f"No learner {learner_id!r}.")
    # Staff get the same 404 as learners for an id nobody has: a typo is not "nothing due".
    if staff and not services().store.learner_known(learner_id):
        raise ApiError(404, f"No learner {learner_id!r}.")
    return staff


def withheld_cards(state: Services, learner_id: str) -> set[str]:
    """Cards whose state rests on a grade the learner may not see yet: answered on an
    instructor's exam whose verdicts wait for it to close. Listing them as due (or leaving
    them out of a practice exam) would tell the learner which answers were wrong."""
    hidden: dict[str, bool] = {}

    def verdicts_hidden(exam_id: str) -> bool:
        if exam_id not in hidden:
            exam = state.store.get_exam(exam_id)
            hidden[exam_id] = (
                exam is not None
                and exam.owner_learner_id is None
                and not review_options(exam).verdicts.allows(exam_closed(exam, learner_id))
            )
        return hidden[exam_id]

    return {
        card_id
        for card_id, exam_ids in state.store.exams_per_card(learner_id).items()
        if any(verdicts_hidden(exam_id) for exam_id in exam_ids)
    }


def _memories(
    state: Services, learner_id: str, deck: str | None, for_learner: bool
) -> tuple[list[CardMemory], int]:
    memories = state.store.learner_memories(learner_id, deck)
    if not for_learner:
        return memories, 0
    withheld = withheld_cards(state, learner_id)
    shown = [memory for memory in memories if memory.card_id not in withheld]
    return shown, len(memories) - len(shown)


@blp.route("/learners/<string:learner_id>/due")
class LearnerDue(MethodView):
    @authenticated
    @blp.arguments(DueQuerySchema, location="query")
    @blp.response(200, DueSchema)
    def get(self, query: dict[str, Any], learner_id: str) -> dict[str, Any]:
        """Cards due for review now and soon (24 hours unless asked otherwise), per topic,
        with the scheduler's retrievability. Learners read their own only."""
        staff = _check_learner(learner_id)
        state = services()
        deck = known_deck(state, query["deck"])
        memories, withheld = _memories(state, learner_id, deck, for_learner=not staff)
        report = due_report(
            memories,
            bank_topics(state.bank, deck),
            state.clock(),
            timedelta(hours=query["within_hours"]),
        )
        return {"learner_id": learner_id, "withheld_cards": withheld, **report}


@blp.route("/learners/<string:learner_id>/progress")
class LearnerProgress(MethodView):
    @authenticated
    @blp.arguments(DeckQuerySchema, location="query")
    @blp.response(200, ProgressSchema)
    def get(self, query: dict[str, Any], learner_id: str) -> dict[str, Any]:
        """Per topic: cards seen, mastered and due, and the predicted retention; and the
        score of every graded attempt. Learners read their own only."""
        staff = _check_learner(learner_id)
        state = services()
        deck = known_deck(state, query["deck"])
        history = []
        attempts = state.store.list_attempts(learner_id=learner_id)
        by_exam: dict[str, list[Attempt]] = {}
        for attempt in attempts:
            by_exam.setdefault(attempt.exam_id, []).append(attempt)
        for attempt in attempts:
            exam = state.store.get_exam(attempt.exam_id)
            assert exam is not None  # attempts reference exams by foreign key
            # An attempt whose time ran out is graded now, so its answers count below too.
            attempt = finalize_if_expired(attempt, exam)
            if attempt.status != "graded" or (deck is not None and exam.deck != deck):
                continue
            result = attempt.result or {}
            shown = staff or score_shown(exam, learner_id, by_exam[exam.id])
            history.append(
                {
                    "attempt_id": attempt.id,
                    "exam_id": exam.id,
                    "exam_title": exam.title,
                    "personal": exam.owner_learner_id is not None,
                    "submitted_at": attempt.submitted_at,
                    "score": result.get("score") if shown else None,
                    "max_score": result.get("max_score") if shown else None,
                    "percent": result.get("percent") if shown else None,
                }
            )
        memories, withheld = _memories(state, learner_id, deck, for_learner=not staff)
        report = progress_report(memories, bank_topics(state.bank, deck), state.clock())
        return {
            "learner_id": learner_id,
            "withheld_cards": withheld,
            **report,
            "history": history,
        }


@blp.route("/learners/<string:learner_id>/practice")
class LearnerPractice(MethodView):
    @authenticated
    @blp.arguments(PracticeCreateSchema)
    @blp.response(201, PracticeExamSchema, headers=LOCATION)
    def post(
        self, body: dict[str, Any], learner_id: str
    ) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Build the learner's personal practice exam: cards due for review first, then
        cards of the topics they miss most, then new cards. Distractors come from the whole
        deck. Learners build their own; staff build one for any learner."""
        staff = _check_learner(learner_id)
        state = services()
        principal = current_principal()
        deck = resolve_deck(state, body["deck"])
        requested = dict(body["counts"])
        reverse = requested.pop("reverse_multiple_choice")
        scenario = requested.pop("scenario")
        learner_seed = body["seed"] if body["seed"] is not None else secrets.randbelow(SEED_RANGE)
        seed = personal_seed(learner_id, learner_seed)
        blueprint = ExamBlueprint(
            deck=deck,
            topics=tuple(body["topics"] or ()),
            counts={QuestionType(kind): count for kind, count in requested.items()},
            reverse=reverse,
            scenario=scenario,
            seed=seed,
        )
        # Always without the withheld cards, even for staff: the learner reads this exam.
        withheld = withheld_cards(state, learner_id)
        memories = {
            memory.card_id: memory
            for memory in state.store.learner_memories(learner_id, deck)
            if memory.card_id not in withheld
        }
        candidates = [
            card
            for card in state.bank.select(deck, body["topics"] or None)
            if card.id not in withheld
        ]
        size = blueprint.total - scenario
        order = practice_order(candidates, memories, state.clock(), size, random.Random(seed))
        built = _build_from(state, blueprint, [choice.card_id for choice in order], size)
        reasons = {choice.card_id: choice for choice in order}
        practice = [
            {
                "question_id": question.key.question_id,
                "card_id": question.key.card_id,
                "topic": question.key.topic,
                "reason": reasons[question.key.card_id].reason,
            }
            for question in built.questions
            if question.key.card_id in reasons
        ]
        exam = Exam(
            id=new_id(),
            title=body["title"],
            deck=deck,
            owner_learner_id=learner_id,
            created_by=principal.key_id,
            blueprint={
                **built.blueprint.to_dict(),
                "learner_seed": learner_seed,
                # With the seed, what rebuilds the exam: the cards questions were asked about.
                "practice_card_ids": [item["card_id"] for item in practice],
            },
            questions=stored_questions(built),
            time_limit_seconds=body["time_limit_seconds"],
            grace_seconds=body["grace_seconds"],
            max_attempts=None,
            pass_mark=body["pass_mark"],
            created_at=state.clock(),
            review=None,
            appeal_days=body["appeal_days"],
        )
        state.store.add_exam(exam)
        return (
            {**exam_view(exam, include_key=staff), "practice": practice},
            201,
            {"Location": url_for("exams.ExamById", exam_id=exam.id)},
        )


def _build_from(
    state: Services, blueprint: ExamBlueprint, card_ids: list[str], size: int
) -> BuiltExam:
    """The exam asked about the first ``size`` cards of ``card_ids``, or, when some of them
    cannot make the kinds of question asked for (a multiple-response question needs a card
    that lists items), about a few more of the next ones: the candidates double until the
    exam builds or every card has been offered."""
    take = size
    while take < len(card_ids):
        try:
            return build_from_bank(state, blueprint, card_ids[:take])
        except InsufficientQuestionsError:
            take = 2 * take + 1
        except BlueprintError:
            break  # the same blueprint fails whatever the cards: say so below
    return build_or_422(state, blueprint, card_ids)
