"""Section: `POST /api/run` end to end, through `make run` and through `make serve`, next to /healthz.

Each server is started from this checkout with the Makefile, as the README says,
and loaded by ``CLIENTS`` clients, each alternating a run and a /healthz
(``tests.nodes.load``): both figures come from the same load on the same server.
Then one client alone, for the ratio without queueing: with ``CLIENTS`` clients on
a 2-core machine the cores are busy, and each request waits in proportion to the
CPU it needs. So last, what each kind of request costs the server in CPU: the
whole process tree of the `make` command (web server, sandbox worker, every run's
child, reaped ones included), ``CLIENTS`` clients sending only runs, then only
/healthz.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import cpu, report
from bench.timing import Stats
from tests.nodes import ROOT, Load, Server, free_port, load, served_env, serving

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


def _cpu_per_request(server: Server, send: Callable[[Server], object]) -> float:
    """Seconds of the server's CPU per request, ``CLIENTS`` clients each sending ``send`` in a loop."""
    clients = [server.learner(CODE) for _ in range(CLIENTS)]  # their sessions before the count starts
    before = cpu.tree_seconds(server.process.pid)
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda client: [send(client) for _ in range(RUNS // CLIENTS)], clients))
    time.sleep(0.5)  # the last runs' children reaped, their CPU counted by their parents
    return (cpu.tree_seconds(server.process.pid) - before) / (RUNS // CLIENTS * CLIENTS)


def _rows(target: str) -> tuple[list[list[str]], list[str]]:
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
        per_run = _cpu_per_request(server, lambda client: client.run(CODE))
        per_health = _cpu_per_request(server, lambda client: client.health())
    costs = [
        f"`make {target}`",
        report.single(per_run, "ms"),
        report.single(per_health, "ms"),
        f"{per_run / per_health:.1f} ×",
    ]
    return [_row(target, CLIENTS, loaded), _row(target, 1, alone)], costs


def run() -> str:
    (run_rows, run_costs), (serve_rows, serve_costs) = _rows("run"), _rows("serve")
    rows = [*run_rows, *serve_rows]
    headers = [
        "server", "clients", "runs (statuses)", "run p50", "run p95", "/healthz p50", "/healthz p95", "target",
    ]  # fmt: skip
    intro = (
        "## Served: `POST /api/run` through the real servers\n\n"
        f"`{CODE}` on the default dataset, {CLIENTS} clients each alternating a run and a /healthz, "
        f"{RUNS} runs in all, then one client alone for {RUNS // 2}; latency as each client sees it. "
        f"The target is set for {CLIENTS} clients; the row of one shows the ratio without queueing."
    )
    cost_intro = (
        f"The server's CPU per request, {CLIENTS} clients sending {RUNS} runs, then {RUNS} /healthz: "
        "the whole process tree of the `make` command (web server, sandbox worker, every run's "
        "child), from /proc. With the cores busy a request waits in proportion to the CPU it needs, "
        "so the latency ratio above approaches this one, narrowed by the time both kinds of request "
        "spend outside the server (the clients' own share of the same two cores)."
    )
    cost_headers = ["server", "CPU / run", "CPU / healthz", "ratio"]
    return (
        f"{intro}\n\n{report.table(headers, rows)}\n\n{cost_intro}\n\n"
        f"{report.table(cost_headers, [run_costs, serve_costs])}"
    )
