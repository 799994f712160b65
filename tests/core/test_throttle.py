import json
import time
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from blog.models import Dataset
from core.cache import CULL_EVERY

WINDOW = 3600  # long fixed windows: no test here can straddle two of them (see early_in_the_window)


@pytest.fixture(autouse=True)
def early_in_the_window() -> None:
    """Start at least a minute before the window ends, however slow the machine: counts never reset mid-test."""
    left = WINDOW - time.time() % WINDOW
    if left < 60:
        time.sleep(left + 0.1)


def run(client: Client) -> Any:
    return client.post("/api/run", json.dumps({"code": "print(1)"}), content_type="application/json")


def test_a_client_over_its_run_limit_gets_429_with_retry_after(tiny: Dataset, settings: Any) -> None:
    settings.QUERYLAB_RATE_LIMITS = {**settings.QUERYLAB_RATE_LIMITS, "runs": (3, WINDOW)}
    greedy = Client()
    statuses = [run(greedy).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = run(greedy)
    assert 1 <= int(refused["Retry-After"]) <= WINDOW
    assert "Too many requests" in refused.json()["error"]
    other = Client()
    other.get("/")  # another learner, with a session of their own
    other.session.save()
    assert run(other).status_code == 200


def test_lesson_comparisons_count_against_the_same_limit(tiny: Dataset, settings: Any) -> None:
    settings.QUERYLAB_RATE_LIMITS = {**settings.QUERYLAB_RATE_LIMITS, "runs": (3, WINDOW)}
    client = Client()
    assert (
        client.post("/lessons/n-plus-one/run/authors/", {"size": "small", "latency": "0"}).status_code == 200
    )
    refused = client.post("/lessons/n-plus-one/run/authors/", {"size": "small", "latency": "0"})
    assert refused.status_code == 429
    assert refused["Retry-After"]


def test_a_class_behind_one_address_runs_each_against_its_own_limit(tiny: Dataset, settings: Any) -> None:
    """Learners open a page before they run: each has a session then, so none waits for the class."""
    settings.QUERYLAB_RATE_LIMITS = {**settings.QUERYLAB_RATE_LIMITS, "runs": (2, WINDOW)}
    learners = [Client() for _ in range(3)]  # one address, as the test client always is
    for learner in learners:
        assert learner.get("/playground/").status_code == 200
        assert "sessionid" in learner.cookies
    assert [run(learner).status_code for learner in learners for _ in range(2)] == [200] * 6
    assert [run(learner).status_code for learner in learners] == [429] * 3  # each over their own


def test_the_sessions_one_address_may_start_are_limited(db: None, settings: Any) -> None:
    settings.QUERYLAB_RATE_LIMITS = {**settings.QUERYLAB_RATE_LIMITS, "sessions": (2, WINDOW)}
    visitors = [Client() for _ in range(3)]
    assert [visitor.get("/playground/").status_code for visitor in visitors] == [200] * 3
    assert ["sessionid" in visitor.cookies for visitor in visitors] == [True, True, False]
    assert visitors[0].get("/lessons/n-plus-one/").status_code == 200  # a session is started once
    assert visitors[0].cookies["sessionid"].value == visitors[0].session.session_key


def test_a_page_starts_a_session_with_one_write(db: None) -> None:
    """Written once, in the view: nothing left for the middleware to write after it (a database going
    away between the two writes would make the second a 400, "session interrupted")."""
    visitor = Client()
    with CaptureQueriesContext(connection) as statements:
        assert visitor.get("/playground/").status_code == 200
    writes = [q["sql"] for q in statements.captured_queries if "django_session" in q["sql"]]
    assert [sql.split()[0] for sql in writes if not sql.startswith("SELECT")] == ["INSERT"]
    assert SessionStore().exists(visitor.cookies["sessionid"].value)


def test_the_login_page_is_rate_limited(db: None, client: Client, settings: Any) -> None:
    settings.QUERYLAB_RATE_LIMITS = {**settings.QUERYLAB_RATE_LIMITS, "login": (2, WINDOW)}
    attempts = [
        client.post("/accounts/login/", {"username": "x", "password": f"guess{i}"}).status_code
        for i in range(3)
    ]
    assert attempts == [200, 200, 429]
    assert client.get("/accounts/login/").status_code == 200  # reading the form is never limited


def test_a_request_body_over_the_size_limit_is_refused(db: None, client: Client) -> None:
    response = client.post("/playground/run", {"code": "x" * 300_000})
    assert response.status_code == 400


def test_a_class_worth_of_rate_limit_counters_does_not_cull_the_shared_lesson_runs(
    database_caches: None,
) -> None:
    """In production's caches (the database's), counters come and go in a table of their own."""
    shared, counters = caches["default"], caches["counters"]
    shared.set("lesson-run:compare:kept", "measured once", 3600)
    for learner in range(4_000):  # a class of 200, twenty minutes of counters
        counters.set(f"throttle:runs:session:{learner}", 1, 60)
    assert shared.get("lesson-run:compare:kept") == "measured once"
    with connection.cursor() as cursor:  # culled: it stays small
        cursor.execute("SELECT COUNT(*) FROM querylab_counters")
        most = settings.DATABASE_CACHES["counters"]["OPTIONS"]["MAX_ENTRIES"]
        assert cursor.fetchone()[0] <= most + CULL_EVERY
