"""The learner's pages: dashboard, practice, the timed exam, the review and appeals.

Every action runs the JSON API's own view (:func:`quizsvc.web.core.api_call`) as the
signed-in learner: starting an attempt, autosaving, submitting, building a practice exam and
appealing do here exactly what they do over ``/v1`` (locks, limits, grading, the learning
loop, webhooks), and a learner can do nothing here that the API would refuse them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import jsonify, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError
from werkzeug.wrappers import Response as BaseResponse

from quizsvc.api.attempts import (
    AttemptResponse,
    AttemptSubmit,
    AutosaveSchema,
    attempt_view,
    load_visible_attempt,
    result_view,
    start_or_resume_attempt,
)
from quizsvc.api.errors import ApiError
from quizsvc.api.exams import appeal_days
from quizsvc.api.learning import (
    DeckQuerySchema,
    DueQuerySchema,
    LearnerDue,
    LearnerPractice,
    LearnerProgress,
    PracticeCreateSchema,
    withheld_cards,
)
from quizsvc.api.reviews import AppealSchema, QuestionAppeal
from quizsvc.api.services import services
from quizsvc.learning import bank_topics
from quizsvc.store import Exam
from quizsvc.web.charts import Chart, LoggedReview, mastery_chart, mastery_history
from quizsvc.web.core import (
    CSRF_HEADER,
    FETCH_HEADER,
    api_call,
    csrf_token,
    current_learner_id,
    learner_required,
    page_blueprint,
)

pages = page_blueprint("app_learner", __name__)

#: The practice form's choices: questions in the exam, and minutes to answer them.
PRACTICE_SIZES = (5, 10, 20)
PRACTICE_MINUTES = (5, 10, 20, 30, 60)
#: Instructors' exams listed on the dashboard, newest first, of the latest exams read.
EXAMS_SHOWN = 20
EXAMS_READ = 200
#: Recent results on the dashboard.
RECENT_RESULTS = 8
#: Warnings on the exam page this many seconds before the deadline.
DEADLINE_WARNINGS = (300, 60)
#: The longest appeal comment, as the API's schema says.
APPEAL_MAX = 2000


def loaded(schema: Schema, data: Mapping[str, Any], location: str = "form") -> dict[str, Any]:
    """``data`` loaded by the API's own schema; its errors as the API's 422."""
    try:
        result: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        fields = ", ".join(sorted(str(name) for name in exc.messages_dict))
        raise ApiError(
            422, f"The form has invalid fields: {fields}.", {location: exc.messages}
        ) from exc
    return result


# -- dashboard --------------------------------------------------------------------------------


def learner_mastery_chart(learner_id: str, topics: set[str] | None = None) -> Chart:
    """The learner's mastery per topic over time, from their learning log (cards whose
    grades the learner may not see yet left out, as the due list leaves them out)."""
    state = services()
    hidden = withheld_cards(state, learner_id)
    log = [
        LoggedReview(row.learner_id, row.card_id, row.topic, row.attempt_id, row.review())
        for row in state.store.learning_log(learner_id)
        if row.card_id not in hidden and (topics is None or row.topic in topics)
    ]
    titles = {topic.topic: topic.title for topic in bank_topics(state.bank)}
    return mastery_chart(mastery_history(log, titles), chart_id="mastery-chart")


def open_exams(learner_id: str) -> list[dict[str, Any]]:
    """Instructors' exams the learner may take, with their own attempt in progress."""
    store = services().store
    exams, _ = store.list_exams(
        owner_learner_id=learner_id, include_shared=True, offset=0, limit=50
    )
    mine = store.list_attempts(learner_id=learner_id)
    in_progress = {a.exam_id: a.id for a in mine if a.status == "in_progress"}
    used: dict[str, int] = {}
    for attempt in mine:
        used[attempt.exam_id] = used.get(attempt.exam_id, 0) + 1
    return [
        {
            "exam": exam,
            "resume": in_progress.get(exam.id),
            "attempts_used": used.get(exam.id, 0),
            "questions": len(exam.questions),
        }
        for exam in exams
        if exam.owner_learner_id is None
    ][:EXAMS_SHOWN]


@pages.get("/dashboard")
@learner_required
def dashboard() -> str:
    learner_id = current_learner_id()
    state = services()
    due = api_call_get(LearnerDue, DueQuerySchema(), learner_id)
    progress = api_call_get(LearnerProgress, DeckQuerySchema(), learner_id)
    in_progress = [
        attempt
        for attempt in state.store.list_attempts(learner_id=learner_id)
        if attempt.status == "in_progress"
    ]
    titles = {}
    for attempt in in_progress:
        exam = state.store.get_exam(attempt.exam_id)
        assert exam is not None  # attempts reference exams by foreign key
        titles[attempt.id] = exam.title
    return render_template(
        "app_dashboard.html",
        learner_id=learner_id,
        due=due,
        progress=progress,
        recent=list(reversed(progress["history"]))[:RECENT_RESULTS],
        in_progress=in_progress,
        in_progress_titles=titles,
        exams=open_exams(learner_id),
        mastery=learner_mastery_chart(learner_id),
        decks=list(state.bank.decks),
        sizes=PRACTICE_SIZES,
        minutes=PRACTICE_MINUTES,
    )


