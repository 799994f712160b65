"""The supervisor: one per run, the run's database and the only record of what the run did.

Forked by the worker's main process as a *spare* before any run exists, a
supervisor first forks the child that will run the code (so the child inherits
no database connection), then opens the run's database: its own view of the
staged SQLite copy, or its own PostgreSQL connection as the sandbox role. When
a run is handed over, it sends the code to the child and serves the child's
statements one by one: it executes each on its database inside a transaction
that is always rolled back, records it (``sandbox.capture``) and answers with
the rows. It watches the clock, the child's output and the client, and when
the child has ended it runs the grader's probe on the run's transaction, rolls
everything back and answers the client with a ``RunResult``.

The child can say anything on its channel; the supervisor only ever treats it
as requests to execute (which it records) and as the child's own account of
how its code ended (shown, not trusted for counts or timings).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.sqlite3.base import SQLiteCursorWrapper

from blog import seed
from sandbox import capture, pg
from sandbox.contract import DatasetRef, Limits, RunError, RunResult, Timing
from sandbox.worker import child, wire
from sandbox.worker.zygote import Child, Zygote

# A spare's child warms up after this long without a run, and for at most this long.
WARM_UP_AFTER_SECONDS = 0.025
WARM_UP_SECONDS = 5.0
# A confined child waiting for its code starts at once; this long means it never will.
START_SECONDS = 10
# Rows sent with a statement's answer, and per further fetch, unless the child asks for fewer.
BATCH_ROWS = 5_000
OPEN_CURSORS = 64
# The statements whose plan a run may ask for (RunRequest.explain): the first this many.
EXPLAINED = 50
STAGED_DATASETS = 4
# Savepoints of the supervisor's own: a run may not name one so.
RESERVED_PREFIX = "ql_"
CHILD_TXN = "ql_txn"
AUTOCOMMIT_MARK = "ql_auto"

# Statements no run may send, whatever SQLite lets through: they touch other
# databases, the schema or the transaction the supervisor holds.
_DENIED_ACTIONS = {
    sqlite3.SQLITE_ATTACH: "ATTACH DATABASE",
    sqlite3.SQLITE_DETACH: "DETACH DATABASE",
    sqlite3.SQLITE_PRAGMA: "PRAGMA",
    sqlite3.SQLITE_DROP_TABLE: "DROP TABLE",
    sqlite3.SQLITE_DROP_INDEX: "DROP INDEX",
    sqlite3.SQLITE_DROP_VIEW: "DROP VIEW",
    sqlite3.SQLITE_DROP_TRIGGER: "DROP TRIGGER",
    sqlite3.SQLITE_CREATE_TABLE: "CREATE TABLE",
    sqlite3.SQLITE_CREATE_INDEX: "CREATE INDEX",
    sqlite3.SQLITE_CREATE_TRIGGER: "CREATE TRIGGER",
    sqlite3.SQLITE_CREATE_VIEW: "CREATE VIEW",
    sqlite3.SQLITE_CREATE_TEMP_TABLE: "CREATE TEMP TABLE",
    sqlite3.SQLITE_CREATE_TEMP_INDEX: "CREATE TEMP INDEX",
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER: "CREATE TEMP TRIGGER",
    sqlite3.SQLITE_CREATE_TEMP_VIEW: "CREATE TEMP VIEW",
    sqlite3.SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE",
    sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE",
    sqlite3.SQLITE_TRANSACTION: "This form of transaction control",
    sqlite3.SQLITE_FUNCTION: None,  # checked by name below
    sqlite3.SQLITE_SAVEPOINT: None,  # checked by name below
}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
# Read-only pragmas EXPLAIN QUERY PLAN and the ORM itself may use.
_ALLOWED_PRAGMAS = {"table_info", "index_list", "index_info", "foreign_key_list"}


# A learner's own models (sandbox.worker.own_models): the only statements a run may use to make tables.
_SCHEMA_STATEMENT = re.compile(
    r'CREATE (?:TABLE "playground_\w+" \(|(?:UNIQUE )?INDEX "\w+" ON "playground_\w+" \()'
)
_SCHEMA_REFUSED = "only the playground's own tables and indexes may be created"
MAX_SCHEMA_STATEMENTS = 500
_FOREIGN_KEY_CONSTRAINT = re.compile(r'ALTER TABLE "playground_\w+" ADD CONSTRAINT "\w+" FOREIGN KEY ')


def _temporary(sql: str) -> str:
    """A checked ``CREATE TABLE "playground_..."`` as a temporary table; other statements as they are."""
    table = 'CREATE TABLE "playground_'
    return "CREATE TEMPORARY TABLE " + sql.removeprefix("CREATE TABLE ") if sql.startswith(table) else sql


def _described_models(described: list[Any], limit: int) -> list[dict[str, Any]]:
    """The child's description of its models, kept to plain, short data: it is drawn, never trusted."""

    def text(value: Any) -> str:
        return str(value)[:80] if isinstance(value, str | int) else ""

    models = []
    for model in described[:limit]:
        if not isinstance(model, dict):
            continue
        fields: list[Any] = model["fields"] if isinstance(model.get("fields"), list) else []
        models.append(
            {
                "name": text(model.get("name")),
                "table": text(model.get("table")),
                "app": "playground",
                "fields": [
                    {
                        "name": text(f.get("name")),
                        "type": text(f.get("type")),
                        "to": text(f.get("to")) or None,
                        "key": f.get("key") is True,
                        "column": text(f.get("column")) or None,
                    }
                    for f in fields[:100]
                    if isinstance(f, dict)
                ],
            }
        )
    return models


class StatementTimeout(KeyboardInterrupt):
    """Raised by SIGALRM inside a PostgreSQL statement; psycopg cancels it on the server."""


def _alarm(signum: int, frame: object) -> None:
    raise StatementTimeout


@dataclass
class Where:
    """Where this worker finds datasets: prepared (read-only) and staged (its private copies)."""

    datasets: Path
    staged: Path
    hidden: list[str]  # what a child must not see


