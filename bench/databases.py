"""Databases the benchmarks write to and read from, none of them the developer's data.

* ``throwaway_sqlite()``: a temporary SQLite file with the app's options, removed after.
* ``rolled_back(alias)``: a transaction that is always rolled back, for any backend.
* ``memory_copy()``: an in-memory dataset built exactly as the sandbox worker builds it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.color import no_style
from django.db import connections, models, transaction

from blog import seed
from blog.models import Article, Author, Category, Comment, Dataset, Tag
from sandbox.worker import datasets

SQLITE = "django.db.backends.sqlite3"
# config/settings.py's options for the app's SQLite database, used when the app
# itself runs on another backend (DATABASE_URL) and the default alias has none.
APP_SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
BLOG_MODELS: tuple[type[models.Model], ...] = (Author, Category, Tag, Article, Comment)


def _add_alias(alias: str, **overrides: Any) -> None:
    base = {k: v for k, v in connections.settings["default"].items() if k not in ("HOST", "USER", "PASSWORD")}
    connections.settings[alias] = {**base, "ENGINE": SQLITE, "PORT": "", **overrides}


def _create_schema(alias: str, extra: tuple[type[models.Model], ...] = ()) -> None:
    with connections[alias].schema_editor() as editor:
        for model in (*BLOG_MODELS, *extra):
            editor.create_model(model)  # the M2M table of Article.tags comes with Article


@contextmanager
def throwaway_sqlite(alias: str = "bench_sqlite") -> Iterator[str]:
    """A temporary SQLite file database with the app's options and blog schema."""
    default = connections.settings["default"]
    options = default["OPTIONS"] if default["ENGINE"] == SQLITE else APP_SQLITE_OPTIONS
    directory = Path(tempfile.mkdtemp(prefix="querylab-bench-"))
    _add_alias(alias, NAME=str(directory / "bench.sqlite3"), OPTIONS=dict(options))
    try:
        _create_schema(alias, extra=(Dataset,))
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def rolled_back(alias: str, *, empty: bool = False) -> Iterator[None]:
    """A transaction on ``alias`` that is always rolled back; ``empty`` clears the blog first."""
    with transaction.atomic(using=alias):
        if empty:
            seed._delete_all(alias)  # the same DELETEs seed.write() starts with
        yield
        transaction.set_rollback(True, using=alias)


def reset_sequences(alias: str) -> None:
    """Put sequences back to the live rows (PostgreSQL's setval ignores rollbacks)."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [*seed.TABLE_ROWS, Dataset]):
            cursor.execute(sql)


def memory_copy(size: str, seed_value: int) -> datasets.Dataset:
    """The (size, seed) dataset in ``:memory:``, built as ``sandbox.worker.datasets`` builds it."""
    alias = f"bench_memory_{size}_{seed_value}"
    _add_alias(alias, NAME=":memory:", OPTIONS={})  # the worker's settings have no OPTIONS
    _create_schema(alias)
    rows = seed.generate(size, seed_value)
    with transaction.atomic(using=alias):
        seed.write_raw(rows, using=alias)
    connection = connections[alias]
    digest = seed.dataset_digest(using=alias)
    connection.connection.execute("PRAGMA temp_store = MEMORY")  # as datasets._build() does
    connection.connection.set_authorizer(datasets._authorizer)
    return datasets.Dataset(size, seed_value, digest, connection, 0.0)


@contextmanager
def activated(dataset: datasets.Dataset) -> Iterator[None]:
    """``dataset`` as this thread's default database, as in the worker; the app's is restored after."""
    previous = connections["default"]
    try:
        datasets.activate(dataset)
        yield
    finally:
        connections["default"] = previous
