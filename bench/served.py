"""Section: `POST /api/run` end to end, through `make run` and through `make serve`, next to /healthz.

Each server is started from this checkout with the Makefile, as the README says,
and loaded by ``CLIENTS`` clients, each alternating a run and a /healthz
(``tests.nodes.load``): both figures come from the same load on the same server.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import report
from bench.timing import Stats
from tests.nodes import ROOT, free_port, load, served_env, serving

CLIENTS = 4
RUNS = 200
CODE = "print(Article.objects.count())"
RATIO = 3.0


def _row(target: str) -> list[str]:
    extra = (
        {"SECRET_KEY": "bench-" + "b7" * 30, "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0"}
        if target == "serve"
        else {}
    )
    log = Path(tempfile.mkdtemp(prefix="querylab-bench-")) / f"make-{target}.log"
    with serving(ROOT, target, served_env(free_port(), **extra), log) as server:
        server.run(CODE)  # the worker started, the dataset prepared
        measured = load(server, CLIENTS, RUNS, CODE)
    runs, health = Stats(tuple(measured.runs)), Stats(tuple(measured.health))
    statuses = sorted({status for status, _ in measured.answers})
    errors = sum(1 for _, body in measured.answers if body.get("error"))
    ratio = runs.percentile(50) / health.percentile(50)
    return [
        f"`make {target}`",
        f"{len(measured.answers)} ({', '.join(map(str, statuses))}; errors: {errors})",
        report.single(runs.percentile(50), "ms"),
        report.single(runs.percentile(95), "ms"),
        report.single(health.percentile(50), "ms"),
        report.single(health.percentile(95), "ms"),
        report.target(f"run p50 ≤ {RATIO:g}× /healthz p50 ({ratio:.1f}×)", ratio <= RATIO),
    ]


def run() -> str:
    rows = [_row("run"), _row("serve")]
    headers = ["server", "runs (statuses)", "run p50", "run p95", "/healthz p50", "/healthz p95", "target"]
    intro = (
        "## Served: `POST /api/run` through the real servers\n\n"
        f"`{CODE}` on the default dataset, {CLIENTS} clients each alternating a run and a /healthz, "
        f"{RUNS} runs in all; latency as each client sees it."
    )
    return f"{intro}\n\n{report.table(headers, rows)}"
