import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from blog import seed


@pytest.fixture
def staff_client(db: None, client: Client) -> Client:
    user = User.objects.create_superuser("teacher", "teacher@example.com", "a-long-passphrase")
    client.force_login(user)
    return client


def changelist_queries(client: Client, model: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/admin/blog/{model}/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("model", ["author", "category", "tag", "article", "comment"])
def test_each_changelist_query_count_does_not_grow_with_the_rows(staff_client: Client, model: str) -> None:
    seed.seed("tiny", 1)
    on_tiny = changelist_queries(staff_client, model)
    seed.seed("small", 1)
    on_small = changelist_queries(staff_client, model)
    assert on_tiny == on_small
    assert on_small < 15
