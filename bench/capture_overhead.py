"""Section 2: what a statement costs through the supervisor, against in-process capture.

Each round runs a loop of ``SHORT`` and one of ``CHUNK`` statements, each two ways,
alternately: (a) in this process on a copy of the same dataset, under
``InProcessLog`` (the capture the sandbox had when the code's own process
recorded its statements), timed around the loop; (b) through ``runner.run``,
timed by the run's supervisor (its ``wall_ms``: from the code's start to its end,
every statement's round trip to the supervisor included). What one more statement
costs is the difference between the two loops over their difference in length,
so what a run pays once (its first statement in a new process: the child's first
touch of Django's memory) is left to section 3, which counts it. The cost per
statement is the median of the rounds' ``(b − a)`` of that.

Beside it, the floor of this machine (``floor()``): what a statement's trip to
another process costs when that process does nothing but execute it. The same
statement is compiled by the ORM here and executed either here or by a minimal
partner (a few lines of Python on the same SQLite file, on the same CPU, as the
supervisor is pinned): a pickle each way, a round trip on a socket and the two
switches between processes. No design with a process boundary per statement,
as item 2 of "Trusted runs" asks, can cost less than that here.
"""

from __future__ import annotations

import os
import pickle
import socket
import sqlite3
import subprocess
import sys
import time
from typing import Any

from django.db import connections

from bench import report
from bench.databases import in_process, run_in_process
from bench.timing import Stats
from blog.models import Author
from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest

DATASET = DatasetRef("default", 1)
SHORT = 100
CHUNK = 600
ROUNDS = 25
TARGET_US = 40.0
SNIPPETS = {
    "`Author.objects.filter(pk=1).first()`": "for _ in range({n}):\n    Author.objects.filter(pk=1).first()\n",
    '`cursor.execute("SELECT 1")`': (
        "with connection.cursor() as cursor:\n    for _ in range({n}):\n        cursor.execute('SELECT 1')\n"
    ),
}


FLOOR_ROUNDS = 15
FLOOR_STATEMENTS = 300
# The partner: one statement in, its rows out, until the socket closes.
_PARTNER = """
import pickle, socket, sqlite3, sys
channel = socket.socket(fileno=int(sys.argv[1]))
cursor = sqlite3.connect(sys.argv[2]).cursor()
while message := channel.recv(1 << 16):
    cursor.execute(*pickle.loads(message))
    channel.sendall(pickle.dumps(cursor.fetchall()))
"""


def _statement() -> tuple[str, Any]:
    """What the ORM sends for ``Author.objects.filter(pk=1).first()``, in SQLite's placeholders."""
    sql, params = Author.objects.filter(pk=1).order_by("pk")[:1].query.get_compiler("default").as_sql()
    return sql.replace("%s", "?"), params


def _floor_loop(cursor: sqlite3.Cursor, partner: socket.socket | None) -> float:
    started = time.perf_counter()
    for _ in range(FLOOR_STATEMENTS):
        sql, params = _statement()
        if partner is None:
            cursor.execute(sql, params)
            cursor.fetchall()
        else:
            partner.sendall(pickle.dumps((sql, params)))
            pickle.loads(partner.recv(1 << 16))
    return (time.perf_counter() - started) / FLOOR_STATEMENTS


def floor() -> tuple[Stats, Stats]:
    """Per round, seconds per statement executed here and executed by the partner."""
    ours, theirs = socket.socketpair()
    cpus = os.sched_getaffinity(0)
    with in_process(DATASET):
        path = connections["default"].settings_dict["NAME"]
        partner = subprocess.Popen(
            [sys.executable, "-c", _PARTNER, str(theirs.fileno()), path], pass_fds=[theirs.fileno()]
        )
        theirs.close()
        cursor = sqlite3.connect(path).cursor()
        here, there = [], []
        try:
            one = {min(cpus)}
            os.sched_setaffinity(0, one)
            os.sched_setaffinity(partner.pid, one)
            _floor_loop(cursor, ours)  # the partner's first statements: its imports, its page cache
            for _ in range(FLOOR_ROUNDS):
                here.append(_floor_loop(cursor, None))
                there.append(_floor_loop(cursor, ours))
        finally:
            os.sched_setaffinity(0, cpus)
            ours.close()
            partner.wait(timeout=30)
            cursor.connection.close()
    return Stats(tuple(here)), Stats(tuple(there))


