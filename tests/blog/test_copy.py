"""A reset fills the app's tables from the sandbox's copy, inside the database, and keeps its digest honest."""

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from django.conf import settings
from django.db import IntegrityError, connection

from blog import seed
from blog.models import Article, Comment, Dataset
from sandbox import datasets, pg
from sandbox.contract import DatasetRef


@pytest.mark.parametrize("size", ["tiny", "small", "default"])
def test_the_digest_of_generated_rows_is_the_digest_of_a_database_holding_them(db: None, size: str) -> None:
    dataset = seed.seed(size, 11)  # written row by row, digested by reading the tables back
    assert seed.rows_digest(seed.generate(size, 11)) == dataset.digest == seed.dataset_digest()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", ["tiny", "small"])
def test_a_copy_fills_the_tables_with_the_same_rows(size: str) -> None:
    before = seed.seed("tiny", 1)
    wanted = DatasetRef(size, 4)
    datasets.ensure(wanted)
    copy = datasets.copy_of(wanted)
    assert copy is not None
    stages: list[str] = []
    dataset = seed.seed(size, 4, copy=copy, on_progress=lambda stage, rows: stages.append(stage))
    assert copy.usable("default")
    assert "generating" not in stages  # copied, not generated and written again
    assert dataset.digest == copy.digest == seed.dataset_digest()  # read back: the same rows
    assert dataset.counts == seed.live_counts()
    assert dataset.digest != before.digest
    assert seed.live_dataset() == dataset


@pytest.mark.django_db(transaction=True)
def test_a_copy_that_cannot_be_read_changes_nothing(tmp_path: Path) -> None:
    before = seed.seed("tiny", 1)
    missing = seed.Copy("0" * 64, sqlite_file=str(tmp_path / "gone.sqlite3"), schema="qlds_gone_1")
    with pytest.raises(Exception, match="unable to open|does not exist"):
        seed.seed("small", 4, copy=missing)
    assert seed.live_dataset() == before
    assert seed.dataset_digest() == before.digest
    assert Dataset.objects.count() == 1


def test_inside_a_transaction_sqlite_cannot_attach_so_the_rows_are_written(db: None) -> None:
    wanted = DatasetRef("tiny", 4)
    datasets.ensure(wanted)
    copy = datasets.copy_of(wanted)
    assert copy is not None
    stages: list[str] = []
    dataset = seed.seed("tiny", 4, copy=copy, on_progress=lambda stage, rows: stages.append(stage))
    assert dataset.digest == copy.digest == seed.dataset_digest()
    # A test's transaction is open: SQLite writes instead; PostgreSQL copies all the same.
    assert ("generating" in stages) == (connection.vendor == "sqlite")


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the app on PostgreSQL (CI's second pass)",
)
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_sqlite_file_and_a_schema_fill_the_tables_with_the_same_rows() -> None:
    """The sandbox's datasets as SQLite files (streamed in with COPY) or as schemas (INSERT ... SELECT)."""
    before = seed.seed("tiny", 1)
    wanted = DatasetRef("small", 4)
    datasets.ensure(wanted)  # the default sandbox: SQLite files, even with the app on PostgreSQL
    from_file = datasets.copy_of(wanted)
    assert from_file is not None and from_file.sqlite_file and not from_file.schema
    from_schema = seed.Copy(pg.ensure_dataset("small", 4), schema=pg.schema_name("small", 4))
    for copy in (from_file, from_schema):
        stages: list[str] = []
        dataset = seed.seed(
            "small", 4, copy=copy, on_progress=lambda stage, rows, seen=stages: seen.append(stage)
        )
        assert "generating" not in stages
        assert (
            dataset.digest
            == copy.digest
            == seed.dataset_digest()
            == seed.rows_digest(seed.generate("small", 4))
        )
        assert dataset.counts == seed.live_counts()
        assert Article.objects.filter(status="published", pub_date__isnull=False).exists()
        assert (
            Comment.objects.filter(is_approved=False).exists()
            and Comment.objects.filter(is_approved=True).exists()
        )
        seed.seed("tiny", 1)
    assert seed.dataset_digest() == before.digest


@pytest.mark.django_db(transaction=True)
def test_a_copy_whose_rows_point_nowhere_changes_nothing(tmp_path: Path) -> None:
    """References are checked on every backend: per row by the database, or after the copy by one query per key."""
    before = seed.seed("tiny", 1)
    wanted = DatasetRef("small", 4)
    datasets.ensure(wanted)
    copy = datasets.copy_of(wanted)
    assert copy is not None and copy.sqlite_file
    broken = tmp_path / "broken.sqlite3"
    shutil.copyfile(copy.sqlite_file, broken)
    with closing(sqlite3.connect(broken)) as db, db:
        article = db.execute("SELECT article_id FROM blog_comment LIMIT 1").fetchone()[0]
        db.execute("DELETE FROM blog_article_tags WHERE article_id = ?", [article])
        db.execute("DELETE FROM blog_article WHERE id = ?", [article])  # its comments now point nowhere
    with pytest.raises((seed.SeedError, IntegrityError)) as failed:
        seed.seed("small", 4, copy=seed.Copy(copy.digest, sqlite_file=str(broken)))
    if isinstance(failed.value, seed.SeedError):  # checked after the copy
        assert "blog_comment.article_id" in str(failed.value) and "point at no blog_article row" in str(
            failed.value
        )
    assert seed.live_dataset() == before
    assert seed.dataset_digest() == before.digest


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the app on PostgreSQL (CI's second pass)",
)
def test_a_role_that_may_not_skip_the_checks_per_row_keeps_them(db: None) -> None:
    pg.ensure_role()
    with connection.cursor() as cursor:
        assert seed._checks_after(cursor, "default")  # CI's role may
        cursor.execute("SET LOCAL session_replication_role = origin")
        cursor.execute(f"SET LOCAL ROLE {pg.ROLE}")
        assert not seed._checks_after(cursor, "default")  # refused, and the transaction goes on
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
        cursor.execute("RESET ROLE")
