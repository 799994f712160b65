import json
import re

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from blog import seed
from exercises import catalog
from lessons import loader
from tests.browser.conftest import ARTIFACTS, screenshot


def type_code(page: Page, code: str, editor: str = "code") -> None:
    """Replace an editor's content as a learner would: select all, then type (paste) the code."""
    page.locator(f"textarea#{editor} + .code-editor").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(code)
    expect(page.locator(f"textarea#{editor}")).to_have_value(code)


@pytest.mark.django_db(transaction=True)
def test_a_learner_runs_a_lesson_comparison_and_sees_the_same_counts_as_the_api(
    page: Page, live_server: LiveServer
) -> None:
    seed.seed("small", 1)
    for lesson in loader.all_lessons()[:3]:
        page.goto(live_server.url + lesson.url)
        expect(page.get_by_role("heading", level=1)).to_have_text(lesson.title)
    lesson = loader.all_lessons()[0]
    comparison = next(iter(lesson.comparisons.values()))
    page.goto(live_server.url + lesson.url)
    section = page.locator(f"#compare-{comparison.id}")
    section.get_by_role("button", name="Run both").click()
    verdict = section.locator(".verdict")
    expect(verdict).to_contain_text("queries")
    counts = section.locator(".query-count")
    expect(counts).to_have_count(2)
    shown = [int(c) for c in counts.all_inner_texts()]
    screenshot(page, "lesson-comparison")

    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for block, count in zip(comparison.variants, shown, strict=True):
        response = page.request.post(
            live_server.url + "/api/run",
            data=json.dumps({"code": block.code}),
            headers={"X-CSRFToken": token, "Content-Type": "application/json"},
        )
        assert response.ok
        assert response.json()["query_count"] == count
    assert shown[1] < shown[0]

    section.get_by_label("Simulated latency").select_option("5")
    section.get_by_label("Dataset").select_option("default")
    section.get_by_role("button", name="Run both").click()
    expect(section.locator(".stats")).to_contain_text(["simulated network"])
    expect(section.locator(".panel-head").first).to_contain_text("Dataset default")
    screenshot(page, "lesson-latency")

    section.get_by_role("button", name="Scale it").click()
    charts = section.locator(".chart svg")
    expect(charts).to_have_count(2, timeout=120_000)
    expect(section.locator(".chart figcaption").first).to_contain_text("→")
    screenshot(page, "lesson-scale-it")
    section.locator(".charts").screenshot(path=str(ARTIFACTS / "lesson-scale-it-charts.png"))


@pytest.mark.django_db(transaction=True)
def test_a_learner_fails_with_n_plus_one_then_passes_and_shares(page: Page, live_server: LiveServer) -> None:
    seed.seed("tiny", 1)
    exercise = catalog.get("article-authors")
    page.goto(live_server.url + exercise.url)
    # Each editor line is tall enough for the glyphs below the baseline: "select_related" keeps its "_".
    line = page.locator(".code-editor .ace_line").first
    expect(line).to_be_visible()
    line_px, font_px = line.evaluate(
        "e => [e.getBoundingClientRect().height, parseFloat(getComputedStyle(e).fontSize)]"
    )
    assert line_px >= 1.3 * font_px, (line_px, font_px)
    type_code(page, exercise.starter)
    page.keyboard.press("Control+Enter")  # Run: the query panel only
    expect(page.locator("#outcome .panel")).to_contain_text("statements")
    expect(page.locator(".verdict")).to_have_count(0)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".verdict")).to_contain_text("Not yet")
    expect(page.locator(".checks")).to_contain_text(re.compile(r"line \d+ runs \d+ similar queries"))
    screenshot(page, "exercise-fail")

    type_code(page, exercise.solution)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".verdict")).to_contain_text("Passed")
    screenshot(page, "exercise-pass")

    page.goto(live_server.url + "/exercises/")
    expect(page.locator(f'tr[data-slug="{exercise.slug}"] .tick')).to_be_visible()
    screenshot(page, "exercise-index-tick")

    page.goto(live_server.url + "/playground/")
    type_code(page, exercise.solution)
    page.get_by_role("button", name="Share").click()
    expect(page).to_have_url(re.compile(r"/s/[\w-]+/$"))
    expect(page.get_by_role("link", name="Fork into playground")).to_be_visible()
    shared_url = page.url
    page.goto(shared_url)
    expect(page.locator(".panel")).to_contain_text("queries")
    screenshot(page, "shared-snippet")
