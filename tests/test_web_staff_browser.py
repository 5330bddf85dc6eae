"""The instructor pages in Debian's chromium (Playwright), under their own CSP: an override
from the review queue reaches the learner, the results table sorts (with and without its
script) and downloads as CSV, the statistics page shows its flags and charts; axe-core finds
no serious or critical violation on any staff page at desktop and phone width, and each page
is photographed into test-artifacts/web/ (staff-*.png)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from tests.test_web_staff import LEARNERS, WRONG_FREE_ANSWER, Seeded, seed_exam
from tests.web_support import (
    DESKTOP,
    PHONE,
    axe_serious,
    bearer_key,
    chromium,
    new_page,
    overlapping_legend_entries,
    page_problems,
    screenshot,
    sign_in_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.http, pytest.mark.model]

__all__ = ["chromium"]  # a fixture, imported by name

Headers = dict[str, str]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the pages are tested on both databases in test_web_staff.py, and the
    browser is slow."""
    return f"sqlite:///{tmp_path / 'quizsvc.sqlite3'}"


@pytest.fixture
def app(fast_outbox_app: Flask) -> Flask:
    return fast_outbox_app


@pytest.fixture
def seeded(app: Flask, make_key: Callable[..., Headers]) -> Seeded:
    return seed_exam(app.test_client(), make_key)


@pytest.fixture
def staff_page(chromium: Any, live_url: str, seeded: Seeded) -> Iterator[Callable[..., Any]]:
    """``staff_page(viewport)``: a page signed in as the seeded exam's instructor, with
    CSP violations and script errors collected in ``page.problems``."""
    opened: list[Any] = []

    def make(viewport: dict[str, int] | None = None, javascript: bool = True) -> Any:
        context = chromium.new_context(viewport=viewport or DESKTOP, java_script_enabled=javascript)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.problems = page_problems(page)
        sign_in_page(page, live_url, bearer_key(seeded.staff))
        opened.append(context)
        return page

    yield make
    for context in opened:
        context.close()


