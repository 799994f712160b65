"""QueryLog in-process: every statement the backend executes, with the line of the code that sent it."""

from __future__ import annotations

import datetime
import decimal
import json
import re
import textwrap
import time
from typing import Any

import pytest
from django.db import connection, transaction

from blog.models import Article, Author, Category, Comment, Dataset, Tag
from sandbox import capture
from sandbox.capture import STUDENT_FILENAME, QueryLog


def run_captured(code: str, log: QueryLog | None = None) -> tuple[QueryLog, dict[str, Any]]:
    """Compile ``code`` as the student's and run it with the log installed."""
    log = log or QueryLog()
    compiled = compile(textwrap.dedent(code).strip() + "\n", STUDENT_FILENAME, "exec")
    names: dict[str, Any] = {
        "Article": Article,
        "Author": Author,
        "Category": Category,
        "Comment": Comment,
        "Tag": Tag,
        "connection": connection,
        "transaction": transaction,
        "datetime": datetime,
        "decimal": decimal,
    }
    with log.capture(connection):
        exec(compiled, names)
    return log, names


def lines_by_verb(log: QueryLog) -> list[tuple[str, int | None]]:
    return [(q.sql.split()[0].upper(), q.line) for q in log.queries]


def test_an_orm_select_is_captured_with_its_line(tiny: Dataset) -> None:
    log, names = run_captured(
        """
        first = 1
        titles = [a.title for a in Article.objects.order_by("id")]
        """
    )
    (query,) = log.queries
    assert query.sql.startswith('SELECT "blog_article"."id"')
    assert (query.line, query.many, query.control, query.error) == (2, False, False, None)
    assert len(names["titles"]) == 20
    assert log.query_count == 1


def test_create_update_save_and_delete_are_each_captured_on_their_own_line(tiny: Dataset) -> None:
    log, _ = run_captured(
        """
        tag = Tag.objects.create(name="fresh", slug="fresh")
        Tag.objects.filter(pk=tag.pk).update(name="fresher")
        tag.slug = "fresher"
        tag.save()
        Comment.objects.filter(pk=1).delete()
        """
    )
    counted = [(q.sql.split()[0], q.line) for q in log.counted]
    assert counted == [("INSERT", 1), ("UPDATE", 2), ("UPDATE", 4), ("DELETE", 5)]
    assert 'INSERT INTO "blog_tag"' in log.counted[0].sql
    assert log.counted[0].params == ["fresh", "fresh"]
    assert log.counted[2].params == ["fresh", "fresher", log.counted[1].params[-1]]


def test_raw_and_cursor_sql_are_captured_like_the_orm(tiny: Dataset) -> None:
    log, names = run_captured(
        """
        rows = list(Article.objects.raw("SELECT id, title FROM blog_article WHERE id < %s", [4]))
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM blog_tag WHERE id > %s", [2])
            count = cursor.fetchone()[0]
        """
    )
    assert [(q.sql, q.params, q.line) for q in log.queries] == [
        ("SELECT id, title FROM blog_article WHERE id < %s", [4], 1),
        ("SELECT COUNT(*) FROM blog_tag WHERE id > %s", [2], 3),
    ]
    assert len(names["rows"]) == 3
    assert names["count"] == 6


def test_executemany_is_one_statement_marked_many_with_its_parameter_sets_counted(tiny: Dataset) -> None:
    log, _ = run_captured(
        """
        rows = [(f"many-{i}", f"many-{i}") for i in range(3)]
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO blog_tag (name, slug) VALUES (%s, %s)", rows)
        """
    )
    (query,) = log.queries
    assert (query.many, query.line, query.params) == (True, 3, ["<3 parameter sets>"])
    assert Tag.objects.filter(name__startswith="many-").count() == 3


def test_savepoints_of_atomic_are_recorded_as_transaction_control_and_not_counted(tiny: Dataset) -> None:
    log, _ = run_captured(
        """
        with transaction.atomic():
            Tag.objects.create(name="inside", slug="inside")
        after = Tag.objects.count()
        """
    )
    assert [(q.sql.split()[0], q.control, q.line) for q in log.queries] == [
        ("SAVEPOINT", True, 1),
        ("INSERT", False, 2),
        ("RELEASE", True, 1),
        ("SELECT", False, 3),
    ]
    assert log.query_count == 2
    assert [q.sql.split()[0] for q in log.counted] == ["INSERT", "SELECT"]


@pytest.mark.django_db(transaction=True)
def test_begin_of_an_outermost_atomic_block_is_transaction_control() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("only SQLite sends BEGIN as a statement; psycopg starts transactions itself")
    log, _ = run_captured(
        """
        with transaction.atomic():
            Tag.objects.create(name="begun", slug="begun")
        """
    )
    begin, insert = log.queries
    assert re.match(r"BEGIN( IMMEDIATE)?$", begin.sql)
    assert (begin.control, begin.line) == (True, 1)
    assert insert.control is False
    assert log.query_count == 1


