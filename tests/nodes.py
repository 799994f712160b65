"""Real app servers for tests: gunicorn nodes started as a deployment would start them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
