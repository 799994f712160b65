import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from blog import seed
from blog.models import Article
from tests.browser.conftest import screenshot


@pytest.mark.django_db(transaction=True)
def test_a_visitor_opens_the_home_page_and_follows_every_nav_link(
    page: Page, live_server: LiveServer
) -> None:
    seed.seed("tiny", 1)
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("See every query")
    expect(page.locator("#dataset")).to_contain_text("tiny")
    screenshot(page, "home")

    nav = page.get_by_role("navigation", name="Main")
    for label, heading in [
        ("Lessons", "Lessons"),
        ("Exercises", "Exercises"),
        ("Playground", "Playground"),
        ("Demo blog", "The demo blog"),
    ]:
        nav.get_by_role("link", name=label, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        expect(nav.get_by_role("link", name=label, exact=True)).to_have_attribute("aria-current", "page")
        screenshot(page, f"nav-{label.lower().replace(' ', '-')}")

    newest = Article.objects.published().newest_first().first()
    assert newest is not None
    page.get_by_role("link", name=newest.title).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(newest.title)
    screenshot(page, "blog-article")

    expect(nav.get_by_role("link", name="Instructor", exact=True)).to_have_count(0)  # staff only
    page.goto(f"{live_server.url}/instructor/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/instructor/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    screenshot(page, "instructor-login")


@pytest.mark.django_db(transaction=True)
def test_the_pages_read_well_on_a_phone(page: Page, live_server: LiveServer) -> None:
    seed.seed("tiny", 1)
    page.set_viewport_size({"width": 390, "height": 844})
    for name, path in [
        ("blog", "/blog/"),
        ("lesson", "/lessons/n-plus-one/"),
        ("exercise", "/exercises/article-tags/"),
    ]:
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        screenshot(page, f"{name}-phone")


@pytest.mark.django_db(transaction=True)
def test_a_lesson_can_be_run_from_the_keyboard_alone(page: Page, live_server: LiveServer) -> None:
    seed.seed("tiny", 1)
    page.goto(live_server.url + "/lessons/n-plus-one/")
    run_button = page.get_by_role("button", name="Run both").first
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Run both":
            break
    else:
        raise AssertionError("Run both is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".verdict").first).to_contain_text("queries")
    assert run_button.is_visible()
