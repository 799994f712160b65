"""The rate-limit counters' cache (core/cache.py) on the test database, SQLite or PostgreSQL."""

import threading
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection, connections
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from core import throttle


@pytest.fixture
def counters(database_caches: None) -> Any:
    return caches["counters"]


def test_a_count_is_added_once_and_then_incremented(counters: Any) -> None:
    assert counters.add("window", 1, 60) is True
    assert counters.add("window", 5, 60) is False  # another process added it first: it stays 1
    assert counters.incr("window", 2) == 3
    assert counters.get("window") == 3
    assert counters.get_many(["window", "other"]) == {"window": 3}


def test_an_expired_count_is_gone_and_may_be_added_again(counters: Any) -> None:
    counters.set("window", 9, -1)  # expired as it is written
    assert counters.get("window") is None
    with pytest.raises(ValueError):
        counters.incr("window")
    assert counters.add("window", 1, 60) is True
    assert counters.incr("window") == 2


def test_an_increment_is_one_statement(counters: Any) -> None:
    counters.add("window", 1, 60)
    with CaptureQueriesContext(connection) as statements:
        counters.incr("window")
    assert [query["sql"].split()[0] for query in statements.captured_queries] == ["UPDATE"]


def test_a_counter_is_a_whole_number(counters: Any) -> None:
    with pytest.raises(TypeError):
        counters.set("window", "a string", 60)


def test_increments_from_many_threads_at_once_are_all_counted(counters: Any) -> None:
    """Django's own database cache reads and then writes the count, and can lose one."""
    counters.add("window", 0, 600)
    start = threading.Barrier(4)

    def learner() -> None:
        try:
            start.wait()
            for _ in range(25):
                counters.incr("window")
        finally:
            connections.close_all()  # this thread's connection

    threads = [threading.Thread(target=learner) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counters.get("window") == 100


def test_a_rate_limit_check_costs_one_statement_once_its_window_exists(counters: Any) -> None:
    request = RequestFactory().post("/api/run")
    throttle.retry_after(request, "runs")  # the window's first request adds its count
    with CaptureQueriesContext(connection) as statements:
        assert throttle.retry_after(request, "runs") is None
    assert len(statements) == 1
