"""Section 2: what a statement costs through the supervisor, against in-process capture.

Each round runs a loop of ``CHUNK`` statements twice, alternately: (a) in this
process on a copy of the same dataset, under ``InProcessLog`` (the capture the
sandbox had when the code's own process recorded its statements), timed around
the loop; (b) through ``runner.run``, timed by the run's supervisor (its
``wall_ms``: from the code's start to its end, every statement's round trip to
the supervisor included). The cost per statement is the median of the rounds'
``(b − a) / CHUNK``. The run's fixed costs (fork, confinement) are not in (b):
the supervisor's clock starts when the code does.
"""

from __future__ import annotations

import time

from bench import report
from bench.databases import in_process, run_in_process
from bench.timing import Stats
from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest

DATASET = DatasetRef("default", 1)
CHUNK = 500
ROUNDS = 15
TARGET_US = 40.0
SNIPPETS = {
    "`Author.objects.filter(pk=1).first()`": f"for _ in range({CHUNK}):\n    Author.objects.filter(pk=1).first()\n",
    '`cursor.execute("SELECT 1")`': (
        f"with connection.cursor() as cursor:\n    for _ in range({CHUNK}):\n        cursor.execute('SELECT 1')\n"
    ),
}


def _rounds(code: str) -> tuple[Stats, Stats]:
    local: list[float] = []
    sandboxed: list[float] = []
    for _ in range(ROUNDS):
        with in_process(DATASET):
            started = time.perf_counter()
            log = run_in_process(code)
            local.append(time.perf_counter() - started)
        assert len(log.queries) == CHUNK
        result = runner.run(RunRequest(code, dataset=DATASET))
        assert result.error is None and result.query_count == CHUNK, result.error
        sandboxed.append(result.wall_ms.median / 1000)
    return Stats(tuple(local)), Stats(tuple(sandboxed))


def run() -> str:
    """Section 2 as Markdown; the worker must already be warm."""
    rows = []
    for label, code in SNIPPETS.items():
        local, sandboxed = _rounds(code)
        per_statement = Stats.pairwise(sandboxed, local, lambda b, a: (b - a) / CHUNK)
        rows.append(
            [
                label,
                f"{CHUNK} × {ROUNDS}",
                report.figure(local.map(lambda s: s / CHUNK), "µs"),
                report.figure(sandboxed.map(lambda s: s / CHUNK), "µs"),
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
        "## 2. Cost per statement\n\nWall µs per statement, median (min–max) over rounds of "
        f"{CHUNK} statements on the `{DATASET.size}` dataset, (a) and (b) alternating. (a): in this "
        "process under an in-process capture (an execute wrapper recording SQL, parameters, time and "
        "line, as the sandbox did before); (b): the same code through `runner.run`, each statement "
        "sent by the child to its supervisor, executed and recorded there, timed by the supervisor."
    )
    return f"{intro}\n\n{report.table(headers, rows)}"
