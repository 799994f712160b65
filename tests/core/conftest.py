from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from django.test import override_settings


@pytest.fixture
def database_caches(transactional_db: None) -> Iterator[None]:
    """Production's caches, the database's (tests count in memory): their tables made, emptied after."""
    with override_settings(CACHES=settings.DATABASE_CACHES):
        call_command("createcachetable", verbosity=0)
        yield
        for cache in caches.all():
            cache.clear()