def learner_result(live_url: str, seeded: Seeded, learner_id: str) -> dict[str, Any]:
    reply = requests.get(
        f"{live_url}/v1/attempts/{seeded.attempts[learner_id]}/result",
        headers=seeded.learners[learner_id],
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def free_answer(result: dict[str, Any]) -> dict[str, Any]:
    return next(question for question in result["questions"] if question["type"] == "free_answer")


def test_instructor_overrides_a_grade_from_the_queue_and_the_learner_sees_it(
    staff_page: Callable[..., Any], chromium: Any, live_url: str, seeded: Seeded
) -> None:
    before = learner_result(live_url, seeded, "learner-1")
    assert free_answer(before)["score"] < 1
    page = staff_page()
    page.get_by_role("link", name="Review queue").click()
    page.wait_for_url(re.compile(r".*/app/staff/reviews.*"))
    card = page.locator("article.review-card").filter(has_text="learner learner-1")
    card.get_by_text(WRONG_FREE_ANSWER).wait_for()
    card.get_by_label("Score (0 to 1)").fill("1")
    card.get_by_label("Comment for the learner (optional)").fill("Accepted on review.")
    card.get_by_role("button", name="Save this grade").click()
    page.get_by_role("status").get_by_text("Grade saved.").wait_for()
    assert page.locator("article.review-card").filter(has_text="learner learner-1").count() == 0
    assert page.problems == []

    after = learner_result(live_url, seeded, "learner-1")
    assert free_answer(after)["score"] == 1.0
    assert free_answer(after)["verdict"] == "correct"
    assert free_answer(after)["review"]["comment"] == "Accepted on review."
    assert after["score"] == pytest.approx(before["score"] - free_answer(before)["score"] + 1)

    # The learner's own review page shows the new grade and the instructor's comment.
    learner = new_page(chromium, DESKTOP)
    sign_in_page(learner, live_url, bearer_key(seeded.learners["learner-1"]))
    learner.goto(f"{live_url}/app/attempts/{seeded.attempts['learner-1']}")
    learner.get_by_text("Reviewed by an instructor: Accepted on review.").wait_for()
    assert learner.locator("#summary").inner_text() == f"{after['percent']:.0f}%"
    assert f"{before['percent']:.0f}%" != f"{after['percent']:.0f}%"


def shown_scores(page: Any) -> list[str]:
    return page.locator("#results-table tbody tr td:nth-child(5)").evaluate_all(
        "cells => cells.map(cell => cell.dataset.value)"
    )


def api_percents(live_url: str, seeded: Seeded) -> list[float]:
    reply = requests.get(
        f"{live_url}/v1/exams/{seeded.exam['id']}/results",
        headers={**seeded.staff, "Accept": "text/csv"},
        timeout=30,
    )
    return sorted(float(row["percent"]) for row in csv.DictReader(io.StringIO(reply.text)))


def test_results_table_sorts_with_and_without_script_and_downloads_csv(
    staff_page: Callable[..., Any], live_url: str, seeded: Seeded
) -> None:
    percents = api_percents(live_url, seeded)
    assert len(set(percents)) > 2
    page = staff_page()
    page.goto(f"{live_url}/app/staff/exams/{seeded.exam['id']}/results")
    score = page.get_by_role("columnheader", name="Score")
    page.get_by_role("link", name="Score").click()
    # Sorted in place by the script: the address names the order, the heading says it.
    page.wait_for_url(re.compile(r".*sort=score&dir=asc.*"))
    assert score.get_attribute("aria-sort") == "ascending"
    assert [float(value) for value in shown_scores(page)] == percents
    page.get_by_role("link", name="Score").click()
    page.wait_for_url(re.compile(r".*sort=score&dir=desc.*"))
    assert score.get_attribute("aria-sort") == "descending"
    assert [float(value) for value in shown_scores(page)] == percents[::-1]
    # A reload shows the same order, now from the server.
    page.reload()
    assert [float(value) for value in shown_scores(page)] == percents[::-1]

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    downloaded = Path(download.path()).read_text(encoding="utf-8")
    api_csv = requests.get(
        f"{live_url}/v1/exams/{seeded.exam['id']}/results",
        headers={**seeded.staff, "Accept": "text/csv"},
        timeout=30,
    ).text
    assert downloaded == api_csv
    assert download.suggested_filename == f"results-{seeded.exam['id']}.csv"
    assert page.problems == []

    # Without JavaScript the headings are links the server sorts by.
    plain = staff_page(javascript=False)
    plain.goto(f"{live_url}/app/staff/exams/{seeded.exam['id']}/results")
    plain.get_by_role("link", name="Score").click()
    plain.wait_for_url(re.compile(r".*sort=score&dir=asc.*"))
    plain.get_by_role("link", name="Score").click()
    plain.wait_for_url(re.compile(r".*sort=score&dir=desc.*"))
    assert [float(value) for value in shown_scores(plain)] == percents[::-1]


def test_statistics_page_shows_flags_and_charts(
    staff_page: Callable[..., Any], live_url: str, seeded: Seeded
) -> None:
    page = staff_page()
    page.goto(f"{live_url}/app/staff/exams")
    page.get_by_role("link", name=f"Statistics of {seeded.exam['title']}").click()
    page.get_by_role("heading", name=f"Item statistics: {seeded.exam['title']}").wait_for()
    summary = page.locator("#flag-summary")
    assert re.search(r"⚑ \d+ of 5 questions flagged", summary.inner_text())
    assert "too easy" in summary.inner_text()
    for name in (
        "Item map: facility against discrimination",
        "Score distribution",
        "Mastery per topic over time",
    ):
        chart = page.get_by_role("img", name=re.compile(re.escape(name)))
        assert chart.is_visible(), name
        box = chart.bounding_box()
        assert box is not None
        assert box["width"] > 300
        assert box["height"] > 150
    # Each chart's table opens from its summary.
    page.get_by_text("Score distribution as a table").click()
    table = page.locator("#score-chart-caption + details table")
    counts = table.locator("tbody td:nth-child(2)").all_inner_texts()
    assert sum(int(count) for count in counts) == LEARNERS
    assert page.locator("#items-table tr.flagged").count() >= 1
    assert page.problems == []


def staff_pages(live_url: str, seeded: Seeded) -> dict[str, str]:
    exam_id = seeded.exam["id"]
    return {
        "exams": f"{live_url}/app/staff/exams",
        "results": f"{live_url}/app/staff/exams/{exam_id}/results",
        "statistics": f"{live_url}/app/staff/exams/{exam_id}/statistics",
        "reviews": f"{live_url}/app/staff/reviews",
        "accommodations": f"{live_url}/app/staff/exams/{exam_id}/accommodations",
    }


@pytest.mark.parametrize("width", ["desktop", "375"])
def test_every_staff_page_passes_axe_and_is_photographed(
    staff_page: Callable[..., Any], live_url: str, seeded: Seeded, width: str
) -> None:
    given = requests.put(
        f"{live_url}/v1/exams/{seeded.exam['id']}/accommodations/learner-2",
        json={"extra_minutes": 15, "note": "Support plan"},
        headers=seeded.staff,
        timeout=30,
    )
    assert given.status_code in (200, 201), given.text
    page = staff_page(DESKTOP if width == "desktop" else PHONE)
    found: dict[str, list[str]] = {}
    for name, url in staff_pages(live_url, seeded).items():
        page.goto(url)
        page.get_by_role("heading", level=1).wait_for()
        if name == "statistics":
            for summary in page.locator("details > summary").all()[:3]:
                summary.click()  # the chart tables, open, are checked and photographed too
        screenshot(page, f"staff-{name}-{width}")
        found[name] = axe_serious(page)
        assert overlapping_legend_entries(page) == [], name
        # Nothing wider than the screen but what scrolls inside its own box (wide tables).
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= page.viewport_size["width"], (name, overflow)
    # A form with an error, as a screen reader meets it.
    page.goto(staff_pages(live_url, seeded)["reviews"])
    first = page.locator("article.review-card").first
    first.get_by_label("Score (0 to 1)").fill("")
    first.get_by_role("button", name="Save this grade").click()
    page.get_by_role("alert").first.wait_for()
    found["reviews-error"] = axe_serious(page)
    screenshot(page, f"staff-reviews-error-{width}")
    page.goto(staff_pages(live_url, seeded)["accommodations"])
    page.get_by_label("Learner id").fill("learner-4")
    page.get_by_label("Extra minutes").fill("10")
    page.get_by_label("Time multiplier").fill("1.5")
    page.get_by_role("button", name="Save accommodation").click()
    page.get_by_role("alert").first.wait_for()
    found["accommodations-error"] = axe_serious(page)
    screenshot(page, f"staff-accommodations-error-{width}")
    assert page.problems == []
    assert found == {name: [] for name in found}


@pytest.mark.parametrize("width", ["desktop", "375"])
def test_learner_gets_the_403_page(
    chromium: Any, live_url: str, seeded: Seeded, width: str
) -> None:
    page = new_page(chromium, DESKTOP if width == "desktop" else PHONE)
    sign_in_page(page, live_url, bearer_key(seeded.learners["learner-2"]))
    for url in staff_pages(live_url, seeded).values():
        response = page.goto(url)
        assert response is not None
        assert response.status == 403, url
        page.get_by_text("This page is not for your role.").wait_for()
        assert "learner-1" not in page.content()
    assert axe_serious(page) == []
    screenshot(page, f"staff-forbidden-learner-{width}")
