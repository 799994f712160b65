"""Section 4: trivial runs through ``runner.run()`` from concurrent client threads."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from bench import cpu, report
from bench.timing import Stats, sample
from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest

CODE = "print(1)"
DATASET = DatasetRef("default", 1)
CONCURRENCY = (2, 8, 32)
SECONDS = 5.0
TARGET_RUNS_PER_SECOND = 150.0
ALLOWED_ERRORS = {"busy"}
SETTLE_SECONDS = 0.3


def _client(start: threading.Barrier) -> tuple[Stats, Counter[str]]:
    errors: Counter[str] = Counter()

    def once() -> None:
        result = runner.run(RunRequest(CODE, dataset=DATASET))
        if result.error is not None:
            errors[result.error.kind] += 1
        elif result.stdout != "1\n":
            errors["wrong output"] += 1

    start.wait()
    return sample(once, seconds=SECONDS), errors


def _clients(clients: int) -> tuple[Stats, Counter[str], float]:
    start = threading.Barrier(clients + 1)
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(_client, start) for _ in range(clients)]
        start.wait()
        began = time.perf_counter()
        outcomes = [future.result() for future in futures]
        elapsed = time.perf_counter() - began
    latency = Stats.merge(stats for stats, _ in outcomes)
    return latency, sum((errors for _, errors in outcomes), Counter[str]()), elapsed


def _cpu_per_run(before: tuple[float | None, float], runs: int) -> tuple[str, str]:
    time.sleep(SETTLE_SECONDS)  # let the worker reap the last supervisors
    worker, client = cpu.worker_seconds(), cpu.client_seconds()
    if worker is None or before[0] is None or not runs:
        return "n/a", "n/a"
    per_run = (worker - before[0] + client - before[1]) / runs
    ceiling = len(os.sched_getaffinity(0)) / per_run if per_run else float("inf")
    return report.single(per_run, "ms"), f"{ceiling:,.0f}"


def _load(clients: int) -> list[str]:
    before = (cpu.worker_seconds(), cpu.client_seconds())
    latency, errors, elapsed = _clients(clients)
    per_run, ceiling = _cpu_per_run(before, latency.n)
    rate = latency.n / elapsed
    ok = rate >= TARGET_RUNS_PER_SECOND and set(errors) <= ALLOWED_ERRORS
    return [
        str(clients), f"{elapsed:.1f} s", f"{latency.n:,}", f"{rate:,.0f}",
        report.single(latency.percentile(50), "ms"), report.single(latency.percentile(95), "ms"),
        f"{report.number(latency.low, 'ms')}–{report.number(latency.high, 'ms')} ms",
        report.counts(errors), per_run, ceiling,
        report.target(f"≥ {TARGET_RUNS_PER_SECOND:g} runs/s, only busy", ok),
    ]  # fmt: skip


def run() -> str:
    """Section 4 as Markdown; the worker must already be warm."""
    rows = [_load(clients) for clients in CONCURRENCY]
    headers = [
        "clients", "time", "runs", "runs/s", "p50", "p95", "min–max", "errors",
        "CPU / run", "CPU-bound runs/s", "target",
    ]  # fmt: skip
    intro = (
        f"## 4. Throughput\n\n`runner.run({CODE!r})` in a loop from each client thread for "
        f"~{SECONDS:g} s; latency as seen by the client. Target set for 2 cores. `CPU / run`: CPU "
        "time of the worker's process tree and of this process, per run; `CPU-bound runs/s`: nproc "
        "divided by it, the rate this machine could reach with every core free for QueryLab."
    )
    return f"{intro}\n\n{report.table(headers, rows)}"
