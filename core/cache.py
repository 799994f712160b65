"""The rate-limit counters' cache: Django's database cache, for whole numbers only.

Django's ``DatabaseCache`` stores every value pickled, so its ``incr`` is a read and
then a write of the whole entry: six statements on PostgreSQL (the read, a count of
the table for culling, and a transaction around a read and an update), and two
processes that increment at once can both write the same count, one of them lost.
A counter is written on every run, grade and comparison of every learner on every
node, so here a counter is stored as its number in text and changed in the
database itself:

- ``incr`` is one ``UPDATE ... RETURNING``: atomic, however many nodes count at once;
- ``add`` (a window's first count) and ``set`` are one ``INSERT ... ON CONFLICT``;
- the table is culled (expired counts, then those that expire first down to
  ``MAX_ENTRIES``) on one write in ``CULL_EVERY`` of each process, instead of being
  counted on every write.

It is the same table (``createcachetable`` makes it) and the same API; SQLite and
PostgreSQL both run these statements as written.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.timezone import now

CULL_EVERY = 50
_writes = itertools.count(1)  # this process's writes, every cache and thread together


class CounterCache(DatabaseCache):
    def __init__(self, table: str, params: dict[str, Any]) -> None:
        super().__init__(table, params)
        self.table = table

    def _connection(self, *, write: bool) -> BaseDatabaseWrapper:
        route = router.db_for_write if write else router.db_for_read
        return connections[route(self.cache_model_class)]

    @staticmethod
    def _number(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a counter is a whole number, not {type(value).__name__}")
        return value

    def _expires(self, connection: BaseDatabaseWrapper, timeout: Any) -> Any:
        seconds = self.get_backend_timeout(timeout)
        expires = datetime.max if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)
        return connection.ops.adapt_datetimefield_value(expires.replace(microsecond=0))

    def _now(self, connection: BaseDatabaseWrapper) -> Any:
        return connection.ops.adapt_datetimefield_value(now())

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not key_map:
            return {}
        connection = self._connection(write=False)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT cache_key, value FROM {self._quoted(connection)} "
                f"WHERE cache_key IN ({', '.join(['%s'] * len(key_map))}) AND expires >= %s",
                [*key_map, self._now(connection)],
            )
            return {key_map[key]: int(value) for key, value in cursor.fetchall()}

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        cache_key = self.make_and_validate_key(key, version=version)
        connection = self._connection(write=True)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self._quoted(connection)} SET value = CAST(CAST(value AS bigint) + %s AS text) "
                "WHERE cache_key = %s AND expires >= %s RETURNING value",
                [self._number(delta), cache_key, self._now(connection)],
            )
            row = cursor.fetchone()
        if row is None:
            raise ValueError(f"Key '{cache_key}' not found.")
        return int(row[0])

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        """Write ``value`` unless the key holds a count that has not expired; whether it was written."""
        return self._write(key, value, timeout, version, only_over_expired=True)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._write(key, value, timeout, version, only_over_expired=False)

    def _write(
        self, key: Any, value: Any, timeout: Any, version: int | None, *, only_over_expired: bool
    ) -> bool:
        cache_key = self.make_and_validate_key(key, version=version)
        connection = self._connection(write=True)
        table = self._quoted(connection)
        guard = f" WHERE {table}.expires < %s" if only_over_expired else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (cache_key, value, expires) VALUES (%s, %s, %s) "
                "ON CONFLICT (cache_key) DO UPDATE SET value = excluded.value, expires = excluded.expires"
                f"{guard} RETURNING cache_key",
                [
                    cache_key,
                    str(self._number(value)),
                    self._expires(connection, timeout),
                    *([self._now(connection)] if only_over_expired else []),
                ],
            )
            written = cursor.fetchone() is not None
            if next(_writes) % CULL_EVERY == 0:
                self._cull_now(connection, cursor)
        return written

    def _cull_now(self, connection: BaseDatabaseWrapper, cursor: Any) -> None:
        """Expired counts go; if more than ``MAX_ENTRIES`` remain, those that expire first."""
        table = self._quoted(connection)
        cursor.execute(f"DELETE FROM {table} WHERE expires < %s", [self._now(connection)])
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        (count,) = cursor.fetchone()
        if count > self._max_entries:
            cursor.execute(
                f"DELETE FROM {table} WHERE cache_key IN "
                f"(SELECT cache_key FROM {table} ORDER BY expires, cache_key LIMIT %s)",
                [count - self._max_entries],
            )

    def _quoted(self, connection: BaseDatabaseWrapper) -> str:
        return str(connection.ops.quote_name(self.table))
