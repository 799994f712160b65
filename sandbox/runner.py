"""``run(request)``: the one way lesson and learner code runs.

The web process never executes submitted code. It sends it to the node's
sandbox worker (``sandbox.worker``) over a Unix socket and gets back a
``RunResult``: output, error, every SQL statement as the run's supervisor
recorded it, timings. This module also owns the worker's life: one worker per
server, started once by whichever of the server's processes needs it first,
from a thread that lives as long as that process (Linux ties bubblewrap's
``--die-with-parent`` to the thread that started it), and started again only
when it has really died.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.db import connections
from django.dispatch import Signal

from sandbox import analysis, datasets, pg
from sandbox.contract import DatasetRef, RunRequest, RunResult
from sandbox.worker import confine, wire

if TYPE_CHECKING:
    from blog.models import Dataset

DEFAULT_DATASET = DatasetRef("default", 1)
START_SECONDS = 60
DYING_SECONDS = 2.0
BUSY = "The sandbox is busy with other runs; retry in a moment."
T = TypeVar("T")
# Sent after every run, with ``started`` and ``ended`` (``time.perf_counter()``): the
# time a caller waited for the sandbox (core.timing adds it to the request's Server-Timing).
ran = Signal()


class WorkerUnavailable(Exception):
    pass


class _NotDelivered(WorkerUnavailable):
    """The request never reached a worker: safe to start one and send it again."""


def _code_version() -> str:
    """A hash of the code the worker runs: a worker of older code is never reused."""
    digest = hashlib.sha256()
    for package in confine.VISIBLE_PACKAGES:
        for path in sorted((confine.PROJECT / package).rglob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class _Keeper:
    """A thread that lives as long as this process and starts the worker when asked.

    The worker's bubblewrap dies with the *thread* that started it; a request
    thread ends with its request, this one never does.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[tuple[bool, Any]]]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, name="sandbox-worker-keeper", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job, answer = self._jobs.get()
            try:
                answer.put((True, job()))
            except BaseException as exc:
                answer.put((False, exc))
            finally:
                connections.close_all()  # this thread lives on: it keeps no connection open

    def call(self, job: Callable[[], T]) -> T:
        if threading.current_thread() is self._thread:
            return job()
        answer: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self._jobs.put((job, answer))
        ok, value = answer.get()
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]


