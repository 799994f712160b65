"""Section 7: a class under load, with Locust: 100 learners on one node, 200 on two, and the largest class one node holds.

Each node is a real gunicorn server (tests.nodes: 2 workers × 4 threads, DEBUG off)
with Server-Timing on, so each answer says where its time went (core/timing.py).
Before the class arrives the node is warmed as `make run` warms it (``manage.py warm``:
every dataset a learner can reach is built). One node runs on SQLite; two nodes need
one PostgreSQL, so they are measured only when DATABASE_URL points at one. The
dataset digest is read before and after: a class full of runs must leave it unchanged.

CPU per request: the CPU time of each node's whole process tree (gunicorn, the
sandbox worker, its supervisors and every run's child, reaped ones included) over
the run, divided by the requests it answered. Locust runs on the same two cores;
its own CPU is given beside it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from bench import cpu, report
from tests.nodes import ROOT, Server, argv, manage, node, node_env, parent, temporary_database

ONE_NODE_USERS = 100
TWO_NODE_USERS = 200
# Learners on one node, to find the largest class it holds: stepped up until a step fails.
STEPS = (50, 100, 150, 200, 250, 300, 400)
SECONDS = 60
SPAWN_RATE = 10  # learners arriving per second
P95_TARGET_MS = 1000.0
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
TIMED = ("sandbox", "db", "template")


@dataclass
class Measured:
    label: str
    users: int
    stats: list[dict[str, str]]  # Locust's rows, one per endpoint and node
    failures: list[dict[str, str]]
    spent: dict[str, dict[str, float]]  # endpoint -> Server-Timing figure -> sum of ms ("n": answers)
    node_cpu: float
    locust_cpu: float
    node_mb: float
    before: str
    after: str

    def endpoints(self) -> list[str]:
        return sorted({r["Name"] for r in self.stats if r["Name"] != "Aggregated"})

    def of(self, name: str) -> list[dict[str, str]]:
        return [r for r in self.stats if r["Name"] == name]

    def requests(self) -> int:
        return sum(int(r["Request Count"]) for r in self.stats if r["Name"] != "Aggregated")

    def p95(self, name: str) -> float:
        return max(float(r["95%"] or 0) for r in self.of(name))

    def worst(self) -> tuple[str, float]:
        name = max(self.endpoints(), key=self.p95)
        return name, self.p95(name)

    def only_429(self) -> bool:
        return all("429" in f["Error"] for f in self.failures)

    def holds(self) -> bool:
        return self.worst()[1] <= P95_TARGET_MS and self.only_429() and self.before == self.after


def _digest(url: str) -> str:
    return str(json.loads(urllib.request.urlopen(url + "/api/dataset", timeout=30).read())["digest"])


def _master(url: str) -> int:
    """The gunicorn master serving ``url``: the process bound to its port whose parent is not."""
    bind = url.removeprefix("http://")
    serving = [int(p) for p in os.listdir("/proc") if p.isdigit() and bind in argv(int(p))]
    return next(pid for pid in serving if parent(pid) not in serving)


def _node_cpu(urls: list[str]) -> float:
    return sum(cpu.tree_seconds(_master(url)) for url in urls)


def _locust(hosts: list[str], users: int, prefix: Path) -> Measured:
    """One Locust process per node, the class split between them; the rows and Locust's CPU."""
    processes = []
    for i, host in enumerate(hosts):
        env = {**os.environ, "QUERYLAB_TIMING_OUT": f"{prefix}-{i}-timing.json"}
        processes.append(
            subprocess.Popen(
                [
                    sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                    "-u", str(users // len(hosts)), "-r", str(SPAWN_RATE / len(hosts)), "-t", f"{SECONDS}s",
                    "--host", host, "--csv", f"{prefix}-{i}", "--only-summary",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    locust_cpu = 0.0
    for process in processes:
        _, _, usage = os.wait4(process.pid, 0)
        locust_cpu += usage.ru_utime + usage.ru_stime
    stats: list[dict[str, str]] = []
    failures: list[dict[str, str]] = []
    spent: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    for i in range(len(hosts)):
        with open(f"{prefix}-{i}_stats.csv") as rows:
            stats += list(csv.DictReader(rows))
        with open(f"{prefix}-{i}_failures.csv") as rows:
            failures += list(csv.DictReader(rows))
        with open(f"{prefix}-{i}-timing.json") as timing:
            for name, figures in json.load(timing).items():
                for figure, ms in figures.items():
                    spent[name][figure] += ms
    return Measured("", users, stats, failures, spent, 0.0, locust_cpu, 0.0, "", "")


def _prepare(envs: list[dict[str, str]]) -> None:
    manage("migrate", "-v", "0", env=envs[0])
    manage("seed_blog", "--size", "default", "--if-empty", env=envs[0])
    for env in envs:  # each node's own var/: its datasets, built before the class arrives
        manage("warm", "--datasets-only", env=env)


def _ready(url: str) -> None:
    """One learner's first clicks before the class: the sandbox worker started, as a server's warm-up starts it."""
    server = Server(url, process=None, log=Path(os.devnull))  # type: ignore[arg-type]  # only its client is used
    server.open(url + "/lessons/n-plus-one/")
    status, body = server.run("print(Article.objects.count())")
    assert status == 200 and body.get("error") is None, body


def _new_class(envs: list[dict[str, str]]) -> None:
    """Each step is a new class: the last one's rate-limit counters are forgotten (its shared
    lesson runs and prepared datasets are kept, as a server keeps them between two classes)."""
    for env in envs[:1] if "DATABASE_URL" in envs[0] else envs:  # one database, or each node's own
        manage("shell", "-c", "from django.core.cache import caches; caches['counters'].clear()", env=env)


def _measure(label: str, envs: list[dict[str, str]], users: int, work: Path) -> Measured:
    _new_class(envs)
    with ExitStack() as stack:
        urls = [stack.enter_context(node(env)) for env in envs]
        for url in urls:
            _ready(url)
        before = _digest(urls[0])
        cpu_before = _node_cpu(urls)
        measured = _locust(urls, users, work / f"{label.replace(' ', '-')}-{users}")
        measured.node_cpu = _node_cpu(urls) - cpu_before
        measured.node_mb = sum(cpu.tree_pss_mb(_master(url)) for url in urls)
        measured.label, measured.before, measured.after = label, before, _digest(urls[-1])
    return measured


def _latency_rows(m: Measured) -> list[list[str]]:
    lines = []
    for name in m.endpoints():
        parts = m.of(name)
        worst = max(parts, key=lambda r: float(r["95%"] or 0))
        failures = [f"{f['Error']} ×{f['Occurrences']}" for f in m.failures if f["Name"] == name]
        lines.append(
            [
                f"{m.label}, {m.users} learners",
                name,
                str(sum(int(r["Request Count"]) for r in parts)),
                f"{sum(float(r['Requests/s']) for r in parts):.1f}",
                worst["50%"],
                worst["95%"],
                worst["99%"],
                "; ".join(failures) or "none",
                report.target("p95 ≤ 1 s", m.p95(name) <= P95_TARGET_MS),
            ]
        )
    blank = ["", "", "", "", "", ""]
    digest = report.target(f"{m.before[:12]} → {m.after[:12]}", m.before == m.after)
    lines.append([f"{m.label}, {m.users} learners", "**dataset digest**", *blank, digest])
    lines.append(
        [
            f"{m.label}, {m.users} learners",
            "**errors other than 429**",
            *blank,
            report.target("none", m.only_429()),
        ]
    )
    return lines


def _time_rows(m: Measured) -> list[list[str]]:
    lines = []
    for name in m.endpoints():
        figures = m.spent.get(name, {})
        n = figures.get("n", 0)
        if not n:
            continue
        mean = {key: figures.get(key, 0.0) / n for key in (*TIMED, "cpu", "total")}
        other = max(0.0, mean["total"] - sum(mean[key] for key in TIMED))
        lines.append(
            [
                f"{m.label}, {m.users} learners",
                name,
                f"{int(n):,}",
                *(report.single(mean[key] / 1000, "ms") for key in ("total", *TIMED)),
                report.single(other / 1000, "ms"),
                report.single(mean["cpu"] / 1000, "ms"),
            ]
        )
    return lines


def _cpu_row(m: Measured) -> list[str]:
    requests = m.requests()
    return [
        f"{m.label}, {m.users} learners",
        f"{requests:,}",
        f"{m.node_cpu:.1f} s",
        report.single(m.node_cpu / requests, "ms") if requests else "—",
        f"{m.node_cpu / SECONDS:.2f}",
        f"{m.node_mb:.0f} MB",
        f"{m.locust_cpu:.1f} s",
    ]


def _step_row(m: Measured) -> list[str]:
    name, p95 = m.worst()
    return [
        str(m.users),
        f"{m.requests():,}",
        f"{m.requests() / SECONDS:.1f}",
        f"{p95:.0f} ms ({name})",
        "none" if m.only_429() else "yes",
        report.target("holds", m.holds()) if m.holds() else "does not hold ❌",
    ]


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        one = [node_env(str(work / "one"), QUERYLAB_SERVER_TIMING="1")]
        _prepare(one)
        steps: list[Measured] = []
        for users in STEPS:
            steps.append(_measure("1 node (SQLite)", one, users, work))
            if not steps[-1].holds() and users >= ONE_NODE_USERS:
                break  # the largest class is found: a bigger one would not hold either
        measured = [next(m for m in steps if m.users == ONE_NODE_USERS)]
        database = settings.DATABASES["default"]
        note = ""
        if database["ENGINE"] == "django.db.backends.postgresql":
            with temporary_database(database) as url:  # never the app's own data
                two = [
                    node_env(str(work / name), DATABASE_URL=url, QUERYLAB_SERVER_TIMING="1")
                    for name in ("a", "b")
                ]
                _prepare(two)
                measured.append(_measure("2 nodes (PostgreSQL)", two, TWO_NODE_USERS, work))
        else:
            note = "\n\nTwo nodes share one PostgreSQL: run `DATABASE_URL=postgres://… make bench` to measure them."
    held = 0  # the largest class that holds, every smaller one holding too
    for m in steps:
        if not m.holds():
            break
        held = m.users
    if held == max(STEPS):
        largest = f"**at least {held} learners** (every step held; {held} was the largest measured)"
    elif held:
        largest = f"**{held} learners** (the next step, {steps[-1].users}, did not hold)"
    else:
        largest = f"fewer than {min(STEPS)} learners"
    intro = (
        f"## 7. Load: a class with Locust ({SECONDS} s per run)\n\n"
        "Each learner opens the playground, then browses lessons, runs a comparison, submits an exercise "
        f"and polls the dataset, 1–3 s apart; {SPAWN_RATE} learners arrive per second. Each node is "
        "gunicorn with 2 workers × 4 threads on this 2-core machine, warmed as `make run` warms it; "
        "Locust runs on the same cores."
    )
    latency = report.table(
        ["setup", "endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "target"],
        [line for m in measured for line in _latency_rows(m)],
    )
    where = report.table(
        ["setup", "endpoint", "answers", "total", "sandbox", "database", "templates", "other", "web CPU"],
        [line for m in measured for line in _time_rows(m)],
    )
    spent = report.table(
        [
            "setup",
            "requests",
            "node CPU",
            "CPU / request",
            "cores busy (of 2)",
            "memory (PSS)",
            "Locust's CPU",
        ],
        [_cpu_row(m) for m in measured],
    )
    stepping = report.table(
        ["learners", "requests", "req/s", "worst p95", "errors other than 429", "every p95 ≤ 1 s"],
        [_step_row(m) for m in steps],
    )
    return (
        "\n\n".join(
            [
                intro,
                latency,
                "Where the time goes, mean per answer from each answer's `Server-Timing` (core/timing.py): "
                "*sandbox* is the wall time while one of the request's runs was in the sandbox (a grade's two "
                "runs overlap and count once), *database* the app database's statements, *templates* the "
                "rendering, *other* the rest of the request (queueing in gunicorn's threads is not in it); "
                "*web CPU* is the request thread's own CPU in the web process.",
                where,
                "CPU: everything each node ran over the run, sandbox included; memory: the nodes' process "
                "trees at the end of the run, each shared page split among the processes sharing it (PSS).",
                spent,
                f"The largest class one node holds at every p95 ≤ 1 s, stepping the learners: {largest}.",
                stepping,
            ]
        )
        + note
    )
