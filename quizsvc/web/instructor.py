"""The instructor's pages (``/app/staff``): exams, results, the review queue, item statistics
and their charts, accommodations.

Every view is for instructors and admins only (``staff_required``: a learner gets the 403
page). The numbers come from the same code the JSON API uses: a review is resolved by the
API's own view (``api_call``), so its audit row, recomputed totals, learning-loop update,
LMS score and webhooks are exactly those of ``POST /v1/reviews/{id}/resolve``; results and
their CSV come from ``quizsvc.api.exams``; statistics from ``quizsvc.statistics``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from quizsvc.api.accommodations import (
    AccommodationInputSchema,
    ExamAccommodations,
    LearnerAccommodation,
)
from quizsvc.api.errors import ApiError
from quizsvc.api.exams import exam_result_rows, load_visible_exam, results_csv
from quizsvc.api.pagination import MAX_PAGE_SIZE
from quizsvc.api.reviews import ResolveSchema, ReviewResolve, review_view
from quizsvc.api.services import services
from quizsvc.api.statistics import exam_response_matrix
from quizsvc.learning import bank_topics
from quizsvc.statistics import exam_statistics, exam_statistics_csv
from quizsvc.store import Exam
from quizsvc.web.charts import (
    FLAG_LABELS,
    Chart,
    LoggedReview,
    item_map_chart,
    mastery_chart,
    mastery_history,
    question_labels,
    score_distribution_chart,
)
from quizsvc.web.core import URL_PREFIX, api_call, page_blueprint, staff_required

pages = page_blueprint("app_instructor", __name__, url_prefix=URL_PREFIX + "/staff")

#: Exams on one page of the list.
EXAMS_PER_PAGE = 25
#: Exams read per query while listing (the list filters out learners' practice exams).
EXAM_BATCH = 200
#: Reviews on one page of the queue.
REVIEWS_PER_PAGE = 20
#: The group mastery chart replays at most this many learners' logs (one query each).
MASTERY_LEARNERS = 200
REVIEW_STATUSES = ("pending", "resolved", "all")


# -- exams ------------------------------------------------------------------------------------


def _all_exams(include_personal: bool) -> list[Exam]:
    store = services().store
    found: list[Exam] = []
    offset = 0
    while True:
        batch, total = store.list_exams(None, True, offset, EXAM_BATCH)
        found.extend(exam for exam in batch if include_personal or exam.owner_learner_id is None)
        offset += EXAM_BATCH
        if not batch or offset >= total:
            return found


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@pages.get("/", endpoint="home")
@pages.get("/exams")
@staff_required
def exams() -> str:
    """Every exam, newest first; learners' practice exams only when asked for."""
    include_personal = request.args.get("personal") == "1"
    listed = _all_exams(include_personal)
    page = _page_number()
    shown = listed[(page - 1) * EXAMS_PER_PAGE : page * EXAMS_PER_PAGE]
    store = services().store
    rows = [
        {
            "exam": exam,
            "pending_reviews": store.list_reviews(exam.id, "pending", 0, 1)[1],
            # A count, not the attempts: an exam may have thousands.
            "attempts": store.page_attempts(exam.id, 0, 1)[1],
        }
        for exam in shown
    ]
    return render_template(
        "app_staff_exams.html",
        rows=rows,
        total=len(listed),
        page=page,
        pages=max(1, -(-len(listed) // EXAMS_PER_PAGE)),
        include_personal=include_personal,
    )


# -- results ----------------------------------------------------------------------------------

#: Sortable columns of the results table: the query's name -> the row's field.
RESULT_SORTS: Mapping[str, str] = {
    "learner": "learner_id",
    "status": "status",
    "started": "started_at",
    "submitted": "submitted_at",
    "score": "percent",
    "passed": "passed",
}


def sort_rows(
    rows: Sequence[Mapping[str, Any]], field: str, descending: bool
) -> list[Mapping[str, Any]]:
    """Rows by one field; rows without a value (an attempt in progress has no score) last
    in either direction."""
    present = [row for row in rows if row.get(field) is not None]
    missing = [row for row in rows if row.get(field) is None]
    present.sort(key=lambda row: row[field], reverse=descending)
    return [*present, *missing]


@pages.get("/exams/<string:exam_id>/results")
@staff_required
def results(exam_id: str) -> str:
    """Every attempt at the exam in a table sorted by the server (``sort``, ``dir``); the
    page's script re-sorts it in place without a reload."""
    exam = load_visible_exam(exam_id)
    rows = exam_result_rows(exam)
    sort = request.args.get("sort", "started")
    if sort not in RESULT_SORTS:
        sort = "started"
    direction = "desc" if request.args.get("dir") == "desc" else "asc"
    ordered = sort_rows(rows, RESULT_SORTS[sort], direction == "desc")
    return render_template(
        "app_staff_results.html",
        exam=exam,
        rows=ordered,
        sort=sort,
        direction=direction,
        sorts=RESULT_SORTS,
    )


@pages.get("/exams/<string:exam_id>/results.csv")
@staff_required
def results_download(exam_id: str) -> BaseResponse:
    """The API's CSV export of every attempt (``GET /v1/exams/{id}/results`` as text/csv)."""
    exam = load_visible_exam(exam_id)
    response = results_csv(exam)
    response.headers["Content-Disposition"] = f'attachment; filename="results-{exam.id}.csv"'
    return response


# -- item statistics and charts -------------------------------------------------------------


def group_mastery_chart(exam: Exam, learner_ids: Sequence[str]) -> Chart:
    """Mastery over time of the exam's cards, over the learning logs of those who took it."""
    state = services()
    cards = {question["key"].get("card_id") for question in exam.questions}
    log = [
        LoggedReview(row.learner_id, row.card_id, row.topic, row.attempt_id, row.review())
        for learner_id in learner_ids[:MASTERY_LEARNERS]
        for row in state.store.learning_log(learner_id)
        if row.card_id in cards
    ]
    titles = {topic.topic: topic.title for topic in bank_topics(state.bank, exam.deck)}
    who = f"{len(learner_ids)} learner{'s' if len(learner_ids) != 1 else ''} who took this exam"
    return mastery_chart(mastery_history(log, titles), chart_id="mastery-chart", who=who)


@pages.get("/exams/<string:exam_id>/statistics")
@staff_required
def statistics(exam_id: str) -> str:
    """Item statistics with their flags, and the three charts with their tables."""
    exam = load_visible_exam(exam_id)
    store = services().store
    found = exam_statistics(exam_response_matrix(store, exam), exam.id)
    graded = [
        attempt
        for attempt in store.list_attempts(exam_id=exam.id)
        if attempt.status == "graded" and attempt.result
    ]
    percents = [float((attempt.result or {}).get("percent") or 0.0) for attempt in graded]
    learner_ids = list(dict.fromkeys(attempt.learner_id for attempt in reversed(graded)))
    prompts = {
        question["key"]["question_id"]: question["key"].get("prompt", "")
        for question in exam.questions
    }
    flagged = [item for item in found.items if item.flags]
    return render_template(
        "app_staff_statistics.html",
        exam=exam,
        statistics=found,
        labels=question_labels(found.items),
        prompts=prompts,
        flagged=flagged,
        flag_labels=FLAG_LABELS,
        flag_counts={
            flag: sum(1 for item in found.items if flag in item.flags) for flag in FLAG_LABELS
        },
        item_map=item_map_chart(found.items),
        scores=score_distribution_chart(percents, exam.pass_mark),
        mastery=group_mastery_chart(exam, learner_ids),
    )


@pages.get("/exams/<string:exam_id>/statistics.csv")
@staff_required
def statistics_download(exam_id: str) -> BaseResponse:
    exam = load_visible_exam(exam_id)
    found = exam_statistics(exam_response_matrix(services().store, exam), exam.id)
    response = BaseResponse(exam_statistics_csv(found), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="statistics-{exam.id}.csv"'
    return response


# -- the review queue -----------------------------------------------------------------------


def _queue(
    status: str, exam_id: str | None, page: int
) -> tuple[list[dict[str, Any]], int, dict[str, Exam]]:
    state = services()
    rows, total = state.store.list_reviews(
        exam_id,
        None if status == "all" else status,
        (page - 1) * REVIEWS_PER_PAGE,
        REVIEWS_PER_PAGE,
    )
    exams: dict[str, Exam] = {}
    views = []
    for row in rows:
        if row.exam_id not in exams:
            exam = state.store.get_exam(row.exam_id)
            if exam is not None:
                exams[row.exam_id] = exam
        views.append(
            review_view(row, state.store.get_attempt(row.attempt_id), exams.get(row.exam_id))
        )
    return views, total, exams


def _queue_filters() -> tuple[str, str | None]:
    status = request.args.get("status", "pending")
    if status not in REVIEW_STATUSES:
        status = "pending"
    return status, request.args.get("exam_id") or None


def _render_queue(
    status: str,
    exam_id: str | None,
    errors: Mapping[str, Any] | None = None,
    code: int = 200,
) -> tuple[str, int]:
    page = _page_number()
    reviews, total, exams = _queue(status, exam_id, page)
    html = render_template(
        "app_staff_reviews.html",
        reviews=reviews,
        total=total,
        exams=exams,
        status=status,
        exam_id=exam_id,
        statuses=REVIEW_STATUSES,
        page=page,
        pages=max(1, -(-total // REVIEWS_PER_PAGE)),
        saved=request.args.get("saved"),
        errors=errors or {},
        format_answer=format_answer,
    )
    return html, code


@pages.get("/reviews")
@staff_required
def reviews() -> tuple[str, int]:
    """The review queue, oldest first, with a grade form on each pending review."""
    status, exam_id = _queue_filters()
    return _render_queue(status, exam_id)


@pages.post("/reviews/<string:review_id>/resolve")
@staff_required
def resolve(review_id: str) -> BaseResponse | tuple[str, int]:
    """Settle a review from the queue: keep the automatic grade, or set a score (and a
    verdict that fits it) with a comment the learner reads."""
    form = request.form
    keep = form.get("action") == "keep"
    body = {
        "score": None if keep or not form.get("score", "").strip() else form["score"].strip(),
        "verdict": None if keep or not form.get("verdict") else form["verdict"],
        "comment": form.get("comment", "").strip() or None,
    }
    status, exam_id = _queue_filters()
    problems: dict[str, Any] = {}
    if not keep and body["score"] is None:
        problems = {"score": ["Enter a score from 0 to 1, or keep the automatic grade."]}
    else:
        try:
            loaded = ResolveSchema().load(body)
            api_call(ReviewResolve, "post", loaded, review_id)
        except ValidationError as error:
            problems = dict(error.messages_dict)
        except ApiError as error:
            if error.code == 404:
                raise
            fields = (error.errors or {}).get("json") if isinstance(error.errors, dict) else None
            problems = dict(fields) if fields else {"form": [error.description or "Not saved."]}
    if problems:
        return _render_queue(
            status,
            exam_id,
            errors={"review_id": review_id, "fields": problems, "form": form},
            code=422,
        )
    target = url_for(
        "app_instructor.reviews",
        status=status,
        exam_id=exam_id,
        saved=review_id,
        page=_page_number(),
    )
    return redirect(f"{target}#saved", 303)


def format_answer(answer: Any) -> str:
    """A learner's answer in words: text as written, a choice by its option ids."""
    if answer is None or answer == "" or answer == []:
        return "(no answer)"
    if isinstance(answer, list):
        return ", ".join(str(part) for part in answer)
    return str(answer)


def when(moment: datetime | None) -> str:
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


@pages.app_template_filter("staff_when")
def staff_when(moment: datetime | None) -> str:
    return when(moment)


# -- accommodations -------------------------------------------------------------------------

#: The accommodation form's number fields, in the order the form shows them.
ACCOMMODATION_NUMBERS = (
    "extra_minutes",
    "time_multiplier",
    "extra_attempts",
    "close_extension_minutes",
)


def _accommodations(exam: Exam) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        found = api_call(
            ExamAccommodations, "get", {"page": page, "page_size": MAX_PAGE_SIZE}, exam.id
        )
        rows.extend(found["items"])
        if page * MAX_PAGE_SIZE >= found["total"]:
            return rows
        page += 1


def _render_accommodations(
    exam: Exam,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
    code: int = 200,
) -> tuple[str, int]:
    rows = _accommodations(exam)
    editing = request.args.get("learner_id")
    values: Mapping[str, Any] = form or next(
        (row for row in rows if row["learner_id"] == editing), {}
    )
    html = render_template(
        "app_staff_accommodations.html",
        exam=exam,
        rows=rows,
        values={
            key: "" if values.get(key) is None else str(values.get(key))
            for key in ("learner_id", *ACCOMMODATION_NUMBERS, "note")
        },
        errors=errors or {},
        saved=request.args.get("saved"),
        removed=request.args.get("removed"),
    )
    return html, code


@pages.get("/exams/<string:exam_id>/accommodations")
@staff_required
def accommodations(exam_id: str) -> tuple[str, int]:
    """Each learner's extra time, extra attempts and later close at this exam, and a form
    to give or change one (``?learner_id=`` fills it with theirs)."""
    return _render_accommodations(load_visible_exam(exam_id))


@pages.post("/exams/<string:exam_id>/accommodations")
@staff_required
def accommodation_save(exam_id: str) -> BaseResponse | tuple[str, int]:
    """Give or replace a learner's accommodation through the API's own view (``PUT
    /v1/exams/{id}/accommodations/{learner_id}``): an attempt in progress gets its new
    deadline at once and the change is recorded."""
    exam = load_visible_exam(exam_id)
    form = request.form
    learner_id = form.get("learner_id", "").strip()
    body = {
        key: form.get(key, "").strip()
        for key in (*ACCOMMODATION_NUMBERS, "note")
        if form.get(key, "").strip()
    }
    problems: dict[str, list[str]] = {}
    loaded: dict[str, Any] = {}
    if not learner_id:
        problems["learner_id"] = ["Enter the learner's id."]
    try:
        loaded = AccommodationInputSchema().load(body)
    except ValidationError as error:
        problems.update(
            {
                key: [_in_words(message) for message in value]
                for key, value in error.messages_dict.items()
            }
        )
    if not problems:
        try:
            api_call(LearnerAccommodation, "put", loaded, exam.id, learner_id)
        except ApiError as error:
            if error.code != 404 or "learner" not in (error.description or "").lower():
                raise
            problems["learner_id"] = [error.description or "No such learner."]
    if problems:
        return _render_accommodations(exam, form, problems, 422)
    target = url_for("app_instructor.accommodations", exam_id=exam.id, saved=learner_id)
    return redirect(target, 303)


def _in_words(message: str) -> str:
    """The API's message with its field names as the form labels them."""
    return message.replace("extra_minutes", "extra minutes").replace(
        "time_multiplier", "a time multiplier"
    )


@pages.post("/exams/<string:exam_id>/accommodations/<string:learner_id>/remove")
@staff_required
def accommodation_remove(exam_id: str, learner_id: str) -> BaseResponse:
    """Remove a learner's accommodation (``DELETE``): the exam's own rules apply again."""
    exam = load_visible_exam(exam_id)
    api_call(LearnerAccommodation, "delete", exam.id, learner_id)
    target = url_for("app_instructor.accommodations", exam_id=exam.id, removed=learner_id)
    return redirect(target, 303)