class Worker:
    """The node's sandbox worker, seen from one process of the server.

    Files in ``VAR_DIR/run`` coordinate the server's processes: the socket; a
    lock held while one of them starts the worker; an *alive* lock that the
    worker holds for as long as it lives (so "has it died?" is a question the
    kernel answers, not a timeout); and the worker's pid.
    """

    def __init__(self) -> None:
        run_dir = Path(settings.VAR_DIR) / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        # A worker serves one kind of dataset: staged SQLite files, or PostgreSQL schemas.
        self.postgresql = pg.enabled()
        name = f"worker-{_code_version()}-{'pg' if self.postgresql else 'sqlite'}"
        self.socket_path = run_dir / f"{name}.sock"
        self.start_lock_path = run_dir / f"{name}.start"
        self.alive_path = run_dir / f"{name}.alive"
        self.pid_path = run_dir / f"{name}.pid"
        self.staged_path = run_dir / f"{name}.staged"
        self.process: subprocess.Popen[bytes] | None = None

    # Talking to it.

    def request(
        self, header: dict[str, Any], body: list[dict[str, Any]] | None = None, *, timeout: float
    ) -> dict[str, Any]:
        """Send a request (a header line, then body lines) and return the answer; start the worker if needed."""
        lines = body or []
        patience = time.monotonic() + DYING_SECONDS
        while True:
            try:
                return self._send(header, lines, timeout)
            except _NotDelivered:
                if not self.alive():
                    break
                if time.monotonic() > patience:  # up, but not accepting: its backlog is full
                    return {"error": {"kind": "busy", "message": BUSY}}
                time.sleep(0.02)  # or dying: its last processes let go of the lock in a moment
        self.start()
        return self._send(header, lines, timeout)

    def _send(self, header: dict[str, Any], body: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
        message = b"".join(map(wire.encode_message, [header, *body]))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            try:
                conn.connect(str(self.socket_path))
                conn.sendall(message)
            except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError, BrokenPipeError) as exc:
                raise _NotDelivered(str(exc)) from exc
            data = bytearray()
            while not data.endswith(b"\n"):
                try:
                    chunk = conn.recv(1 << 20)
                except TimeoutError as exc:
                    raise WorkerUnavailable("the sandbox did not answer in time") from exc
                except ConnectionResetError as exc:
                    raise WorkerUnavailable("the sandbox closed the connection without an answer") from exc
                if not chunk:
                    raise WorkerUnavailable("the sandbox closed the connection without an answer")
                data += chunk
        response: dict[str, Any] = json.loads(data)
        return response

    # Its life.

    def alive(self) -> bool:
        """Whether a worker holds the alive lock: the kernel releases it when the worker is gone."""
        fd = os.open(self.alive_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def pid(self) -> int | None:
        """The running worker's pid (its bubblewrap's, on this host), whoever started it."""
        with contextlib.suppress(OSError, ValueError):
            if self.alive():
                return int(self.pid_path.read_text())
        return None

    def start(self) -> None:
        """Start the worker unless it is alive; from the keeper thread, whoever asks."""
        keeper().call(self._start)

    def _start(self) -> None:
        with open(self.start_lock_path, "w") as start_lock:
            fcntl.flock(start_lock, fcntl.LOCK_EX)  # one process of the server starts it, the others wait
            if self.alive():
                try:
                    self._wait_until_ready(None)
                    return
                except WorkerUnavailable:
                    if self.alive():
                        raise  # alive and not answering
                    # A worker on its way out (a process of its still holding the lock) has gone: start one.
            if self.process is not None:
                self.process.wait()
                self.process = None
            self.socket_path.unlink(missing_ok=True)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(self.socket_path))
            listener.listen(256)
            listener.set_inheritable(True)
            alive = os.open(self.alive_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(alive, fcntl.LOCK_EX)  # free: no worker holds it; the worker keeps it from now on
            os.set_inheritable(alive, True)
            self.process = subprocess.Popen(
                self._command(listener.fileno(), alive),
                pass_fds=[listener.fileno(), alive],
                env=self._environment(),
                cwd=confine.PROJECT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            os.close(alive)
            listener.close()
            self.pid_path.write_text(str(self.process.pid))
            self._wait_until_ready(self.process)

    def _environment(self) -> dict[str, str]:
        env = confine.worker_environment()
        if self.postgresql:
            env |= pg.worker_environment()
        return env

    def _command(self, listener: int, alive: int) -> list[str]:
        argv = ["--listen-fd", str(listener), "--alive-fd", str(alive)]
        sockets: tuple[str, ...] = ()
        env = self._environment()
        if self.postgresql:
            sockets = (str(Path(env["PGHOST"]) / f".s.PGSQL.{env['PGPORT']}"),)
            argv += ["--hide", env["PGHOST"]]
        if confine.bwrap_path() is None:  # no bubblewrap: the real paths, and a staging directory of our own
            self.staged_path.mkdir(exist_ok=True)
            argv += ["--datasets", str(datasets.directory()), "--staged", str(self.staged_path)]
        return confine.worker_command(argv, env, datasets=datasets.directory(), sockets=sockets)

    def _wait_until_ready(self, process: subprocess.Popen[bytes] | None) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            with contextlib.suppress(OSError, ValueError, WorkerUnavailable):
                if self._send({"op": "ping"}, [], timeout=2).get("ok"):
                    return
            if process is not None and process.poll() is not None:
                raise WorkerUnavailable(f"the sandbox worker exited ({process.returncode})")
            if process is None and not self.alive():
                raise WorkerUnavailable("the sandbox worker exited while starting")
            if time.monotonic() > deadline:
                raise WorkerUnavailable(f"the sandbox worker did not start within {START_SECONDS} s")
            time.sleep(0.02)

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError, WorkerUnavailable):
            self._send({"op": "shutdown"}, [], timeout=2)
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


_worker: Worker | None = None
_keeper: _Keeper | None = None
_worker_lock = threading.Lock()


def keeper() -> _Keeper:
    """The process's one keeper thread, started when first needed."""
    global _keeper
    with _worker_lock:
        if _keeper is None:
            _keeper = _Keeper()
        return _keeper


def _forget_in_a_forked_child() -> None:
    """A forked server process (gunicorn's) starts with no keeper thread: it must not use the parent's."""
    global _worker, _keeper, _worker_lock
    _worker, _keeper, _worker_lock = None, None, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_a_forked_child)


