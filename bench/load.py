"""Section 7: a class-sized load with Locust, against one node and then two.

Each node is a real gunicorn server (tests.nodes) in development mode with
DEBUG off. One node runs on SQLite; two nodes need one PostgreSQL, so they are
measured only when DATABASE_URL points at one. The dataset digest is read
before and after: a class full of runs must leave it unchanged.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from django.conf import settings

from bench import report
from tests.nodes import ROOT, manage, node, node_env, temporary_database

USERS = 50
SECONDS = 60
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def _digest(url: str) -> str:
    return str(json.loads(urllib.request.urlopen(url + "/api/dataset", timeout=30).read())["digest"])


def _locust(hosts: list[str], prefix: Path) -> list[dict[str, str]]:
    # Several nodes: one Locust process per node, the class split between them.
    processes = [
        subprocess.Popen(
            [
                sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                "-u", str(USERS // len(hosts)), "-r", "10", "-t", f"{SECONDS}s",
                "--host", host, "--csv", f"{prefix}-{i}", "--only-summary",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, host in enumerate(hosts)
    ]  # fmt: skip
    for process in processes:
        process.wait(timeout=SECONDS + 120)
    rows: list[dict[str, str]] = []
    for i in range(len(hosts)):
        with open(f"{prefix}-{i}_stats.csv") as stats:
            rows += list(csv.DictReader(stats))
        with open(f"{prefix}-{i}_failures.csv") as failures:
            rows += [
                {"failure": r["Error"], "count": r["Occurrences"], "Name": r["Name"]}
                for r in csv.DictReader(failures)
            ]
    return rows


def _table(label: str, rows: list[dict[str, str]], before: str, after: str) -> list[list[str]]:
    stats = [r for r in rows if "Request Count" in r and r["Name"] != "Aggregated"]
    errors = [r for r in rows if "failure" in r]
    names = sorted({r["Name"] for r in stats})
    lines = []
    for name in names:
        parts = [r for r in stats if r["Name"] == name]
        count = sum(int(r["Request Count"]) for r in parts)
        rps = sum(float(r["Requests/s"]) for r in parts)
        worst = max(parts, key=lambda r: float(r["95%"] or 0))
        failures = [f"{e['failure']} ×{e['count']}" for e in errors if e["Name"] == name]
        lines.append(
            [
                label,
                name,
                str(count),
                f"{rps:.1f}",
                worst["50%"],
                worst["95%"],
                worst["99%"],
                "; ".join(failures) or "none",
            ]
        )
    only_429 = all("429" in e["failure"] for e in errors)
    lines.append(
        [
            label,
            "**dataset digest**",
            "",
            "",
            "",
            "",
            "",
            report.target(f"{before[:12]} → {after[:12]}", before == after),
        ]
    )
    lines.append([label, "**errors other than 429**", "", "", "", "", "", report.target("none", only_429)])
    return lines


def _measure(label: str, envs: list[dict[str, str]], work: Path) -> list[list[str]]:
    manage("migrate", "-v", "0", env=envs[0])
    manage("seed_blog", "--size", "default", "--if-empty", env=envs[0])
    with ExitStack() as stack:
        urls = [stack.enter_context(node(env)) for env in envs]
        before = _digest(urls[0])
        rows = _locust(urls, work / label.replace(" ", "-"))
        after = _digest(urls[-1])
    return _table(label, rows, before, after)


def run() -> str:
    headers = ["setup", "endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lines = _measure("1 node (SQLite)", [node_env(str(work / "one"))], work)
        database = settings.DATABASES["default"]
        if database["ENGINE"] == "django.db.backends.postgresql":
            with temporary_database(database) as url:  # never the app's own data
                envs = [node_env(str(work / name), DATABASE_URL=url) for name in ("a", "b")]
                lines += _measure("2 nodes (PostgreSQL)", envs, work)
            note = ""
        else:
            note = "\n\nTwo nodes share one PostgreSQL: run `DATABASE_URL=postgres://… make bench` to measure them."
    intro = (
        f"## 7. Load: {USERS} simulated learners for {SECONDS} s (Locust)\n\n"
        "Each learner browses lessons, runs a comparison, submits an exercise and polls the dataset, "
        "1–3 s apart; gunicorn with 2 workers × 4 threads per node on this 2-core machine."
    )
    return intro + "\n\n" + report.table(headers, lines) + note
