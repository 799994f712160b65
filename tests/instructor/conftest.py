import pytest
from django.contrib.auth.models import User
from django.test import Client


@pytest.fixture
def staff_client(client: Client, django_user_model: type[User]) -> Client:
    client.force_login(
        django_user_model.objects.create_user("teacher", is_staff=True, password="x-long-pass-1")
    )
    return client


@pytest.fixture
def learner_client(client: Client, django_user_model: type[User]) -> Client:
    client.force_login(django_user_model.objects.create_user("learner", password="x-long-pass-2"))
    return client