@pytest.mark.parametrize(
    "sql",
    ["BEGIN", "begin immediate", "  COMMIT", "ROLLBACK TO SAVEPOINT s1", 'SAVEPOINT "s1_x"',
     'RELEASE SAVEPOINT "s1_x"', "START TRANSACTION", "END"],
)  # fmt: skip
def test_transaction_control_statements_are_recognised(sql: str) -> None:
    assert capture.is_transaction_control(sql)


@pytest.mark.parametrize(
    "sql",
    ["SELECT 'BEGIN'", "UPDATE t SET committed = 1", "ENDPOINTS", "DELETE FROM savepoints", "SELECT 1"],
)
def test_statements_that_merely_mention_a_keyword_are_not_transaction_control(sql: str) -> None:
    assert not capture.is_transaction_control(sql)


def test_a_failing_statement_is_recorded_with_its_error_and_still_raises(tiny: Dataset) -> None:
    log, names = run_captured(
        """
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT * FROM no_such_table")
        except Exception as exc:
            caught = type(exc).__name__
        after = Tag.objects.count()
        """
    )
    failing = [q for q in log.queries if q.error]
    assert len(failing) == 1
    assert failing[0].sql == "SELECT * FROM no_such_table"
    assert failing[0].line == 4
    assert re.match(r"(OperationalError|ProgrammingError): .*no_such_table", failing[0].error or "")
    assert names["caught"] in {"OperationalError", "ProgrammingError"}
    assert names["after"] == 8
    assert log.query_count == 2


def test_latency_is_reported_as_simulated_time_and_never_inside_a_statement(tiny: Dataset) -> None:
    latency = 25.0
    started = time.perf_counter()
    log, _ = run_captured(
        """
        with transaction.atomic():
            tags = list(Tag.objects.all())
            Tag.objects.filter(pk=1).update(name="renamed")
        n = Article.objects.count()
        """,
        QueryLog(latency_ms=latency),
    )
    wall_ms = (time.perf_counter() - started) * 1000
    assert log.query_count == 3
    assert len(log.queries) == 5  # and two savepoint statements, which are not delayed
    assert log.simulated_ms == latency * 3
    assert all(q.ms < latency for q in log.queries)
    assert log.db_ms < latency
    assert wall_ms >= latency * 3


def test_params_are_json_serialisable_with_datetimes_as_iso_strings(tiny: Dataset) -> None:
    when = datetime.datetime(2025, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
    log, _ = run_captured(
        """
        when = datetime.datetime(2025, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT %s, %s, %s, %s, %s",
                [when, datetime.date(2025, 3, 4), decimal.Decimal("1.50"), None, True],
            )
        article = Article.objects.get(pk=1)
        Comment.objects.create(article=article, author_id=1, body="hi", created_at=when)
        """
    )
    assert log.queries[0].params == [when.isoformat(), "2025-03-04", "1.50", None, True]
    dumped = json.loads(json.dumps([q.to_json() for q in log.queries]))
    assert dumped[0]["params"][0] == "2025-03-04T05:06:07+00:00"
    insert = dumped[-1]
    assert insert["sql"].startswith('INSERT INTO "blog_comment"')
    assert any(
        isinstance(p, str) and p.startswith("2025-03-04") and "05:06:07" in p for p in insert["params"]
    )


def test_a_statement_with_many_params_keeps_the_first_hundred_and_says_how_many_more(tiny: Dataset) -> None:
    log, _ = run_captured(
        """
        found = list(Article.objects.filter(id__in=list(range(150))))
        """
    )
    params = log.queries[0].params or []
    assert params[:100] == list(range(100))
    assert params[100:] == ["… 50 more"]


def test_a_huge_statement_is_cut_to_max_sql_chars(tiny: Dataset) -> None:
    log, _ = run_captured(
        """
        padding = "x" * 30000
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 /* " + padding + " */")
        """
    )
    sql = log.queries[0].sql
    assert len(sql) == capture.MAX_SQL_CHARS + 2
    assert sql.endswith(" …")


def test_the_line_is_the_innermost_frame_of_the_student_code(tiny: Dataset) -> None:
    log, _ = run_captured(
        """
        def load(pk):
            return Article.objects.get(pk=pk)

        first = load(1)
        names = sorted(t.name for t in
            Tag.objects.all())
        """
    )
    assert [q.line for q in log.queries] == [2, 6]


def test_statements_sent_from_outside_the_student_code_have_no_line(tiny: Dataset) -> None:
    log = QueryLog()
    with log.capture(connection):
        Article.objects.count()
    assert [q.line for q in log.queries] == [None]


def test_the_log_stops_recording_when_the_capture_block_ends_even_on_an_error(tiny: Dataset) -> None:
    log = QueryLog()
    with pytest.raises(ZeroDivisionError), log.capture(connection):
        Tag.objects.count()
        _ = 1 / 0
    Tag.objects.count()
    assert len(log.queries) == 1
    assert connection.execute_wrappers == []
