"""Databases the benchmarks write to and read from, none of them the developer's data.

* ``throwaway_sqlite()``: a temporary SQLite file with the app's options, removed after.
* ``rolled_back(alias)``: a transaction that is always rolled back, for any backend.
* ``in_process()``: a prepared dataset, open in this process: the baseline of the sandbox's figures.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.management.color import no_style
from django.db import connections, models, transaction

from blog import seed
from blog.models import Article, Author, Category, Comment, Dataset, Tag
from sandbox import datasets as sandbox_datasets
from sandbox.contract import DatasetRef
from sandbox.worker import child
from sandbox.worker.proxy import STUDENT_FILENAME

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


@contextmanager
def in_process(dataset: DatasetRef) -> Iterator[str]:
    """``dataset`` as this thread's default database, on a private copy of its prepared file.

    The baseline of the sandbox benchmarks: the same data, the same SQLite, the
    same code, run in this process with no sandbox around it. The app's
    database is the default again afterwards.
    """
    prepared = sandbox_datasets.directory() / f"{dataset.key()}.sqlite3"
    sandbox_datasets.ensure(dataset)
    directory = Path(tempfile.mkdtemp(prefix="querylab-bench-"))
    shutil.copyfile(prepared, directory / "copy.sqlite3")
    alias = f"bench_{dataset.key()}"
    _add_alias(
        alias, NAME=str(directory / "copy.sqlite3"), OPTIONS={"init_command": "PRAGMA temp_store=MEMORY"}
    )
    previous = connections["default"]
    try:
        connections["default"] = connections[alias]
        yield alias
    finally:
        connections["default"] = previous
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
        shutil.rmtree(directory, ignore_errors=True)


class InProcessLog:
    """The capture the sandbox had before its supervisor: an execute wrapper in the code's own process.

    Kept here as the baseline the new path is measured against: it records what
    the supervisor records (SQL, parameters, time, the submitted line).
    """

    def __init__(self) -> None:
        self.queries: list[tuple[str, object, float, int | None]] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            ms = (time.perf_counter() - started) * 1000
            frame: Any = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename != STUDENT_FILENAME:
                frame = frame.f_back
            self.queries.append((sql, params, ms, frame.f_lineno if frame else None))


def run_in_process(code: str) -> InProcessLog:
    """``code`` compiled as submitted code is, run here under an ``InProcessLog``."""
    log = InProcessLog()
    compiled = child.compile_code(code)
    assert not isinstance(compiled, dict), compiled
    with connections["default"].execute_wrapper(log):
        exec(compiled, child.namespace())
    return log
