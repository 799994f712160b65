"""The pinned interfaces as outside checks use them: HTTP JSON and management commands."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from blog.models import Dataset
from exercises import catalog

ROOT = Path(settings.BASE_DIR)


def manage(*args: str, stdin: str, var: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        input=stdin,
        env={"QUERYLAB_VAR_DIR": str(var), "PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def seeded_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    var = tmp_path_factory.mktemp("cli")
    assert manage("migrate", "-v", "0", stdin="", var=var).returncode == 0
    assert manage("seed_blog", "--size", "tiny", stdin="", var=var).returncode == 0
    return var


@pytest.mark.slow
def test_run_snippet_prints_the_run_result_json(seeded_var: Path) -> None:
    result = manage("run_snippet", "-", stdin="print(Article.objects.count())\n", var=seeded_var)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["stdout"] == "20\n"
    assert body["query_count"] == 1
    assert body["dataset"]["size"] == "tiny"
    assert set(body) >= {
        "stdout",
        "truncated",
        "error",
        "queries",
        "query_count",
        "db_ms",
        "wall_ms",
        "findings",
    }


@pytest.mark.slow
def test_grade_exits_zero_when_passed_and_one_when_not(seeded_var: Path) -> None:
    exercise = catalog.get("article-authors")
    passed = manage("grade", exercise.slug, "-", stdin=exercise.solution, var=seeded_var)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert json.loads(passed.stdout)["passed"] is True
    failed = manage("grade", exercise.slug, "-", stdin=exercise.starter, var=seeded_var)
    assert failed.returncode == 1
    body = json.loads(failed.stdout)
    assert body["passed"] is False
    assert {c["name"] for c in body["checks"]} >= {
        "output",
        "hidden dataset",
        "query budget",
        "flat",
        "no N+1",
    }


def test_the_exercises_api_lists_slug_title_difficulty_and_url(db: None, client: Client) -> None:
    body = client.get("/api/exercises").json()
    assert {"slug": "article-authors", "title": catalog.get("article-authors").title,
            "difficulty": "easy", "url": "/exercises/article-authors/"} in body  # fmt: skip
    assert all(set(entry) == {"slug", "title", "difficulty", "url"} for entry in body)


@pytest.mark.slow
def test_the_grade_api_grades_json_code_and_needs_csrf(tiny: Dataset) -> None:
    client = Client(enforce_csrf_checks=True)
    exercise = catalog.get("article-tags")
    body = json.dumps({"code": exercise.solution})
    assert (
        client.post("/api/exercises/article-tags/grade", body, content_type="application/json").status_code
        == 403
    )
    client.get("/exercises/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/api/exercises/article-tags/grade",
        body,
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200
    graded = response.json()
    assert graded["passed"] is True
    assert graded["result"]["query_count"] <= exercise.budget


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "The body must be JSON"),
        (json.dumps({"nope": 1}), "Send a JSON object with a"),
        (json.dumps({"code": "x" * 21_000}), "The code is over 20 KB."),
    ],
)
def test_the_run_api_refuses_bad_bodies_with_400(db: None, client: Client, body: str, message: str) -> None:
    response = client.post("/api/run", body, content_type="application/json")
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.slow
def test_without_javascript_the_exercise_form_runs_and_grades(tiny: Dataset, client: Client) -> None:
    exercise = catalog.get("article-authors")
    ran = client.post(f"{exercise.url}run", {"code": exercise.starter})
    assert ran.status_code == 200
    assert "<html" in ran.text and '<section class="panel' in ran.text and "Not yet" not in ran.text
    graded = client.post(f"{exercise.url}submit", {"code": exercise.solution})
    assert "✔ Passed" in graded.text
    assert exercise.solution.splitlines()[0] in graded.text  # the learner's code stays in the editor


@pytest.mark.slow
def test_without_javascript_a_lesson_comparison_runs_and_renders_the_whole_page(
    tiny: Dataset, client: Client
) -> None:
    response = client.post("/lessons/n-plus-one/run/authors/", {"size": "small", "latency": "0"})
    assert response.status_code == 200
    assert "<html" in response.text
    assert response.text.count('<section class="panel') == 2
    assert "→" in response.text


@pytest.mark.slow
def test_a_long_statement_list_says_how_much_it_leaves_out(tiny: Dataset, client: Client) -> None:
    # 250 statements of 250 shapes: none folds into another.
    code = "with connection.cursor() as cursor:\n    for i in range(250):\n        cursor.execute(f'SELECT {i}')\n"
    page = client.post("/playground/run", {"code": code}).text
    assert page.count('<span class="line">line 3</span>') == 200
    assert "… and 50 more, not shown." in page


@pytest.mark.slow
def test_a_loops_similar_statements_fold_into_one_entry_that_lists_them_all(
    tiny: Dataset, client: Client
) -> None:
    code = "for i in range(1, 31):\n    Article.objects.filter(pk=i).exists()\n"
    page = client.post("/playground/run", {"code": code}).text
    assert page.count('<span class="line">line 2</span>') == 1
    assert "30 similar statements, differing in id: 1, 2, 3, 4, 5, 6, 7, 8, ..." in page
    assert "show all 30" in page
    assert page.count("&quot;blog_article&quot;.&quot;id&quot; = 30 LIMIT 1") == 1  # listed under "show all"