def api_call_get(resource: Any, query_schema: Schema, learner_id: str) -> dict[str, Any]:
    """A learner resource's GET with its query's defaults."""
    result: dict[str, Any] = api_call(resource, "get", query_schema.load({}), learner_id)
    return result


# -- starting exams -------------------------------------------------------------------------


@pages.post("/practice")
@learner_required
def practise() -> BaseResponse:
    """Build a personal practice exam (due cards first) and start it."""
    learner_id = current_learner_id()
    form = request.form
    size = _choice(form.get("questions", ""), PRACTICE_SIZES, "questions")
    minutes = _choice(form.get("minutes", ""), PRACTICE_MINUTES, "minutes")
    # Mostly multiple choice, some fill-in: quick to answer, graded without doubt.
    fill_in = size // 5
    body = loaded(
        PracticeCreateSchema(),
        {
            "title": "Practice",
            "deck": form.get("deck") or None,
            "counts": {"multiple_choice": size - fill_in, "fill_in": fill_in},
            "time_limit_seconds": minutes * 60,
        },
    )
    exam, _, _ = api_call(LearnerPractice, "post", body, learner_id)
    return _start(exam["id"])


def _choice(raw: str, allowed: tuple[int, ...], name: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value not in allowed:
        choices = ", ".join(str(choice) for choice in allowed)
        raise ApiError(422, f"Choose {name}: one of {choices}.", {"form": {name: [choices]}})
    return value


@pages.post("/exams/<string:exam_id>/start")
@learner_required
def start_exam(exam_id: str) -> BaseResponse:
    """Start an attempt at an exam (or resume the one in progress)."""
    return _start(exam_id)


def _start(exam_id: str) -> BaseResponse:
    attempt, _, _ = start_or_resume_attempt(exam_id)
    return redirect(url_for("app_learner.attempt", attempt_id=attempt.id), 303)


# -- the exam and its review ------------------------------------------------------------------


@pages.get("/attempts/<string:attempt_id>")
@learner_required
def attempt(attempt_id: str) -> str:
    """The timed exam while it runs; its review once graded."""
    found, exam = load_visible_attempt(attempt_id)
    if found.status == "graded":
        return _review(found, exam)
    view = attempt_view(found, exam)
    page_data = {
        "attempt_id": found.id,
        "deadline": view["deadline"].isoformat(),
        "accept_until": view["accept_until"].isoformat(),
        "server_time": view["server_time"].isoformat(),
        "save_url": url_for("app_learner.save", attempt_id=found.id, question_id="QID"),
        "submit_url": url_for("app_learner.submit", attempt_id=found.id),
        "page_url": url_for("app_learner.attempt", attempt_id=found.id),
        "csrf": csrf_token(),
        "csrf_header": CSRF_HEADER,
        "fetch_header": FETCH_HEADER,
        "warnings": list(DEADLINE_WARNINGS),
    }
    return render_template("app_exam.html", exam=exam, view=view, page_data=page_data)


def _review(found: Any, exam: Exam) -> str:
    result = result_view(found, exam, staff=False)
    topics = {question["topic"] for question in result["questions"]}
    window = timedelta(days=appeal_days(exam))
    return render_template(
        "app_review.html",
        exam=exam,
        result=result,
        appeals_open=services().clock() <= result["submitted_at"] + window,
        mastery=learner_mastery_chart(found.learner_id, topics),
        appealed=request.args.get("appealed"),
        appeal_max=APPEAL_MAX,
    )


@pages.put("/attempts/<string:attempt_id>/responses/<string:question_id>")
@learner_required
def save(attempt_id: str, question_id: str) -> BaseResponse:
    """Autosave one answer from the exam page (the API's autosave, last write wins)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(422, "Send a JSON object with an 'answer'.", {"json": {"answer": []}})
    saved = api_call(
        AttemptResponse, "put", loaded(AutosaveSchema(), body, "json"), attempt_id, question_id
    )
    return jsonify(
        {
            "question_id": saved["question_id"],
            "revision": saved["revision"],
            "answer": saved["answer"],
            "seconds_remaining": saved["seconds_remaining"],
        }
    )


@pages.post("/attempts/<string:attempt_id>/submit")
@learner_required
def submit(attempt_id: str) -> BaseResponse:
    api_call(AttemptSubmit, "post", attempt_id)
    return jsonify({"review_url": url_for("app_learner.attempt", attempt_id=attempt_id)})


@pages.post("/attempts/<string:attempt_id>/questions/<string:question_id>/appeal")
@learner_required
def appeal(attempt_id: str, question_id: str) -> BaseResponse:
    comment = request.form.get("comment", "").strip()
    if "\x00" in comment:
        raise ApiError(422, "The comment holds a NUL character.", {"form": {"comment": []}})
    body = loaded(AppealSchema(), {"comment": comment})
    api_call(QuestionAppeal, "post", body, attempt_id, question_id)
    target = url_for("app_learner.attempt", attempt_id=attempt_id, appealed=question_id)
    return redirect(f"{target}#question-{question_id}", 303)
