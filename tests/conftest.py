from collections.abc import Iterator

import pytest

from blog import seed
from blog.models import Dataset


@pytest.fixture
def tiny(db: None) -> Dataset:
    """The real seed, smallest size: enough rows for every relation to matter."""
    return seed.seed("tiny", 1)


@pytest.fixture
def small(db: None) -> Dataset:
    return seed.seed("small", 1)


@pytest.fixture(scope="session", autouse=True)
def _stop_the_sandbox_worker_at_the_end() -> Iterator[None]:
    yield
    from sandbox import runner

    if runner._worker is not None:
        runner._worker.stop()
