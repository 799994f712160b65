"""Section 3: what the sandbox runner adds to a run, over running it in this process.

(a) in-process: ``execute.run_code()`` (compile, guard, exec under a QueryLog,
    JSON-ready queries) then ``analysis.findings()``, against an in-memory copy of
    the dataset built as the worker builds it: everything a run does except
    crossing into the sandbox.
(b) end to end: ``runner.run()`` as the web process calls it, timed by the caller.
The two alternate, run by run.
"""

from __future__ import annotations

from collections import Counter

from bench import report
from bench.databases import activated
from bench.timing import Stats, cycle, sample
from sandbox import analysis, runner
from sandbox.worker import datasets, execute

SNIPPET = 'for a in Article.objects.order_by("id")[:50]:\n    a.author.username\n'
DATASET = runner.DatasetRef("default", 1)
RUNS = 150
WARM_RUNS = 10
TARGET_MS = 5.0


def warm() -> str | None:
    """Start the worker with the dataset built and let it serve a few runs; why it failed, if it did."""
    runner.prepare(DATASET)
    for _ in range(WARM_RUNS):
        error = runner.run(SNIPPET, dataset=DATASET).error
        if error is not None:
            return f"{error.kind}: {error.message}"
    return None


def _interleaved(dataset: datasets.Dataset) -> tuple[Stats, Stats, Counter[int], list[runner.RunResult]]:
    """(a) and (b) alternately, so both see the same machine load."""
    request = {"code": SNIPPET, "latency_ms": 0.0}
    local_queries: Counter[int] = Counter()
    results: list[runner.RunResult] = []

    def in_process() -> None:
        result = execute.run_code(request, dataset)
        analysis.findings(result["queries"])
        local_queries[result["query_count"]] += 1

    def end_to_end() -> None:
        results.append(runner.run(SNIPPET, dataset=DATASET))

    with activated(dataset):
        local, remote = sample(cycle(in_process, end_to_end), times=2 * RUNS).split(2)
    return local, remote, local_queries, results


def _row(label: str, stats: Stats, queries: str, errors: str) -> list[str]:
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
        "—",
    ]


def _overhead_row(local: Stats, remote: Stats) -> list[str]:
    p50 = remote.percentile(50) - local.percentile(50)
    p95 = remote.percentile(95) - local.percentile(95)
    ok = p50 * 1000 <= TARGET_MS
    goal = report.target(f"p50 ≤ {TARGET_MS:g} ms", ok)
    return ["**overhead** (b − a)", "", "", report.single(p50, "ms"), report.single(p95, "ms"), "", "", goal]


def run(dataset: datasets.Dataset) -> str:
    """Section 3 as Markdown; the worker must already be warm (``warm()``)."""
    local, remote, local_queries, results = _interleaved(dataset)
    child = Stats(tuple(r.wall_ms.median / 1000 for r in results))
    errors = report.counts(Counter(r.error.kind for r in results if r.error))
    remote_queries = Counter(r.query_count for r in results)
    rows = [
        _row("(a) in-process: `run_code()` + `findings()`", local, report.counts(local_queries), "none"),
        _row("(b) `runner.run()` end to end", remote, report.counts(remote_queries), errors),
        _row("… of which the code's own exec in the child", child, "", ""),
        _overhead_row(local, remote),
    ]
    headers = ["path", "n", "queries: runs", "p50", "p95", "min–max", "errors", "target"]
    intro = (
        f"## 3. Runner overhead\n\nThe {1 + 50}-query N+1 snippet "
        '`for a in Article.objects.order_by("id")[:50]: a.author.username` on the '
        f"`{DATASET.size}` dataset (seed {DATASET.seed}), warm worker, {RUNS} runs each, (a) and (b) alternating."
    )
    return f"{intro}\n\n{report.table(headers, rows)}"
