"""A Django developer brings their own schema: two models, fake rows, an N+1 on their relation, the fix, a link."""

import re

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from blog import seed
from tests.browser.conftest import ARTIFACTS, screenshot
from tests.browser.test_journeys import type_code
from tests.exercises.test_own_models_pages import MODELS  # Shelf, and Book pointing at Shelf and Author

LOOP = """\
fill(Shelf, 5)
fill(Book, 200)
for book in Book.objects.order_by("id")[:15]:
    print(book.title[:20], "|", book.shelf.label[:12])
"""
FIXED = LOOP.replace('Book.objects.order_by("id")', 'Book.objects.select_related("shelf").order_by("id")')


@pytest.mark.django_db(transaction=True)
def test_own_models_their_n_plus_one_the_fix_and_a_shared_link(page: Page, live_server: LiveServer) -> None:
    seed.seed("tiny", 1)
    page.goto(live_server.url + "/playground/")
    type_code(page, MODELS, editor="models")
    type_code(page, LOOP)
    page.get_by_role("button", name="Run", exact=True).click()
    panel = page.locator("#outcome .panel")
    expect(panel.locator(".findings")).to_contain_text("N+1")
    expect(panel.locator(".findings")).to_contain_text("shelf")
    expect(panel).to_contain_text("your models' tables, not counted")
    diagram = page.locator("#outcome svg.erd")
    expect(diagram).to_be_visible()
    expect(diagram.locator("text.name")).to_have_text(["Shelf", "Book", "Author"])
    loop_count = int(panel.locator(".query-count").inner_text())
    screenshot(page, "own-models-n-plus-one")
    diagram.screenshot(path=str(ARTIFACTS / "own-models-diagram.png"))

    type_code(page, FIXED)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(panel.locator(".query-count")).not_to_have_text(str(loop_count))
    expect(panel.locator(".findings")).to_have_count(0)
    assert int(panel.locator(".query-count").inner_text()) == loop_count - 15
    screenshot(page, "own-models-fixed")

    page.get_by_role("button", name="Share").click()
    expect(page).to_have_url(re.compile(r"/s/[\w-]+/$"))
    expect(page.locator("main")).to_contain_text("class Shelf(models.Model):")
    expect(page.locator("svg.erd")).to_be_visible()
    screenshot(page, "own-models-shared")
    page.get_by_role("link", name="Fork into playground").click()
    expect(page.locator("textarea#models")).to_have_value(MODELS)
    expect(page.locator("textarea#code")).to_have_value(FIXED)


@pytest.mark.django_db(transaction=True)
def test_the_blog_diagram_on_the_home_page(page: Page, live_server: LiveServer) -> None:
    seed.seed("tiny", 1)
    page.goto(live_server.url + "/")
    diagram = page.locator("svg.erd")
    expect(diagram).to_be_visible()
    expect(diagram.locator("text.name")).to_have_count(5)
    diagram.screenshot(path=str(ARTIFACTS / "blog-diagram.png"))
    for width in (1280, 375):  # the diagram scrolls inside its figure; the page never sideways
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
