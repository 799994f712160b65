"""The worker: a warm fork-server on a Unix socket.

One process with Django set up and the datasets in memory accepts requests
(one JSON line each). Every run is handled by a forked *supervisor*, which forks
one *child* per repeat, enforces the wall-clock limit, reads a capped number of
bytes of output and answers the client. The main loop only accepts, queues and
reaps, so a child that misbehaves can never stall it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import signal
import socket
import statistics
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sandbox.worker import datasets, execute

STDOUT_LIMIT = 64 * 1024
RESULT_LIMIT = 32 * 1024 * 1024
WALL_SECONDS = 8.0
QUEUE_SECONDS = 2.0
IDLE_EXIT_SECONDS = 30 * 60


@dataclass
class Outcome:
    """What a supervisor observed of one child."""

    stdout: bytes = b""
    truncated: bool = False
    result: dict[str, Any] | None = None
    status: int = 0
    timed_out: bool = False
    flooded: bool = False
    abandoned: bool = False
    wall_ms: float = 0.0


def _kill_group(pid: int) -> None:
    # The child itself first: right after fork it may not lead its own group yet.
    for kill in (os.kill, os.killpg):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def run_child(
    request: dict[str, Any], dataset: datasets.Dataset, client: socket.socket | None = None
) -> Outcome:
    """One child, watched: its output, its result, the clock, and the client hanging up."""
    out_r, out_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.dup2(res_w, 3)
            os.closerange(4, 65536)
            execute.child_main(request, 3, dataset)
        finally:
            os._exit(70)
    os.close(out_w)
    os.close(res_w)
    outcome = Outcome()
    deadline = time.monotonic() + float(request.get("wall_seconds", WALL_SECONDS))
    started = time.perf_counter()
    result = bytearray()
    stdout = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(out_r, selectors.EVENT_READ)
        selector.register(res_r, selectors.EVENT_READ)
        if client is not None:  # a client that goes away stops its run at once
            selector.register(client, selectors.EVENT_READ)
        open_fds = 2
        while open_fds:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.timed_out = True
                break
            for key, _ in selector.select(remaining):
                if client is not None and key.fileobj is client:
                    outcome.abandoned = True
                    open_fds = 0
                    break
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    open_fds -= 1
                elif key.fd == out_r:
                    stdout += chunk
                    if len(stdout) > STDOUT_LIMIT:
                        outcome.flooded = True
                        open_fds = 0
                        break
                else:
                    result += chunk
                    if len(result) > RESULT_LIMIT:
                        open_fds = 0
                        break
    _kill_group(pid)
    _, outcome.status = os.waitpid(pid, 0)
    outcome.wall_ms = (time.perf_counter() - started) * 1000
    os.close(out_r)
    os.close(res_r)
    outcome.truncated = len(stdout) > STDOUT_LIMIT
    outcome.stdout = bytes(stdout[:STDOUT_LIMIT])
    if not (outcome.timed_out or outcome.flooded):
        try:
            outcome.result = json.loads(result) if result else None
        except ValueError:
            outcome.result = None
    return outcome


def _error(kind: str, message: str, line: int | None = None) -> dict[str, Any]:
    return {"kind": kind, "message": message, "line": line, "traceback": None}


def _judge(outcome: Outcome, request: dict[str, Any]) -> dict[str, Any]:
    """Turn what the supervisor saw into an error, or None; the child's word comes last."""
    if outcome.abandoned:
        return _error("internal", "The client went away; the run was stopped.")
    if outcome.timed_out:
        seconds = request.get("wall_seconds", WALL_SECONDS)
        return _error("timeout", f"Your code ran for more than {seconds:g} s and was stopped.")
    if outcome.flooded:
        return _error(
            "output_limit",
            f"Your code printed more than {STDOUT_LIMIT // 1024} KiB; the run was stopped there.",
        )
    if os.WIFSIGNALED(outcome.status):
        sig = os.WTERMSIG(outcome.status)
        if sig == signal.SIGXCPU:
            cpu = request.get("cpu_seconds", 5)
            return _error("timeout", f"Your code used more than {cpu} s of CPU time and was stopped.")
        if sig == signal.SIGXFSZ:
            return _error("forbidden", "Writing files is not allowed in the sandbox.")
        if sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
            name = signal.Signals(sig).name
            return _error("exception", f"Your code crashed the Python process ({name}).")
        return _error("exception", f"The process running your code was killed ({signal.Signals(sig).name}).")
    if outcome.result is None:
        code = os.WEXITSTATUS(outcome.status) if os.WIFEXITED(outcome.status) else -1
        return _error(
            "exception",
            f"Your code ended the process before it finished (exit status {code}); "
            "nothing it printed after that point is reported.",
        )
    error: dict[str, Any] | None = outcome.result.get("error")
    return error or {}


