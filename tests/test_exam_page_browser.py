"""The LTI pages in a real browser (Debian chromium driven by Playwright), under their own
Content-Security-Policy: Playwright does not bypass it, so a script, style or form the policy
refuses fails here as it would for a learner, and Chromium reports it on the console."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask

from quizsvc.cli import main as cli
from quizsvc.config import PROJECT_ROOT
from quizsvc.lms import lti
from tests.lti_platform import INSTRUCTOR_ROLE, Platform
from tests.web_support import WAIT_MS, chromium, new_page, page_problems

pytestmark = [pytest.mark.browser, pytest.mark.http, pytest.mark.model]

__all__ = ["chromium"]  # a fixture, imported by name

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
Headers = dict[str, str]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the page does not depend on the database, and the browser is slow."""
    return f"sqlite:///{tmp_path / 'quizsvc.sqlite3'}"


@pytest.fixture
def app(fast_outbox_app: Flask) -> Flask:
    return fast_outbox_app


@pytest.fixture
def browser_page(chromium: Any) -> Any:
    # The CSP is enforced (no bypass_csp): the waits below use locators, which need no eval
    # in the page, not wait_for_function, which the policy would refuse.
    return new_page(chromium, {"width": 1000, "height": 1400})


def register_platform(platform: Platform, live_url: str, database_url: str, admin: Headers) -> None:
    env = {"QUIZSVC_DATABASE_URL": database_url}
    assert CliRunner().invoke(cli, ["lti", "keys", "rotate"], env=env).exit_code == 0
    assert (
        requests.post(
            f"{live_url}/v1/lti/registrations", json=platform.registration(), headers=admin
        ).status_code
        == 201
    )
    platform.tool_launch_url = f"{live_url}/lti/launch"
    platform.tool_jwks_url = f"{live_url}/lti/jwks"


def login_url(live_url: str, platform: Platform) -> str:
    return f"{live_url}/lti/login?" + urllib.parse.urlencode(
        {
            "iss": platform.issuer,
            "login_hint": platform.user,
            "target_link_uri": platform.tool_launch_url,
            "client_id": platform.client_id,
        }
    )