def _staged_copy(where: Where, dataset: DatasetRef) -> Path:
    """The worker's private, writable copy of a prepared SQLite dataset, made once."""
    staged = where.staged / f"{dataset.key()}.sqlite3"
    if not staged.exists():
        with open(where.staged / f"{dataset.key()}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not staged.exists():
                source = where.datasets / f"{dataset.key()}.sqlite3"
                if not source.exists():
                    raise LookupError(f"the dataset {dataset.size}/{dataset.seed} has not been prepared")
                temporary = staged.with_suffix(".tmp")
                shutil.copyfile(source, temporary)
                os.replace(temporary, staged)
                _evict(where, keep=staged)
    os.utime(staged)  # recently used: evicted last
    return staged


def _evict(where: Where, keep: Path) -> None:
    copies = sorted(where.staged.glob("*.sqlite3"), key=lambda path: path.stat().st_mtime, reverse=True)
    for old in [path for path in copies if path != keep][STAGED_DATASETS - 1 :]:
        old.unlink(missing_ok=True)  # a supervisor that has it open keeps reading it


_NOT_CONTROL = frozenset("SsIiUuDdWwVvEe(")


def _may_be_control(sql: str) -> bool:
    """False for what is surely not transaction control (SELECT, INSERT...): the cheap test first."""
    first = sql.lstrip()[:1]
    return first not in _NOT_CONTROL or sql.lstrip()[:4].upper() in {"SAVE", "END", "END;"} or first in "Ee"


_SQLITE_ABOUT: dict[str, Any] = {}


def preload() -> None:
    """Load, in the worker's main process, what every supervisor and child would load on its own.

    Everything loaded here is shared copy-on-write by the processes forked from it;
    what a fork loads itself, it pays for in every run (measured: 5 ms of CPU to
    open a run's SQLite database in a fork that had never opened one).
    """
    import sqlparse  # noqa: F401  (the one-statement check on PostgreSQL)

    if on_postgresql():
        import psycopg.pq  # noqa: F401
        from django.db.backends.postgresql import base  # noqa: F401

        return
    scratch = RunDatabase(DatasetRef("default", 0), connections["default"], Limits())
    scratch.connect()  # the in-memory database of the worker's settings: empty
    _SQLITE_ABOUT.update(scratch.about())
    scratch.close()
    child.namespace()


def on_postgresql() -> bool:
    """Whether this worker's runs use PostgreSQL (``sandbox/pg.py``) rather than staged SQLite copies."""
    return str(settings.DATABASES["default"]["ENGINE"]).endswith("postgresql")


@dataclass
class RunDatabase:
    """The run's database: a Django connection of the supervisor's own, and the run's record.

    Everything a run changes stays in one transaction that ``reset()`` rolls
    back. The child's own transactions become savepoints inside it, so that
    BEGIN, COMMIT and ROLLBACK behave for the code as they would on a
    connection of its own.
    """

    dataset: DatasetRef
    wrapper: BaseDatabaseWrapper
    limits: Limits
    log: capture.StatementLog = field(default_factory=capture.StatementLog)
    latency_ms: float = 0.0
    autocommit: bool = True  # the child's view
    in_txn: bool = False  # the child has a transaction open
    cursors: dict[int, tuple[Any, capture.Entry]] = field(default_factory=dict)
    next_cursor: int = 1
    deadline: float = float("inf")
    timed_out: bool = False
    denied: list[str] = field(default_factory=list)
    out_of_memory: bool = False
    _own: bool = False  # the supervisor's own statements pass the authorizer
    qmarks: dict[str, str] = field(default_factory=dict)
    connected: bool = False
    described: dict[str, Any] | None = None
    descriptions: dict[str, bool] = field(default_factory=dict)
    models: list[dict[str, Any]] | None = None  # the learner's own models, once their tables exist

    def __post_init__(self) -> None:
        self.sqlite = self.wrapper.vendor == "sqlite"

    @property
    def vendor(self) -> str:
        return str(self.wrapper.vendor)

    @property
    def raw(self) -> Any:
        return self.wrapper.connection

    @classmethod
    def open(cls, where: Where, dataset: DatasetRef, limits: Limits) -> RunDatabase:
        alias = f"run_{dataset.key()}"
        if on_postgresql():
            options = f"-c search_path={pg.schema_name(dataset.size, dataset.seed)} -c statement_timeout={limits.statement_ms}"
            connections.settings[alias] = {
                **connections.settings["default"],
                "OPTIONS": {**connections.settings["default"].get("OPTIONS", {}), "options": options},
            }
        else:
            path = _staged_copy(where, dataset)
            # No locks: every supervisor writes only its own cache, and nothing is ever committed.
            connections.settings[alias] = {
                **connections.settings["default"],
                "NAME": f"file:{path}?vfs=unix-none",
                "OPTIONS": {
                    "init_command": (
                        "PRAGMA journal_mode=MEMORY; PRAGMA temp_store=MEMORY; PRAGMA cache_spill=OFF; "
                        f"PRAGMA mmap_size={1 << 31}; PRAGMA cache_size=-{limits.memory_mb * 1024}; "
                        f"PRAGMA hard_heap_limit={(limits.memory_mb + 256) * 1024 * 1024}"
                    )
                },
            }
        wrapper = connections[alias]
        connections["default"] = wrapper  # the probe's ORM queries run here too
        return cls(dataset, wrapper, limits)

    def connect(self) -> None:
        """Connect on first use: a run that never reaches the database never pays for it."""
        if not self.connected:
            self.wrapper.ensure_connection()
            self._prepare()
            self.connected = True

    def _prepare(self) -> None:
        if self.vendor == "sqlite":
            self.raw.set_authorizer(self._authorize)
            self.raw.set_progress_handler(self._progress, 10_000)
            with self.own():
                _ = self.wrapper.features.supports_json_field  # measured here, never in the child
        else:
            self.raw.autocommit = True
            signal.signal(signal.SIGALRM, _alarm)
        self.begin()

    def about(self) -> dict[str, Any]:
        """What the child's stand-in connection needs to know of this one.

        SQLite's is the same for every dataset and was measured once, in the worker's
        main process (``preload``): telling it costs no connection.
        """
        if self.sqlite and _SQLITE_ABOUT:
            return _SQLITE_ABOUT
        self.connect()
        features = {
            name: value
            for name, value in vars(self.wrapper.features).items()
            if isinstance(value, bool | int | str | type(None)) and name != "connection"
        }
        about: dict[str, Any] = {
            "vendor": self.vendor,
            "engine": self.wrapper.settings_dict["ENGINE"],
            "features": features,
        }
        if self.vendor == "sqlite":
            about["sqlite_limits"] = {
                category: self.raw.getlimit(category)
                for category in (sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, sqlite3.SQLITE_LIMIT_COLUMN)
            }
        else:
            info = self.raw.info
            about["server_version"] = info.server_version
            about["parameters"] = {
                name: info.parameter_status(name) for name in ("TimeZone", "server_version")
            }
        return about

    # The supervisor's own statements.

    @contextlib.contextmanager
    def own(self) -> Iterator[None]:
        self._own = True
        try:
            yield
        finally:
            self._own = False

    def _own_sql(self, sql: str) -> None:
        with self.own(), contextlib.closing(self.raw.cursor()) as cursor:
            cursor.execute(sql)

    def begin(self) -> None:
        self._own_sql("BEGIN")
        if self.vendor == "postgresql":
            self._own_sql(f"SAVEPOINT {AUTOCOMMIT_MARK}")

    def reset(self) -> None:
        """Roll back everything the run did; a fresh transaction for the next repeat."""
        for cursor, _ in self.cursors.values():
            with contextlib.suppress(Exception):
                cursor.close()
        self.cursors.clear()
        self.autocommit, self.in_txn = True, False
        # A new child: a new record, and it knows no statement's columns yet.
        self.log, self.descriptions, self.models = capture.StatementLog(), {}, None
        self.timed_out, self.out_of_memory, self.denied = False, False, []
        if self.connected:
            self._own_sql("ROLLBACK")
            self.begin()

    def next_run(self) -> None:
        """Between two runs, two learners perhaps: nothing of the last one survives, session state included."""
        if self.connected and not self.sqlite:
            self._own_sql("ROLLBACK")
            self._own_sql("DISCARD ALL")  # prepared statements, advisory locks, cursors held...
            self._own_sql("BEGIN")  # reset() below rolls this back and begins again
        self.reset()

    def close(self) -> None:
        if not self.connected:
            return
        with contextlib.suppress(Exception):
            self._own_sql("ROLLBACK")
        self.wrapper.close()
        if self.vendor == "sqlite":  # Django keeps in-memory-looking databases open; this one is a file
            with contextlib.suppress(Exception):
                self.raw.close()
            self.wrapper.connection = None

    # Limits.

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None
    ) -> int:
        if action not in _DENIED_ACTIONS or self._own:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in _DENIED_FUNCTIONS:
                self.denied.append(f"the SQL function {arg2}()")
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_SAVEPOINT:
            if (arg2 or "").lower().startswith(RESERVED_PREFIX):
                self.denied.append(f"A savepoint named {arg2}")
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _ALLOWED_PRAGMAS and arg2 is None:
            return sqlite3.SQLITE_OK
        self.denied.append(_DENIED_ACTIONS[action] or "this statement")
        return sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        if time.monotonic() > self.deadline:
            self.timed_out = True
            return 1
        return 0

    def _arm(self, run_deadline: float) -> None:
        """The statement's time limit: its own, or what is left of the run's, whichever ends first."""
        self.deadline = min(time.monotonic() + self.limits.statement_ms / 1000, run_deadline)
        if not self.sqlite:
            signal.setitimer(signal.ITIMER_REAL, max(0.001, self.deadline - time.monotonic()))

    def _disarm(self, exc: BaseException | None) -> None:
        if not self.sqlite:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self.deadline = float("inf")
        if isinstance(exc, StatementTimeout):
            self.timed_out = True

    @contextlib.contextmanager
    def limited(self, run_deadline: float) -> Iterator[None]:
        self._arm(run_deadline)
        try:
            yield
        except StatementTimeout as exc:
            self._disarm(exc)
            raise
        self._disarm(None)

    # The child's requests.

    def handle(self, request: wire.Request, run_deadline: float) -> tuple[Any, ...]:
        self.connect()
        op = request.op
        if op == wire.EXECUTE:
            return self._execute(request, run_deadline)
        if op == wire.FETCH:
            return self._fetch(request.a, request.b, run_deadline)
        if op == wire.CLOSE:
            self._close_cursor(request.a)
            return ("ok", None)
        if op == wire.COMMIT:
            return self._control(capture.Control("commit"), "COMMIT", request.line, implicit=True)
        if op == wire.ROLLBACK:
            return self._control(capture.Control("rollback"), "ROLLBACK", request.line, implicit=True)
        if op == wire.SCHEMA:
            return self._schema(request, run_deadline)
        if op == wire.AUTOCOMMIT:
            if request.a and self.in_txn:
                self._control(capture.Control("commit"), "COMMIT", None, implicit=True)
            self.autocommit = bool(request.a)
            return ("ok", None)
        raise wire.ProtocolError(f"an unknown request {op}")

    def _schema(self, request: wire.Request, run_deadline: float) -> tuple[Any, ...]:
        """The tables of the learner's own models: DDL compiled by the child, checked here, run as ours.

        Once per run, before the code: each statement must create a playground table or
        an index on one (anything else is refused), and it is listed as a schema
        statement, not counted. It is rolled back with the rest of the run.
        """
        params = request.params if isinstance(request.params, dict) else {}
        statements, described = params.get("statements"), params.get("models")
        if (
            self.models is not None
            or not isinstance(statements, list)
            or not isinstance(described, list)
            or len(statements) > MAX_SCHEMA_STATEMENTS
            or not all(isinstance(sql, str) for sql in statements)
        ):
            raise wire.ProtocolError("a schema request that is not one, or a second one")
        if not self.sqlite:
            # The sandbox role may not create tables in the dataset's schema: the models' tables
            # are temporary ones (they end with the run's transaction all the same), and a
            # temporary table may not reference a permanent one, so their foreign keys are
            # relations Django follows but no constraint the database checks.
            statements = [sql for sql in statements if not _FOREIGN_KEY_CONSTRAINT.match(sql)]
        for sql in statements:
            if not _SCHEMA_STATEMENT.match(sql):
                entry = self.log.add(sql, line=request.line, control=True)
                entry.error = f"ProgrammingError: {_SCHEMA_REFUSED}"
                return ("error", "ProgrammingError", _SCHEMA_REFUSED, None)
        for sql in statements if self.sqlite else map(_temporary, statements):
            entry = self.log.add(sql, line=request.line, control=True)
            started = time.perf_counter()
            try:
                with self.own(), self.limited(run_deadline), contextlib.closing(self.raw.cursor()) as cursor:
                    cursor.execute(sql)
            except (Exception, StatementTimeout) as exc:
                entry.error = f"{type(exc).__name__}: {str(exc).strip()}"
                return self._error(exc)
            finally:
                entry.ms = (time.perf_counter() - started) * 1000
        self.models = _described_models(described, self.limits.max_models)
        return ("ok", None)

    def _error(self, exc: BaseException) -> tuple[Any, ...]:
        if isinstance(exc, StatementTimeout):
            return ("error", "OperationalError", "canceling statement due to statement timeout", "57014")
        if isinstance(exc, MemoryError):
            self.out_of_memory = True
            return ("error", "OperationalError", "out of memory", "53200")
        sqlstate = getattr(exc, "sqlstate", None)
        if self.vendor == "sqlite" and str(exc) == "interrupted":
            return ("error", "OperationalError", "interrupted: the statement ran past its time limit", None)
        return ("error", type(exc).__name__, str(exc).strip(), sqlstate)

    def _control(
        self, control: capture.Control, sql: str, line: int | None, *, implicit: bool = False
    ) -> tuple[Any, ...]:
        """Transaction control, played on savepoints of the supervisor's transaction."""
        sqlite = self.vendor == "sqlite"
        action = control.action
        reply: tuple[Any, ...] = ("ok", (None, -1, None, [], None))
        if control.name and control.name.lower().startswith(RESERVED_PREFIX):
            entry = self.log.add(sql, line=line, control=True)
            entry.error = "NotSupportedError: savepoint names starting with ql_ are the sandbox's own"
            return (
                "error",
                "NotSupportedError",
                "savepoint names starting with ql_ are the sandbox's own",
                "0A000",
            )
        if action == "begin":
            if self.in_txn:
                if sqlite:
                    return self._refuse(sql, line, "cannot start a transaction within a transaction")
            else:
                self._own_sql(f"SAVEPOINT {CHILD_TXN}")
                self.in_txn = True
        elif action in {"commit", "rollback"}:
            if not self.in_txn:
                if implicit or not sqlite:
                    return reply if implicit else self._record_control(sql, line, reply)
                return self._refuse(sql, line, f"cannot {action} - no transaction is active")
            aborted = not sqlite and self._aborted()
            if action == "rollback" or aborted:
                self._own_sql(f"ROLLBACK TO SAVEPOINT {CHILD_TXN}")
            self._own_sql(f"RELEASE SAVEPOINT {CHILD_TXN}")
            self.in_txn = False
            self._mark()
        else:
            if not sqlite and not self.in_txn and self.autocommit:
                return self._refuse(
                    sql, line, f"{action.upper().replace('_', ' ')} can only be used in transaction blocks"
                )
            return self._run(sql, None, line, many=False, name=None, run_deadline=float("inf"), control=True)
        return self._record_control(sql, line, reply)

    def _record_control(self, sql: str, line: int | None, reply: tuple[Any, ...]) -> tuple[Any, ...]:
        self.log.add(sql, line=line, control=True)
        return reply

    def _refuse(self, sql: str, line: int | None, message: str) -> tuple[Any, ...]:
        entry = self.log.add(sql, line=line, control=True)
        entry.error = f"OperationalError: {message}"
        return ("error", "OperationalError", message, "25P01")

    def _aborted(self) -> bool:
        from psycopg import pq

        return bool(self.raw.info.transaction_status == pq.TransactionStatus.INERROR)

    def _mark(self) -> None:
        """PostgreSQL: what the code has done so far survives a later failed statement, as in autocommit."""
        if self.vendor == "postgresql" and not self.in_txn:
            self._own_sql(f"RELEASE SAVEPOINT {AUTOCOMMIT_MARK}; SAVEPOINT {AUTOCOMMIT_MARK}")

    def _recover(self) -> None:
        """PostgreSQL: a failed statement outside the code's own transaction fails alone, as in autocommit."""
        if self.vendor == "postgresql" and not self.in_txn and self._aborted():
            self._own_sql(f"ROLLBACK TO SAVEPOINT {AUTOCOMMIT_MARK}")

    def _execute(self, request: wire.Request, run_deadline: float) -> tuple[Any, ...]:
        sql, line = request.sql, request.line
        self._close_cursor(request.a)
        control = capture.transaction_control(sql) if _may_be_control(sql) else None
        if control is not None:
            return self._control(control, sql, line)
        if self.vendor == "postgresql" and ";" in sql.rstrip().rstrip(";"):
            import sqlparse

            if len([s for s in sqlparse.split(sql) if s.strip()]) > 1:
                entry = self.log.add(sql, line=line)
                entry.error = "ProgrammingError: You can only execute one statement at a time."
                return ("error", "ProgrammingError", "You can only execute one statement at a time.", "42601")
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
            self.log.simulated_ms += self.latency_ms
        # Outside autocommit a transaction opens by itself: psycopg before any statement,
        # sqlite3 (its legacy isolation levels) before a write.
        opens = not self.sqlite or sql.lstrip()[:7].upper().startswith(
            ("INSERT", "UPDATE", "DELETE", "REPLACE")
        )
        if not self.autocommit and not self.in_txn and opens:
            self._control(capture.Control("begin"), "BEGIN", line)
        many = bool(request.flags & wire.MANY)
        if many and not isinstance(request.params, list):
            raise wire.ProtocolError("executemany without a list of parameter sets")
        return self._run(sql, request.params, line, many=many, name=request.name, run_deadline=run_deadline)

    def _run(
        self,
        sql: str,
        params: Any,
        line: int | None,
        *,
        many: bool,
        name: str | None,
        run_deadline: float,
        control: bool = False,
    ) -> tuple[Any, ...]:
        entry = self.log.add(sql, params, line=line, many=many, control=control)
        entry.streamed = name is not None
        cursor = self._cursor(name)
        self._arm(run_deadline)
        started = time.perf_counter()
        try:
            sent = self._sqlite_sql(sql, params, many) if self.sqlite else sql
            if many:
                cursor.executemany(sent, params)
            elif params is None and self.sqlite:
                cursor.execute(sent)
            else:
                cursor.execute(sent, params)
            description = cursor.description
            rows = cursor.fetchmany(BATCH_ROWS) if description and not name else []
        except (Exception, StatementTimeout) as exc:
            entry.ms = (time.perf_counter() - started) * 1000
            self._disarm(exc)
            entry.error = f"{type(exc).__name__}: {str(exc).strip()}"
            with contextlib.suppress(Exception):
                cursor.close()
            self._recover()
            return self._error(exc)
        entry.ms = (time.perf_counter() - started) * 1000
        self._disarm(None)
        rowcount, lastrowid = cursor.rowcount, getattr(cursor, "lastrowid", None)  # before it is closed
        handle = None
        if not many and len(self.log.entries) <= self.limits.queries_reported:
            entry.sent = (sent, params)
        if description:
            entry.rows = len(rows)
            if name or len(rows) == BATCH_ROWS:
                handle = self._keep(cursor, entry)
            else:
                cursor.close()
            description = self._described(sql, description)
        else:
            entry.rows = max(rowcount, 0)
            cursor.close()
        if not (self.sqlite or control or self.in_txn or sql.lstrip()[:6].upper() == "SELECT"):
            self._mark()
        return ("ok", (description, rowcount, lastrowid, rows, handle))

    def _described(self, sql: str, description: Any) -> Any:
        """The columns, or True when this SQL's were sent before: the child keeps them."""
        if sql in self.descriptions:
            return True
        if not self.sqlite:
            description = [
                (c.name, c.type_code, c.display_size, c.internal_size, c.precision, c.scale, c.null_ok)
                for c in description
            ]
        if len(self.descriptions) < 4096:
            self.descriptions[sql] = True
        return description

    def _sqlite_sql(self, sql: str, params: Any, many: bool) -> str:
        """Django's "format" placeholders in SQLite's "qmark" style, as Django's cursor converts them."""
        if params is None:
            return sql
        first = (params[0] if params else None) if many else params
        if isinstance(first, dict):
            return sql % {name: f":{name}" for name in first}
        converted = self.qmarks.get(sql)
        if converted is None:
            converted = SQLiteCursorWrapper.convert_query(None, sql)  # type: ignore[arg-type]
            if len(self.qmarks) < 4096:
                self.qmarks[sql] = converted
        return converted

    def _cursor(self, name: str | None) -> Any:
        if self.sqlite:
            return self.raw.cursor()  # placeholders converted by _sqlite_sql, as Django's cursor would
        if name:
            from django.db.backends.postgresql.base import ServerSideCursor

            return ServerSideCursor(self.raw, name=name, scrollable=False, withhold=self.autocommit)  # type: ignore[call-arg]
        return self.wrapper.create_cursor()

    def _keep(self, cursor: Any, entry: capture.Entry) -> int:
        while len(self.cursors) >= OPEN_CURSORS:
            self._close_cursor(next(iter(self.cursors)))
        handle, self.next_cursor = self.next_cursor, self.next_cursor + 1
        self.cursors[handle] = (cursor, entry)
        return handle

    def _close_cursor(self, handle: int) -> None:
        kept = self.cursors.pop(handle, None) if handle else None
        if kept is not None:
            with contextlib.suppress(Exception):
                kept[0].close()

    def _fetch(self, handle: int, size: int, run_deadline: float) -> tuple[Any, ...]:
        kept = self.cursors.get(handle)
        if kept is None:
            return ("error", "InterfaceError", "the cursor is closed", None)
        cursor, entry = kept
        size = size if 0 < size <= BATCH_ROWS else BATCH_ROWS
        started = time.perf_counter()
        try:
            with self.limited(run_deadline):
                rows = cursor.fetchmany(size)
        except (Exception, StatementTimeout) as exc:
            entry.ms += (time.perf_counter() - started) * 1000
            self._close_cursor(handle)
            self._recover()
            return self._error(exc)
        entry.ms += (time.perf_counter() - started) * 1000
        entry.rows += len(rows)
        if len(rows) < size:
            self._close_cursor(handle)
            return ("ok", (rows, None))
        return ("ok", (rows, handle))

    # After the child.

    def close_child_transaction(self) -> None:
        """The code ended with a transaction open: like a closed connection, it is lost."""
        if not self.connected:
            return
        if self.in_txn:
            self._own_sql(f"ROLLBACK TO SAVEPOINT {CHILD_TXN}")
            self._own_sql(f"RELEASE SAVEPOINT {CHILD_TXN}")
            self.in_txn = False
        elif self.vendor == "postgresql" and self._aborted():
            self._own_sql(f"ROLLBACK TO SAVEPOINT {AUTOCOMMIT_MARK}")

    def probe(self, code: str) -> str:
        """The grader's read-back, on the run's transaction: never recorded, never seen by the code."""
        import io

        output = io.StringIO()
        self.connect()
        try:
            with (
                contextlib.redirect_stdout(output),
                self.limited(time.monotonic() + self.limits.statement_ms / 1000),
            ):
                exec(compile(code, "<probe>", "exec"), child.namespace(guarded=False))
        except (
            Exception,
            StatementTimeout,
        ) as exc:  # reported as the probe's output, which then fails to match
            print(f"probe failed: {type(exc).__name__}: {exc}", file=output)
        return output.getvalue()

    def fill(self, log: capture.StatementLog) -> None:
        """Each reported statement with its parameters in place, quoted as the backend quotes them.

        Django's own ``last_executed_query``: SQLite's asks the database to QUOTE()
        each value (on this connection, unrecorded), PostgreSQL's binds them on the
        client as psycopg would. Done after the run, so no run's timing pays for it.
        """
        ops = self.wrapper.ops
        # SQLite's quoting runs statements: bounded like one (the run's own deadline may be past).
        bounded = self.limited(time.monotonic() + self.limits.statement_ms / 1000) if self.sqlite else None
        with self.own(), bounded or contextlib.nullcontext():
            for entry in log.entries:
                if entry.sent is None or not entry.sent[1]:
                    continue
                try:
                    if self.sqlite:
                        entry.filled = ops.last_executed_query(None, entry.sql, entry.sent[1])
                    else:
                        entry.filled = ops.compose_sql(entry.sql, entry.sent[1])  # type: ignore[attr-defined]  # PostgreSQL's
                except Exception:  # a value the backend cannot quote: the panel shows the placeholders
                    entry.filled = None

    def explain(self, log: capture.StatementLog) -> None:
        """The plan of the first SELECTs the code sent, asked of the database after the run, on its transaction."""
        self.connect()
        prefix = "EXPLAIN QUERY PLAN " if self.sqlite else "EXPLAIN "
        selects = [
            e for e in log.entries if e.sent and not e.error and e.sql.lstrip()[:6].upper() == "SELECT"
        ]
        for entry in selects[:EXPLAINED]:
            assert entry.sent is not None
            sql, params = entry.sent
            try:
                with (
                    self.own(),
                    self.limited(time.monotonic() + self.limits.statement_ms / 1000),
                    contextlib.closing(self.raw.cursor()) as cursor,
                ):
                    cursor.execute(prefix + sql, params) if params is not None else cursor.execute(
                        prefix + sql
                    )
                    rows = cursor.fetchall()
            except (Exception, StatementTimeout):
                self._recover()
                continue
            # SQLite: (id, parent, notused, detail), as Django's explain() prints them; PostgreSQL: one text column.
            entry.plan = "\n".join(" ".join(str(value) for value in row) for row in rows)

    def digest(self) -> str:
        self.connect()
        with self.own():
            return seed.dataset_digest(using=self.wrapper.alias)

    def describe(self, where: Where) -> dict[str, Any]:
        """The dataset's name and the digest it was prepared with."""
        if self.described is None:
            self.described = self._describe(where)
        return self.described

    def _describe(self, where: Where) -> dict[str, Any]:
        if self.vendor == "postgresql":
            self.connect()
            with self.own(), contextlib.closing(self.raw.cursor()) as cursor:
                cursor.execute(pg.DIGEST_SQL, [pg.schema_name(self.dataset.size, self.dataset.seed)])
                row = cursor.fetchone()
            digest = row[0] if row else None
        else:
            try:
                digest = json.loads((where.datasets / f"{self.dataset.key()}.json").read_text())["digest"]
            except (OSError, ValueError, KeyError):
                digest = None
        return {"size": self.dataset.size, "seed": self.dataset.seed, "digest": digest}


