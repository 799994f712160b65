"""Section: `POST /api/run` end to end, through `make run` and through `make serve`, next to /healthz.

Each server is started from this checkout with the Makefile, as the README says,
and loaded by ``CLIENTS`` clients, each alternating a run and a /healthz
(``tests.nodes.load``): both figures come from the same load on the same server.
Then one client alone, for the ratio without queueing: with ``CLIENTS`` clients on
a 2-core machine the cores are busy, and each request waits in proportion to the
CPU it needs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import report
from bench.timing import Stats
from tests.nodes import ROOT, Load, free_port, load, served_env, serving

CLIENTS = 4
RUNS = 200
CODE = "print(Article.objects.count())"
RATIO = 3.0


def _row(target: str, clients: int, measured: Load) -> list[str]:
    runs, health = Stats(tuple(measured.runs)), Stats(tuple(measured.health))
    statuses = sorted({status for status, _ in measured.answers})
    errors = sum(1 for _, body in measured.answers if body.get("error"))
    ratio = runs.percentile(50) / health.percentile(50)
    goal = f"run p50 ≤ {RATIO:g}× /healthz p50 ({ratio:.1f}×)"
    return [
        f"`make {target}`",
        str(clients),
        f"{len(measured.answers)} ({', '.join(map(str, statuses))}; errors: {errors})",
        report.single(runs.percentile(50), "ms"),
        report.single(runs.percentile(95), "ms"),
        report.single(health.percentile(50), "ms"),
        report.single(health.percentile(95), "ms"),
        report.target(goal, ratio <= RATIO) if clients == CLIENTS else f"— ({ratio:.1f}×)",
    ]


def _rows(target: str) -> list[list[str]]:
    extra = (
        {"SECRET_KEY": "bench-" + "b7" * 30, "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0"}
        if target == "serve"
        else {}
    )
    log = Path(tempfile.mkdtemp(prefix="querylab-bench-")) / f"make-{target}.log"
    with serving(ROOT, target, served_env(free_port(), **extra), log) as server:
        server.run(CODE)  # the worker started, the dataset prepared
        loaded = load(server, CLIENTS, RUNS, CODE)
        alone = load(server, 1, RUNS // 2, CODE)
    return [_row(target, CLIENTS, loaded), _row(target, 1, alone)]


def run() -> str:
    rows = [*_rows("run"), *_rows("serve")]
    headers = [
        "server", "clients", "runs (statuses)", "run p50", "run p95", "/healthz p50", "/healthz p95", "target",
    ]  # fmt: skip
    intro = (
        "## Served: `POST /api/run` through the real servers\n\n"
        f"`{CODE}` on the default dataset, {CLIENTS} clients each alternating a run and a /healthz, "
        f"{RUNS} runs in all, then one client alone for {RUNS // 2}; latency as each client sees it. "
        f"The target is set for {CLIENTS} clients; the row of one shows the ratio without queueing."
    )
    return f"{intro}\n\n{report.table(headers, rows)}"
