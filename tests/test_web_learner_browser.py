"""The learner's side of the web app (/app) in Debian's chromium, under the pages' own CSP:
signing in (API key, one-time link), practising, a timed exam whose connection drops and
whose page reloads, submitting, the review, an appeal, a keyboard-only exam, and the
deadline warning. axe-core checks every page (0 serious or critical violations) and each
page is saved as a screenshot at desktop and phone width in test-artifacts/web/."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from tests.conftest import FakeClock
from tests.web_support import (
    DESKTOP,
    PHONE,
    axe_serious,
    bearer_key,
    chromium,  # noqa: F401  (a fixture)
    new_page,
    overlapping_legend_entries,
    page_problems,
    screenshot,
    sign_in_link,
    sign_in_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.http, pytest.mark.model]

Headers = dict[str, str]
#: The narrowest width the pages must fit without scrolling sideways (WCAG 1.4.10).
NARROWEST = 320


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the pages do not depend on the database, and the browser is slow."""
    return f"sqlite:///{tmp_path / 'quizsvc.sqlite3'}"


@pytest.fixture
def app(fast_outbox_app: Flask) -> Flask:
    """Cookies without Secure: the test server speaks plain http."""
    return fast_outbox_app


#: What reaches past the right edge of a viewport this wide: the first such element (not
#: inside an SVG drawing) and its ancestors, each with its client and scroll widths.
WIDE_ELEMENTS = """width => {
    const wide = Array.from(document.querySelectorAll('body *')).find(
        e => e.getBoundingClientRect().right > width + 1
            && !(e.parentElement && e.parentElement.closest('svg')));
    const chain = [];
    for (let node = wide; node; node = node.parentElement) {
        chain.push(`${node.tagName}.${node.className} ${node.clientWidth}/${node.scrollWidth}`);
    }
    return chain.join(' < ');
}"""


def expect() -> Any:
    return pytest.importorskip("playwright.sync_api").expect


def check_page(page: Any, name: str) -> None:
    """axe-core finds nothing serious on the page; it fits 320 px without sideways
    scrolling; screenshots at desktop and phone width."""
    assert axe_serious(page) == [], name
    # Once the mastery chart's legend wrote long topic names over each other.
    assert overlapping_legend_entries(page) == [], name
    screenshot(page, f"{name}-desktop")
    page.set_viewport_size({"width": NARROWEST, "height": PHONE["height"]})
    overflow = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(WIDE_ELEMENTS, NARROWEST)
    assert overflow <= NARROWEST, f"{name} scrolls sideways at {NARROWEST} px: {wide}"
    page.set_viewport_size(PHONE)
    screenshot(page, f"{name}-375")
    page.set_viewport_size(DESKTOP)


def server_answers(live_url: str, attempt_id: str, learner: Headers) -> dict[str, Any]:
    """What the server has recorded for the attempt, by question id."""
    reply = requests.get(f"{live_url}/v1/attempts/{attempt_id}", headers=learner, timeout=30)
    assert reply.status_code == 200, reply.text
    return {qid: saved["answer"] for qid, saved in reply.json()["responses"].items()}


def answer_question(fieldset: Any, choice: int, text: str) -> Any:
    """Answer one question as a person would: the option at ``choice`` or ``text`` typed.
    Returns the answer the server should record."""
    kind = fieldset.get_attribute("data-type")
    if kind == "multiple_choice":
        option = fieldset.locator("input[type=radio]").nth(choice)
        option.check()
        return option.get_attribute("value")
    if kind == "multiple_response":
        boxes = fieldset.locator("input[type=checkbox]")
        for index in range(boxes.count()):
            if boxes.nth(index).is_checked():
                boxes.nth(index).uncheck()
        boxes.nth(choice).check()
        return [boxes.nth(choice).get_attribute("value")]
    box = fieldset.locator("input[type=text], textarea")
    box.fill(text)
    return text


