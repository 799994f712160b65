"""The PostgreSQL sandbox (sandbox/pg.py): real runs on the app's PostgreSQL, never kept.

Runs in CI's PostgreSQL pass; on SQLite there is no PostgreSQL to run on.
"""

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import override_settings

from lessons import loader
from sandbox import pg, runner
from sandbox.contract import DatasetRef, RunRequest, RunResult
from tests.lessons.test_content import block_id, rows_iterated

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the PostgreSQL sandbox needs the app on PostgreSQL (CI's second pass)",
)
TINY = DatasetRef("tiny", 1)


@pytest.fixture(autouse=True)
def postgresql_sandbox(transactional_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = runner._worker
    with override_settings(SANDBOX_DATABASE="postgresql", VAR_DIR=tmp_path_factory.mktemp("pgvar")):
        runner._worker = None
        try:
            yield
        finally:
            if runner._worker is not None:
                runner._worker.stop()
            runner._worker = previous


@pytest.fixture
def baseline() -> str:
    return pg.ensure_dataset("tiny", 1)


def run(code: str) -> RunResult:
    return runner.run(RunRequest(code, dataset=TINY))


def test_runs_read_the_dataset_schema_with_every_statement_and_its_line(baseline: str) -> None:
    result = run(
        "n = Article.objects.count()\nfor a in Article.objects.order_by('id')[:3]:\n    print(a.author.username)\nprint(n)"
    )
    assert result.error is None
    assert result.stdout.splitlines()[-1] == "20"
    assert result.query_count == 5
    assert [q.line for q in result.queries if not q.control] == [1, 2, 3, 3, 3]
    assert result.dataset == {"size": "tiny", "seed": 1, "digest": baseline}
    assert "ROW_NUMBER" not in result.queries[0].sql


@pytest.mark.parametrize(
    "code",
    [
        "Comment.objects.all().delete()\nArticle.objects.update(views=0)",
        "c = connection.cursor()\nc.execute('DELETE FROM blog_comment')\nc.execute('COMMIT')",
        "Comment.objects.all().delete()\nconnection.ensure_connection()\nconnection.connection.commit()",
        "transaction.set_autocommit(False)\nComment.objects.all().delete()\ntransaction.commit()",
        "with transaction.atomic():\n    Comment.objects.all().delete()",
    ],
    ids=["orm-writes", "cursor-commit", "raw-connection-commit", "autocommit-off-commit", "atomic"],
)
def test_a_commit_is_the_codes_to_see_and_never_reaches_the_dataset(baseline: str, code: str) -> None:
    """The code's COMMIT ends its own transaction (a savepoint of the supervisor's), never the real one."""
    result = run(code + "\nprint(Comment.objects.count())")
    assert result.error is None, result.error
    assert result.stdout == "0\n"
    assert runner.digest_of(TINY) == baseline
    assert run("print(Article.objects.count(), Comment.objects.count())").stdout == "20 60\n"


def test_a_write_made_to_commit_at_once_is_refused_by_the_database_itself(baseline: str) -> None:
    """Past the supervisor, the second wall: a deferred trigger refuses any write of the sandbox role."""
    result = run(
        "c = connection.cursor()\nc.execute('SET CONSTRAINTS ALL IMMEDIATE')\nc.execute('DELETE FROM blog_comment')"
    )
    assert result.error is not None
    assert "QueryLab never keeps what a run changes" in result.error.message
    assert runner.digest_of(TINY) == baseline


def test_a_failed_statement_outside_a_transaction_fails_alone_as_in_autocommit(baseline: str) -> None:
    result = run(
        "Tag.objects.create(name='kept', slug='kept')\n"
        "try:\n    Tag.objects.create(name='kept', slug='kept')\nexcept Exception as exc:\n    print(type(exc))\n"
        "print(Tag.objects.filter(slug='kept').count())"
    )
    assert result.error is None, result.error
    assert result.stdout == "<class 'django.db.utils.IntegrityError'>\n1\n"
    assert runner.digest_of(TINY) == baseline


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SET ROLE postgres", 'permission denied to set role "postgres"'),
        ("SELECT pg_read_file('/etc/hostname')", "permission denied for function pg_read_file"),
        ("COPY blog_article TO '/tmp/querylab-copy.csv'", "to COPY to a file"),
        ("SELECT * FROM public.auth_user", "permission denied for table auth_user"),
        ("SELECT * FROM public.django_session", "permission denied for table django_session"),
        ("DROP TABLE blog_comment", "must be owner of table blog_comment"),
        ("TRUNCATE blog_comment", "permission denied for table blog_comment"),
        ("CREATE TABLE loot (x int)", "permission denied for schema"),
    ],
)
def test_the_sandbox_role_reaches_nothing_but_the_dataset(baseline: str, sql: str, message: str) -> None:
    result = run(f"connection.cursor().execute({sql!r})")
    assert result.error is not None
    assert result.error.kind == "forbidden"
    assert message in result.error.message
    assert runner.digest_of(TINY) == baseline


