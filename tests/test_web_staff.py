"""The instructor pages (/app/staff) through the Flask test client, on SQLite and PostgreSQL:
staff only, results sorted by the server and downloaded as the API's CSV, the review queue's
override form (CSRF-checked, validated, and the learner's result follows), and the
statistics page with its flags and charts. The grader is the real model.

``seed_exam`` is shared with the browser tests (tests/test_web_staff_browser.py)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from defusedxml import ElementTree
from flask.testing import FlaskClient

from tests.web_support import bearer_key, csrf_from, sign_in_client

pytestmark = pytest.mark.model

Headers = dict[str, str]

BLUEPRINT = {
    "title": "Metrics check",
    "topics": ["metrics"],
    "counts": {"multiple_choice": 3, "fill_in": 1, "free_answer": 1},
    "seed": 7,
    "pass_mark": 60,
    # Every free answer the grader is not certain of (confidence below 1) joins the queue.
    "review_below": 1.0,
}
LEARNERS = 6
WRONG_FREE_ANSWER = "I do not know, something about databases"


@dataclass
class Seeded:
    """An instructor's exam taken by several learners with different strengths."""

    exam: dict[str, Any]
    staff: Headers
    learners: dict[str, Headers] = field(default_factory=dict)
    attempts: dict[str, str] = field(default_factory=dict)
    #: The attempt's public id of the free-answer question, per learner.
    free_question: dict[str, str] = field(default_factory=dict)


def seed_exam(client: FlaskClient, make_key: Callable[..., Headers]) -> Seeded:
    """Learner i answers the first i - 1 choice questions right (so the stronger learners
    score more), every fill-in right (a question everyone gets: flagged too easy), and the
    free answer with the reference on even i (each free answer queued for review)."""
    staff = make_key("instructor")
    reply = client.post("/v1/exams", json=BLUEPRINT, headers=staff)
    assert reply.status_code == 201, reply.get_json()
    seeded = Seeded(exam=reply.get_json(), staff=staff)
    for number in range(1, LEARNERS + 1):
        learner_id = f"learner-{number}"
        headers = make_key("learner", learner_id)
        seeded.learners[learner_id] = headers
        attempt = client.post(f"/v1/exams/{seeded.exam['id']}/attempts", headers=headers)
        assert attempt.status_code == 201, attempt.get_json()
        attempt_id = attempt.get_json()["id"]
        seeded.attempts[learner_id] = attempt_id
        keys = client.get(f"/v1/attempts/{attempt_id}?include=key", headers=staff).get_json()
        choices = 0
        for key in keys["key"]:
            if key["type"] == "multiple_choice":
                right = key["correct_option_ids"][0]
                wrong = next(option["id"] for option in key["options"] if option["id"] != right)
                answer: Any = right if choices < number - 1 else wrong
                choices += 1
            elif key["type"] == "fill_in":
                answer = key["accept"][0]
            else:
                seeded.free_question[learner_id] = key["question_id"]
                answer = key["answer"] if number % 2 == 0 else WRONG_FREE_ANSWER
            saved = client.put(
                f"/v1/attempts/{attempt_id}/responses/{key['question_id']}",
                json={"answer": answer},
                headers=headers,
            )
            assert saved.status_code == 200, saved.get_json()
        graded = client.post(f"/v1/attempts/{attempt_id}/submit", headers=headers)
        assert graded.status_code == 200, graded.get_json()
    return seeded


@pytest.fixture
def seeded(client: FlaskClient, make_key: Callable[..., Headers]) -> Seeded:
    return seed_exam(client, make_key)


def staff_client(client: FlaskClient, seeded: Seeded) -> str:
    return sign_in_client(client, bearer_key(seeded.staff))


def result_of(client: FlaskClient, seeded: Seeded, learner_id: str) -> dict[str, Any]:
    reply = client.get(
        f"/v1/attempts/{seeded.attempts[learner_id]}/result",
        headers=seeded.learners[learner_id],
    )
    assert reply.status_code == 200, reply.get_json()
    body: dict[str, Any] = reply.get_json()
    return body


