"""Section 3: what the sandbox adds to a whole run, and to a big fetch, over running it here.

(a) in-process: the code compiled as submitted code is (guard included) and run
    in this process under ``InProcessLog`` on a copy of the same dataset, then
    ``analysis.findings()``: everything a run does except crossing into the sandbox.
(b) end to end: ``runner.run()`` as the web process calls it, timed by the caller.
The two alternate, run by run.

Then a fetch of 20,000 comments on ``large``, where rows cross from the supervisor
to the child in batches: the supervisor's wall time of the code against (a)'s.
"""

from __future__ import annotations

import time
from collections import Counter

from bench import report
from bench.databases import in_process, run_in_process
from bench.timing import Stats, cycle, sample
from sandbox import analysis, runner
from sandbox.contract import DatasetRef, Query, RunRequest, RunResult

SNIPPET = 'for a in Article.objects.order_by("id")[:50]:\n    a.author.username\n'
DATASET = DatasetRef("default", 1)
RUNS = 150
WARM_RUNS = 10
TARGET_MS = 5.0
FETCH = "rows = list(Comment.objects.all()[:20000])\n"
FETCH_DATASET = DatasetRef("large", 1)
FETCH_ROUNDS = 9
FETCH_TARGET = 1.5


def warm() -> str | None:
    """Start the worker with the dataset prepared and let it serve a few runs; why it failed, if it did."""
    runner.prepare(DATASET)
    for _ in range(WARM_RUNS):
        error = runner.run(RunRequest(SNIPPET, dataset=DATASET)).error
        if error is not None:
            return f"{error.kind}: {error.message}"
    return None


def _interleaved() -> tuple[Stats, Stats, Counter[int], list[RunResult]]:
    """(a) and (b) alternately, so both see the same machine load."""
    local_queries: Counter[int] = Counter()
    results: list[RunResult] = []

    def here() -> None:
        log = run_in_process(SNIPPET)
        analysis.findings([Query(sql, None, ms, line=line) for sql, _, ms, line in log.queries])
        local_queries[len(log.queries)] += 1

    def end_to_end() -> None:
        results.append(runner.run(RunRequest(SNIPPET, dataset=DATASET)))

    with in_process(DATASET):
        local, remote = sample(cycle(here, end_to_end), times=2 * RUNS).split(2)
    return local, remote, local_queries, results


def _row(label: str, stats: Stats, queries: str, errors: str, goal: str = "—") -> list[str]:
    p50, p95 = stats.percentile(50), stats.percentile(95)
    spread = f"{report.number(stats.low, 'ms')}–{report.number(stats.high, 'ms')} ms"
    return [
        label,
        str(stats.n),
        queries,
        report.single(p50, "ms"),
        report.single(p95, "ms"),
        spread,
        errors,
        goal,
    ]


def _fetch() -> list[str]:
    """The big fetch, alternately here and in the sandbox; the supervisor's clock for the latter."""
    runner.prepare(FETCH_DATASET)
    local: list[float] = []
    sandboxed: list[float] = []
    for _ in range(FETCH_ROUNDS):
        with in_process(FETCH_DATASET):
            started = time.perf_counter()
            run_in_process(FETCH)
            local.append(time.perf_counter() - started)
        result = runner.run(RunRequest(FETCH, dataset=FETCH_DATASET))
        assert result.error is None and result.queries[0].rows == 20_000, result.error
        sandboxed.append(result.wall_ms.median / 1000)
    ratio = Stats.pairwise(Stats(tuple(sandboxed)), Stats(tuple(local)), lambda b, a: b / a)
    return [
        "`list(Comment.objects.all()[:20000])` on `large`",
        str(FETCH_ROUNDS),
        report.figure(Stats(tuple(local)), "ms"),
        report.figure(Stats(tuple(sandboxed)), "ms"),
        report.figure(ratio, "×"),
        report.target(f"≤ {FETCH_TARGET:g}×", ratio.median <= FETCH_TARGET),
    ]


def run() -> str:
    """Section 3 as Markdown; the worker must already be warm (``warm()``)."""
    local, remote, local_queries, results = _interleaved()
    code = Stats(tuple(r.wall_ms.median / 1000 for r in results))
    errors = report.counts(Counter(r.error.kind for r in results if r.error))
    remote_queries = Counter(r.query_count for r in results)
    p50 = remote.percentile(50) - local.percentile(50)
    p95 = remote.percentile(95) - local.percentile(95)
    overhead = [
        "**overhead** (b − a)", "", "", report.single(p50, "ms"), report.single(p95, "ms"), "", "",
        report.target(f"p50 ≤ {TARGET_MS:g} ms", p50 * 1000 <= TARGET_MS),
    ]  # fmt: skip
    rows = [
        _row(
            "(a) in-process: compile, exec, capture, `findings()`",
            local,
            report.counts(local_queries),
            "none",
        ),
        _row("(b) `runner.run()` end to end", remote, report.counts(remote_queries), errors),
        _row("… of which the code, by the supervisor's clock", code, "", ""),
        overhead,
    ]
    headers = ["path", "n", "queries: runs", "p50", "p95", "min–max", "errors", "target"]
    intro = (
        f"## 3. Runner overhead\n\nThe {1 + 50}-query N+1 snippet "
        '`for a in Article.objects.order_by("id")[:50]: a.author.username` on the '
        f"`{DATASET.size}` dataset (seed {DATASET.seed}), warm worker, {RUNS} runs each, (a) and (b) alternating."
    )
    fetch_headers = [
        "fetch",
        "rounds",
        "in-process",
        "in the sandbox (supervisor's clock)",
        "ratio",
        "target",
    ]
    fetch = (
        "A big fetch: rows cross from the supervisor to the child in batches of 5,000; "
        f"{FETCH_ROUNDS} rounds, alternating."
    )
    return "\n\n".join([intro, report.table(headers, rows), fetch, report.table(fetch_headers, [_fetch()])])