# The child, seen from here.


def discard(kid: Child) -> None:
    kid.kill()
    kid.close()


@dataclass
class ChildOutcome:
    """What the supervisor observed of one child."""

    stdout: bytes = b""
    truncated: bool = False
    error: dict[str, Any] | None = None  # the child's own account
    status: int = 0
    started: bool = False
    done: bool = False
    timed_out: bool = False
    flooded: bool = False
    abandoned: bool = False
    broken: str | None = None  # the child broke the protocol
    wall_ms: float = 0.0


def pin(pids: list[int], cpu: int | None) -> None:
    """Keep a supervisor and its child on one CPU: they take turns, and waking a process on
    another CPU costs more than a statement (measured: 200 µs a round trip across CPUs, 60 on one)."""
    if cpu is None:
        return
    for pid in pids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


def watch(
    job: dict[str, Any],
    kid: Child,
    db: RunDatabase,
    limits: Limits,
    client: socket.socket | None,
    zygote: Zygote,
) -> ChildOutcome:
    """One child, from its code to its end: its statements, its output, the clock and the client."""
    outcome = ChildOutcome()
    stdout = bytearray()
    try:
        kid.channel.sendall(wire.encode_pickle(job))
        _serve(kid, db, limits, client, outcome, stdout)
    except OSError:  # the child is gone before or while it was told its code
        pass
    finally:
        kid.kill()  # it has finished, or it must stop now
        _drain(kid.stdout, stdout, limits.output_bytes)
        kid.close()
        if not outcome.done:  # how it ended is the run's error; else its memory goes while the answer does
            outcome.status = zygote.status(kid.pid)
    outcome.truncated = len(stdout) > limits.output_bytes
    outcome.stdout = bytes(stdout[: limits.output_bytes])
    return outcome


