"""Markdown for results.md: figures with their spread, targets with a verdict, tables."""

from __future__ import annotations

import os
import platform
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import django
from django.conf import settings
from django.db import connections

from bench.timing import Stats
from sandbox.worker import confine

SCALE = {"s": 1.0, "ms": 1e3, "µs": 1e6, "×": 1.0, "/s": 1.0}


def number(value: float, unit: str) -> str:
    scaled = value * SCALE[unit]
    digits = 0 if abs(scaled) >= 100 else 1 if abs(scaled) >= 10 else 2
    return f"{scaled:,.{digits}f}"


def figure(stats: Stats, unit: str) -> str:
    """``median unit (min–max)``."""
    return f"{number(stats.median, unit)} {unit} ({number(stats.low, unit)}–{number(stats.high, unit)})"


def single(value: float, unit: str) -> str:
    return f"{number(value, unit)} {unit}"


def verdict(ok: bool) -> str:
    return "✅" if ok else "❌"


def target(label: str, ok: bool) -> str:
    return f"{label} {verdict(ok)}"


def counts(counter: Mapping[str, int] | Mapping[int, int]) -> str:
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(counter.items())) or "none"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _database() -> str:
    connection = connections["default"]
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        version = connection.pg_version  # type: ignore[attr-defined]
        return f"postgresql {version // 10000}.{version % 10000}"
    return f"{connection.vendor} ({connection.settings_dict['NAME']})"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load() -> str:
    """The load average: other processes on this machine compete with every figure."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> str:
    """The header of results.md: where and when these figures were measured."""
    rows = [
        ("date", datetime.now(UTC).isoformat(timespec="seconds")),
        ("nproc", str(len(os.sched_getaffinity(0)))),
        ("CPU", _cpu_model()),
        ("Python", platform.python_version()),
        ("Django", django.get_version()),
        ("SQLite", sqlite3.sqlite_version),
        ("database (default alias)", _database()),
        ("DEBUG", f"{settings.DEBUG} in settings; off while measuring"),
        ("load average (1, 5, 15 min) at start", load()),
        ("sandbox isolation", confine.level()),
    ]
    return table(["", ""], [list(row) for row in rows])