def staff_exam(live_url: str, staff: Headers, title: str, **options: Any) -> dict[str, Any]:
    body = {
        "title": title,
        "counts": {"multiple_choice": 2, "fill_in": 1},
        "seed": 5,
        "time_limit_seconds": 900,
        **options,
    }
    reply = requests.post(f"{live_url}/v1/exams", json=body, headers=staff, timeout=120)
    assert reply.status_code == 201, reply.text
    exam: dict[str, Any] = reply.json()
    return exam


def test_sign_in_with_a_key_and_with_a_one_time_link(
    chromium: Any,  # noqa: F811
    live_url: str,
    make_key: Callable[..., Headers],
) -> None:
    page = new_page(chromium)
    problems = page_problems(page)
    page.goto(f"{live_url}/app/dashboard")
    page.wait_for_url(re.compile(r".*/app/sign-in\?next=/app/dashboard$"))
    check_page(page, "sign-in")
    page.get_by_label("API key").fill("qz_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect()(page.locator("#sign-in-error")).to_contain_text("not valid")
    check_page(page, "sign-in-error")
    page.get_by_label("API key").fill(bearer_key(make_key("learner", "kim")))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/app/dashboard$"))  # back where it was going
    assert page.locator("h1").inner_text() == "Your dashboard"
    page.get_by_role("button", name="Sign out").click()
    expect()(page.locator("#signed-out")).to_be_visible()
    page.goto(f"{live_url}/app/dashboard")
    page.wait_for_url(re.compile(r".*/app/sign-in.*"))

    link = sign_in_link(live_url, make_key("instructor"), "lou")
    other = new_page(chromium)
    problems += page_problems(other)
    other.goto(link)
    check_page(other, "sign-in-link")
    other.get_by_role("button", name="Sign in").click()
    other.wait_for_url(re.compile(r".*/app/dashboard$"))
    assert "lou" in other.locator(".who").inner_text()
    # The link worked once.
    third = new_page(chromium)
    third.goto(link)
    expect()(third.locator("#error-message")).to_contain_text("already used")
    check_page(third, "error")
    assert problems == []


def test_practise_offline_reload_submit_review_and_appeal(
    chromium: Any,  # noqa: F811
    live_url: str,
    make_key: Callable[..., Headers],
) -> None:
    learner = make_key("learner", "max")
    page = new_page(chromium)
    problems = page_problems(page)
    sign_in_page(page, live_url, bearer_key(learner))
    check_page(page, "dashboard-empty")

    page.get_by_label("Questions").select_option("5")
    page.get_by_role("button", name="Practise now").click()
    page.wait_for_url(re.compile(r".*/app/attempts/[0-9a-f]+$"))
    attempt_id = page.url.rsplit("/", 1)[-1]
    expect()(page.locator("#timer")).to_have_text(re.compile(r"^(20:00|19:5\d)$"))
    check_page(page, "exam")

    fieldsets = page.locator("fieldset.question")
    count = fieldsets.count()
    assert count == 5
    typed: dict[str, Any] = {}
    for index in range(count):
        fieldset = fieldsets.nth(index)
        typed[fieldset.get_attribute("data-question-id")] = answer_question(
            fieldset, 0, f"first answer {index}"
        )
    save_state = page.locator("#save-state")
    expect()(save_state).to_have_text("All answers saved.")
    assert server_answers(live_url, attempt_id, learner) == typed

    # The connection drops: what is typed meanwhile waits on the device, visibly.
    page.context.set_offline(True)
    for index in range(count):
        fieldset = fieldsets.nth(index)
        typed[fieldset.get_attribute("data-question-id")] = answer_question(
            fieldset, 1, f"typed offline {index}"
        )
    expect()(save_state).to_have_attribute("data-state", "offline")
    expect()(save_state).to_contain_text("kept on this device")
    assert server_answers(live_url, attempt_id, learner) != typed
    page.context.set_offline(False)
    expect()(save_state).to_have_text("All answers saved.")
    assert server_answers(live_url, attempt_id, learner) == typed

    # Saves fail again, and the page is reloaded before they get through: the answers
    # typed come back from the device's queue and reach the server once it answers again.
    page.route("**/responses/**", lambda route: route.abort())
    fill_in = page.locator("fieldset.question[data-type=fill_in]").first
    fill_in_id = fill_in.get_attribute("data-question-id")
    fill_in.locator("input").fill("typed before the reload")
    typed[fill_in_id] = "typed before the reload"
    expect()(save_state).to_have_attribute("data-state", "offline")
    page.reload()
    refilled = page.locator(f"#answer-{fill_in_id}")
    expect()(refilled).to_have_value("typed before the reload")
    assert server_answers(live_url, attempt_id, learner)[fill_in_id] != "typed before the reload"
    page.unroute("**/responses/**")
    expect()(save_state).to_have_text("All answers saved.", timeout=30_000)
    assert server_answers(live_url, attempt_id, learner) == typed

    # Reload mid-exam and resume: the server's record is what the page shows.
    page.reload()
    for question_id, answer in typed.items():
        fieldset = page.locator(f"fieldset[data-question-id='{question_id}']")
        if isinstance(answer, str) and fieldset.get_attribute("data-type") == "fill_in":
            expect()(fieldset.locator("input")).to_have_value(answer)
        else:
            expect()(fieldset.locator(f"input[value='{answer}']")).to_be_checked()

    # One question at a time, the learner's choice, kept across reloads.
    page.get_by_label("One question at a time").check()
    expect()(fieldsets.nth(1)).to_be_hidden()
    page.get_by_role("button", name="Next question").click()
    expect()(fieldsets.nth(1)).to_be_visible()
    expect()(fieldsets.nth(0)).to_be_hidden()
    check_page(page, "exam-one-at-a-time")
    page.reload()
    expect()(page.get_by_label("One question at a time")).to_be_checked()
    page.get_by_label("All questions on one page").check()

    page.get_by_role("button", name="Submit answers").click()
    page.wait_for_url(re.compile(rf".*/app/attempts/{attempt_id}$"))
    expect()(page.locator("h1")).to_have_text(re.compile(r"^Review: "))
    verdicts = page.locator("[data-verdict]")
    expect()(verdicts).to_have_count(5)
    check_page(page, "review")

    # Appeal one question.
    first = page.locator("article.reviewed").first
    first.locator("summary").click()
    first.get_by_label("Why should this answer be graded differently?").fill(
        "My answer means the same as the key."
    )
    first.get_by_role("button", name="Send appeal").click()
    expect()(page.locator("#appeal-sent")).to_be_visible()
    appealed = page.locator("article.reviewed").first
    expect()(appealed.locator(".review-status")).to_contain_text("(your appeal)")
    expect()(appealed.locator("summary")).to_have_count(0)  # once per question
    check_page(page, "review-appealed")

    page.goto(f"{live_url}/app/dashboard")
    expect()(page.locator("#recent-results tbody tr")).to_have_count(1)
    check_page(page, "dashboard")
    assert problems == []


def tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    pytest.fail(f"Tab never reached {selector}")


def test_keyboard_only_exam(
    chromium: Any,  # noqa: F811
    live_url: str,
    make_key: Callable[..., Headers],
) -> None:
    """Sign in, start an instructor's exam, answer, submit and read the review with the
    keyboard alone."""
    exam = staff_exam(live_url, make_key("instructor"), "Keyboard exam")
    learner = make_key("learner", "kay")
    page = new_page(chromium)
    problems = page_problems(page)
    page.goto(f"{live_url}/app/sign-in")
    tab_to(page, "#api-key")
    page.keyboard.type(bearer_key(learner))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/app/dashboard$"))

    tab_to(page, f"form[action$='/exams/{exam['id']}/start'] button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/app/attempts/[0-9a-f]+$"))
    attempt_id = page.url.rsplit("/", 1)[-1]
    typed: dict[str, Any] = {}
    for fieldset in page.locator("fieldset.question").all():
        question_id = fieldset.get_attribute("data-question-id")
        if fieldset.get_attribute("data-type") == "multiple_choice":
            tab_to(page, f"fieldset[data-question-id='{question_id}'] input")
            page.keyboard.press("ArrowDown")  # moves to and checks the second option
            typed[question_id] = page.evaluate("document.activeElement.value")
        else:
            tab_to(page, f"#answer-{question_id}")
            page.keyboard.type("keyboard answer")
            typed[question_id] = "keyboard answer"
    expect()(page.locator("#save-state")).to_have_text("All answers saved.")
    assert server_answers(live_url, attempt_id, learner) == typed

    # One question at a time shows the question last worked on (the third); Alt+Page Up
    # and Alt+Page Down move between questions and take the focus along.
    tab_to(page, "#mode-switch input[value=all]")
    page.keyboard.press("ArrowDown")
    fieldsets = page.locator("fieldset.question")
    expect()(fieldsets.nth(2)).to_be_visible()
    expect()(fieldsets.nth(1)).to_be_hidden()
    page.keyboard.press("Alt+PageUp")
    expect()(fieldsets.nth(1)).to_be_visible()
    expect()(fieldsets.nth(2)).to_be_hidden()
    assert page.evaluate("document.activeElement.getAttribute('data-question-id')") == (
        fieldsets.nth(1).get_attribute("data-question-id")
    )
    page.keyboard.press("Alt+PageDown")
    expect()(fieldsets.nth(2)).to_be_visible()

    tab_to(page, "#submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-verdict]")
    assert page.locator("h1").inner_text() == "Review: Keyboard exam"
    assert problems == []


