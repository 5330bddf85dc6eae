"""The LTI exam page in a real browser (Debian chromium driven by Playwright)."""

from __future__ import annotations

import re
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask

from quizsvc.cli import main as cli
from quizsvc.config import PROJECT_ROOT
from tests.lti_platform import Platform

pytestmark = [pytest.mark.browser, pytest.mark.http, pytest.mark.model]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
Headers = dict[str, str]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the page does not depend on the database, and the browser is slow."""
    return f"sqlite:///{tmp_path / 'quizsvc.sqlite3'}"


@pytest.fixture
def app(fast_outbox_app: Flask) -> Flask:
    return fast_outbox_app


@pytest.fixture
def browser_page() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # bypass_csp lets Playwright evaluate its wait predicates; the page itself runs
            # under its CSP, which allows no eval.
            page = browser.new_page(viewport={"width": 1000, "height": 1400}, bypass_csp=True)
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()


def test_exam_page_countdown_autosave_reload_submit_and_review(
    browser_page: Any,
    live_url: str,
    platform: Platform,
    database_url: str,
    make_key: Callable[..., Headers],
) -> None:
    page = browser_page
    env = {"QUIZSVC_DATABASE_URL": database_url}
    assert CliRunner().invoke(cli, ["lti", "keys", "rotate"], env=env).exit_code == 0
    admin, staff = make_key("admin"), make_key("instructor")
    assert (
        requests.post(
            f"{live_url}/v1/lti/registrations", json=platform.registration(), headers=admin
        ).status_code
        == 201
    )
    platform.tool_launch_url = f"{live_url}/lti/launch"
    platform.tool_jwks_url = f"{live_url}/lti/jwks"
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
    keys = {key["question_id"]: key for key in exam["key"]}
    platform.custom = {"exam_id": exam["id"]}

    login = f"{live_url}/lti/login?" + urllib.parse.urlencode(
        {
            "iss": platform.issuer,
            "login_hint": platform.user,
            "target_link_uri": platform.tool_launch_url,
            "client_id": platform.client_id,
        }
    )
    page.goto(login)
    page.wait_for_url(re.compile(r".*/lti/attempts/[0-9a-f]+$"))
    assert page.locator("h1").inner_text() == "Browser drill"
    countdown = page.locator("#countdown")
    page.wait_for_function(
        "/^(15:00|14:5\\d)$/.test(document.getElementById('countdown').textContent)"
    )
    first_reading = countdown.inner_text()
    page.wait_for_function(
        f"document.getElementById('countdown').textContent !== {first_reading!r}"
    )

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
    all_saved = (
        "Array.from(document.querySelectorAll('fieldset.question [data-save-state]'))"
        ".every(e => e.textContent === 'Saved') && "
        "document.getElementById('save-status').textContent === 'All answers saved.'"
    )
    page.wait_for_function(all_saved)

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