def supervise(
    request: dict[str, Any], dataset: datasets.Dataset, client: socket.socket | None = None
) -> dict[str, Any]:
    """Run the request ``repeat`` times, each in a fresh child, and merge the results."""
    repeat = max(1, min(int(request.get("repeat", 1)), 20))
    outcomes: list[Outcome] = []
    first_error: dict[str, Any] = {}
    for _ in range(repeat):
        outcome = run_child(request, dataset, client)
        outcomes.append(outcome)
        if outcome.abandoned:
            break
        first_error = _judge(outcome, request)
        if first_error:
            break
    first = outcomes[0]
    body = first.result or {}
    walls = [o.result["wall_ms"] for o in outcomes if o.result and "wall_ms" in o.result] or [
        o.wall_ms for o in outcomes
    ]
    db = [o.result.get("db_ms", 0.0) for o in outcomes if o.result]
    return {
        "stdout": first.stdout.decode("utf-8", errors="replace"),
        "truncated": first.truncated,
        "error": first_error or None,
        "queries": body.get("queries", []),
        "queries_total": body.get("queries_total", 0),
        "query_count": body.get("query_count", 0),
        "db_ms": statistics.median(db) if db else 0.0,
        "wall_ms": {
            "median": statistics.median(walls),
            "min": min(walls),
            "max": max(walls),
            "n": len(walls),
        },
        "simulated_ms": body.get("simulated_ms", 0.0),
        "probe_output": body.get("probe_output"),
        "dataset": dataset.describe(),
    }


def _reply(conn: socket.socket, payload: dict[str, Any]) -> None:
    try:
        conn.sendall(json.dumps(payload, default=str).encode() + b"\n")
    except OSError:
        pass  # the client went away; nothing to tell it
    finally:
        conn.close()


def _read_line(conn: socket.socket, limit: int) -> dict[str, Any]:
    """Exactly one JSON line from ``conn``, never a byte of what follows it.

    A request is a header line (op and dataset) then, for a run, a body line
    (the code). The main loop reads only headers; the supervisor reads the body,
    so no learner's code ever enters the memory that later children inherit.
    """
    conn.settimeout(5)
    data = bytearray()
    while not data.endswith(b"\n"):
        peeked = conn.recv(65536, socket.MSG_PEEK)
        if not peeked:
            break
        end = peeked.find(b"\n")
        data += conn.recv(end + 1 if end >= 0 else len(peeked))
        if len(data) > limit:
            raise ValueError("request too large")
    line: dict[str, Any] = json.loads(data)
    return line


