"""The supervisor's record: every statement a run sent, as its database received it.

Each test runs real code through ``runner.run`` on the tiny dataset and reads the
record that comes back: the SQL and parameters, the line (the child's word, shown
only), the rows, the time, transaction control listed but not counted, errors.
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

import pytest
from django.db import connection

from sandbox import capture, runner
from sandbox.contract import DatasetRef, Query, RunRequest, RunResult

TINY = DatasetRef("tiny", 1)
SMALL = DatasetRef("small", 1)


def run(code: str, **kwargs: Any) -> RunResult:
    result = runner.run(RunRequest(textwrap.dedent(code).strip() + "\n", dataset=TINY, **kwargs))
    assert result.error is None, result.error
    return result


def counted(result: RunResult) -> list[Query]:
    return [q for q in result.queries if not q.control]


def test_an_orm_select_is_recorded_with_its_line_and_its_rows() -> None:
    result = run(
        """
        first = 1
        titles = [a.title for a in Article.objects.order_by("id")]
        print(len(titles))
        """
    )
    (query,) = result.queries
    assert query.sql.startswith('SELECT "blog_article"."id"')
    assert (query.line, query.many, query.control, query.error, query.rows) == (2, False, False, None, 20)
    assert result.stdout == "20\n"
    assert result.query_count == 1
    assert query.ms > 0


def test_create_update_save_and_delete_are_each_recorded_on_their_own_line_with_the_rows_they_changed() -> (
    None
):
    result = run(
        """
        tag = Tag.objects.create(name="fresh", slug="fresh")
        Tag.objects.filter(pk=tag.pk).update(name="fresher")
        tag.slug = "fresher"
        tag.save()
        Comment.objects.filter(pk=1).delete()
        """
    )
    statements = [(q.sql.split()[0], q.line) for q in counted(result)]
    assert statements == [("INSERT", 1), ("UPDATE", 2), ("UPDATE", 4), ("DELETE", 5)]
    insert, update, save, delete = counted(result)
    assert 'INSERT INTO "blog_tag"' in insert.sql
    assert insert.params == ["fresh", "fresh"]
    assert save.params == ["fresh", "fresher", update.params[-1]] if update.params else False
    assert (update.rows, save.rows, delete.rows) == (1, 1, 1)


def test_raw_and_cursor_sql_are_recorded_like_the_orm() -> None:
    result = run(
        """
        rows = list(Article.objects.raw("SELECT id, title FROM blog_article WHERE id < %s", [4]))
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM blog_tag WHERE id > %s", [2])
            count = cursor.fetchone()[0]
        print(len(rows), count)
        """
    )
    assert [(q.sql, q.params, q.line) for q in result.queries] == [
        ("SELECT id, title FROM blog_article WHERE id < %s", [4], 1),
        ("SELECT COUNT(*) FROM blog_tag WHERE id > %s", [2], 3),
    ]
    assert result.stdout == "3 6\n"


def test_the_drivers_own_connection_and_cursor_are_the_supervisors_too() -> None:
    """``connection.connection``, ``cursor.cursor`` and ``cursor.connection``: every way in is recorded."""
    result = run(
        """
        connection.ensure_connection()
        raw = connection.connection
        print(raw.execute("SELECT COUNT(*) FROM blog_tag").fetchone()[0])
        wrapped = connection.cursor()
        print(wrapped.cursor.execute("SELECT COUNT(*) FROM blog_author").fetchone()[0])
        print(wrapped.cursor.connection.cursor().execute("SELECT 1").fetchone()[0])
        """
    )
    assert result.stdout == "8\n5\n1\n"
    assert [q.sql for q in result.queries] == [
        "SELECT COUNT(*) FROM blog_tag",
        "SELECT COUNT(*) FROM blog_author",
        "SELECT 1",
    ]
    assert result.query_count == 3


def test_executemany_is_one_statement_marked_many_with_its_parameter_sets_counted() -> None:
    result = run(
        """
        rows = [(f"many-{i}", f"many-{i}") for i in range(3)]
        with connection.cursor() as cursor:
            cursor.executemany("INSERT INTO blog_tag (name, slug) VALUES (%s, %s)", rows)
        print(Tag.objects.filter(name__startswith="many-").count())
        """
    )
    insert, select = result.queries
    assert (insert.many, insert.line, insert.params, insert.rows) == (True, 3, ["<3 parameter sets>"], 3)
    assert result.stdout == "3\n"


def test_savepoints_of_atomic_are_recorded_as_transaction_control_and_not_counted() -> None:
    result = run(
        """
        with transaction.atomic():
            with transaction.atomic():
                Tag.objects.create(name="inside", slug="inside")
        after = Tag.objects.count()
        """
    )
    kinds = [(q.sql.split()[0], q.control) for q in result.queries]
    assert kinds[1:] == [
        ("SAVEPOINT", True),
        ("INSERT", False),
        ("RELEASE", True),
        ("COMMIT", True),
        ("SELECT", False),
    ]
    assert kinds[0] == ("BEGIN", True)
    assert result.query_count == 2


def test_the_outermost_atomic_block_begins_and_commits_a_transaction_of_the_codes_own() -> None:
    result = run(
        """
        with transaction.atomic():
            Tag.objects.create(name="begun", slug="begun")
        print(Tag.objects.count())
        """
    )
    begin, insert, commit, select = result.queries
    assert re.match(r"BEGIN( IMMEDIATE)?$", begin.sql)
    assert (begin.control, insert.control, commit.control, select.control) == (True, False, True, False)
    assert commit.sql == "COMMIT"
    assert result.stdout == "9\n"
    assert result.query_count == 2


@pytest.mark.parametrize(
    "sql",
    ["BEGIN", "begin immediate", "  COMMIT", "ROLLBACK TO SAVEPOINT s1", 'SAVEPOINT "s1_x"',
     'RELEASE SAVEPOINT "s1_x"', "START TRANSACTION", "END", "/* a comment */ COMMIT", "abort",
     "-- a comment\nrollback work"],
)  # fmt: skip
def test_transaction_control_statements_are_recognised(sql: str) -> None:
    assert capture.is_transaction_control(sql)


@pytest.mark.parametrize(
    "sql",
    ["SELECT 'BEGIN'", "UPDATE t SET committed = 1", "ENDPOINTS", "DELETE FROM savepoints", "SELECT 1",
     "COMMIT PREPARED 'x'"],
)  # fmt: skip
def test_statements_that_merely_mention_a_keyword_are_not_transaction_control(sql: str) -> None:
    assert not capture.is_transaction_control(sql)


def test_a_failing_statement_is_recorded_with_its_error_and_still_raises() -> None:
    result = run(
        """
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT * FROM no_such_table")
        except Exception as exc:
            print(type(exc))
        print(Tag.objects.count())
        """
    )
    failing = [q for q in result.queries if q.error]
    assert len(failing) == 1
    assert failing[0].sql == "SELECT * FROM no_such_table"
    assert failing[0].line == 4
    assert re.match(
        r"(OperationalError|ProgrammingError|UndefinedTable): .*no_such_table", failing[0].error or ""
    )
    assert result.stdout in {
        "<class 'django.db.utils.OperationalError'>\n8\n",
        "<class 'django.db.utils.ProgrammingError'>\n8\n",
    }
    assert result.query_count == 2


def test_latency_is_reported_as_simulated_time_and_never_inside_a_statement() -> None:
    latency = 25.0
    result = run(
        """
        with transaction.atomic():
            tags = list(Tag.objects.all())
            Tag.objects.filter(pk=1).update(name="renamed")
        n = Article.objects.count()
        """,
        latency_ms=latency,
    )
    assert result.query_count == 3
    assert len(result.queries) == 5  # BEGIN and COMMIT too, which are not delayed
    assert result.latency["simulated_ms"] == latency * 3
    assert all(q.ms < latency for q in result.queries)
    assert result.db_ms < latency
    assert result.wall_ms.median >= latency * 3


def test_params_are_recorded_as_json_with_datetimes_as_iso_strings() -> None:
    result = run(
        """
        import datetime, decimal
        when = datetime.datetime(2025, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT %s, %s, %s, %s, %s",
                [when, datetime.date(2025, 3, 4), decimal.Decimal("1.50"), None, True],
            )
            print(cursor.fetchone())
        article = Article.objects.get(pk=1)
        Comment.objects.create(article=article, author_id=1, body="hi", created_at=when)
        """
    )
    first = result.queries[0].params or []
    assert first[1:] == ["2025-03-04", "1.50", None, True]
    assert str(first[0]).startswith("2025-03-04") and "05:06:07" in str(first[0])
    dumped = json.loads(json.dumps([q.to_json() for q in result.queries]))
    insert = dumped[-1]
    assert insert["sql"].startswith('INSERT INTO "blog_comment"')
    assert any(
        isinstance(p, str) and p.startswith("2025-03-04") and "05:06:07" in p for p in insert["params"]
    )


def test_values_travel_with_their_types_both_ways() -> None:
    result = run(
        """
        import datetime, decimal
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s, %s", [decimal.Decimal("2.5"), b"bytes"])
            print(cursor.fetchone())
        print(repr(Comment.objects.order_by("id").first().created_at)[:17])
        """
    )
    lines = result.stdout.splitlines()
    assert lines[1] == "datetime.datetime"
    assert lines[0] == "('2.5', b'bytes')"


def test_a_statement_with_many_params_keeps_the_first_hundred_and_says_how_many_more() -> None:
    result = run("found = list(Article.objects.filter(id__in=list(range(150))))")
    params = result.queries[0].params or []
    assert params[:100] == list(range(100))
    assert params[100:] == ["… 50 more"]


def test_a_huge_statement_is_cut_to_max_sql_chars() -> None:
    result = run(
        """
        padding = "x" * 30000
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 /* " + padding + " */")
        """
    )
    sql = result.queries[0].sql
    assert len(sql) == capture.MAX_SQL_CHARS + 2
    assert sql.endswith(" …")


def test_the_line_is_the_innermost_frame_of_the_submitted_code() -> None:
    result = run(
        """
        def load(pk):
            return Article.objects.get(pk=pk)

        first = load(1)
        names = sorted(t.name for t in
            Tag.objects.all())
        """
    )
    assert [q.line for q in result.queries] == [2, 6]


def test_a_big_fetch_arrives_in_batches_and_is_one_statement_with_all_its_rows() -> None:
    result = runner.run(RunRequest("print(len(list(Comment.objects.all())))", dataset=SMALL))
    assert result.stdout == "1000\n"
    (query,) = result.queries
    assert query.rows == 1000


def test_an_iterator_on_a_server_side_cursor_is_recorded_once_with_every_row() -> None:
    result = run("print(sum(1 for _ in Comment.objects.iterator(chunk_size=7)))")
    assert result.stdout == "60\n"
    (query,) = result.queries
    assert query.rows == 60


def test_the_graders_probe_is_never_in_the_record() -> None:
    result = run(
        "print(Tag.objects.count())", probe="print(Article.objects.count(), Comment.objects.count())"
    )
    assert result.probe_output == "20 60\n"
    assert [q.sql for q in result.queries] == ['SELECT COUNT(*) AS "__count" FROM "blog_tag"']


def test_this_process_records_nothing_of_its_own(db: None) -> None:
    assert connection.execute_wrappers == []


def test_statements_come_with_their_values_quoted_by_the_database() -> None:
    result = run(
        """
        import datetime
        since = datetime.datetime(2020, 1, 2, tzinfo=datetime.UTC)
        print(Article.objects.filter(title__contains="it's", pub_date__gte=since).count())
        Tag.objects.filter(pk__in=[3, 1, 2]).update(name=Lower("name"))
        """
    )
    select, update = counted(result)
    assert select.filled is not None and select.params is not None
    assert (
        "'%it''s%'" in select.filled
        and "'2020-01-02 00:00:00'" in select.filled
        and "%s" not in select.filled
    )
    assert update.filled is not None and update.filled.endswith('"blog_tag"."id" IN (3, 1, 2)')
    assert result.to_json()["queries"][0]["filled"] == select.filled


def test_a_statement_without_parameters_is_not_filled() -> None:
    (query,) = counted(run("print(Tag.objects.count())"))
    assert query.filled is None and query.params in (None, [], ())
