"""Two gunicorn nodes on one PostgreSQL, each with its own sandbox worker (run by CI's PostgreSQL pass)."""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings

from exercises import catalog
from tests.nodes import background, manage, node, node_env, temporary_database

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="scale-out runs on PostgreSQL (CI's second pass sets DATABASE_URL)",
    ),
]


class Browser:
    """A client with its own cookies, speaking to whichever node it is pointed at."""

    def __init__(self) -> None:
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, url: str) -> str:
        return str(self.opener.open(url, timeout=60).read().decode())

    def post(self, url: str, data: dict[str, str] | None = None, body: Any = None) -> Any:
        token = next((c.value for c in self.jar if c.name == "csrftoken"), "")
        headers = {"X-CSRFToken": token, "Referer": url}
        if body is not None:
            payload, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        else:
            payload = urllib.parse.urlencode({**(data or {}), "csrfmiddlewaretoken": token}).encode()
        return self.opener.open(urllib.request.Request(url, data=payload, headers=headers), timeout=120)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with temporary_database(settings.DATABASES["default"]) as url:
        yield url


@pytest.fixture(scope="module")
def nodes(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    def env_for(name: str) -> dict[str, str]:
        var: Path = tmp_path_factory.mktemp(name)  # each node its own disk, worker and socket
        password = "a-long-instructor-passphrase"
        return node_env(
            str(var),
            DATABASE_URL=database_url,
            DJANGO_SUPERUSER_PASSWORD=password,
            QUERYLAB_MEASURE_AFTER_RESET="0",  # the lessons' measuring is not what these tests are about
        )

    a, b = env_for("node-a"), env_for("node-b")
    manage("migrate", "-v", "0", env=a)
    manage("seed_blog", "--size", "tiny", env=a)
    manage("createsuperuser", "--noinput", "--username", "teacher", "--email", "t@example.com", env=a)
    tasks = [sys.executable, "manage.py", "db_worker", "--queue-name", "*"]
    with background([*tasks, "--interval", "0.2"], a), node(a) as url_a, node(b) as url_b:
        yield url_a, url_b


def counts_on(browser: Browser, url: str) -> dict[str, Any]:
    code = "print(Article.objects.count(), Comment.objects.count())"
    return json.loads(browser.post(url + "/api/run", body={"code": code}).read())


def test_a_reset_started_on_node_a_is_seen_by_runs_on_node_b_within_two_seconds(
    nodes: tuple[str, str], database_url: str
) -> None:
    url_a, url_b = nodes
    teacher, learner = Browser(), Browser()
    teacher.get(url_a + "/accounts/login/")
    teacher.post(
        url_a + "/accounts/login/?next=/instructor/",
        {"username": "teacher", "password": "a-long-instructor-passphrase"},
    )
    assert "Reset or resize" in teacher.get(url_a + "/instructor/")
    learner.get(url_b + "/playground/")
    before = counts_on(learner, url_b)
    assert before["stdout"] == "20 60\n"

    teacher.post(url_a + "/instructor/reset", {"size": "small", "seed": "5"})
    deadline = time.monotonic() + 180
    switched_at = None
    while time.monotonic() < deadline:
        result = counts_on(learner, url_b)
        assert result["stdout"] in {"20 60\n", "200 1000\n"}  # old or new, never a mix
        if result["stdout"] == "200 1000\n":
            switched_at = time.time()
            break
        time.sleep(0.1)
    assert switched_at is not None, "node B never saw the new dataset"
    finished = json.loads(learner.get(url_b + "/api/dataset"))
    assert (finished["size"], finished["seed"]) == ("small", 5)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT status, finished_at FROM instructor_resetjob ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    status, finished_at = row
    assert status == "succeeded"
    assert switched_at - finished_at.timestamp() <= 2.0


def test_progress_saved_through_node_a_is_shown_by_node_b(nodes: tuple[str, str]) -> None:
    url_a, url_b = nodes
    learner = Browser()
    learner.get(url_a + "/exercises/")
    exercise = catalog.get("article-authors")
    graded = json.loads(
        learner.post(f"{url_a}/api/exercises/{exercise.slug}/grade", body={"code": exercise.solution}).read()
    )
    assert graded["passed"] is True
    index = learner.get(url_b + "/exercises/")
    row = index.split(f'data-slug="{exercise.slug}"')[1].split("</tr>")[0]
    assert 'class="tick"' in row


def test_the_login_limit_is_one_count_across_both_nodes(nodes: tuple[str, str]) -> None:
    """Ten attempts per client per five minutes (the default), counted in the shared cache."""
    url_a, url_b = nodes
    limit, window = 10, 300
    for _ in range(2):  # once more should the fixed window roll over mid-test
        started = int(time.time() // window)
        answers = []
        for attempt in range(2 * limit + 2):  # per-node counts would allow 2 x 10
            browser, url = Browser(), (url_a, url_b)[attempt % 2]
            browser.get(url + "/accounts/login/")
            try:
                browser.post(url + "/accounts/login/", {"username": "nobody", "password": f"guess-{attempt}"})
                answers.append(200)
            except urllib.error.HTTPError as refused:
                answers.append(refused.code)
        if int(time.time() // window) == started:
            break
    first_refusal = answers.index(429)
    assert first_refusal <= limit, answers  # the teacher's login above counted too
    assert set(answers[first_refusal:]) == {429}, answers  # on node A and on node B alike