def _drain(fd: int, into: bytearray, limit: int) -> None:
    """What a stopped child had already written: its output is shown whatever stopped it.

    The loop may stop a child (garbage on its channel, the clock) in the same poll that
    had its last output ready; that output is in the pipe still, and is read here.
    """
    with contextlib.suppress(OSError):
        os.set_blocking(fd, False)
        while len(into) <= limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            into += chunk


def _serve(
    kid: Child,
    db: RunDatabase,
    limits: Limits,
    client: socket.socket | None,
    outcome: ChildOutcome,
    stdout: bytearray,
) -> None:
    frames = wire.FrameBuffer(limit=wire.MAX_CHILD_FRAME)
    channel = kid.channel.fileno()
    poller = select.poll()
    poller.register(channel, select.POLLIN)
    poller.register(kid.stdout, select.POLLIN)
    if client is not None:  # a client that hangs up stops its run at once
        poller.register(client.fileno(), select.POLLRDHUP)
    deadline = time.monotonic() + START_SECONDS
    started = finished = time.perf_counter()
    open_ends = 2
    try:
        while open_ends:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.timed_out = outcome.started and not outcome.done
                if outcome.done:  # the harness closes its output before its last word; this one did not
                    outcome.broken = "a last word sent while the code was still running"
                return
            for fd, _ in poller.poll(remaining * 1000):
                if fd == kid.stdout:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        poller.unregister(fd)
                        open_ends -= 1
                        continue
                    stdout += chunk
                    if len(stdout) > limits.output_bytes:
                        outcome.flooded = True
                        return
                    continue
                if fd != channel:
                    outcome.abandoned = True
                    return
                chunk = kid.channel.recv(1 << 16)
                if not chunk:  # the child has exited, one way or another
                    finished = time.perf_counter()
                    poller.unregister(fd)
                    open_ends -= 1
                    continue
                for body in frames.feed(chunk):
                    request = wire.decode_request(body)
                    if outcome.done:
                        raise wire.ProtocolError("a request after the last word")
                    if request.op == wire.STARTED:
                        if not outcome.started:
                            outcome.started = True
                            started = time.perf_counter()
                            deadline = time.monotonic() + limits.wall_seconds
                    elif request.op == wire.DONE:
                        finished = time.perf_counter()
                        outcome.done = True
                        outcome.error = request.params if isinstance(request.params, dict) else None
                        # Its output is closed before its last word; the channel closes only once
                        # its memory is torn down, which the answer does not wait for.
                        poller.unregister(fd)
                        open_ends -= 1
                        deadline = min(deadline, time.monotonic() + 0.5)
                    else:
                        kid.channel.sendall(wire.encode_pickle(db.handle(request, deadline)))
                if time.monotonic() > deadline and outcome.started and not outcome.done:
                    outcome.timed_out = True
                    return
    except (wire.ProtocolError, TypeError, ValueError, KeyError, AttributeError) as exc:
        outcome.broken = str(exc) or type(exc).__name__
    finally:
        if not outcome.done:
            finished = time.perf_counter()
        outcome.wall_ms = (finished - started) * 1000 if outcome.started else 0.0


