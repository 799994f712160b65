import re

import pytest
from django.contrib.auth.models import User
from django_tasks_db.management.commands.db_worker import Worker
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from blog import seed
from tests.browser.conftest import screenshot


@pytest.mark.django_db(transaction=True)
def test_an_instructor_resets_to_small_and_a_lesson_shows_the_new_counts(
    page: Page, live_server: LiveServer, task_worker: Worker, django_user_model: type[User]
) -> None:
    seed.seed("tiny", 1)
    django_user_model.objects.create_user("teacher", password="a-long-passphrase", is_staff=True)
    page.goto(live_server.url + "/instructor/")
    page.get_by_label("Username").fill("teacher")
    page.get_by_label("Password").fill("a-long-passphrase")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Instructor")
    screenshot(page, "instructor-dashboard")

    page.get_by_label("Size").select_option("small")
    page.get_by_label("Seed").fill("4")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#progress")).to_be_visible()
    screenshot(page, "instructor-progress")
    expect(page.locator("#audit")).to_contain_text("succeeded", timeout=120_000)
    expect(page.locator("#live-dataset")).to_contain_text("small")
    screenshot(page, "instructor-done")

    page.get_by_role("link", name="Lessons", exact=True).click()
    page.get_by_role("link", name=re.compile("N\\+1")).first.click()
    expect(page.locator("#live-dataset")).to_contain_text("200 articles")
    expect(page.locator("#live-dataset")).to_contain_text("1000 comments")
    screenshot(page, "instructor-lesson-new-counts")
