"""The facts the lessons state in prose, each checked by running it the way a learner would.

The declared counts of every block are checked in test_content.py; these are the
sentences around the blocks: an SQL shape, an error message, a row count, a plan.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection, transaction
from django.db.models import Count

from blog import seed
from blog.models import Article, Author
from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest, RunResult

pytestmark = pytest.mark.slow
POSTGRESQL = connection.vendor == "postgresql"


def run(code: str, size: str = "small") -> RunResult:
    result = runner.run(RunRequest(code, dataset=DatasetRef(size, 1)))
    assert result.error is None, result.error
    return result


def failure(code: str) -> str:
    result = runner.run(RunRequest(code, dataset=DatasetRef("small", 1)))
    assert result.error is not None, result.stdout
    return result.error.message


def test_fetch_peers_sends_two_statements_more_than_select_related() -> None:
    """05-fetch-modes: three statements against one."""
    loop = "for a in newest{}[:10]:\n    print(a.author.username, a.category.name)\n"
    setup = 'newest = Article.objects.published().order_by("-pub_date", "-id")\n'
    peers = run(setup + loop.format(".fetch_mode(FETCH_PEERS)"))
    joined = run(setup + loop.format('.select_related("author", "category")'))
    assert (peers.query_count, joined.query_count) == (3, 1)
    assert peers.stdout == joined.stdout


@pytest.mark.parametrize(("fields", "expected"), [('"body", "article"', 2), ('"body"', None)])
def test_an_only_inside_a_prefetch_must_keep_the_foreign_key(fields: str, expected: int | None) -> None:
    """04-prefetch-objects: without article_id, every comment asks for it again."""
    result = run(
        f"comments = Comment.objects.only({fields})\n"
        'articles = Article.objects.order_by("id").prefetch_related(Prefetch("comments", queryset=comments))[:5]\n'
        "total = sum(len(a.comments.all()) for a in articles)\n"
        "print(total)\n"
    )
    comments = int(result.stdout)
    assert comments > 0
    assert result.query_count == (expected if expected is not None else 2 + comments)


def test_counting_a_slice_counts_a_limited_subquery() -> None:
    """10-exists-count: the database still finds the rows, then counts at most five."""
    result = run('print(Article.objects.filter(status="draft").order_by("id")[:5].count())')
    (sql,) = [q.sql for q in result.queries]
    assert re.match(r'SELECT COUNT\(\*\)( AS "__count")? FROM \(SELECT .* LIMIT 5\) subquery$', sql, re.S), (
        sql
    )


@pytest.mark.parametrize(("size", "rows"), [("tiny", 15), ("small", 159)])
def test_the_values_comparison_yields_every_published_article_on_the_smaller_sizes(
    size: str, rows: int
) -> None:
    """07-values: 15 rows on tiny, 159 on small, 200 on the larger sizes."""
    result = run("print(Article.objects.published().count(), len(Article.objects.published()[:200]))", size)
    assert result.stdout.split() == [str(rows), str(rows)]


def test_values_drops_an_earlier_select_related() -> None:
    """07-values: no join, no extra column."""
    result = run('print(list(Article.objects.select_related("author").values("title")[:3]))')
    (sql,) = [q.sql for q in result.queries]
    assert "JOIN" not in sql
    assert sql.startswith('SELECT "blog_article"."title" AS "title" FROM "blog_article"')


def test_select_related_after_values_raises() -> None:
    message = failure('Article.objects.values("title").select_related("author")')
    assert message == "TypeError: Cannot call select_related() after .values() or .values_list()"


def test_over_an_empty_set_count_is_zero_and_the_other_aggregates_are_none() -> None:
    """08-aggregate."""
    result = run(
        "print(Article.objects.filter(views__lt=0).aggregate(\n"
        '    n=Count("id"), total=Sum("views"), mean=Avg("views"), top=Max("views"), low=Min("views")))\n'
    )
    assert result.stdout.strip() == "{'n': 0, 'total': None, 'mean': None, 'top': None, 'low': None}"


def test_the_group_by_of_an_annotation_depends_on_the_backend(db: None) -> None:
    """09-annotate: PostgreSQL groups by the primary key, SQLite by every selected column.

    Compiled for the test database, which is PostgreSQL in CI's second run.
    """
    sql = str(Author.objects.annotate(n=Count("articles")).query)
    group_by = sql.split("GROUP BY", 1)[1].strip()
    if POSTGRESQL:
        assert group_by == '"blog_author"."id"'
    else:
        assert group_by.startswith('"blog_author"."id", "blog_author"."username"')
        assert '"blog_author"."bio"' in group_by


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("id", "ValueError: bulk_update() cannot be used with primary key fields."),
        ("tags", "ValueError: bulk_update() can only be used with concrete fields."),
    ],
)
def test_bulk_update_refuses_the_primary_key_and_many_to_many_fields(field: str, message: str) -> None:
    """13-bulk-update: refused before any statement is sent."""
    assert failure(f'Article.objects.bulk_update(list(Article.objects.all()[:2]), ["{field}"])') == message


@pytest.mark.skipif(not POSTGRESQL, reason="server-side cursors are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("in_atomic", [False, True])
def test_a_streaming_cursor_outside_a_transaction_is_held(tiny: object, in_atomic: bool) -> None:
    """14-iterator: WITH HOLD in autocommit, an ordinary cursor inside atomic()."""

    def holdable() -> list[bool]:
        stream = Article.objects.order_by("id").iterator(chunk_size=5)
        next(stream)
        with connection.cursor() as cursor:
            cursor.execute("SELECT is_holdable FROM pg_cursors")
            held = [row[0] for row in cursor.fetchall()]
        stream.close()
        return held

    if in_atomic:
        with transaction.atomic():
            assert holdable() == [False]
    else:
        assert holdable() == [True]


def test_the_newest_first_ordering_and_the_index(db: None) -> None:
    """16-indexes-explain: SQLite's index ends with the id; PostgreSQL sorts the ties.

    Planned by the test database, which is PostgreSQL in CI's second run.
    """
    seed.seed("default", 1)
    if POSTGRESQL:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE blog_article")
    plan = Article.objects.published().newest_first()[:10].explain()
    assert "article_status_pub_idx" in plan
    if POSTGRESQL:
        assert "Incremental Sort" in plan
        assert "Presorted Key: pub_date" in plan
    else:
        assert "TEMP B-TREE" not in plan
