"""The child's database: a DB-API connection that sends every statement to the supervisor.

The process that runs learner code holds no database connection. Django in it
talks to ``RemoteConnection``, a stand-in for the vendor's driver connection:
``cursor.execute()`` sends the SQL and its parameters over the channel, the
supervisor executes them on the run's own database, records them, and answers
with the rows. Django's ORM, ``connection.cursor()``, ``raw()``, the driver-level
``connection.connection`` and ``cursor.cursor``: every way to the database ends here.

The only thing this side adds is the line of the submitted code that sent each
statement, for display; the supervisor keeps the record that counts.
"""

from __future__ import annotations

import pickle
import socket
import sqlite3
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.module_loading import import_string

from sandbox.worker import wire

STUDENT_FILENAME = "<student>"
_DBAPI_ERRORS = frozenset(
    {
        "Error", "Warning", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
        "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError",
    }
)  # fmt: skip


class Channel:
    """The child's end of the socket to its supervisor: one request, one answer."""

    def __init__(self, sock: socket.socket, vendor: str = "") -> None:
        self.sock = sock
        self.vendor = vendor
        self.reader = wire.FrameReader(sock)
        self.descriptions: dict[str, Any] = {}  # the columns of each SQL, sent once

    def send(self, request: wire.Request) -> None:
        self.sock.sendall(wire.encode_request(request))

    def receive(self) -> Any:
        return pickle.loads(self.reader.read())

    def call(self, request: wire.Request) -> Any:
        self.send(request)
        reply = self.receive()
        if reply[0] == "error":
            raise self._exception(*reply[1:])
        return reply[1]

    def _exception(self, name: str, message: str, sqlstate: str | None) -> Exception:
        """The exception the vendor's driver would raise, for Django to translate as usual."""
        if self.vendor == "postgresql":
            import psycopg

            cls: type[Exception] = psycopg.errors.lookup(sqlstate) if sqlstate else psycopg.DatabaseError
            if name == "NotSupportedError":
                cls = psycopg.NotSupportedError
        else:
            cls = getattr(sqlite3, name if name in _DBAPI_ERRORS else "DatabaseError")
        return cls(message)


def _submitted_line() -> int | None:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename == STUDENT_FILENAME:
            return frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _params(params: Any) -> Any:
    if params is None:
        return None
    if isinstance(params, Mapping):
        return {str(key): wire.encode_value(value) for key, value in params.items()}
    return [wire.encode_value(value) for value in params]


class Column(tuple[Any, ...]):
    """One entry of ``cursor.description``: a 7-tuple with psycopg's attribute names too."""

    name = property(lambda self: self[0])
    type_code = property(lambda self: self[1])
    display_size = property(lambda self: self[2])
    internal_size = property(lambda self: self[3])
    precision = property(lambda self: self[4])
    scale = property(lambda self: self[5])
    null_ok = property(lambda self: self[6])


class RemoteCursor:
    """A DB-API cursor whose statements run in the supervisor."""

    arraysize = 1

    def __init__(self, connection: RemoteConnection, name: str | None = None) -> None:
        self.connection = connection
        self.name = name
        self._description: list[tuple[Any, ...]] | None = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[tuple[Any, ...]] = []
        self._at = 0
        self._handle: int | None = None  # the supervisor's open cursor with rows still to send

    def _load(self, sql: str, state: tuple[Any, ...]) -> None:
        description, self.rowcount, self.lastrowid, self._rows, self._handle = state
        descriptions = self.connection.channel.descriptions
        if description is True:
            description = descriptions[sql]
        elif description is not None:
            descriptions[sql] = description
        self._description = description
        self._at = 0

    @property
    def description(self) -> list[Column] | None:
        return None if self._description is None else [Column(column) for column in self._description]

    def _closes(self) -> int:
        """The supervisor's cursor this one leaves behind, to close with the next statement."""
        handle, self._handle = self._handle, None
        return handle or 0

    def execute(self, sql: Any, params: Any = None) -> RemoteCursor:
        sql = str(sql)
        request = wire.Request(
            wire.EXECUTE, 0, _submitted_line(), self._closes(), 0, sql, _params(params), self.name
        )
        self._load(sql, self.connection.channel.call(request))
        return self

    def executemany(self, sql: Any, param_list: Any) -> RemoteCursor:
        params = [_params(params) for params in param_list]
        sql = str(sql)
        request = wire.Request(wire.EXECUTE, wire.MANY, _submitted_line(), self._closes(), 0, sql, params)
        self._load(sql, self.connection.channel.call(request))
        return self

    def _more(self, size: int) -> bool:
        """Ask the supervisor for the next rows; False when there are none."""
        if self._handle is None:
            return False
        self._rows, self._handle = self.connection.channel.call(
            wire.Request(wire.FETCH, a=self._handle, b=size)
        )
        self._at = 0
        return bool(self._rows)

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._at >= len(self._rows) and not self._more(1 if self.name else 0):
            return None
        row = self._rows[self._at]
        self._at += 1
        return row

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        size = self.arraysize if size is None else size
        rows: list[tuple[Any, ...]] = []
        while len(rows) < size:
            if self._at >= len(self._rows) and not self._more(size - len(rows) if self.name else 0):
                break
            taken = self._rows[self._at : self._at + size - len(rows)]
            self._at += len(taken)
            rows += taken
        return rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._rows[self._at :]
        self._at = len(self._rows)
        while self._more(0):
            rows += self._rows
            self._at = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row

    def __enter__(self) -> RemoteCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._handle is not None:
            self.connection.channel.call(wire.Request(wire.CLOSE, a=self._closes()))

    def setinputsizes(self, sizes: Sequence[Any]) -> None:
        pass

    def setoutputsize(self, size: int, column: int | None = None) -> None:
        pass

    def nextset(self) -> None:
        return None


