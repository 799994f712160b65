"""The channel between a run's child and its supervisor: framed messages, typed values.

Every message is a frame: four bytes of length, then the body.

What the child sends is a ``Request`` in a fixed binary layout — an op, a line,
two integers, then the SQL, its parameters (JSON) and a cursor name, each with
its length — parsed by the supervisor as plain data with a size limit. The child
runs learner code: nothing it sends is ever unpickled, and nothing it says is
trusted beyond its account of itself. Parameter values JSON has no type for
travel tagged: ``{"$": "dt", "v": "2026-01-01T00:00:00+00:00"}``.

What the supervisor answers is a pickle: the child trusts its supervisor, and
rows keep the Python types the database driver gave them (datetime, Decimal...).
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import pickle
import socket
import struct
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

FRAME = struct.Struct(">I")
# op, flags, line (-1: none), a, b; then three length-prefixed byte strings: sql, params, name.
REQUEST = struct.Struct(">BBiqqIII")
# A statement with tens of thousands of parameters fits; anything larger is not a statement.
MAX_CHILD_FRAME = 16 * 1024 * 1024

# Requests. a and b are: EXECUTE (cursor to close first, 0), FETCH (cursor, size),
# CLOSE (cursor, 0), AUTOCOMMIT (on, 0); the others use neither. READY ends a spare's warm-up.
# SCHEMA asks for the tables of the learner's own models (params: their DDL and description).
EXECUTE, FETCH, CLOSE, COMMIT, ROLLBACK, AUTOCOMMIT, STARTED, DONE, READY, SCHEMA = range(1, 11)
MANY = 1  # flag of EXECUTE: params is a list of parameter sets


class ProtocolError(Exception):
    """The peer sent something that is not a message of this protocol."""


class Closed(Exception):
    """The peer closed the channel."""


@dataclass(slots=True)
class Request:
    op: int
    flags: int = 0
    line: int | None = None
    a: int = 0
    b: int = 0
    sql: str = ""
    params: Any = None
    name: str | None = None


def encode_request(request: Request) -> bytes:
    sql = request.sql.encode()
    # json's own default encoder (no arguments: its fast path); encode_value has tagged
    # every float JSON cannot write, so no NaN is ever written.
    params = b"" if request.params is None else json.dumps(request.params).encode()
    name = (request.name or "").encode()
    line = -1 if request.line is None else request.line
    body = REQUEST.pack(
        request.op, request.flags, line, request.a, request.b, len(sql), len(params), len(name)
    )
    body += sql + params + name
    return FRAME.pack(len(body)) + body


def decode_request(body: bytes) -> Request:
    """A child's request as plain data; anything else is a ``ProtocolError``."""
    try:
        op, flags, line, a, b, sql_len, params_len, name_len = REQUEST.unpack_from(body)
    except struct.error as exc:
        raise ProtocolError("a request shorter than its header") from exc
    if not EXECUTE <= op <= SCHEMA or REQUEST.size + sql_len + params_len + name_len != len(body):
        raise ProtocolError("a request whose parts do not add up")
    at = REQUEST.size
    try:
        sql = body[at : at + sql_len].decode()
        raw = body[at + sql_len : at + sql_len + params_len]
        name = body[at + sql_len + params_len :].decode() or None
    except UnicodeDecodeError as exc:
        raise ProtocolError("a request that is not UTF-8") from exc
    params = decode_json(raw) if raw else None
    return Request(op, flags, None if line < 0 else line, a, b, sql, params, name)


