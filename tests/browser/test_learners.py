"""A learner's journeys with an account, saved work, verdicts and panels, in real Chromium."""

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from blog import seed
from exercises import catalog
from lessons import loader
from sandbox import datasets
from sandbox.contract import DatasetRef
from tests.browser.conftest import screenshot
from tests.browser.test_journeys import type_code

PASSWORD = "a long and unusual pass phrase"
EXERCISE = catalog.get("article-authors")
# Elements whose content a learner must read whole: code, output, SQL.
READ_WHOLE = ".panel pre, .panel .highlight, .lesson .highlight, .panel .sql-list li, .verdict, .checks li"


def overflowing(page: Page) -> list[str]:
    """The elements (and the page) wider than the room they have: clipped or scrolled sideways."""
    return page.evaluate(
        """selector => {
            const wide = [...document.querySelectorAll(selector)]
                .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
                .map(e => e.className + ': ' + e.textContent.slice(0, 60));
            if (document.documentElement.scrollWidth > window.innerWidth + 1) wide.push('the page itself');
            return wide;
        }""",
        READ_WHOLE,
    )


@pytest.mark.django_db(transaction=True)
def test_sign_up_mid_exercise_keeps_progress_and_code(page: Page, live_server: LiveServer) -> None:
    seed.seed("tiny", 1)
    page.goto(live_server.url + EXERCISE.url)
    type_code(page, EXERCISE.solution)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".verdict")).to_contain_text("✔ Passed")
    expect(page.get_by_role("link", name=re.compile("^Next exercise"))).to_be_visible()
    expect(page.locator(".verdict")).to_be_focused()  # focus moves to what changed
    screenshot(page, "learner-pass-anonymous")

    page.locator("header.site").get_by_role("link", name="Sign up").click()
    page.get_by_label("Username").fill("ada")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    screenshot(page, "learner-sign-up")
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(live_server.url + EXERCISE.url)
    expect(page.locator("header.site")).to_contain_text("ada")
    expect(page.locator(".exercise .tick")).to_contain_text("passed")
    expect(page.locator("textarea#code")).to_have_value(EXERCISE.solution)

    page.reload()  # a reload opens the editor on the learner's code
    expect(page.locator("textarea#code")).to_have_value(EXERCISE.solution)
    page.goto(live_server.url + "/exercises/")
    expect(page.locator(f'tr[data-slug="{EXERCISE.slug}"] .tick')).to_be_visible()
    screenshot(page, "learner-index-after-sign-up")


@pytest.mark.django_db(transaction=True)
def test_typing_is_saved_and_reset_brings_the_starter_back(page: Page, live_server: LiveServer) -> None:
    seed.seed("tiny", 1)
    page.goto(live_server.url + EXERCISE.url)
    draft = "# my own attempt\nprint(Article.objects.count())\n"
    with page.expect_response(lambda r: r.url.endswith("/draft") and r.status == 204):
        type_code(page, draft)  # the autosave follows a second after the typing stops
    page.goto(live_server.url + "/lessons/")
    page.go_back()
    expect(page.locator("textarea#code")).to_have_value(draft)
    with page.expect_response(lambda r: r.url.endswith("/draft") and r.status == 204):
        page.get_by_role("button", name="Reset to starter").click()
    page.reload()
    expect(page.locator("textarea#code")).to_have_value(EXERCISE.starter)


@pytest.mark.django_db(transaction=True)
def test_a_wrong_answer_names_only_the_real_failure(page: Page, live_server: LiveServer) -> None:
    seed.seed("tiny", 1)
    page.goto(live_server.url + EXERCISE.url)
    type_code(page, EXERCISE.solution.replace(" | ", " / ", 1))
    page.get_by_role("button", name="Submit").click()

    def check(name: str) -> Locator:
        return page.locator(".checks li").filter(has=page.locator("strong", has_text=re.compile(f"^{name}$")))

    expect(check("output")).to_contain_text("✘ output failed")
    expect(check("hidden dataset")).to_contain_text("not judged")
    expect(page.locator(".checks")).not_to_contain_text("fixed text")
    expect(check("query budget")).to_contain_text("passed")
    expect(page.get_by_role("link", name="See the reference solution")).to_have_count(0)
    screenshot(page, "learner-wrong-answer")