class ServerInfo:
    """What psycopg's ``connection.info`` tells Django, as the supervisor reported it."""

    def __init__(self, server_version: int, parameters: dict[str, str]) -> None:
        self.server_version = server_version
        self._parameters = parameters

    def parameter_status(self, name: str) -> str | None:
        return self._parameters.get(name)


class RemoteConnection:
    """The driver connection Django holds in the child; it owns nothing but the channel."""

    def __init__(self, channel: Channel, about: dict[str, Any]) -> None:
        self.channel = channel
        self.limits: dict[int, int] = about.get("sqlite_limits", {})
        self.info = ServerInfo(about.get("server_version", 0), about.get("parameters", {}))
        self._autocommit = True

    def cursor(self, *args: Any, **kwargs: Any) -> RemoteCursor:
        return RemoteCursor(
            self, kwargs.get("name") or (args[0] if args and isinstance(args[0], str) else None)
        )

    def execute(self, sql: str, params: Any = None) -> RemoteCursor:
        """sqlite3's shortcut: a new cursor, executed."""
        return RemoteCursor(self).execute(sql, params)

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self.channel.call(wire.Request(wire.AUTOCOMMIT, a=int(bool(value))))
        self._autocommit = bool(value)

    @property
    def isolation_level(self) -> str | None:
        return None if self._autocommit else ""

    @isolation_level.setter
    def isolation_level(self, level: str | None) -> None:
        self.autocommit = level is None

    def commit(self) -> None:
        self.channel.call(wire.Request(wire.COMMIT, line=_submitted_line()))

    def rollback(self) -> None:
        self.channel.call(wire.Request(wire.ROLLBACK, line=_submitted_line()))

    def getlimit(self, category: int) -> int:
        return self.limits[category]

    def close(self) -> None:
        pass


def forget() -> None:
    """Make the next ``install`` build a new stand-in: the current one may be half connected."""
    connections["default"].about = None  # type: ignore[attr-defined]  # set by install()


def install(channel: Channel, about: dict[str, Any]) -> BaseDatabaseWrapper:
    """Make the child's default database the supervisor's, through ``channel``.

    ``about`` is what the supervisor said of its database: the vendor's backend,
    the features it has measured (so that none is measured here with a
    statement the learner did not write), limits and server parameters.
    """
    channel.vendor = about["vendor"]
    current = connections["default"]
    if getattr(current, "about", None) == about:
        return current  # installed already, and warmed up
    base: type[BaseDatabaseWrapper] = import_string(f"{about['engine']}.base.DatabaseWrapper")
    remote = RemoteConnection(channel, about)

    class RemoteDatabaseWrapper(base):  # type: ignore[valid-type,misc]
        def get_connection_params(self) -> dict[str, Any]:
            super().get_connection_params()  # for what the vendor's wrapper sets aside on the way
            return {}

        def get_new_connection(self, conn_params: dict[str, Any]) -> RemoteConnection:
            return remote

        def init_connection_state(self) -> None:
            pass

        def create_cursor(self, name: str | None = None) -> RemoteCursor:
            return RemoteCursor(self.connection, name)

        def chunked_cursor(self) -> Any:
            # iterator() streams on every backend: the supervisor keeps the statement
            # open and sends each chunk when asked (PostgreSQL's wrapper names its own).
            if about["vendor"] == "sqlite":
                return self._cursor(name="chunked")
            return super().chunked_cursor()

        def _set_autocommit(self, autocommit: bool) -> None:
            self.connection.autocommit = autocommit

        def is_usable(self) -> bool:
            return True

    settings = connections.configure_settings({"default": {"ENGINE": about["engine"], "NAME": "supervisor"}})
    wrapper = RemoteDatabaseWrapper(settings["default"], "default")
    wrapper.about = about
    wrapper.features.__dict__.update(about.get("features", {}))
    connections["default"] = wrapper
    return wrapper