@dataclass
class Server:
    listener: socket.socket
    max_children: int
    queue_seconds: float = QUEUE_SECONDS
    supervisors: dict[int, float] = field(default_factory=dict)
    pending: deque[tuple[socket.socket, dict[str, Any], float]] = field(default_factory=deque)
    last_activity: float = field(default_factory=time.monotonic)

    def start(self, conn: socket.socket, request: dict[str, Any]) -> None:
        building = time.monotonic()
        try:
            dataset = datasets.get(request["dataset"]["size"], int(request["dataset"]["seed"]))
        except Exception as exc:
            _reply(conn, {"error": _error("internal", f"Could not prepare the dataset: {exc}")})
            return
        # Time spent building a new dataset is the worker's, not the queue's: runs that
        # waited through it are not answered "busy" for it.
        built = time.monotonic() - building
        if built > 0.1:
            self.pending = deque((c, r, at + built) for c, r, at in self.pending)
        pid = os.fork()
        if pid == 0:  # the supervisor
            try:
                self.listener.close()
                for queued, _, _ in self.pending:
                    queued.close()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                try:
                    body = _read_line(conn, limit=4 * 1024 * 1024)
                except (OSError, ValueError) as exc:
                    _reply(conn, {"error": _error("internal", f"Malformed request: {exc}")})
                else:
                    _reply(conn, supervise({**body, "dataset": request["dataset"]}, dataset, conn))
            finally:
                os._exit(0)
        conn.close()
        self.supervisors[pid] = time.monotonic()

    def reap(self) -> None:
        while self.supervisors:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.supervisors.clear()
                return
            if pid == 0:
                return
            self.supervisors.pop(pid, None)

    def dispatch(self) -> None:
        now = time.monotonic()
        while self.pending and len(self.supervisors) < self.max_children:
            conn, request, _ = self.pending.popleft()
            self.start(conn, request)
        while self.pending and now - self.pending[0][2] > self.queue_seconds:
            conn, _, _ = self.pending.popleft()
            _reply(
                conn,
                {"error": _error("busy", "The sandbox is busy with other runs; retry in a moment.")},
            )

    def handle(self, conn: socket.socket) -> bool:
        """Serve one connection; False when asked to shut down."""
        try:
            request = _read_line(conn, limit=4096)
        except (OSError, ValueError) as exc:
            _reply(conn, {"error": _error("internal", f"Malformed request: {exc}")})
            return True
        op = request.get("op", "run")
        if op == "ping":
            _reply(conn, {"ok": True, "pid": os.getpid(), "children": len(self.supervisors)})
        elif op == "shutdown":
            _reply(conn, {"ok": True})
            return False
        elif op == "digest":  # recomputed from the worker's own copy, for checks
            dataset = datasets.get(request["dataset"]["size"], int(request["dataset"]["seed"]))
            _reply(conn, {"ok": True, "digest": datasets.current_digest(dataset)})
        elif op == "prepare":
            dataset = datasets.get(request["dataset"]["size"], int(request["dataset"]["seed"]))
            _reply(conn, {"ok": True, "dataset": dataset.describe(), "seconds": dataset.build_seconds})
        elif len(self.supervisors) < self.max_children and not self.pending:
            self.start(conn, request)
        else:
            self.pending.append((conn, request, time.monotonic()))
        return True

    def serve(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            selector.register(wake_r, selectors.EVENT_READ)
            while True:
                self.reap()
                self.dispatch()
                if not self.supervisors and time.monotonic() - self.last_activity > IDLE_EXIT_SECONDS:
                    return
                for key, _ in selector.select(timeout=0.05 if self.pending else 5):
                    if key.fd == wake_r:
                        with contextlib.suppress(BlockingIOError):
                            os.read(wake_r, 4096)
                        continue
                    try:
                        conn, _ = self.listener.accept()
                    except OSError as exc:
                        if exc.errno in (errno.EAGAIN, errno.EINTR):
                            continue
                        raise
                    self.last_activity = time.monotonic()
                    if not self.handle(conn):
                        return


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sandbox.worker")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--warm", action="append", default=[], help="size:seed to build at start")
    args = parser.parse_args(argv)
    execute.make_undumpable()
    listener = socket.socket(fileno=args.listen_fd)
    listener.setblocking(False)
    for spec in args.warm:
        size, _, seed_value = spec.partition(":")
        datasets.get(size, int(seed_value))
    print(f"sandbox worker {os.getpid()} ready", file=sys.stderr, flush=True)
    Server(listener, max_children=args.max_children).serve()
