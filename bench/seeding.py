"""Section 1: the ORM seed writer against the raw ``executemany`` writer, for every size.

Rows come from ``seed.generate()`` first (timed on its own). The two writers
then alternate on the same rows, each inside a transaction that starts with
empty blog tables and is always rolled back, so no figure includes the other
writer's leftovers and no run changes what the database holds.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from django.db import connections

from bench import report
from bench.databases import reset_sequences, rolled_back, throwaway_sqlite
from bench.timing import Stats, cycle, sample
from blog import seed

REPEATS = {"tiny": 5, "small": 5, "default": 9, "large": 5}
RATIO_TARGET = 3.0
RATIO_SIZES = ("default", "large")
SEED_SIZE = "default"
SEED_TARGET_SECONDS = 1.0


@contextmanager
def _aliases() -> Iterator[list[str]]:
    """The throwaway SQLite file, plus the app database itself when it is not SQLite."""
    with throwaway_sqlite() as sqlite_alias:
        seed.seed(SEED_SIZE, seed.DEFAULT_SEED, using=sqlite_alias)  # start from a live dataset, like the app
        aliases = [sqlite_alias]
        if connections["default"].vendor != "sqlite":
            aliases.append("default")
        try:
            yield aliases
        finally:
            for alias in aliases:
                reset_sequences(alias)


def _label(alias: str) -> str:
    connection = connections[alias]
    where = "throwaway file" if alias != "default" else "app database, rolled back"
    return f"{connection.vendor} ({where})"


def _emptied(alias: str) -> Callable[[], AbstractContextManager[None]]:
    return lambda: rolled_back(alias, empty=True)


def _writers(alias: str, rows: seed.Rows, times: int) -> tuple[Stats, ...]:
    """write() (batched, with its checks) then write_raw(), alternately: each ratio compares two neighbouring runs."""

    def orm() -> None:
        seed.write(rows, using=alias)

    def raw() -> None:
        seed.write_raw(rows, using=alias)

    return sample(cycle(orm, raw), times=2 * times, around=_emptied(alias)).split(2)


def _size_rows(size: str, aliases: list[str]) -> list[list[str]]:
    times = REPEATS[size]
    box: dict[str, seed.Rows] = {}
    generated = sample(lambda: box.update(rows=seed.generate(size, seed.DEFAULT_SEED)), times=times)
    rows = box["rows"]
    total = sum(rows.counts().values()) + len(rows.article_tags)
    lines = []
    for alias in aliases:
        orm, raw = _writers(alias, rows, times)
        ratio = Stats.pairwise(orm, raw, operator.truediv)
        goal = "—"
        if size in RATIO_SIZES:
            goal = report.target(f"≤ {RATIO_TARGET:g}×", ratio.median <= RATIO_TARGET)
        lines.append(
            [
                _label(alias), size, f"{total:,}", str(times), report.figure(generated, "ms"),
                report.figure(orm, "ms"), report.figure(raw, "ms"), report.figure(ratio, "×"), goal,
            ]
        )  # fmt: skip
    return lines


def _vacuumed(alias: str) -> None:
    """PostgreSQL: clear the dead rows the rolled-back writers left, as autovacuum would in time.

    Without it the full seed below is measured on tables bloated by the large
    size's rolled-back inserts, which no real ``seed_blog`` meets.
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in seed.TABLE_ROWS:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _full_seed(alias: str) -> list[str]:
    times = REPEATS[SEED_SIZE]
    _vacuumed(alias)
    stats = sample(
        lambda: seed.seed(SEED_SIZE, seed.DEFAULT_SEED, using=alias),
        times=times,
        around=lambda: rolled_back(alias),
    )
    ok = stats.median < SEED_TARGET_SECONDS
    return [
        _label(alias),
        SEED_SIZE,
        str(times),
        report.figure(stats, "ms"),
        report.target("well under 1 s", ok),
    ]


def run() -> str:
    """Both tables of section 1 as Markdown."""
    with _aliases() as aliases:
        writers = [line for size in REPEATS for line in _size_rows(size, aliases)]
        full = [_full_seed(alias) for alias in aliases]
    headers = [
        "backend",
        "size",
        "rows",
        "n",
        "generate()",
        "write()",
        "write_raw()",
        "write() / write_raw()",
        "target",
    ]
    return "\n\n".join(
        [
            "## 1. Seed\n\nWall time, median (min–max). The two writers alternate, writing the same "
            "generated rows into emptied blog tables inside a transaction that is then rolled back; "
            "`write()` includes its row count per table and its sequence reset; the ratio pairs "
            "neighbouring runs. `rows` counts every inserted row, article–tag links included.",
            report.table(headers, writers),
            "Full `seed.seed()` (generate, delete, write, digest, Dataset row), rolled back after each run:",
            report.table(["backend", "size", "n", "seed.seed()", "target"], full),
        ]
    )