def judge(outcome: ChildOutcome, db: RunDatabase, limits: Limits) -> RunError | None:
    """How the run ended, from what the supervisor saw; the child's own word comes last."""
    if outcome.abandoned:
        return RunError("internal", "The client went away; the run was stopped.")
    if outcome.broken is not None:
        return RunError(
            "forbidden",
            "The code wrote on the sandbox's own channel to its database, which only the sandbox "
            f"may use ({outcome.broken}); the run was stopped.",
        )
    if not outcome.started:
        return RunError("internal", "The sandbox could not start a process for the run; run it again.")
    if outcome.timed_out:
        return RunError("timeout", f"Your code ran for more than {limits.wall_seconds:g} s and was stopped.")
    if outcome.flooded:
        return RunError(
            "output_limit",
            f"Your code printed more than {limits.output_bytes // 1024} KiB; the run was stopped there.",
        )
    if os.WIFSIGNALED(outcome.status) and not outcome.done:
        sig = os.WTERMSIG(outcome.status)
        if sig == signal.SIGXCPU:
            return RunError(
                "timeout", f"Your code used more than {limits.cpu_seconds} s of CPU time and was stopped."
            )
        if sig == signal.SIGXFSZ:
            return RunError("forbidden", "Writing files is not allowed in the sandbox.")
        if sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
            return RunError(
                "exception", f"Your code crashed the Python process ({signal.Signals(sig).name})."
            )
        return RunError(
            "exception", f"The process running your code was killed ({signal.Signals(sig).name})."
        )
    if not outcome.done:
        code = os.WEXITSTATUS(outcome.status) if os.WIFEXITED(outcome.status) else -1
        return RunError(
            "exception",
            f"Your code ended the process before it finished (exit status {code}); "
            "nothing it printed after that point is reported.",
        )
    if outcome.error is None:
        return None
    said = RunError.from_json(outcome.error)
    # What the database did is the supervisor's to say.
    if db.timed_out and said.kind == "exception":
        return RunError(
            "timeout",
            f"A statement ran longer than the sandbox's statement timeout ({limits.statement_ms / 1000:g} s) "
            "and was cancelled.",
            said.line,
            said.traceback,
        )
    if db.out_of_memory and said.kind in {"exception", "memory"}:
        return RunError(
            "memory",
            f"A statement needed more memory than the sandbox allows ({limits.memory_mb} MB).",
            said.line,
            said.traceback,
        )
    if db.denied and said.kind == "exception":
        return RunError(
            "forbidden", f"{db.denied[-1]} is not allowed in the sandbox.", said.line, said.traceback
        )
    if said.kind in {"busy", "internal"} and not said.message.startswith("The sandbox failed"):
        return RunError("exception", said.message, said.line, said.traceback)
    return said