def _tag(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return {"$": "dt", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$": "d", "v": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"$": "t", "v": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"$": "td", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, decimal.Decimal):
        return {"$": "dec", "v": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$": "uuid", "v": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$": "b", "v": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$": "f", "v": repr(value)}
    if isinstance(value, dict):
        return {"$": "map", "v": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    adapted = getattr(value, "obj", None)  # psycopg's Json/Jsonb wrappers
    if type(value).__name__ in {"Json", "Jsonb"} and adapted is not None:
        return {"$": "json", "v": json.dumps(adapted)}
    raise TypeError(f"a value of type {type(value).__name__} cannot be sent to the database here")


def encode_value(value: Any) -> Any:
    """``value`` as JSON-ready data: as is when JSON has its type, tagged otherwise."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return _tag(value)


def _untag(tagged: dict[str, Any]) -> Any:
    if tagged.keys() != {"$", "v"}:
        return tagged  # named parameters: plain data
    kind, value = tagged["$"], tagged["v"]
    try:
        if kind == "dt":
            return datetime.datetime.fromisoformat(value)
        if kind == "d":
            return datetime.date.fromisoformat(value)
        if kind == "t":
            return datetime.time.fromisoformat(value)
        if kind == "td":
            days, seconds, micros = value
            return datetime.timedelta(days=int(days), seconds=int(seconds), microseconds=int(micros))
        if kind == "dec":
            return decimal.Decimal(str(value))
        if kind == "uuid":
            return uuid.UUID(str(value))
        if kind == "b":
            return base64.b64decode(str(value), validate=True)
        if kind == "f":
            return float(str(value))
        if kind == "map":
            return {_hashable(k): v for k, v in value}
        if kind == "json":
            from psycopg.types.json import Jsonb

            return Jsonb(json.loads(str(value)))
    except (TypeError, ValueError, decimal.InvalidOperation) as exc:
        raise ProtocolError(f"a malformed {kind!r} value") from exc
    raise ProtocolError(f"an unknown value tag {kind!r}")


def _hashable(key: Any) -> Any:
    if isinstance(key, list | dict):
        raise ProtocolError("a list as a mapping key")
    return key


_TAGGED = json.JSONDecoder(object_hook=_untag)


def decode_json(data: bytes) -> Any:
    """JSON from the child as plain data; anything else is a ``ProtocolError``."""
    try:
        text = data.decode()
        return _TAGGED.decode(text) if "{" in text else json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"not JSON ({type(exc).__name__})") from exc


def encode_pickle(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(body)) + body


class FrameBuffer:
    """Frames out of whatever bytes arrive, without ever waiting: for the supervisor's loop."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The frames ``data`` completes, in order; a frame over the limit is a ``ProtocolError``."""
        if not self.buffer and len(data) >= FRAME.size:  # most often one whole frame: no copy
            (length,) = FRAME.unpack_from(data)
            if length == len(data) - FRAME.size and length <= self.limit:
                return [data[FRAME.size :]]
        self.buffer += data
        frames = []
        while len(self.buffer) >= FRAME.size:
            (length,) = FRAME.unpack_from(self.buffer)
            if length > self.limit:
                raise ProtocolError(f"a message of {length:,} bytes (the limit is {self.limit:,})")
            if len(self.buffer) < FRAME.size + length:
                break
            frames.append(bytes(self.buffer[FRAME.size : FRAME.size + length]))
            del self.buffer[: FRAME.size + length]
        return frames


class FrameReader:
    """Reads whole frames from a socket, waiting for them: for the child, which trusts the sender."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.frames = FrameBuffer(limit=(1 << 32) - 1)  # whatever the length prefix can say
        self.pending: deque[bytes] = deque()

    def read(self) -> bytes:
        while not self.pending:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise Closed
            self.pending.extend(self.frames.feed(chunk))
        return self.pending.popleft()


def encode_message(message: dict[str, Any]) -> bytes:
    """A request to the worker: one frame of JSON."""
    body = json.dumps(message).encode()
    return FRAME.pack(len(body)) + body


def read_message(conn: socket.socket, limit: int, timeout: float = 10) -> dict[str, Any]:
    """Exactly one frame from ``conn``, never a byte of what follows it.

    A request to the worker is frames: a header (op and dataset) that its main
    process reads, then the run and the probe, which only the run's supervisor
    reads, the probe last of all. Each reader takes its own frame and leaves the
    rest in the socket, so no process holds a byte it was not meant to read.
    """
    conn.settimeout(timeout)
    (length,) = FRAME.unpack(_exactly(conn, FRAME.size))
    if length > limit:
        raise ValueError(f"a request of {length:,} bytes (the limit is {limit:,})")
    message = json.loads(_exactly(conn, length))
    if not isinstance(message, dict):
        raise ValueError("a request that is not an object")
    return message


def _exactly(conn: socket.socket, size: int) -> bytes:
    data = conn.recv(size, socket.MSG_WAITALL)
    if len(data) != size:
        raise ValueError("the request ended early")
    return data