def worker() -> Worker:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = Worker()
        return _worker


def current_dataset() -> DatasetRef:
    """The live dataset: what the instructor last seeded, else the default."""
    from blog.seed import live_dataset

    return dataset_ref(live_dataset())


def dataset_ref(live: Dataset | None) -> DatasetRef:
    """The dataset runs use when ``live`` is the live seeding (None: nothing seeded yet)."""
    return DatasetRef(live.size, live.seed) if live else DEFAULT_DATASET


def _header(op: str, dataset: DatasetRef) -> dict[str, Any]:
    return {"op": op, "dataset": {"size": dataset.size, "seed": dataset.seed}}


def prepare(dataset: DatasetRef) -> dict[str, Any]:
    """Prepare ``dataset`` now (the slow part), then have the worker open it, so the next run starts warm."""
    datasets.ensure_cached(dataset)
    return worker().request(_header("prepare", dataset), timeout=120)


def digest_of(dataset: DatasetRef) -> str:
    """The digest of the worker's copy of ``dataset``, recomputed now: proof that no run changed it."""
    datasets.ensure_cached(dataset)
    response = worker().request(_header("digest", dataset), timeout=120)
    if "digest" not in response:
        raise WorkerUnavailable(str(response.get("error")))
    return str(response["digest"])


def run(request: RunRequest) -> RunResult:
    """Run ``request`` in the sandbox and report everything it did to the database.

    Output, queries and findings come from the first repeat; the timing is the
    median and spread of all of them. ``probe_output`` is the grader's probe's.
    """
    request = request.clamped()
    dataset = request.dataset or current_dataset()
    refusal = request.refusal()
    if refusal is not None:
        return RunResult.failure(refusal.kind, refusal.message, dataset, source=refusal.source)
    limits = request.limits
    body: list[dict[str, Any]] = [
        {
            "code": request.code,
            "models": request.models,
            "repeat": request.repeat,
            "latency_ms": request.latency_ms,
            "limits": limits.to_json(),
            "probed": request.probe is not None,
        },
        {"probe": request.probe, "explain": request.explain},
    ]
    started = time.perf_counter()
    try:
        datasets.ensure_cached(dataset)
        timeout = limits.queue_seconds + request.repeat * (limits.wall_seconds + 10) + 120
        response = worker().request(_header("run", dataset), body, timeout=timeout)
    except (OSError, ValueError, WorkerUnavailable) as exc:
        return RunResult.failure(
            "internal", f"The sandbox stopped unexpectedly ({exc}). Run it again.", dataset
        )
    finally:
        ran.send(run, started=started, ended=time.perf_counter())
    if "result" not in response:  # the worker could not even start the run: busy, or broken
        error = response.get("error") or {"kind": "internal", "message": "No answer."}
        return RunResult.failure(error.get("kind", "internal"), error.get("message", "No answer."), dataset)
    result = RunResult.from_json(response["result"], probe_output=response.get("probe_output"))
    findings = analysis.findings(result.queries, result.models)
    return RunResult(**{**vars(result), "findings": findings})
