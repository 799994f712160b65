"""A learner's own models: tables in the run's copy, fake rows, findings on their relations, and every refusal."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import runner
from sandbox.contract import DatasetRef, Limits, RunError, RunRequest, RunResult

TINY = DatasetRef("tiny", 1)

SHOP = """\
from django.db import models


class Shelf(models.Model):
    label = models.CharField(max_length=40, unique=True)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    shelf = models.ForeignKey(Shelf, on_delete=models.PROTECT)
    price = models.DecimalField(max_digits=6, decimal_places=2)
    published = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["published"])]
"""

N_PLUS_ONE = """\
fill(Shelf, 5)
fill(Book, 40)
for book in Book.objects.order_by("id")[:20]:
    print(book.title[:10], book.shelf.label[:5])
"""

FIXED = N_PLUS_ONE.replace(
    'Book.objects.order_by("id")', 'Book.objects.select_related("shelf").order_by("id")'
)


def run(code: str, models: str, **kwargs: Any) -> RunResult:
    return runner.run(RunRequest(code, dataset=TINY, models=models, **kwargs))


def models_error(result: RunResult) -> RunError:
    assert result.error is not None, result.stdout
    assert result.error.source == "models", result.error
    assert result.stdout == ""  # nothing of the code ran
    return result.error


def test_own_models_get_tables_rows_and_an_n_plus_one_finding() -> None:
    before = runner.digest_of(TINY)
    result = run(N_PLUS_ONE, SHOP)
    assert result.error is None, result.error
    assert len(result.stdout.splitlines()) == 20
    schema = [q for q in result.queries if q.sql.startswith("CREATE ")]
    assert schema and all(q.control for q in schema)  # listed, not counted
    assert any('"playground_book"' in q.sql for q in schema)
    assert any(q.sql.startswith("CREATE INDEX") for q in schema)  # Meta.indexes made too
    assert result.query_count == len([q for q in result.queries if not q.control])
    finding = next(f for f in result.findings if f.kind == "n_plus_one")
    assert (finding.relation, finding.fix) == ("book.shelf", 'select_related("shelf")')
    assert [m["name"] for m in result.models] == ["Shelf", "Book"]
    book = result.models[1]
    assert {
        "name": "author",
        "type": "ForeignKey",
        "to": "Author",
        "key": False,
        "column": "author_id",
    } in book["fields"]
    assert runner.digest_of(TINY) == before  # the tables and rows went with the run


def test_the_fix_sends_one_query_where_the_loop_sent_one_per_row() -> None:
    loop, fixed = run(N_PLUS_ONE, SHOP), run(FIXED, SHOP)
    assert loop.error is None and fixed.error is None
    assert loop.stdout == fixed.stdout  # fill() is the same rows every time
    assert loop.query_count - fixed.query_count == 20
    assert not [f for f in fixed.findings if f.kind == "n_plus_one"]


def test_fill_is_deterministic_and_points_at_rows_that_exist() -> None:
    code = (
        "fill(Shelf, 3)\nfill(Book, 30)\n"
        "print(sorted(Book.objects.values_list('author_id', flat=True))[:5])\n"
        "print(Book.objects.exclude(author__in=Author.objects.all()).count(), Shelf.objects.count())\n"
    )
    first, second = run(code, SHOP), run(code, SHOP)
    assert first.error is None, first.error
    assert first.stdout == second.stdout
    assert first.stdout.splitlines()[1] == "0 3"


@pytest.mark.parametrize(
    ("models", "line", "words"),
    [
        ("class Book(models.Model)\n    title = 1\n", 1, "SyntaxError"),
        ("class Book(models.Model):\n    title = models.CharField(max_length=-1)\n", 1, "max_length"),
        ("class Book(models.Model):\n    author = models.ForeignKey(Author)\n", 2, "on_delete"),
        ("class Article(models.Model):\n    title = models.TextField()\n", 1, "Article is already a name"),
        (
            "class Book(models.Model):\n    title = models.TextField()\n\n\n"
            "class Review(models.Model):\n    book = models.ForeignKey('Publisher', on_delete=models.CASCADE)\n",
            5,
            "Publisher",
        ),
        ("models = None\n", 1, "models is already a name"),
        ("class Book(models.Model):\n    title = models.TextField()\n    1 / 0\n", 3, "ZeroDivisionError"),
    ],
    ids=[
        "syntax",
        "bad-field",
        "field-missing-an-argument",
        "clash-with-a-blog-model",
        "relation-to-nothing",
        "shadows-django",
        "class-body-raises",
    ],
)
def test_errors_in_the_models_name_their_line_and_nothing_else_runs(
    models: str, line: int, words: str
) -> None:
    error = models_error(run("print('the code ran')", models))
    assert error.line == line, error
    assert words in error.message, error


def test_the_guard_reads_the_models_too() -> None:
    error = models_error(
        run("print(1)", "import os\n\nclass Book(models.Model):\n    title = models.TextField()\n")
    )
    assert error.kind == "forbidden" and error.line == 1


def test_a_save_that_reaches_for_the_system_is_refused() -> None:
    models = (
        "class Book(models.Model):\n    title = models.TextField()\n\n"
        "    def save(self, *args, **kwargs):\n        import subprocess\n        subprocess.run(['id'])\n"
    )
    error = models_error(run("Book(title='x').save()", models))
    assert error.kind == "forbidden" and error.line == 5
    assert "importing 'subprocess' is not allowed" in error.message


def test_a_save_that_sends_its_own_sql_is_counted_like_any_statement() -> None:
    models = (
        "class Book(models.Model):\n    title = models.TextField()\n\n"
        "    def save(self, *args, **kwargs):\n"
        "        with connection.cursor() as cursor:\n"
        "            cursor.execute('SELECT COUNT(*) FROM blog_article')\n"
        "        super().save(*args, **kwargs)\n"
    )
    result = run("Book(title='x').save()\nprint(Book.objects.count())", models)
    assert result.error is None, result.error
    assert result.query_count == 3  # the save's own SELECT, its INSERT and the count


def test_hundreds_of_models_are_refused_before_any_is_made() -> None:
    models = "".join(f"class M{i}(models.Model): pass\n" for i in range(600))
    error = models_error(run("print(1)", models))
    assert "at most 30 models" in error.message
    assert error.line is None


def test_thousands_of_models_are_over_the_size_limit() -> None:
    models = "".join(f"class M{i}(models.Model): pass\n" for i in range(3000))
    error = models_error(run("print(1)", models))
    assert error.kind == "forbidden" and "The models are over 20 KB" in error.message


def test_a_field_default_that_never_returns_meets_the_clock() -> None:
    models = (
        "def forever():\n    while True:\n        pass\n\n\n"
        "class Book(models.Model):\n    n = models.IntegerField(default=forever)\n"
    )
    result = run("Book()", models, limits=Limits(wall_seconds=1.0, cpu_seconds=2))
    assert result.error is not None and result.error.kind == "timeout", result.error


def test_the_models_may_only_create_their_own_tables() -> None:
    # The child compiles the DDL, the supervisor checks it: a table outside the playground is refused.
    before = runner.digest_of(TINY)
    models = "class Book(models.Model):\n    title = models.TextField()\n\n    class Meta:\n        db_table = 'auth_user'\n"
    result = run("print(1)", models)
    assert result.error is not None and result.error.source == "models"
    assert "only the playground's own tables" in result.error.message
    assert runner.digest_of(TINY) == before
