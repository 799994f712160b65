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
"""

from __future__ import annotations

import time

from bench import report
from bench.databases import in_process, run_in_process
from bench.timing import Stats
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


def run() -> str:
    """Section 2 as Markdown; the worker must already be warm."""
    rows = []
    for label, code in SNIPPETS.items():
        local, sandboxed = _rounds(code)
        per_statement = Stats.pairwise(sandboxed, local, lambda b, a: b - a)
        rows.append(
            [
                label,
                f"{SHORT} and {CHUNK} × {ROUNDS}",
                report.figure(local, "µs"),
                report.figure(sandboxed, "µs"),
                report.figure(per_statement, "µs"),
                report.target(f"≤ {TARGET_US:g} µs", per_statement.median * 1e6 <= TARGET_US),
            ]
        )
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
    return f"{intro}\n\n{report.table(headers, rows)}"
