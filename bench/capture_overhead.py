"""Section 2: what ``QueryLog`` adds to each statement.

The statements run from code compiled with ``STUDENT_FILENAME``, as submitted
code is, so ``QueryLog._line()`` walks the real stack (ORM frames included) to
find the line. Loops of ``CHUNK`` statements run alternately without and with
the log until each variant has run ``N``; the overhead is the median of the
paired differences. The clock is this thread's CPU time: the wrapper is pure
CPU work, and a loaded machine must not decide the figure.
"""

from __future__ import annotations

import operator
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.db import connection

from bench import report
from bench.databases import activated
from bench.timing import Stats, cycle, sample
from sandbox.capture import STUDENT_FILENAME, QueryLog
from sandbox.worker import datasets, execute

N = 5_000
CHUNK = 250
PAIRS = N // CHUNK
TARGET_US = 15.0
SNIPPETS = {
    "`Author.objects.filter(pk=1).first()`": "for _ in range(N):\n    Author.objects.filter(pk=1).first()\n",
    '`cursor.execute("SELECT 1")`': (
        "with connection.cursor() as cursor:\n    for _ in range(N):\n        cursor.execute('SELECT 1')\n"
    ),
}


class _DepthProbe(QueryLog):
    """A QueryLog that also remembers how many frames its line lookup walked."""

    depth: int = 0

    def _line(self) -> int | None:
        frame: Any = sys._getframe(2)
        walked = 1
        while frame is not None and frame.f_code.co_filename != self.filename:
            frame, walked = frame.f_back, walked + 1
        self.depth = walked
        return super()._line()


def _depth(code: Any, names: dict[str, Any]) -> int:
    probe = _DepthProbe()
    with probe.capture(connection):
        exec(code, {**names, "N": 1})
    return probe.depth


def _logged() -> AbstractContextManager[object]:
    return QueryLog().capture(connection)


def _measure(source: str) -> list[str]:
    code = compile(source, STUDENT_FILENAME, "exec")
    names = {**execute.namespace(), "N": CHUNK}
    both = sample(
        lambda: exec(code, names), times=2 * PAIRS, around=cycle(nullcontext, _logged), clock=time.thread_time
    )
    bare, captured = (stats.map(lambda s: s / CHUNK) for stats in both.split(2))
    overhead = Stats.pairwise(captured, bare, operator.sub)
    return [
        f"{N:,} ({PAIRS} × {CHUNK})", str(_depth(code, names)),
        report.figure(bare, "µs"), report.figure(captured, "µs"), report.figure(overhead, "µs"),
        report.target(f"≤ {TARGET_US:g} µs", overhead.median * 1e6 <= TARGET_US),
    ]  # fmt: skip


def run(dataset: datasets.Dataset) -> str:
    """Section 2 as Markdown, measured on the in-memory copy of ``dataset``."""
    with activated(dataset):
        rows = [[label, *_measure(source)] for label, source in SNIPPETS.items()]
    headers = [
        "statement", "statements per variant", "frames walked", "without QueryLog", "with QueryLog",
        "overhead / query", "target",
    ]  # fmt: skip
    intro = (
        "## 2. Capture overhead per query\n\nCPU µs per statement, median (min–max) over loops of "
        f"{CHUNK} statements compiled as submitted code, alternately without and with a `QueryLog`, "
        f"on the in-memory `{dataset.size}` dataset. `frames walked`: stack frames "
        "`QueryLog._line()` climbs to reach the submitted code's line."
    )
    return f"{intro}\n\n{report.table(headers, rows)}"
