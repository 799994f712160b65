"""In-memory copies of the demo blog, one per (size, seed), built inside the worker.

Each dataset is its own ``:memory:`` SQLite database behind its own Django
connection. A forked child gets a copy-on-write image of it, so whatever the
child writes dies with the child: the worker's copy, and so the digest, never
change.
"""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from blog import seed
from sandbox import pg

MAX_CACHED = 4

# Statements no run may send, whatever the backend lets through: they touch
# other databases or the schema, not the data a lesson is about.
_DENIED_ACTIONS = {
    sqlite3.SQLITE_ATTACH: "ATTACH DATABASE",
    sqlite3.SQLITE_DETACH: "DETACH DATABASE",
    sqlite3.SQLITE_PRAGMA: "PRAGMA",
    sqlite3.SQLITE_DROP_TABLE: "DROP TABLE",
    sqlite3.SQLITE_DROP_INDEX: "DROP INDEX",
    sqlite3.SQLITE_DROP_VIEW: "DROP VIEW",
    sqlite3.SQLITE_DROP_TRIGGER: "DROP TRIGGER",
    sqlite3.SQLITE_CREATE_TABLE: "CREATE TABLE",
    sqlite3.SQLITE_CREATE_TRIGGER: "CREATE TRIGGER",
    sqlite3.SQLITE_CREATE_VIEW: "CREATE VIEW",
    sqlite3.SQLITE_CREATE_TEMP_TABLE: "CREATE TEMP TABLE",
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER: "CREATE TEMP TRIGGER",
    sqlite3.SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE",
    sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE",
    sqlite3.SQLITE_FUNCTION: None,  # checked by name below
}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
# Read-only pragmas EXPLAIN QUERY PLAN and the ORM itself may use.
_ALLOWED_PRAGMAS = {"table_info", "index_list", "index_info", "foreign_key_list"}

last_denied: list[str] = []


def _authorizer(action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
    if action not in _DENIED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        if (arg2 or "").lower() in _DENIED_FUNCTIONS:
            last_denied.append(f"the SQL function {arg2}()")
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _ALLOWED_PRAGMAS and arg2 is None:
        return sqlite3.SQLITE_OK
    last_denied.append(_DENIED_ACTIONS[action] or "this statement")
    return sqlite3.SQLITE_DENY


@dataclass
class Dataset:
    """An in-memory SQLite copy (``connection``), or a PostgreSQL schema (``schema``)."""

    size: str
    seed: int
    digest: str
    connection: BaseDatabaseWrapper | None
    build_seconds: float
    schema: str | None = None

    def describe(self) -> dict[str, object]:
        return {"size": self.size, "seed": self.seed, "digest": self.digest}


_cache: OrderedDict[tuple[str, int], Dataset] = OrderedDict()


def get(size: str, seed_value: int) -> Dataset:
    """The (size, seed) dataset, built on first use and kept for the next runs."""
    key = (size, seed_value)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    dataset = _attach(size, seed_value) if on_postgresql() else _build(size, seed_value)
    _cache[key] = dataset
    while len(_cache) > MAX_CACHED:
        _, evicted = _cache.popitem(last=False)
        if evicted.connection is not None:
            evicted.connection.connection.close()
    return dataset


def cached(size: str, seed_value: int) -> Dataset | None:
    """The (size, seed) dataset if it is in memory now; never builds it."""
    return _cache.get((size, seed_value))


def on_postgresql() -> bool:
    return bool(connections["default"].vendor == "postgresql")


def _attach(size: str, seed_value: int) -> Dataset:
    """A schema the web side built (sandbox.pg); the worker only reads its recorded digest.

    The connection is closed again at once: no database connection may be
    inherited by a forked child, each run opens its own.
    """
    try:
        digest = pg.dataset_digest(size, seed_value)
    finally:
        connections["default"].close()
    if digest is None:
        raise LookupError(f"the dataset {size}/{seed_value} has not been prepared on PostgreSQL")
    return Dataset(size, seed_value, digest, None, 0.0, schema=pg.schema_name(size, seed_value))


def _build(size: str, seed_value: int) -> Dataset:
    started = time.perf_counter()
    alias = f"dataset_{size}_{seed_value}"
    connections.settings[alias] = {**connections.settings["default"], "NAME": ":memory:"}
    connection = connections[alias]
    with connection.schema_editor() as editor:
        for model in pg.MODELS:
            editor.create_model(model)
    rows = seed.generate(size, seed_value)
    with transaction.atomic(using=alias):
        seed.write_raw(rows, using=alias)
    digest = seed.dataset_digest(using=alias)
    # Sorting wide rows must never need a temporary file: nothing is writable here.
    connection.connection.execute("PRAGMA temp_store = MEMORY")
    connection.connection.set_authorizer(_authorizer)
    return Dataset(size, seed_value, digest, connection, time.perf_counter() - started)


def current_digest(dataset: Dataset) -> str:
    """The digest of the dataset as it is now in the worker (it must equal ``digest``)."""
    if dataset.connection is not None:
        return seed.dataset_digest(using=dataset.connection.alias)
    activate(dataset)
    try:
        return seed.dataset_digest()
    finally:
        connections["default"].close()


def activate(dataset: Dataset) -> None:
    """Make ``dataset`` what ``django.db.connection`` and every default-database query use."""
    if dataset.connection is not None:
        connections["default"] = dataset.connection
        return
    # PostgreSQL: this process's own new connection, on the dataset's schema, with a time limit.
    connection = connections["default"]
    timeout_ms = getattr(settings, "STATEMENT_TIMEOUT_MS", 5000)
    options = f"-c search_path={dataset.schema} -c statement_timeout={timeout_ms}"
    if connection.connection is not None and connection.settings_dict["OPTIONS"].get("options") == options:
        return  # this process already connected, on this schema
    connection.connection = None  # never reuse (or close) a connection another process holds
    connection.settings_dict["OPTIONS"] = {**connection.settings_dict.get("OPTIONS", {}), "options": options}