@pytest.mark.slow
def test_a_runaway_query_is_cancelled_by_the_statement_timeout(baseline: str) -> None:
    cte = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    result = run(f"connection.cursor().execute({cte!r})")
    assert result.error is not None
    assert result.error.kind == "timeout"
    assert "statement timeout" in result.error.message


def test_the_child_knows_no_credentials_at_all(baseline: str) -> None:
    result = run("print(repr(connection.settings_dict['USER']), repr(connection.settings_dict['PASSWORD']))")
    assert result.stdout == "'' ''\n"
    assert settings.SECRET_KEY not in result.stdout
    password = settings.DATABASES["default"].get("PASSWORD")
    assert not password or password not in result.stdout


BLOCKS = [b for lesson in loader.all_lessons() for b in lesson.blocks if not b.raises]


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=block_id)
def test_lesson_blocks_send_their_declared_queries_on_postgresql_too(block: loader.Block) -> None:
    result = run(block.code)
    assert result.error is None, result.error
    assert block.queries is not None
    n = rows_iterated(block, result, TINY)
    assert result.query_count == loader.expected_queries(block.queries, n)


def test_a_run_that_asks_for_plans_gets_postgresqls_and_streams_its_iterator(baseline: str) -> None:
    code = (
        'print(Article.objects.filter(status="published", pub_date__year=2025).count())\n'
        "print(sum(1 for _ in Article.objects.values_list('id', flat=True).iterator(chunk_size=5)))\n"
    )
    result = runner.run(RunRequest(code, dataset=TINY, explain=True))
    assert result.error is None
    counted, streamed = [q for q in result.queries if not q.control]
    assert counted.plan is not None and "article_status_pub_idx" in counted.plan
    assert "Index Cond" in counted.plan
    assert streamed.streamed and not counted.streamed
    assert result.stdout.splitlines()[-1] == "20"


def test_statements_come_with_their_values_bound_as_psycopg_binds_them(baseline: str) -> None:
    code = (
        "import datetime\n"
        "since = datetime.datetime(2020, 1, 2, tzinfo=datetime.UTC)\n"
        'print(Article.objects.filter(title__contains="it\'s", pub_date__gte=since).count())\n'
    )
    (query,) = [q for q in run(code).queries if not q.control]
    assert query.filled is not None
    assert "'%it''s%'" in query.filled and "'2020-01-02 00:00:00+00:00'::timestamptz" in query.filled


def test_own_models_get_temporary_tables_and_leave_the_schema_as_it_was(baseline: str) -> None:
    models = (
        "class Shelf(models.Model):\n    label = models.CharField(max_length=40)\n\n\n"
        "class Book(models.Model):\n    title = models.CharField(max_length=200)\n"
        "    author = models.ForeignKey(Author, on_delete=models.CASCADE)\n"
        "    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE)\n"
    )
    code = (
        "fill(Shelf, 3)\nfill(Book, 30)\n"
        "for book in Book.objects.order_by('id')[:10]:\n    book.shelf.label\n"
        "print(Book.objects.filter(author__username__isnull=False).count())\n"
    )
    result = runner.run(RunRequest(code, dataset=TINY, models=models))
    assert result.error is None, result.error
    assert result.stdout == "30\n"
    schema = [q.sql for q in result.queries if q.sql.startswith("CREATE ")]
    assert any(sql.startswith('CREATE TEMPORARY TABLE "playground_book"') for sql in schema)
    assert not any("FOREIGN KEY" in sql for sql in schema)
    assert next(f for f in result.findings if f.kind == "n_plus_one").relation == "book.shelf"
    again = runner.run(RunRequest("print(1)", dataset=TINY, models=models))  # no table left from the last run
    assert again.error is None, again.error
    assert runner.digest_of(TINY) == baseline
    # The learner's own SQL still may not create tables in the dataset's schema.
    refused = run("connection.cursor().execute('CREATE TABLE playground_loot (x int)')")
    assert refused.error is not None and "permission denied" in refused.error.message
