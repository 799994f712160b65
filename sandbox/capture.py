"""Query capture: the record of every statement a run sent, kept by the run's supervisor.

The supervisor executes each statement the child sends and records it here: the
SQL, its parameters, the time the database spent on it, the rows it returned
or changed, whether it failed, and (as the child says, for display) the line
of the submitted code that sent it. Counts, timings, findings and grades are
all computed from this record, in a process the learner's code cannot reach.
"""

from __future__ import annotations

import datetime
import decimal
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sandbox.contract import Query

MAX_SQL_CHARS = 20_000
MAX_PARAMS = 100

_COMMENTS = re.compile(r"\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/)", re.DOTALL)
_WORD = re.compile(r'\s*("(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[^\s;]+)')


@dataclass(frozen=True)
class Control:
    """A transaction control statement: what it does to the transaction, and to which savepoint."""

    action: str  # "begin", "commit", "rollback", "savepoint", "release", "rollback_to"
    name: str | None = None


def strip_comments(sql: str) -> str:
    """``sql`` without the comments and blanks that lead it."""
    while match := _COMMENTS.match(sql):
        if not match.group(0).strip():
            break
        sql = sql[match.end() :]
    return sql.lstrip()


def _words(sql: str) -> list[str]:
    words: list[str] = []
    at = 0
    text = sql.rstrip().rstrip(";")
    while (match := _WORD.match(text, at)) is not None and len(words) < 6:
        words.append(match.group(1))
        at = match.end()
    return words


def _name(word: str) -> str:
    if word[:1] in {'"', "`", "["}:
        return word[1:-1].replace('""', '"')
    return word.lower()


def transaction_control(sql: str) -> Control | None:
    """What ``sql`` does to the transaction, if it is transaction control; else None."""
    words = _words(strip_comments(sql))
    upper = [word.upper() for word in words]
    if not words:
        return None
    verb, rest = upper[0], upper[1:]
    if verb == "BEGIN" or (verb == "START" and rest[:1] == ["TRANSACTION"]):
        return Control("begin")
    if "PREPARED" in rest[:1]:
        return None  # two-phase commit: the database refuses it on its own
    if verb in {"COMMIT", "END"}:
        return Control("commit")
    if verb in {"ROLLBACK", "ABORT"}:
        if "TO" not in rest:
            return Control("rollback")
        after = words[upper.index("TO") + 1 :]
        if after and after[0].upper() == "SAVEPOINT":
            after = after[1:]
        return Control("rollback_to", _name(after[0]) if after else None)
    if verb == "SAVEPOINT" and len(words) > 1:
        return Control("savepoint", _name(words[1]))
    if verb == "RELEASE" and len(words) > 1:
        after = words[2:] if upper[1] == "SAVEPOINT" else words[1:]
        return Control("release", _name(after[0]) if after else None)
    return None


def is_transaction_control(sql: str) -> bool:
    return transaction_control(sql) is not None


def jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID | datetime.timedelta):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return repr(value)


def recorded_params(params: Any, many: bool) -> list[object] | None:
    if params is None:
        return None
    if many:
        return [f"<{len(params)} parameter sets>"]
    if isinstance(params, dict):
        return [jsonable(params)]
    values = list(params)
    if len(values) > MAX_PARAMS:
        return [*map(jsonable, values[:MAX_PARAMS]), f"… {len(values) - MAX_PARAMS} more"]
    return [jsonable(v) for v in values]


@dataclass
class Entry:
    """One statement while it is open: its time and rows grow as its rows are fetched."""

    sql: str
    params: list[object] | None
    line: int | None
    many: bool = False
    control: bool = False
    ms: float = 0.0
    rows: int = 0
    error: str | None = None
    streamed: bool = False
    plan: str | None = None
    filled: str | None = None
    # What the database received, kept to fill in and to ask for its plan: never reported.
    sent: tuple[str, Any] | None = None

    def query(self) -> Query:
        return Query(
            self.sql,
            self.params,
            round(self.ms, 4),
            self.rows,
            self.line,
            self.many,
            self.control,
            self.error,
            self.streamed,
            self.plan,
            self.filled,
        )


@dataclass
class StatementLog:
    """Every statement of one run, in the order the database received them."""

    entries: list[Entry] = field(default_factory=list)
    simulated_ms: float = 0.0

    def add(
        self,
        sql: str,
        params: Any = None,
        *,
        line: int | None = None,
        many: bool = False,
        control: bool = False,
    ) -> Entry:
        entry = Entry(
            sql if len(sql) <= MAX_SQL_CHARS else sql[:MAX_SQL_CHARS] + " …",
            recorded_params(params, many),
            line,
            many,
            control,
        )
        self.entries.append(entry)
        return entry

    @property
    def query_count(self) -> int:
        return sum(1 for entry in self.entries if not entry.control)

    @property
    def db_ms(self) -> float:
        return sum(entry.ms for entry in self.entries)

    def queries(self, limit: int) -> list[Query]:
        return [entry.query() for entry in self.entries[:limit]]
