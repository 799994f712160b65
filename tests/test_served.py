"""The product as it is served: `make run` and `make serve` from a clean checkout, over HTTP.

A green suite run from the inside once hid a sandbox worker that died after every
request of the threaded dev server. These tests start the servers as the README
says, with the Makefile, from a copy of exactly the files a checkout would have,
and load them from several clients at once: every run answers, the worker is the
same one before and after, a run costs about what a trivial request costs, and
the worker dies with the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.nodes import ROOT, free_port

pytestmark = pytest.mark.slow

CLIENTS = 4
RUNS = 200
CODE = "print(Article.objects.count())"
# A run may take at most this many times a trivial request (/healthz) of the same server under the same load.
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


def environment(port: int, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "PYENV_ROOT", "DATABASE_URL", "UV_CACHE_DIR", "XDG_CACHE_HOME")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    # Four clients from one address: the per-learner run limit is not what is measured here.
    return {**env, "PORT": str(port), "QUERYLAB_RUNS_PER_MINUTE": "100000", **extra}


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    https: bool = False  # production cookies are Secure: send them as a TLS proxy would
    jar: CookieJar = field(default_factory=CookieJar)

    def open(self, request: urllib.request.Request | str, timeout: float = 60) -> tuple[int, bytes]:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        try:
            with opener.open(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def health(self) -> dict[str, object]:
        status, body = self.open(self.url + "/healthz")
        assert status == 200, body
        return dict(json.loads(body))

    def run(self, code: str) -> tuple[int, dict[str, object]]:
        if not any(cookie.name == "csrftoken" for cookie in self.jar):
            self.open(self.url + "/playground/")
        token = next(cookie.value for cookie in self.jar if cookie.name == "csrftoken")
        origin = self.url.replace("http://", "https://") if self.https else self.url
        headers = {
            "Content-Type": "application/json",
            "X-CSRFToken": token,
            "Referer": origin + "/playground/",
        }
        if self.https:
            headers |= {"Cookie": f"csrftoken={token}", "X-Forwarded-Proto": "https"}
        request = urllib.request.Request(self.url + "/api/run", json.dumps({"code": code}).encode(), headers)
        status, body = self.open(request)
        return status, dict(json.loads(body))


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            children.setdefault(_parent(int(entry.name)), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"


@contextlib.contextmanager
def serving(checkout: Path, target: str, env: dict[str, str], log: Path) -> Iterator[Server]:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["make", target],
            cwd=checkout,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{env['PORT']}", process, log, https=target == "serve")
    try:
        deadline = time.monotonic() + 900  # a fresh virtualenv first
        while True:
            try:
                server.health()
                break
            except (OSError, AssertionError):
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        yield server
    finally:
        for pid in [process.pid, *_descendants(process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)


@dataclass
class Load:
    runs: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    answers: list[tuple[int, dict[str, object]]] = field(default_factory=list)


def load(server: Server) -> Load:
    """CLIENTS clients, each alternating a run and a /healthz, RUNS runs in all."""
    measured = Load()

    def client(_: int) -> None:
        own = Server(server.url, server.process, server.log, server.https)
        own.run(CODE)  # its session and CSRF cookie
        for _ in range(RUNS // CLIENTS):
            started = time.perf_counter()
            answer = own.run(CODE)
            measured.runs.append(time.perf_counter() - started)
            measured.answers.append(answer)
            started = time.perf_counter()
            own.health()
            measured.health.append(time.perf_counter() - started)

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return measured


def assert_served_well(server: Server, measured: Load) -> None:
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
    assert run_p50 <= RATIO * health_p50, report


def assert_dies_with(server_pid: int, worker_pid: int) -> None:
    os.kill(server_pid, signal.SIGKILL)
    assert _gone(worker_pid, seconds=15), f"the sandbox worker {worker_pid} outlived its server"


def serves_well_and_takes_its_worker_along(
    checkout: Path, target: str, env: dict[str, str], log: Path
) -> None:
    with serving(checkout, target, env, log) as server:
        status, first = server.run(CODE)
        assert (status, first["error"]) == (200, None), first
        worker = server.health()["sandbox"]["worker"]  # type: ignore[index]
        assert isinstance(worker, int)

        measured = load(server)

        assert server.health()["sandbox"] == {"worker": worker}
        assert_served_well(server, measured)
        # The process that started the worker: the dev server's autoreloader (its child
        # serves, and dies with it), or gunicorn's master.
        owner = "runserver" if target == "run" else ".venv/bin/gunicorn"
        server_pid = next(
            pid
            for pid in _descendants(server.process.pid)
            if owner in _argv(pid) and owner not in _argv(_parent(pid))
        )
        assert_dies_with(server_pid, worker)


def test_make_run_serves_200_runs_from_4_clients_with_one_worker_that_dies_with_it(
    checkout: Path, tmp_path: Path
) -> None:
    serves_well_and_takes_its_worker_along(
        checkout, "run", environment(free_port()), tmp_path / "make-run.log"
    )


def test_make_serve_serves_200_runs_from_4_clients_with_one_worker_that_dies_with_it(
    checkout: Path, tmp_path: Path
) -> None:
    env = environment(
        free_port(),
        SECRET_KEY="served-test-key-" + "x9Q" * 20,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
    )
    serves_well_and_takes_its_worker_along(checkout, "serve", env, tmp_path / "make-serve.log")
