"""The product as it is served: `make run` and `make serve` from a clean checkout, over HTTP.

A green suite run from the inside once hid a sandbox worker that died after every
request of the threaded dev server. These tests start the servers as the README
says, with the Makefile, from a copy of exactly the files a checkout would have,
and load them from several clients at once: every run answers, the worker is the
same one before and after, a run costs about what a trivial request costs, and
the worker dies with the server.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
from pathlib import Path

import pytest

from tests.nodes import (
    ROOT,
    Load,
    Server,
    argv,
    descendants,
    free_port,
    gone,
    load,
    parent,
    served_env,
    serving,
)

pytestmark = pytest.mark.slow

CLIENTS = 4
RUNS = 200
CODE = "print(Article.objects.count())"
# Under the dev server a run may take at most this many times a trivial request (/healthz) of the
# same server under the same load: a worker restarted per request (440 ms a run) fails it at once.
# Under gunicorn a /healthz costs 2 ms and a run in a fresh, confined child at least 7 ms on this
# kind of machine; that ratio is measured by `make bench` (bench/served.py), not asserted here.
RATIO = 3.0


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files a clean clone of this tree has: tracked and new, nothing ignored (no .venv, no var/)."""
    target = tmp_path_factory.mktemp("checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    return target


def assert_served_well(server: Server, measured: Load, *, ratio: float | None) -> None:
    assert len(measured.answers) == RUNS
    for status, body in measured.answers:
        error = body.get("error")
        if status == 429:
            assert isinstance(error, dict) and error["kind"] == "busy", body
            continue
        assert status == 200, body
        assert error is None, body
        assert body["stdout"] == "1000\n" and body["query_count"] == 1, body
    run_p50, health_p50 = statistics.median(measured.runs), statistics.median(measured.health)
    report = f"POST /api/run p50 {run_p50 * 1000:.1f} ms, /healthz p50 {health_p50 * 1000:.1f} ms"
    print(report)
    if ratio is not None:
        assert run_p50 <= ratio * health_p50, report


def assert_dies_with(server_pid: int, worker_pid: int) -> None:
    os.kill(server_pid, signal.SIGKILL)
    assert gone(worker_pid, seconds=15), f"the sandbox worker {worker_pid} outlived its server"


def serves_well_and_takes_its_worker_along(
    checkout: Path, target: str, env: dict[str, str], log: Path
) -> None:
    with serving(checkout, target, env, log) as server:
        status, first = server.run(CODE)
        assert (status, first["error"]) == (200, None), first
        worker = server.health()["sandbox"]["worker"]  # type: ignore[index]
        assert isinstance(worker, int)

        measured = load(server, CLIENTS, RUNS, CODE)

        assert server.health()["sandbox"] == {"worker": worker}
        assert_served_well(server, measured, ratio=RATIO if target == "run" else None)
        # The process that started the worker: the dev server's autoreloader (its child
        # serves, and dies with it), or gunicorn's master.
        owner = "runserver" if target == "run" else ".venv/bin/gunicorn"
        server_pid = next(
            pid
            for pid in descendants(server.process.pid)
            if owner in argv(pid) and owner not in argv(parent(pid))
        )
        assert_dies_with(server_pid, worker)


def test_make_run_serves_200_runs_from_4_clients_with_one_worker_that_dies_with_it(
    checkout: Path, tmp_path: Path
) -> None:
    serves_well_and_takes_its_worker_along(
        checkout, "run", served_env(free_port()), tmp_path / "make-run.log"
    )


def test_make_serve_serves_200_runs_from_4_clients_with_one_worker_that_dies_with_it(
    checkout: Path, tmp_path: Path
) -> None:
    env = served_env(
        free_port(),
        SECRET_KEY="served-test-key-" + "x9Q" * 20,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
    )
    serves_well_and_takes_its_worker_along(checkout, "serve", env, tmp_path / "make-serve.log")