@pytest.mark.django_db(transaction=True)
def test_the_instructor_sees_the_new_learner_in_the_class_view(page: Page, live_server: LiveServer) -> None:
    seed.seed("tiny", 1)
    User.objects.create_user("teacher", password=PASSWORD, is_staff=True)
    page.goto(live_server.url + "/accounts/signup/")
    page.get_by_label("Username").fill("bo")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.goto(live_server.url + EXERCISE.url)
    type_code(page, EXERCISE.solution)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".verdict")).to_contain_text("✔ Passed")
    page.locator("header.site").get_by_role("button", name="Sign out").click()

    page.goto(live_server.url + "/instructor/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/instructor/$"))
    page.get_by_label("Username").fill("teacher")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    learners = page.locator("#class table").nth(1)
    expect(learners.locator("tbody tr").first).to_contain_text("bo")
    expect(learners.locator("tbody tr").first.locator("td").nth(1)).to_have_text("1")
    screenshot(page, "instructor-class-view")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 375])
def test_panels_never_clip_code_output_or_sql(page: Page, live_server: LiveServer, width: int) -> None:
    seed.seed("small", 1)
    page.set_viewport_size({"width": width, "height": 900})
    for slug in ("n-plus-one", "fetch-modes"):
        lesson = loader.get(slug)
        page.goto(live_server.url + lesson.url)
        for comparison in list(lesson.comparisons.values())[:2]:
            section = page.locator(f"#compare-{comparison.id}")
            section.get_by_role("button", name="Run both").click()
            expect(section.locator(".query-count")).to_have_count(2)
        assert overflowing(page) == [], slug
        screenshot(page, f"panels-{slug}-{width}")
    page.goto(live_server.url + EXERCISE.url)
    type_code(page, EXERCISE.starter)
    page.get_by_role("button", name="Run").click()
    statements = page.locator("#outcome .sql-list")
    expect(statements).to_contain_text("similar statements, differing in id")
    expect(statements).not_to_contain_text("%s")
    assert overflowing(page) == []
    screenshot(page, f"panels-exercise-{width}")


def tab_until(page: Page, focused: str, what: str, *, tries: int) -> None:
    """Press Tab until the JavaScript condition ``focused`` holds; fail when ``what`` is out of reach."""
    for _ in range(tries):
        page.keyboard.press("Tab")
        if page.evaluate(focused):
            return
    pytest.fail(f"{what} cannot be reached with Tab")


@pytest.mark.django_db(transaction=True)
def test_a_keyboard_only_learner_runs_and_submits(page: Page, live_server: LiveServer) -> None:
    seed.seed("tiny", 1)
    page.goto(live_server.url + EXERCISE.url)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    # Into the editor by keyboard: Tab reaches it, Enter enters it.
    tab_until(page, "document.activeElement.classList.contains('ace_scroller')", "the editor", tries=30)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.classList.contains('ace_text-input')")
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(EXERCISE.solution)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#outcome .panel")).to_contain_text("as the database received them")
    # Inside, Tab indents; Escape leaves the editor, and Tab moves on.
    page.keyboard.press("Escape")
    tab_until(page, "document.activeElement.textContent.trim() === 'Submit'", "Submit", tries=10)
    page.keyboard.press("Enter")
    expect(page.locator(".verdict")).to_contain_text("✔ Passed")
    expect(page.locator(".verdict")).to_be_focused()
    screenshot(page, "keyboard-only-pass")


@pytest.mark.django_db(transaction=True)
def test_the_first_run_on_a_dataset_says_it_builds_it(
    page: Page, live_server: LiveServer, settings: Any, tmp_path: Path
) -> None:
    settings.DATASETS_DIR = tmp_path  # no dataset is built here yet
    seed.seed("tiny", 5)
    page.goto(live_server.url + "/lessons/n-plus-one/")
    form = page.locator("form.run-controls").first
    form.get_by_label("Dataset").select_option("large")
    assert form.evaluate("busyLabel") == "Building the large dataset for a first run"
    scale = page.locator("form.scale-controls").first
    assert scale.evaluate("busyLabel") == "Building the small, default and large datasets for a first run"
    datasets.ensure(DatasetRef("small", 5))
    page.reload()
    form.get_by_label("Dataset").select_option("small")
    assert form.evaluate("busyLabel").startswith("Running both")