def test_deadline_warning_and_timer_announcements(
    chromium: Any,  # noqa: F811
    live_url: str,
    make_key: Callable[..., Headers],
    clock: FakeClock,
) -> None:
    exam = staff_exam(live_url, make_key("instructor"), "Short exam", time_limit_seconds=400)
    learner = make_key("learner", "ned")
    start = requests.post(f"{live_url}/v1/exams/{exam['id']}/attempts", headers=learner)
    assert start.status_code == 201
    clock.advance(120)  # 280 s left: under the five-minute warning
    page = new_page(chromium)
    sign_in_page(page, live_url, bearer_key(learner))
    page.goto(f"{live_url}/app/attempts/{start.json()['id']}")
    warning = page.locator("#deadline-warning")
    expect()(warning).to_contain_text("less than 5 minutes left")
    expect()(page.locator("#timer-announce")).to_have_text("less than 5 minutes left.")
    expect()(page.locator("#timer")).to_have_text(re.compile(r"^4:[0-5]\d$"))
    check_page(page, "exam-deadline-warning")


def test_an_answer_after_the_deadline_says_so_and_the_page_turns_to_the_review(
    chromium: Any,  # noqa: F811
    live_url: str,
    make_key: Callable[..., Headers],
    clock: FakeClock,
) -> None:
    exam = staff_exam(live_url, make_key("instructor"), "Timed out", grace_seconds=0)
    learner = make_key("learner", "oli")
    page = new_page(chromium)
    problems = page_problems(page)
    sign_in_page(page, live_url, bearer_key(learner))
    page.locator(f"form[action$='/exams/{exam['id']}/start'] button").click()
    page.wait_for_url(re.compile(r".*/app/attempts/[0-9a-f]+$"))
    first = page.locator("fieldset.question").first
    answer_question(first, 0, "in time")
    expect()(page.locator("#save-state")).to_have_text("All answers saved.")
    clock.advance(901)  # the server's time is up; the page's countdown has not seen it yet
    answer_question(first, 1, "too late")
    expect()(page.locator("#save-state")).to_contain_text("Not saved: Time is up")
    expect()(page.locator("h1")).to_have_text("Review: Timed out", timeout=20_000)
    expect()(page.locator("#summary")).to_be_visible()
    assert problems == []
