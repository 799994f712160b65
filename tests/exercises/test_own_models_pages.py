"""Own models through the pages and the API: the diagram, sharing, forking, run_snippet --models."""

import json
import re
from pathlib import Path
from xml.dom import minidom

import pytest
from django.test import Client

from blog import seed
from blog.models import Dataset
from core import erd
from exercises.models import Snippet
from tests.exercises.test_interfaces import manage, seeded_var  # noqa: F401  (a fixture)

MODELS = """\
from django.db import models


class Shelf(models.Model):
    label = models.CharField(max_length=40)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE)
"""
CODE = "fill(Shelf, 3)\nfill(Book, 10)\nprint(Book.objects.count())\n"


@pytest.fixture
def tiny(db: None) -> Dataset:
    return seed.seed("tiny", 1)


def boxes(svg: str) -> list[str]:
    return re.findall(r'<text class="name"[^>]*>([^<]+)</text>', svg)


def test_the_run_api_takes_models_and_answers_with_their_diagram(tiny: Dataset, client: Client) -> None:
    response = client.post("/api/run", {"code": CODE, "models": MODELS}, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["error"] is None and body["stdout"] == "10\n"
    assert body["erd"].startswith("<svg") and "<script" not in body["erd"]
    drawn = minidom.parseString(body["erd"])  # well-formed: each box its own group
    assert [g.getAttribute("class") for g in drawn.getElementsByTagName("g")] == [
        "entity own",
        "entity own",
        "entity",
    ]
    assert boxes(body["erd"]) == ["Shelf", "Book", "Author"]  # the blog model Book points at comes along
    assert [m["name"] for m in body["models"]] == ["Shelf", "Book"]
    plain = client.post("/api/run", {"code": "print(1)"}, content_type="application/json").json()
    assert "erd" not in plain


def test_an_error_in_the_models_says_so_in_json(tiny: Dataset, client: Client) -> None:
    response = client.post(
        "/api/run", {"code": CODE, "models": "class Book(models.Model)\n"}, content_type="application/json"
    )
    error = response.json()["error"]
    assert (error["kind"], error["line"], error["source"]) == ("syntax", 1, "models")


def test_the_run_api_refuses_models_that_are_not_text(db: None, client: Client) -> None:
    response = client.post("/api/run", {"code": "print(1)", "models": 3}, content_type="application/json")
    assert response.status_code == 400 and "models" in response.json()["error"]


def test_what_the_child_says_of_its_models_is_drawn_as_text_only() -> None:
    """The description comes from the learner's process: a forged one must not become markup."""
    forged = [
        {
            "name": "<script>alert(1)</script>",
            "app": "playground",
            "fields": [{"name": '"><img src=x onerror=alert(1)>', "type": "</svg><script>", "to": None}],
        }
    ]
    drawn = str(erd.svg(forged, "<title>"))
    assert "<script" not in drawn and "<img" not in drawn and "</svg><" not in drawn
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in drawn


def test_a_shared_snippet_keeps_the_models_and_forks_with_both(tiny: Dataset, client: Client) -> None:
    shared = client.post("/playground/run", {"code": CODE, "models": MODELS, "share": "1"})
    assert shared.status_code == 302
    snippet = Snippet.objects.get()
    assert snippet.models == MODELS and snippet.code == CODE
    page = client.get(shared["Location"]).text
    assert "Models" in page and "Shelf" in page and '<svg class="erd"' in page
    fork = client.get(f"/playground/?fork={snippet.pk}").text
    assert "class Shelf(models.Model):" in fork and "fill(Shelf, 3)" in fork
    again = client.post("/playground/run", {"code": snippet.code, "models": snippet.models})
    assert again.context["result"].stdout == snippet.result["stdout"]  # it runs the same


def test_the_playground_draws_the_diagram_of_its_run(tiny: Dataset, client: Client) -> None:
    page = client.post(
        "/playground/run", {"code": CODE, "models": MODELS}, headers={"HX-Request": "true"}
    ).text
    assert '<svg class="erd"' in page and "Your models" in page
    # fill(Book, 10)'s one INSERT of ten rows is shown with its first rows, a count and its last
    assert "6 more rows" in page and "show the whole statement" in page


def test_the_home_page_and_lesson_one_draw_the_blog(tiny: Dataset, client: Client) -> None:
    for url in ("/", "/lessons/n-plus-one/"):
        svg = re.search(r'<svg class="erd".*?</svg>', client.get(url).text, re.S)
        assert svg is not None, url
        assert sorted(boxes(svg.group(0))) == ["Article", "Author", "Category", "Comment", "Tag"]
        assert svg.group(0).count('class="relation"') == 5  # author, category, tags; article, author
    assert '<svg class="erd"' not in client.get("/lessons/select-related/").text


@pytest.mark.slow
def test_run_snippet_takes_a_models_file(seeded_var: Path, tmp_path: Path) -> None:  # noqa: F811
    models = tmp_path / "models.py"
    models.write_text(MODELS)
    result = manage("run_snippet", "-", "--models", str(models), stdin=CODE, var=seeded_var)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["stdout"] == "10\n" and [m["name"] for m in body["models"]] == ["Shelf", "Book"]