def test_learner_gets_the_403_page_and_nobody_signed_in_is_sent_to_sign_in(
    client: FlaskClient, seeded: Seeded
) -> None:
    exam_id = seeded.exam["id"]
    paths = [
        "/app/staff/exams",
        f"/app/staff/exams/{exam_id}/results",
        f"/app/staff/exams/{exam_id}/results.csv",
        f"/app/staff/exams/{exam_id}/statistics",
        "/app/staff/reviews",
    ]
    for path in paths:
        anonymous = client.get(path)
        assert anonymous.status_code == 303, path
        assert "/app/sign-in?next=" in anonymous.headers["Location"]
    sign_in_client(client, bearer_key(seeded.learners["learner-1"]))
    for path in paths:
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "This page is not for your role." in refused.text
        assert "learner-2" not in refused.text


def test_exams_list_links_each_exam_and_counts_its_reviews(
    client: FlaskClient, seeded: Seeded
) -> None:
    staff_client(client, seeded)
    page = client.get("/app/staff/exams")
    assert client.get("/app/staff/").text == page.text
    assert page.status_code == 200
    assert "Metrics check" in page.text
    assert f"/app/staff/exams/{seeded.exam['id']}/statistics" in page.text
    row = re.search(r"<tr>\s*<th scope=\"row\">.*?</tr>", page.text, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num" data-label="[^"]*">(.*?)</td>', row.group(0), re.S)
    # Questions, time limit, graded attempts, pending reviews (a link to the queue).
    assert cells[0] == "5"
    assert cells[2] == str(LEARNERS)  # attempts
    assert f">{LEARNERS}<span" in cells[3]
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")


def score_column(html: str) -> list[str]:
    table = html.split('id="results-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td class="num" data-label="Score" data-value="([^"]*)"', table)


def test_results_table_is_sorted_by_the_server_and_the_csv_is_the_apis(
    client: FlaskClient, seeded: Seeded
) -> None:
    staff_client(client, seeded)
    exam_id = seeded.exam["id"]
    api_csv = client.get(
        f"/v1/exams/{exam_id}/results", headers={**seeded.staff, "Accept": "text/csv"}
    )
    expected = list(csv.DictReader(io.StringIO(api_csv.text)))
    percents = sorted(float(row["percent"]) for row in expected)
    assert len(set(percents)) > 2  # the learners' scores differ, so an order shows

    ascending = client.get(f"/app/staff/exams/{exam_id}/results?sort=score&dir=asc")
    assert [float(value) for value in score_column(ascending.text)] == percents
    assert 'data-key="score" class="num" aria-sort="ascending"' in ascending.text
    descending = client.get(f"/app/staff/exams/{exam_id}/results?sort=score&dir=desc")
    assert [float(value) for value in score_column(descending.text)] == percents[::-1]
    # An unknown column falls back to the start time instead of failing.
    assert client.get(f"/app/staff/exams/{exam_id}/results?sort=nope").status_code == 200

    download = client.get(f"/app/staff/exams/{exam_id}/results.csv")
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.text == api_csv.text
    assert len(expected) == LEARNERS


def test_override_from_the_queue_changes_the_learners_grade(
    client: FlaskClient, seeded: Seeded
) -> None:
    staff_client(client, seeded)
    queue = client.get(f"/app/staff/reviews?exam_id={seeded.exam['id']}")
    assert queue.status_code == 200
    reviews = client.get(
        f"/v1/reviews?exam_id={seeded.exam['id']}", headers=seeded.staff
    ).get_json()["items"]
    assert len(reviews) == LEARNERS
    review = next(item for item in reviews if item["learner_id"] == "learner-1")
    assert f'id="review-{review["id"]}"' in queue.text
    assert WRONG_FREE_ANSWER in queue.text
    before = result_of(client, seeded, "learner-1")
    free_before = next(q for q in before["questions"] if q["type"] == "free_answer")
    assert free_before["score"] < 1

    action = f"/app/staff/reviews/{review['id']}/resolve?exam_id={seeded.exam['id']}"
    form = {"score": "1", "verdict": "", "comment": "Fair enough, well argued.", "action": "set"}
    # Without the page's CSRF token the form is refused and nothing changes.
    refused = client.post(action, data=form)
    assert refused.status_code == 403
    assert result_of(client, seeded, "learner-1")["score"] == before["score"]
    # A verdict that does not fit the score is shown on the form, naming the field.
    token = csrf_from(queue.text)
    mismatch = client.post(action, data={**form, "verdict": "incorrect", "csrf_token": token})
    assert mismatch.status_code == 422
    assert f'id="score-{review["id"]}"' in mismatch.text
    assert 'aria-invalid="true" aria-describedby="verdict-' in mismatch.text
    assert "does not fit a score of 1" in mismatch.text
    # A score outside 0..1 too.
    too_big = client.post(action, data={**form, "score": "3", "csrf_token": token})
    assert too_big.status_code == 422
    assert f'id="score-{review["id"]}-error"' in too_big.text

    saved = client.post(action, data={**form, "csrf_token": token})
    assert saved.status_code == 303
    assert f"saved={review['id']}" in saved.headers["Location"]
    after = result_of(client, seeded, "learner-1")
    free_after = next(q for q in after["questions"] if q["type"] == "free_answer")
    assert free_after["score"] == 1.0
    assert free_after["verdict"] == "correct"
    assert after["score"] == pytest.approx(before["score"] - free_before["score"] + 1.0)
    # The audit trail names the change; the queue no longer lists the review as pending.
    changes = client.get(
        f"/v1/attempts/{seeded.attempts['learner-1']}/grade-changes", headers=seeded.staff
    ).get_json()["items"]
    assert [change["comment"] for change in changes] == ["Fair enough, well argued."]
    pending = client.get(f"/app/staff/reviews?exam_id={seeded.exam['id']}")
    assert f'id="review-{review["id"]}"' not in pending.text
    resolved = client.get(f"/app/staff/reviews?exam_id={seeded.exam['id']}&status=resolved")
    assert f'id="review-{review["id"]}"' in resolved.text
    # Resolving it again is refused on the page, not a 500.
    again = client.post(action, data={**form, "csrf_token": token})
    assert again.status_code == 422
    assert "already resolved" in again.text


def test_keep_the_automatic_grade_settles_the_review_without_changing_it(
    client: FlaskClient, seeded: Seeded
) -> None:
    token = staff_client(client, seeded)
    review = client.get(
        f"/v1/reviews?exam_id={seeded.exam['id']}", headers=seeded.staff
    ).get_json()["items"][0]
    before = result_of(client, seeded, review["learner_id"])
    reply = client.post(
        f"/app/staff/reviews/{review['id']}/resolve",
        data={"score": "0.5", "action": "keep", "csrf_token": token},
    )
    assert reply.status_code == 303
    after = result_of(client, seeded, review["learner_id"])
    assert after["score"] == before["score"]
    assert after["grading_progress"] == "FullyGraded"


def test_statistics_page_shows_flags_charts_and_their_tables(
    client: FlaskClient, seeded: Seeded
) -> None:
    staff_client(client, seeded)
    exam_id = seeded.exam["id"]
    api = client.get(f"/v1/exams/{exam_id}/statistics", headers=seeded.staff).get_json()
    page = client.get(f"/app/staff/exams/{exam_id}/statistics")
    assert page.status_code == 200
    flagged = [item for item in api["items"] if item["flags"]]
    assert flagged, "everyone answered the fill-in right: it must be flagged too easy"
    assert f"⚑ {len(flagged)} of {api['questions']} questions flagged" in page.text
    assert "too easy (facility &gt; 0.9)" in page.text
    # The three charts, inline, with their tables.
    for chart_id in ("item-map", "score-chart", "mastery-chart"):
        svg = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', page.text, re.S)
        assert svg is not None, chart_id
        root = ElementTree.fromstring(svg.group(0))
        assert root.get("role") == "img"
        assert "<script" not in svg.group(0)
        assert f'aria-labelledby="{chart_id}-caption"' in page.text
    score_table = page.text.split('id="score-chart-caption"', 1)[1].split("</table>", 1)[0]
    counts = [
        int(value) for value in re.findall(r"<td>\d+–(?:&lt;)?\d+%</td><td>(\d+)</td>", score_table)
    ]
    assert sum(counts) == LEARNERS
    # The item table has a row per question, flags in words.
    for number, item in enumerate(api["items"], start=1):
        row = re.search(rf'<tr id="item-Q{number}"[^>]*>.*?</tr>', page.text, re.S)
        assert row is not None
        assert ('class="flagged"' in row.group(0)) == bool(item["flags"])
    download = client.get(f"/app/staff/exams/{exam_id}/statistics.csv")
    assert download.mimetype == "text/csv"
    assert (
        download.text
        == client.get(
            f"/v1/exams/{exam_id}/statistics", headers={**seeded.staff, "Accept": "text/csv"}
        ).text
    )


def test_accommodation_is_given_validated_changed_and_removed_from_the_page(
    client: FlaskClient, seeded: Seeded
) -> None:
    token = staff_client(client, seeded)
    exam_id = seeded.exam["id"]
    path = f"/app/staff/exams/{exam_id}/accommodations"
    page = client.get(path)
    assert page.status_code == 200
    assert 'id="no-accommodations"' in page.text

    both = client.post(
        path,
        data={
            "csrf_token": token,
            "learner_id": "learner-3",
            "extra_minutes": "15",
            "time_multiplier": "1.5",
        },
    )
    assert both.status_code == 422
    assert "Give extra minutes or a time multiplier, not both." in both.text
    assert 'id="time_multiplier-error"' in both.text
    assert 'value="15"' in both.text  # what was typed stays in the form
    unknown = client.post(
        path, data={"csrf_token": token, "learner_id": "nobody", "extra_minutes": "10"}
    )
    assert unknown.status_code == 422
    assert 'id="learner_id-error"' in unknown.text
    assert "No learner with id &#39;nobody&#39;" in unknown.text
    refused = client.post(path, data={"learner_id": "learner-3", "extra_minutes": "10"})
    assert refused.status_code == 403

    saved = client.post(
        path,
        data={
            "csrf_token": token,
            "learner_id": "learner-3",
            "time_multiplier": "1.5",
            "extra_attempts": "1",
            "note": "Extra time per the support plan",
        },
    )
    assert saved.status_code == 303
    api = client.get(
        f"/v1/exams/{exam_id}/accommodations/learner-3", headers=seeded.staff
    ).get_json()
    assert api["time_multiplier"] == 1.5
    assert api["extra_attempts"] == 1
    assert api["effective"]["time_limit_seconds"] == round(seeded.exam["time_limit_seconds"] * 1.5)
    listed = client.get(saved.headers["Location"])
    assert "Accommodation saved for learner-3." in listed.text
    row = re.search(r'<tr id="accommodation-learner-3">.*?</tr>', listed.text, re.S)
    assert row is not None
    assert "× 1.5" in row.group(0)
    assert f"{round(seeded.exam['time_limit_seconds'] * 1.5) // 60} min" in row.group(0)
    # "Change" fills the form with the learner's values.
    editing = client.get(f"{path}?learner_id=learner-3")
    assert 'id="time_multiplier" name="time_multiplier"' in editing.text
    assert re.search(r'id="time_multiplier"[^>]*value="1.5"', editing.text)

    removed = client.post(f"{path}/learner-3/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    gone = client.get(f"/v1/exams/{exam_id}/accommodations/learner-3", headers=seeded.staff)
    assert gone.status_code == 404
    history = client.get(
        f"/v1/exams/{exam_id}/accommodations/learner-3/history", headers=seeded.staff
    ).get_json()["items"]
    assert len(history) == 2


def test_pages_of_an_exam_nobody_has_taken_yet(
    client: FlaskClient, make_key: Callable[..., Headers]
) -> None:
    staff = make_key("instructor")
    exam = client.post("/v1/exams", json=BLUEPRINT, headers=staff).get_json()
    sign_in_client(client, bearer_key(staff))
    statistics = client.get(f"/app/staff/exams/{exam['id']}/statistics")
    assert statistics.status_code == 200
    assert "No graded attempts yet" in statistics.text
    assert statistics.text.count('<p class="muted">No data yet.</p>') == 2  # scores, mastery
    results = client.get(f"/app/staff/exams/{exam['id']}/results")
    assert results.status_code == 200
    assert "No attempts yet." in results.text
    csv_only_header = client.get(f"/app/staff/exams/{exam['id']}/results.csv").text
    assert csv_only_header.splitlines() == [csv_only_header.splitlines()[0]]
    queue = client.get("/app/staff/reviews")
    assert 'id="queue-empty"' in queue.text
    assert client.get("/app/staff/exams/nope/statistics").status_code == 404
