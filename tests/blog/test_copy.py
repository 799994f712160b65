"""A reset fills the app's tables from the sandbox's copy, inside the database, and keeps its digest honest."""

from pathlib import Path

import pytest
from django.db import connection

from blog import seed
from blog.models import Dataset
from sandbox import datasets
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
    if copy.usable("default"):  # the datasets live where the app's database can read them
        assert "generating" not in stages  # copied, not generated and written again
    else:  # the app on PostgreSQL, the datasets SQLite files: the rows are written instead
        assert connection.vendor == "postgresql" and copy.sqlite_file and "generating" in stages
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
    if copy.sqlite_file:  # a test's transaction is open: SQLite writes instead
        assert "generating" in stages
