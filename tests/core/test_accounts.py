"""Learners' accounts, their saved work, and the reference solution's door, through real requests."""

import threading

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from django.test import Client, RequestFactory

from blog import seed
from exercises import catalog, progress
from exercises.grading import Grade
from exercises.models import Progress
from sandbox.contract import RunResult

PASSWORD = "a long and unusual pass phrase"
EXERCISE = catalog.get("article-authors")


@pytest.fixture
def seeded(db: None) -> None:
    seed.seed("tiny", 1)


def sign_up(client: Client, username: str = "ada", next_url: str = "") -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": username, "password1": PASSWORD, "password2": PASSWORD, "next": next_url},
    )
    assert response.status_code == 302, response.text


def detail(client: Client) -> dict[str, object]:
    response = client.get(f"/api/exercises/{EXERCISE.slug}")
    assert response.status_code == 200
    return response.json()


def test_sign_up_uses_djangos_password_validators(db: None, client: Client) -> None:
    weak = client.post(
        "/accounts/signup/", {"username": "bo", "password1": "password", "password2": "password"}
    )
    assert weak.status_code == 200
    assert "This password is too common." in weak.text
    assert not User.objects.exists()


def test_signing_up_signs_in_and_goes_back_where_the_learner_was(db: None, client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": "ada", "password1": PASSWORD, "password2": PASSWORD, "next": EXERCISE.url},
    )
    assert response.status_code == 302 and response["Location"] == EXERCISE.url
    page = client.get(EXERCISE.url).text
    assert "ada" in page and "Sign out" in page


def test_an_outside_next_url_is_ignored(db: None, client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": "ada", "password1": PASSWORD, "password2": PASSWORD, "next": "https://example.invalid/"},
    )
    assert response["Location"] == "/"


def test_logout_is_a_post_and_login_is_the_sites_own_page(db: None, client: Client) -> None:
    User.objects.create_user("ada", password=PASSWORD)
    login = client.get("/accounts/login/?next=/exercises/")
    assert login.status_code == 200 and "<h1>Sign in</h1>" in login.text and "QueryLab" in login.text
    signed_in = client.post(
        "/accounts/login/", {"username": "ada", "password": PASSWORD, "next": "/exercises/"}
    )
    assert signed_in["Location"] == "/exercises/"
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_the_admins_login_sends_to_the_one_login_page(db: None, client: Client) -> None:
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/admin/"


def test_a_draft_is_saved_and_the_editor_opens_with_it(seeded: None, client: Client) -> None:
    assert detail(client) == {**EXERCISE.public(), "draft": None, "passed": False}
    code = "# my attempt\nprint('hello')\n"
    assert client.post(f"{EXERCISE.url}draft", {"code": code}).status_code == 204
    assert detail(client)["draft"] == code
    page = client.get(EXERCISE.url).text
    assert "# my attempt" in page
    # Reset to starter sends the starter: the draft is cleared, and the page shows the starter.
    client.post(f"{EXERCISE.url}draft", {"code": EXERCISE.starter})
    assert detail(client)["draft"] is None


def test_a_run_saves_the_code_too(seeded: None, client: Client) -> None:
    code = "print(Author.objects.count())\n"
    assert client.post(f"{EXERCISE.url}run", {"code": code}).status_code == 200
    assert detail(client)["draft"] == code


def test_signing_up_mid_exercise_keeps_the_sessions_progress_and_draft(seeded: None, client: Client) -> None:
    graded = client.post(f"{EXERCISE.url}submit", {"code": EXERCISE.solution})
    assert "✔ Passed" in graded.text
    assert detail(client) == {**EXERCISE.public(), "draft": EXERCISE.solution, "passed": True}
    sign_up(client)
    record = Progress.objects.get()
    assert record.user is not None and record.user.username == "ada"
    assert detail(client)["passed"] is True
    # Another browser, signed in to the same account, sees the same work.
    other = Client()
    other.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    assert detail(other) == {**EXERCISE.public(), "draft": EXERCISE.solution, "passed": True}
    assert "tick" in other.get("/exercises/").text


def test_signing_in_merges_a_sessions_work_into_the_accounts(seeded: None, client: Client) -> None:
    user = User.objects.create_user("ada", password=PASSWORD)
    Progress.objects.create(user=user, session_key="old", exercise=EXERCISE.slug, attempts=2, passed=True)
    client.post(f"{EXERCISE.url}draft", {"code": "# newer\n"})
    client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    record = Progress.objects.get()
    assert (record.user, record.passed, record.draft) == (user, True, "# newer\n")


def test_a_signed_out_browser_starts_afresh(seeded: None, client: Client) -> None:
    client.post(f"{EXERCISE.url}draft", {"code": "# mine\n"})
    sign_up(client)
    client.post("/accounts/logout/")
    assert detail(client)["draft"] is None


def test_the_reference_opens_after_three_different_honest_submissions(seeded: None, client: Client) -> None:
    solution = f"{EXERCISE.url}solution"
    assert client.get(solution).status_code == 403
    for _ in range(3):  # the untouched starter, three times: never an attempt of one's own
        client.post(f"{EXERCISE.url}submit", {"code": EXERCISE.starter})
    assert client.get(solution).status_code == 403
    attempt = "print(Author.objects.count())\n"
    client.post(f"{EXERCISE.url}submit", {"code": attempt})
    client.post(f"{EXERCISE.url}submit", {"code": attempt + "\n\n"})  # the same code again
    assert client.get(solution).status_code == 403
    client.post(f"{EXERCISE.url}submit", {"code": "print(Article.objects.count())\n"})
    assert client.get(solution).status_code == 403
    client.post(f"{EXERCISE.url}submit", {"code": "print(Tag.objects.count())\n"})
    opened = client.get(solution)
    assert opened.status_code == 200 and EXERCISE.solution.splitlines()[0] in opened.text


def test_the_reference_opens_after_a_pass(seeded: None, client: Client) -> None:
    passed = client.post(f"{EXERCISE.url}submit", {"code": EXERCISE.solution}, headers={"HX-Request": "true"})
    assert "See the reference solution" in passed.text and "Next exercise" in passed.text
    assert client.get(f"{EXERCISE.url}solution").status_code == 200


def test_the_lesson_index_counts_the_learners_passed_exercises(seeded: None, client: Client) -> None:
    lesson_of = EXERCISE.lesson
    total = sum(e.lesson == lesson_of for e in catalog.all_exercises())
    assert f"0 of {total} exercise" in client.get("/lessons/").text
    client.post(f"{EXERCISE.url}submit", {"code": EXERCISE.solution})
    assert f"1 of {total} exercise" in client.get("/lessons/").text


@pytest.mark.django_db(transaction=True)
def test_one_learners_first_records_made_at_once_are_one_record() -> None:
    """Two tabs of one learner submitting together: Django's get_or_create takes the other's row."""
    session = SessionStore()
    session.save()
    start = threading.Barrier(4)
    entries: list[Progress] = []
    failed = Grade(passed=False, checks=[], result=RunResult.failure("internal", "not run"))

    def submit() -> None:
        request = RequestFactory().post("/")
        request.user, request.session = AnonymousUser(), SessionStore(session.session_key)
        try:
            start.wait()
            entries.append(progress.record(request, EXERCISE, failed, "x = 1"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(entries) == 4
    assert Progress.objects.count() == 1