def _local(code: str, n: int) -> float:
    with in_process(DATASET):
        started = time.perf_counter()
        log = run_in_process(code)
        elapsed = time.perf_counter() - started
    assert len(log.queries) == n
    return elapsed


def _sandboxed(code: str, n: int) -> float:
    result = runner.run(RunRequest(code, dataset=DATASET))
    assert result.error is None and result.query_count == n, result.error
    return result.wall_ms.median / 1000


def _rounds(template: str) -> tuple[Stats, Stats]:
    """Per round, seconds per statement past the first ``SHORT``: (a) in process, (b) sandboxed."""
    short, long = template.format(n=SHORT), template.format(n=CHUNK)
    local: list[float] = []
    sandboxed: list[float] = []
    for _ in range(ROUNDS):
        a_short, b_short = _local(short, SHORT), _sandboxed(short, SHORT)
        a_long, b_long = _local(long, CHUNK), _sandboxed(long, CHUNK)
        local.append((a_long - a_short) / (CHUNK - SHORT))
        sandboxed.append((b_long - b_short) / (CHUNK - SHORT))
    return Stats(tuple(local)), Stats(tuple(sandboxed))


def _row(label: str, counts: str, a: Stats, b: Stats) -> list[str]:
    """A statement's row: its two timings, their difference per round and the target."""
    cost = Stats.pairwise(b, a, lambda x, y: x - y)
    return [
        label,
        counts,
        report.figure(a, "µs"),
        report.figure(b, "µs"),
        report.figure(cost, "µs"),
        report.target(f"≤ {TARGET_US:g} µs", cost.median * 1e6 <= TARGET_US),
    ]


def run() -> str:
    """Section 2 as Markdown; the worker must already be warm."""
    rows = [
        _row(label, f"{SHORT} and {CHUNK} × {ROUNDS}", *_rounds(code)) for label, code in SNIPPETS.items()
    ]
    headers = [
        "statement",
        "statements × rounds",
        "(a) in-process capture",
        "(b) through the supervisor",
        "cost / statement (b − a)",
        "target",
    ]
    intro = (
        "## 2. Cost per statement\n\nWall µs per statement, median (min–max) over rounds on the "
        f"`{DATASET.size}` dataset, (a) and (b) alternating. (a): in this process under an in-process "
        "capture (an execute wrapper recording SQL, parameters, time and line, as the sandbox did "
        "before); (b): the same code through `runner.run`, each statement sent by the child to its "
        "supervisor, executed and recorded there, timed by the supervisor. Each round runs a loop of "
        f"{SHORT} and one of {CHUNK} statements each way; a statement's cost is the difference of the "
        f"two loops over the {CHUNK - SHORT} statements between them, so that what a run pays once "
        "(its child's first statement: about 2 ms, the first touch of Django's memory in a new "
        "process) is counted in section 3, not spread over the statements here."
    )
    floor_row = _row(
        "`Author.objects.filter(pk=1).first()`'s SQL, compiled by the ORM here",
        f"{FLOOR_STATEMENTS} × {FLOOR_ROUNDS}",
        *floor(),
    )
    floor_headers = [
        "statement",
        "statements × rounds",
        "executed here",
        "executed by the partner",
        "the trip",
        "target",
    ]
    floor_intro = (
        "The floor of this machine: the same statement compiled by the ORM in this process and "
        "executed either here or by a minimal partner process (a pickle in, `cursor.execute`, "
        "`fetchall`, a pickle out; on the same SQLite file and the same CPU), alternating. "
        "The trip is what the process boundary alone costs a statement, with nothing recorded "
        "or checked: no design that sends each statement to another process can cost less here."
    )
    return (
        f"{intro}\n\n{report.table(headers, rows)}\n\n{floor_intro}\n\n"
        f"{report.table(floor_headers, [floor_row])}"
    )
