"""Errors answer in the asker's language: the site's own pages for people, JSON for the API."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from core import errors


@pytest.fixture
def strict_client() -> Client:
    return Client(enforce_csrf_checks=True)


def test_a_missing_page_is_the_sites_own(db: None, client: Client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.text and "Query<b>Lab</b>" in response.text


def test_a_missing_api_object_is_json(db: None, client: Client) -> None:
    response = client.get("/api/exercises/no-such-exercise")
    assert response.status_code == 404
    assert response.json() == {"error": errors.MESSAGES[404]}


def test_a_post_to_the_api_without_csrf_is_refused_in_json(db: None, strict_client: Client) -> None:
    response = strict_client.post(
        "/api/run", json.dumps({"code": "print(1)"}), content_type="application/json"
    )
    assert response.status_code == 403
    assert "X-CSRFToken" in response.json()["error"]


def test_a_form_without_csrf_gets_a_page_that_says_what_to_do(db: None, strict_client: Client) -> None:
    response = strict_client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert "reload the page and try again" in response.text and "Query<b>Lab</b>" in response.text


def test_a_learner_on_a_staff_page_reads_why_in_the_sites_page(db: None, client: Client) -> None:
    client.force_login(User.objects.create_user("ada", password="a long pass phrase"))
    response = client.get("/instructor/")
    assert response.status_code == 403
    assert "The instructor pages are for staff accounts." in response.text and "Not allowed" in response.text


def test_a_server_error_page_stands_alone_and_the_api_gets_json() -> None:
    page = errors.server_error(RequestFactory().get("/lessons/"))
    assert (
        page.status_code == 500
        and b"Something went wrong" in page.content
        and b"Query<b>Lab</b>" in page.content
    )
    api = errors.server_error(RequestFactory().post("/api/run"))
    assert api.status_code == 500 and json.loads(api.content) == {"error": errors.MESSAGES[500]}


@pytest.mark.parametrize("path", ["/api/run", "/api/exercises/has-drafts/grade"])
def test_a_wrong_method_on_the_api_is_refused_in_json_with_allow(db: None, client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json() == {"error": "GET is not allowed here; use POST."}


def test_visiting_a_buttons_address_gets_the_sites_page_that_says_why(db: None, client: Client) -> None:
    response = client.get("/playground/run")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "Nothing to see at this address" in response.text and "Query<b>Lab</b>" in response.text
