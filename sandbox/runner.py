"""``run(code)``: the one way lesson and student code runs.

The web process never executes submitted code. It sends it to the sandbox
worker (``sandbox.worker``) over a Unix socket and gets back what happened:
output, error, every SQL statement with its line, timings. This module starts
the worker on demand (inside bubblewrap when available), restarts it when it
died, and turns its answer into a ``RunResult``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import socket
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from sandbox import analysis, isolation, pg

MAX_CODE_BYTES = 20 * 1024
DEFAULT_DATASET = ("default", 1)
WALL_SECONDS = 8.0
CPU_SECONDS = 5
MEMORY_MB = 512


@dataclass(frozen=True)
class DatasetRef:
    size: str
    seed: int


@dataclass
class RunError:
    kind: str
    message: str
    line: int | None = None
    traceback: str | None = None


@dataclass
class RunResult:
    """Everything one run did, as measured; ``to_json()`` is the API's shape."""

    stdout: str = ""
    truncated: bool = False
    error: RunError | None = None
    queries: list[dict[str, Any]] = field(default_factory=list)
    query_count: int = 0
    db_ms: float = 0.0
    wall_ms: dict[str, float] = field(default_factory=lambda: {"median": 0.0, "min": 0.0, "max": 0.0, "n": 0})
    findings: list[dict[str, Any]] = field(default_factory=list)
    dataset: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=lambda: {"per_query_ms": 0.0, "simulated_ms": 0.0})
    probe_output: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("probe_output")
        return data

    @classmethod
    def failure(cls, kind: str, message: str, dataset: DatasetRef | None = None) -> RunResult:
        described = {"size": dataset.size, "seed": dataset.seed, "digest": None} if dataset else {}
        return cls(error=RunError(kind, message), dataset=described)


class WorkerUnavailable(Exception):
    pass


class _NotDelivered(WorkerUnavailable):
    """The request never reached a worker: safe to start one and send it again."""


