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