# The supervisor's own life.


def _reply(conn: socket.socket, payload: dict[str, Any]) -> None:
    try:
        conn.settimeout(10)
        conn.sendall(json.dumps(payload, default=str).encode() + b"\n")
    except OSError:
        pass  # the client went away; nothing to tell it
    finally:
        conn.close()


def _failure(kind: str, message: str) -> dict[str, Any]:
    return {"result": RunResult.failure(kind, message).to_json()}  # type: ignore[arg-type]


@dataclass
class Supervisor:
    """A run's supervisor, serving one run after another on one dataset.

    Between runs it keeps its database open (every run rolled back) and one child
    waiting, forked by its zygote and, while nothing else happens, warmed up.
    """

    where: Where
    dataset: DatasetRef
    zygote: Zygote
    limits: Limits = field(default_factory=Limits)
    db: RunDatabase | None = None
    broken: str | None = None
    waiting: Child | None = None
    warm: bool = False
    served: int = 0

    def open(self) -> bool:
        """Open the database if it is not; what went wrong is told to the request this supervisor serves."""
        if self.db is None:
            try:
                self.db, self.broken = RunDatabase.open(self.where, self.dataset, self.limits), None
            except Exception as exc:
                self.broken = f"{type(exc).__name__}: {exc}"
        return self.db is not None

    def ready(self) -> None:
        """A child waiting for the next run."""
        if self.waiting is None or not self.waiting.alive():
            if self.waiting is not None:
                discard(self.waiting)
                self.waiting = None
            self.waiting, self.warm = self.zygote.child(), False

    def children(self, count: int) -> list[Child]:
        """``count`` children that have never seen the database or anything of an earlier run."""
        self.ready()
        assert self.waiting is not None
        kids, self.waiting = [self.waiting], None
        return kids + [self.zygote.child() for _ in range(count - 1)]

    def warm_up(self, control: socket.socket) -> None:
        """The waiting child runs the warm-up against this database, which keeps no record of it.

        A run that arrives meanwhile cuts it short: the child's next statement is
        refused, and it stops and says it is ready.
        """
        if self.warm or self.waiting is None or not self.open():
            return
        assert self.db is not None
        kid, self.warm = self.waiting, True
        frames = wire.FrameBuffer(limit=wire.MAX_CHILD_FRAME)
        deadline = time.monotonic() + WARM_UP_SECONDS
        wanted = False
        try:
            kid.channel.sendall(wire.encode_pickle({"warm_up": child.WARM_UP, "database": self.db.about()}))
            while True:
                readable, _, _ = select.select(
                    [kid.channel, control], [], [], max(0, deadline - time.monotonic())
                )
                if not readable:
                    return
                if control in readable:
                    wanted = True
                if kid.channel not in readable:
                    continue
                chunk = kid.channel.recv(1 << 16)
                if not chunk:
                    return
                for body in frames.feed(chunk):
                    request = wire.decode_request(body)
                    if request.op == wire.READY:
                        return
                    answer = ("error", "InterfaceError", "the warm-up is over", None) if wanted else None
                    kid.channel.sendall(wire.encode_pickle(answer or self.db.handle(request, float("inf"))))
        except (OSError, wire.ProtocolError):
            pass  # a child that fails its warm-up is seen to be dead when the run comes
        finally:
            self.db.reset()

    def run(self, conn: socket.socket, cpu: int | None = None) -> dict[str, Any]:
        """Serve one run: every repeat in a fresh child on a fresh transaction, then the probe."""
        body = wire.read_message(conn, limit=4 * 1024 * 1024)
        if not self.open():  # prepared since this supervisor started, perhaps
            return _failure("internal", f"Could not open the dataset: {self.broken}")
        limits = Limits.from_json(body.get("limits", {}))
        repeat = 1 if body.get("probed") else max(1, min(int(body.get("repeat", 1)), limits.max_repeat))
        latency_ms = max(0.0, min(float(body.get("latency_ms") or 0), limits.max_latency_ms))
        job = {
            "code": body["code"],
            "models": str(body.get("models") or ""),
            "max_models": limits.max_models,
            "seed": self.dataset.seed,
            "cpu_seconds": limits.cpu_seconds,
            "memory_mb": limits.memory_mb,
        }
        kids = self.children(repeat)
        outcomes: list[ChildOutcome] = []
        first: capture.StatementLog | None = None
        first_models: list[dict[str, Any]] = []
        error: RunError | None = None
        for index, kid in enumerate(kids):
            db = self._database(limits, latency_ms, fresh=index > 0)
            outcome = self._watch(job, kid, db, conn, cpu)
            if not (outcome.started or outcome.abandoned or outcome.broken):
                # It died before its code reached it (killed while it waited): once more, in a new one.
                outcome = self._watch(job, self.zygote.child(), db, conn, cpu)
            outcomes.append(outcome)
            error = judge(outcome, db, limits)
            db.close_child_transaction()
            if first is None:
                first, first_models = db.log, db.models or []
            if error is not None:  # a later repeat that fails makes the run fail
                break
        for kid in kids[len(outcomes) :]:
            discard(kid)
        assert first is not None and self.db is not None
        db, log = self.db, first
        own_models = first_models
        after = wire.read_message(conn, limit=4 * 1024 * 1024) if not outcomes[-1].abandoned else {}
        probe = after.get("probe")
        probe_output = db.probe(probe) if probe and error is None else None
        if after.get("explain") and error is None:
            db.explain(log)
        if db.connected:
            db.fill(log)
        result = RunResult(
            stdout=outcomes[0].stdout.decode("utf-8", errors="replace"),
            truncated=outcomes[0].truncated,
            error=error,
            queries=log.queries(limits.queries_reported),
            query_count=log.query_count,
            db_ms=round(log.db_ms, 3),
            wall_ms=Timing.of([o.wall_ms for o in outcomes if o.started]),
            dataset=db.describe(self.where),
            latency={"per_query_ms": db.latency_ms, "simulated_ms": round(log.simulated_ms, 3)},
            models=own_models,
        )
        return {"result": result.to_json(), "probe_output": probe_output}

    def _database(self, limits: Limits, latency_ms: float, *, fresh: bool) -> RunDatabase:
        """The open database, for one more child: rolled back to the dataset first when ``fresh``."""
        assert self.db is not None
        if fresh:
            self.db.reset()
        self.limits = self.db.limits = limits
        self.db.latency_ms = latency_ms
        return self.db

    def _watch(
        self, job: dict[str, Any], kid: Child, db: RunDatabase, conn: socket.socket, cpu: int | None
    ) -> ChildOutcome:
        pin([os.getpid(), kid.pid], cpu)
        return watch({**job, "database": db.about()}, kid, db, db.limits, conn, self.zygote)

    def digest(self) -> dict[str, Any]:
        if not self.open() or self.db is None:
            return {"error": f"Could not open the dataset: {self.broken}"}
        return {"ok": True, "digest": self.db.digest(), "dataset": self.db.describe(self.where)}

    def prepared(self) -> dict[str, Any]:
        if not self.open() or self.db is None:
            return {"error": f"Could not open the dataset: {self.broken}"}
        return {"ok": True, "dataset": self.db.describe(self.where)}

    def serve(self, message: bytes, conn: socket.socket) -> None:
        """One request, answered; then the database as the dataset is, for the next."""
        try:
            if message[:1] == b"d":
                payload = self.digest()
            elif message[:1] == b"p":
                payload = self.prepared()
            else:
                payload = self.run(conn, cpu=message[1] if len(message) > 1 else None)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)  # a bug in the supervisor: the worker's log says where
            payload = _failure("internal", f"The sandbox failed: {type(exc).__name__}: {exc}")
        _reply(conn, payload)
        self.served += 1
        # Free to go anywhere again: between runs, its next child's warm-up must not share the
        # CPU the next run (another supervisor's) is given.
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, ALL_CPUS)
        if self.db is not None:
            self.db.next_run()

    def end(self) -> None:
        if self.waiting is not None:
            discard(self.waiting)
        if self.db is not None:
            self.db.close()


