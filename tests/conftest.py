import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django_tasks_db.management.commands.db_worker import Worker

from blog import seed
from blog.models import Dataset


@pytest.fixture
def tiny(db: None) -> Dataset:
    """The real seed, smallest size: enough rows for every relation to matter."""
    return seed.seed("tiny", 1)


@pytest.fixture
def small(db: None) -> Dataset:
    return seed.seed("small", 1)


@pytest.fixture(autouse=True)
def _generous_rate_limits(settings: Any) -> None:
    """Tests send many requests from one address; tests/core/test_throttle.py sets real limits."""
    from django.core.cache import caches

    settings.QUERYLAB_RATE_LIMITS = {
        "runs": (100_000, 60),
        "login": (100_000, 300),
        "sessions": (100_000, 60),
    }
    for cache in caches.all():
        cache.clear()


@pytest.fixture(scope="session", autouse=True)
def _a_sandbox_worker_of_our_own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The test session's worker lives in its own run directory, stopped at the end."""
    settings.VAR_DIR = tmp_path_factory.mktemp("var")
    yield
    from sandbox import runner

    if runner._worker is not None:
        runner._worker.stop()


@pytest.fixture(scope="session", autouse=True)
def _sandbox_datasets_are_not_the_test_database(django_db_blocker: Any) -> Iterator[None]:
    """A SQLite dataset for the sandbox is a file of its own: building it never touches the test database."""
    from sandbox import datasets

    original = datasets._build

    def build(dataset: Any) -> str:
        with django_db_blocker.unblock():
            return original(dataset)

    datasets._build = build
    yield
    datasets._build = original


@pytest.fixture
def task_worker(transactional_db: None) -> Iterator[Worker]:
    """The tasks backend's own worker, polling in a thread as `manage.py db_worker` would."""
    worker = Worker(
        queue_names=["*"],
        interval=0.05,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="tests",
        excluded_queue_names=[],
    )

    def run_then_disconnect() -> None:
        try:
            worker.run()
        finally:
            connections.close_all()  # this thread's own connections; PostgreSQL drops the test DB after

    thread = threading.Thread(target=run_then_disconnect, daemon=True)
    thread.start()
    yield worker
    worker.running = False
    thread.join(timeout=30)
