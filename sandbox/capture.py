"""Query capture: every statement that reaches the database, with the line that sent it.

``QueryLog`` is a database execute wrapper
(https://docs.djangoproject.com/en/6.1/topics/db/instrumentation/), so it sees
exactly what the backend executes: ORM queries, ``raw()``, cursor SQL, INSERT,
UPDATE and DELETE alike, with no patching of compilers. The line is found by a
short walk up the Python stack to the innermost frame of the submitted code.
"""

from __future__ import annotations

import datetime
import decimal
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

STUDENT_FILENAME = "<student>"
MAX_SQL_CHARS = 20_000
MAX_PARAMS = 100

# BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE [SAVEPOINT], END, START TRANSACTION:
# recorded so a learner sees them, but never counted as queries.
_TRANSACTION_CONTROL = re.compile(
    r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|END|START\s+TRANSACTION)\b", re.IGNORECASE
)


def is_transaction_control(sql: str) -> bool:
    return _TRANSACTION_CONTROL.match(sql) is not None


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return repr(value)


@dataclass(slots=True)
class Query:
    sql: str
    params: list[object] | None
    ms: float
    line: int | None
    many: bool = False
    control: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QueryLog:
    """Records statements executed on a connection while it is installed.

    ``latency_ms`` sleeps before each counted statement to simulate a database
    across a network; the sleep is reported separately (``simulated_ms``) and is
    never part of a statement's measured ``ms``.
    """

    filename: str = STUDENT_FILENAME
    latency_ms: float = 0.0
    queries: list[Query] = field(default_factory=list)
    simulated_ms: float = 0.0

    def __call__(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        control = is_transaction_control(sql)
        if self.latency_ms and not control:
            time.sleep(self.latency_ms / 1000)
            self.simulated_ms += self.latency_ms
        error = None
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            ms = (time.perf_counter() - started) * 1000
            self.queries.append(
                Query(
                    sql=sql if len(sql) <= MAX_SQL_CHARS else sql[:MAX_SQL_CHARS] + " …",
                    params=_params(params, many),
                    ms=ms,
                    line=self._line(),
                    many=many,
                    control=control,
                    error=error,
                )
            )

    def _line(self) -> int | None:
        frame = sys._getframe(2)
        filename = self.filename
        while frame is not None:
            if frame.f_code.co_filename == filename:
                return frame.f_lineno
            frame = frame.f_back  # type: ignore[assignment]
        return None

    @property
    def counted(self) -> list[Query]:
        return [q for q in self.queries if not q.control]

    @property
    def query_count(self) -> int:
        return sum(1 for q in self.queries if not q.control)

    @property
    def db_ms(self) -> float:
        return sum(q.ms for q in self.queries)

    @contextmanager
    def capture(self, connection: BaseDatabaseWrapper) -> Iterator[QueryLog]:
        with connection.execute_wrapper(self):
            yield self


def _params(params: Any, many: bool) -> list[object] | None:
    if params is None:
        return None
    if many:
        rows: Sequence[Any] = list(params)
        return [f"<{len(rows)} parameter sets>"]
    values = list(params) if isinstance(params, list | tuple) else [params]
    if len(values) > MAX_PARAMS:
        return [*map(_jsonable, values[:MAX_PARAMS]), f"… {len(values) - MAX_PARAMS} more"]
    return [_jsonable(v) for v in values]
