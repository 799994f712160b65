"""Real app servers for tests: gunicorn nodes started as a deployment would start them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node_env(var: str, **extra: str) -> dict[str, str]:
    """A node's whole environment: its own var/ directory, DEBUG off, and a key every node shares."""
    return {
        "PATH": "/usr/bin:/bin",
        "QUERYLAB_VAR_DIR": var,
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": "shared-by-every-test-node-" + "q4" * 25,
        **extra,
    }


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stderr}"
    return done


@contextmanager
def background(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def node(env: dict[str, str], *, workers: int = 2) -> Iterator[str]:
    """A gunicorn node on a free loopback port; yields its base URL once /healthz answers."""
    port = free_port()
    command = [str(GUNICORN), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    with background([*command, "--threads", "4", "--timeout", "120", "--keep-alive", "5"], env) as process:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except OSError:
                assert process.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield url


@contextmanager
def temporary_database(admin: dict[str, Any]) -> Iterator[str]:
    """A fresh PostgreSQL database on the server ``admin`` describes; yields its URL, drops it after."""
    import psycopg

    name = f"querylab_nodes_{uuid.uuid4().hex[:8]}"
    params = {
        "host": admin["HOST"],
        "port": admin["PORT"],
        "user": admin["USER"],
        "password": admin["PASSWORD"],
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    password = f":{admin['PASSWORD']}" if admin["PASSWORD"] else ""
    try:
        yield f"postgres://{admin['USER']}{password}@{admin['HOST']}:{admin['PORT']}/{name}"
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


# `make run` and `make serve` as a user starts them, and clients that load them.


def served_env(port: int, **extra: str) -> dict[str, str]:
    """The environment `make run` or `make serve` gets: this machine's, a port, and generous run limits."""
    keep = ("PATH", "HOME", "LANG", "PYENV_ROOT", "DATABASE_URL", "UV_CACHE_DIR", "XDG_CACHE_HOME")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    # Four clients from one address: the per-learner run limit is not what is measured here,
    # nor the warm-up a first start queues (minutes of lesson runs on a fresh clone).
    return {**env, "PORT": str(port), "QUERYLAB_RUNS_PER_MINUTE": "100000", "QUERYLAB_WARM_UP": "0", **extra}


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    https: bool = False  # production cookies are Secure: send them as a TLS proxy would
    jar: CookieJar = field(default_factory=CookieJar)

    def __post_init__(self) -> None:
        # Once: building an opener costs tens of milliseconds, more than the request it makes.
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def open(self, request: urllib.request.Request | str, timeout: float = 60) -> tuple[int, bytes]:
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def learner(self, code: str) -> Server:
        """Another client of this server, with its own cookies: its session and CSRF token from a first run."""
        own = Server(self.url, self.process, self.log, self.https)
        own.run(code)
        return own

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


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            children.setdefault(parent(int(entry.name)), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def gone(pid: int, seconds: float) -> bool:
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


@contextmanager
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
        for pid in [process.pid, *descendants(process.pid)]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)


@dataclass
class Load:
    runs: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)
    answers: list[tuple[int, dict[str, object]]] = field(default_factory=list)


def load(server: Server, clients: int, runs: int, code: str) -> Load:
    """``clients`` clients, each alternating a run of ``code`` and a /healthz, ``runs`` runs in all."""
    measured = Load()

    def client(_: int) -> None:
        own = server.learner(code)
        for _ in range(runs // clients):
            started = time.perf_counter()
            answer = own.run(code)
            measured.runs.append(time.perf_counter() - started)
            measured.answers.append(answer)
            started = time.perf_counter()
            own.health()
            measured.health.append(time.perf_counter() - started)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return measured