ALL_CPUS = os.sched_getaffinity(0)
# A supervisor serves this many requests, then makes way for a fresh one.
RECYCLE_AFTER = 500


def main(control: socket.socket, where: Where, dataset: DatasetRef) -> NoReturn:
    """A supervisor's life: fork its zygote, then serve what the main process hands over until it stops.

    On ``control`` the main process hands over each client's connection
    (``SCM_RIGHTS``) and the supervisor says when it is idle again (``b"i"``).
    When ``control`` closes (the dataset left the pool, or the worker stops), it ends.
    """
    try:
        # First of all, while this process holds nothing of any run and no database.
        supervisor = Supervisor(where, dataset, Zygote(where.hidden))
        supervisor.open()
        while supervisor.served < RECYCLE_AFTER:
            try:
                supervisor.ready()
            except OSError:  # its zygote is gone: no clean child any more, so make way for a new supervisor
                break
            control.sendall(b"i")
            # Under load the next run is already waiting: it does not wait for a warm-up,
            # and the CPU a warm-up would take goes to runs instead.
            if not select.select([control], [], [], WARM_UP_AFTER_SECONDS)[0]:
                supervisor.warm_up(control)
            try:
                message, fds, _, _ = socket.recv_fds(control, 16, 1)
            except OSError:
                break
            if not message or not fds:
                break
            supervisor.serve(message, socket.socket(fileno=fds[0]))
        supervisor.end()
    except BaseException:
        traceback.print_exc(file=sys.stderr)
    finally:
        os._exit(0)