def assert_csp_enforced(page: Any, problems: list[str]) -> None:
    """An inline script, as an injected one would be, does not run and is reported: the
    policy is really in force, and a violation would have been seen."""
    ran = page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.inlineRan = true";
            document.body.appendChild(script);
            return window.inlineRan === true;
        }"""
    )
    assert ran is False
    page.wait_for_timeout(200)  # the console message is delivered asynchronously
    assert any("Content Security Policy" in problem for problem in problems), problems


def test_exam_page_countdown_autosave_reload_submit_and_review(
    browser_page: Any,
    live_url: str,
    platform: Platform,
    database_url: str,
    make_key: Callable[..., Headers],
) -> None:
    page = browser_page
    expect = pytest.importorskip("playwright.sync_api").expect
    problems = page_problems(page)
    staff = make_key("instructor")
    register_platform(platform, live_url, database_url, make_key("admin"))
    exam = requests.post(
        f"{live_url}/v1/exams",
        json={
            "title": "Browser drill",
            "counts": {
                "multiple_choice": 1,
                "multiple_response": 1,
                "fill_in": 1,
                "free_answer": 1,
            },
            "seed": 8,
            "time_limit_seconds": 900,
        },
        headers=staff,
    ).json()
    platform.custom = {"exam_id": exam["id"]}

    page.goto(login_url(live_url, platform))
    page.wait_for_url(re.compile(r".*/lti/attempts/[0-9a-f]+$"))
    assert page.locator("h1").inner_text() == "Browser drill"
    # The script (a file of the tool's) runs: it counts down from the server's deadline.
    countdown = page.locator("#countdown")
    expect(countdown).to_have_text(re.compile(r"^(15:00|14:5\d)$"), timeout=WAIT_MS)
    first_reading = countdown.inner_text()
    expect(countdown).not_to_have_text(first_reading, timeout=WAIT_MS)
    # And the style sheet (a file too) applies.
    assert countdown.evaluate("e => getComputedStyle(e).fontWeight") == "600"

    attempt_id = page.url.rsplit("/", 1)[-1]
    # The page shows the attempt's own ids; an instructor reads the key in them.
    keys = {
        key["question_id"]: key
        for key in requests.get(
            f"{live_url}/v1/attempts/{attempt_id}?include=key", headers=staff, timeout=30
        ).json()["key"]
    }
    expected: dict[str, Any] = {}
    for fieldset in page.locator("fieldset.question").all():
        question_id = fieldset.get_attribute("data-question-id")
        kind = fieldset.get_attribute("data-type")
        key = keys[question_id]
        if kind == "multiple_choice":
            fieldset.locator(f"input[value='{key['correct_option_ids'][0]}']").check()
            expected[question_id] = key["correct_option_ids"][0]
        elif kind == "multiple_response":
            for option_id in key["correct_option_ids"]:
                fieldset.locator(f"input[value='{option_id}']").check()
            expected[question_id] = sorted(key["correct_option_ids"])
        elif kind == "fill_in":
            fieldset.locator("input[type=text]").fill(key["accept"][0])
            fieldset.locator("input[type=text]").press("Tab")
            expected[question_id] = key["accept"][0]
        else:
            fieldset.locator("textarea").fill(key["answer"])
            fieldset.locator("textarea").press("Tab")
            expected[question_id] = key["answer"]
    assert set(expected) == set(keys), "every question type is on the page"
    expect(page.locator("fieldset.question [data-save-state]")).to_have_text(
        ["Saved"] * len(keys), timeout=WAIT_MS
    )
    expect(page.locator("#save-status")).to_have_text("All answers saved.", timeout=WAIT_MS)

    page.reload()
    for fieldset in page.locator("fieldset.question").all():
        question_id = fieldset.get_attribute("data-question-id")
        kind = fieldset.get_attribute("data-type")
        if kind in ("multiple_choice", "multiple_response"):
            checked = fieldset.locator("input:checked")
            values = sorted(checked.nth(i).get_attribute("value") for i in range(checked.count()))
            wanted = expected[question_id]
            assert values == (wanted if isinstance(wanted, list) else [wanted])
        else:
            box = fieldset.locator("input[type=text], textarea")
            assert box.input_value() == expected[question_id]

    page.locator("#submit").click()
    page.wait_for_selector("#summary")
    assert page.locator("h1").inner_text() == "Review: Browser drill"
    summary = page.locator("#summary").inner_text()
    assert summary.startswith("Score ")
    verdicts = page.locator("fieldset.reviewed legend span").all_inner_texts()
    assert len(verdicts) == 4
    assert verdicts.count("correct") >= 3
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "exam-review.png"), full_page=True)
    assert (ARTIFACTS / "exam-review.png").stat().st_size > 10_000
    # Countdown, autosave, reload, submit and review ran with nothing refused by the CSP.
    assert problems == []
    assert_csp_enforced(page, problems)


def test_deep_linking_autopost_reaches_the_lms_under_the_csp(
    browser_page: Any,
    live_url: str,
    platform: Platform,
    database_url: str,
    make_key: Callable[..., Headers],
) -> None:
    """The picker's form and the auto-posting return to the LMS: form-action lets them post to
    the tool and to the LMS's return URL, and the autopost script is a file of the tool's."""
    page = browser_page
    problems = page_problems(page)
    register_platform(platform, live_url, database_url, make_key("admin"))
    exam = requests.post(
        f"{live_url}/v1/exams",
        json={"title": "Linked drill", "counts": {"fill_in": 1}, "seed": 5},
        headers=make_key("instructor"),
    ).json()
    platform.message_type = lti.DEEP_LINKING_REQUEST
    platform.roles = [INSTRUCTOR_ROLE]

    page.goto(login_url(live_url, platform))
    page.locator(f"input[name=exam_id][value='{exam['id']}']").check()
    page.get_by_role("button", name="Add to course").click()
    page.wait_for_url(f"{platform.url}/deep-link-return")
    assert page.locator("p").inner_text() == "Linked."
    (token,) = platform.deep_link_returns
    assert token.count(".") == 2, "a signed JWT reached the LMS"
    assert problems == []