def _code_version() -> str:
    """A hash of the code the worker runs: a worker of older code is never reused."""
    digest = hashlib.sha256()
    for package in isolation.VISIBLE_PACKAGES:
        for path in sorted((isolation.PROJECT / package).rglob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class Worker:
    """The client side of one node's sandbox worker, shared by the process's threads."""

    def __init__(self) -> None:
        run_dir = Path(settings.VAR_DIR) / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        version = _code_version()
        # A worker serves one kind of dataset: in-memory SQLite, or PostgreSQL schemas.
        self.postgresql = pg.enabled()
        kind = "pg" if self.postgresql else "sqlite"
        self.socket_path = run_dir / f"worker-{version}-{kind}.sock"
        self.lock_path = run_dir / f"worker-{version}-{kind}.lock"
        self.process: subprocess.Popen[bytes] | None = None
        self._schemas: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self.postgresql and "dataset" in payload:
            self._ensure_schema(payload["dataset"]["size"], int(payload["dataset"]["seed"]))
        try:
            return self._send(payload, timeout)
        except _NotDelivered:
            # No worker, or one that is dying: start another (start() checks it is really gone)
            # and send again. A request that was delivered is never sent twice.
            dataset = payload.get("dataset") or {}
            self.start(DatasetRef(dataset["size"], dataset["seed"]) if dataset else None)
            return self._send(payload, timeout)

    def _ensure_schema(self, size: str, seed_value: int) -> None:
        """On PostgreSQL the web side builds a dataset's schema (the worker cannot)."""
        if (size, seed_value) not in self._schemas:
            pg.ensure_dataset(size, seed_value)
            self._schemas.add((size, seed_value))

    def _send(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        # The worker's main loop reads only the header; the code goes in a second
        # line that only the run's own supervisor reads (see sandbox.worker.server).
        header = {k: payload[k] for k in ("op", "dataset") if k in payload}
        body = {k: v for k, v in payload.items() if k not in header}
        message = json.dumps(header).encode() + b"\n"
        if header.get("op") == "run":
            message += json.dumps(body).encode() + b"\n"
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

    def start(self, warm: DatasetRef | None = None) -> None:
        """Start a worker unless another thread or process just did."""
        with self._lock, open(self.lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._alive():
                return
            self._reap()
            self.socket_path.unlink(missing_ok=True)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(self.socket_path))
            listener.listen(256)
            listener.set_inheritable(True)
            argv = ["--listen-fd", str(listener.fileno())]
            if warm is not None:
                argv += ["--warm", f"{warm.size}:{warm.seed}"]
            env, sockets = isolation.worker_environment(), tuple[str, ...]()
            if self.postgresql:
                env |= pg.worker_environment()
                sockets = (str(Path(env["PGHOST"]) / f".s.PGSQL.{env['PGPORT']}"),)
            self.process = subprocess.Popen(
                isolation.worker_command(argv, env, sockets),
                pass_fds=[listener.fileno()],
                env=env,
                cwd=isolation.PROJECT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            listener.close()
            deadline = time.monotonic() + 60
            while not self._alive():
                if self.process.poll() is not None:
                    raise WorkerUnavailable(f"the sandbox worker exited ({self.process.returncode})")
                if time.monotonic() > deadline:
                    raise WorkerUnavailable("the sandbox worker did not start within 60 s")
                time.sleep(0.05)

    def _alive(self) -> bool:
        try:
            return bool(self._send({"op": "ping"}, timeout=2).get("ok"))
        except (OSError, ValueError, WorkerUnavailable):
            return False

    def _reap(self) -> None:
        """Make sure a worker this process started and that stopped answering is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError, WorkerUnavailable):
            self._send({"op": "shutdown"}, timeout=2)
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


_worker: Worker | None = None
_worker_lock = threading.Lock()


def worker() -> Worker:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = Worker()
        return _worker


def current_dataset() -> DatasetRef:
    """The live dataset: what the instructor last seeded, else the default."""
    from blog.seed import live_dataset

    live = live_dataset()
    return DatasetRef(live.size, live.seed) if live else DatasetRef(*DEFAULT_DATASET)


def prepare(dataset: DatasetRef) -> dict[str, Any]:
    """Build ``dataset`` in the worker now, so the next run on it starts warm."""
    return worker().request(
        {"op": "prepare", "dataset": {"size": dataset.size, "seed": dataset.seed}}, timeout=120
    )


def dataset_digest(dataset: DatasetRef) -> str:
    """The worker's dataset digest recomputed now: proof that no run changed it."""
    response = worker().request(
        {"op": "digest", "dataset": {"size": dataset.size, "seed": dataset.seed}}, timeout=120
    )
    return str(response["digest"])


def run(
    code: str,
    *,
    repeat: int = 1,
    latency_ms: float = 0,
    dataset: DatasetRef | None = None,
    probe: str | None = None,
) -> RunResult:
    """Run ``code`` in the sandbox and report everything it did to the database.

    ``repeat`` runs it that many times, each in a fresh process, for the timing
    median and spread; output, queries and findings come from the first run.
    ``latency_ms`` adds a simulated network round trip before each statement.
    ``dataset`` defaults to the live one. ``probe`` is grader code run after
    ``code`` in the same process, whose output is returned separately.
    """
    dataset = dataset or current_dataset()
    if len(code.encode()) > MAX_CODE_BYTES:
        return RunResult.failure(
            "forbidden", f"The code is over {MAX_CODE_BYTES // 1024} KB; shorten it.", dataset
        )
    repeat = max(1, min(int(repeat), 20))
    request = {
        "op": "run",
        "code": code,
        "repeat": repeat,
        "latency_ms": max(0.0, min(float(latency_ms), 50.0)),
        "dataset": {"size": dataset.size, "seed": dataset.seed},
        "probe": probe,
        "wall_seconds": WALL_SECONDS,
        "cpu_seconds": CPU_SECONDS,
        "memory_mb": MEMORY_MB,
    }
    try:
        response = worker().request(request, timeout=repeat * (WALL_SECONDS + 2) + 120)
    except (OSError, ValueError, WorkerUnavailable) as exc:
        return RunResult.failure(
            "internal", f"The sandbox stopped unexpectedly ({exc}). Run it again.", dataset
        )
    return _result(response, request, dataset)


def _result(response: dict[str, Any], request: dict[str, Any], dataset: DatasetRef) -> RunResult:
    if "queries" not in response:  # the worker could not even start the run
        error = response.get("error") or {"kind": "internal", "message": "No answer."}
        return RunResult.failure(error["kind"], error["message"], dataset)
    error = response.get("error")
    queries = response["queries"]
    return RunResult(
        stdout=response["stdout"],
        truncated=response["truncated"],
        error=RunError(**error) if error else None,
        queries=queries,
        query_count=response["query_count"],
        db_ms=round(response["db_ms"], 3),
        wall_ms={k: round(v, 3) if k != "n" else v for k, v in response["wall_ms"].items()},
        findings=[f.to_json() for f in analysis.findings(queries)],
        dataset=response["dataset"],
        latency={
            "per_query_ms": request["latency_ms"],
            "simulated_ms": round(response["simulated_ms"], 3),
        },
        probe_output=response.get("probe_output"),
    )
