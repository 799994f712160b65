"""The worker: a warm fork-server on a Unix socket.

One process (the *main* one) with Django set up and the datasets in memory
accepts connections and reads only their header line (an op and a dataset).
Every run is handled by a *supervisor* forked from it, which forks one *child*
per repeat, enforces the wall-clock limit, reads a capped number of bytes of
output and answers the client. The main loop only accepts, hands over, queues
and reaps, so a child that misbehaves can never stall it.

Forking a process of this size costs milliseconds, so both forks happen before
a run arrives: the main process keeps a few *spare* supervisors per recent
dataset, each with its child already forked, warmed up and waiting for a
request. A run is handed to a spare by passing its connection's descriptor
(``SCM_RIGHTS``); the supervisor reads the code, sends it to its child and
watches. The main process then forks a replacement while the run goes on.
Spares are forked before any code reaches them, and the main process never
reads code, so no learner's code is in the memory a later run inherits.
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
import traceback
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sandbox.worker import datasets, execute

STDOUT_LIMIT = 64 * 1024
RESULT_LIMIT = 32 * 1024 * 1024
WALL_SECONDS = 8.0
QUEUE_SECONDS = 2.0
IDLE_EXIT_SECONDS = 30 * 60
# Spare supervisors are kept for this many of the most recently used datasets.
POOLED_DATASETS = 2

Key = tuple[str, int]


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
    received: bool = False  # the child acknowledged its request
    wall_ms: float = 0.0


@dataclass
class Child:
    """A forked child waiting for its request: the supervisor's ends of its three pipes."""

    pid: int
    request: int
    stdout: int
    result: int


def _kill_group(pid: int) -> None:
    # The child itself first: right after fork it may not lead its own group yet.
    for kill in (os.kill, os.killpg):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def fork_child(dataset: datasets.Dataset, *, warm: bool = False) -> Child:
    """Fork a child that locks itself down, warms up if asked, and waits for a request on fd 0."""
    req_r, req_w = os.pipe()
    out_r, out_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.setsid()
            os.dup2(req_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.dup2(res_w, 3)
            os.closerange(4, 65536)
            execute.child_main(dataset, request_fd=0, result_fd=3, warm=warm)
        finally:
            os._exit(70)
    for fd in (req_r, out_w, res_w):
        os.close(fd)
    return Child(pid, req_w, out_r, res_r)


def discard_child(child: Child) -> None:
    _kill_group(child.pid)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(child.pid, 0)
    for fd in (child.request, child.stdout, child.result):
        if fd >= 0:
            os.close(fd)


def _send_request(child: Child, request: dict[str, Any]) -> bool:
    """Give ``child`` its request; False if it is gone (it died while it waited)."""
    data = memoryview(json.dumps(request).encode())
    try:
        while data:
            data = data[os.write(child.request, data) :]
    except OSError:
        return False
    finally:
        os.close(child.request)
        child.request = -1
    return True


def run_child(request: dict[str, Any], child: Child, client: socket.socket | None = None) -> Outcome:
    """One child, watched: its output, its result, the clock, and the client hanging up."""
    outcome = Outcome()
    deadline = time.monotonic() + float(request.get("wall_seconds", WALL_SECONDS))
    started = time.perf_counter()
    result = bytearray()
    stdout = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        selector.register(child.result, selectors.EVENT_READ)
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
                elif key.fd == child.stdout:
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
    _kill_group(child.pid)  # it has finished, or it must stop now
    outcome.wall_ms = (time.perf_counter() - started) * 1000
    os.close(child.stdout)
    os.close(child.result)
    outcome.truncated = len(stdout) > STDOUT_LIMIT
    outcome.stdout = bytes(stdout[:STDOUT_LIMIT])
    outcome.received = result.startswith(execute.RECEIVED)
    del result[: len(execute.RECEIVED) if outcome.received else 0]
    if not (outcome.timed_out or outcome.flooded or outcome.abandoned):
        try:
            outcome.result = json.loads(result) if result else None
        except ValueError:
            outcome.result = None
    if outcome.result is not None:
        # A whole result and both pipes closed: the child has finished and is exiting (the
        # SIGKILL above may even overtake its exit). Its memory is torn down in parallel
        # with the answer; the supervisor reaps it later (reap_children).
        _exiting.append(child.pid)
        return outcome
    _, outcome.status = os.waitpid(child.pid, 0)
    return outcome


_exiting: list[int] = []


def reap_children() -> None:
    """Wait for the children this supervisor has killed and not reaped yet."""
    while _exiting:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(_exiting.pop(), 0)


def _judge(outcome: Outcome, request: dict[str, Any]) -> dict[str, Any]:
    """Turn what the supervisor saw into an error, or None; the child's word comes last."""
    if outcome.abandoned:
        return execute.error_json("internal", "The client went away; the run was stopped.")
    if not outcome.received and not outcome.timed_out:
        return execute.error_json(
            "internal", "The sandbox could not start a process for the run; run it again."
        )
    if outcome.timed_out:
        seconds = request.get("wall_seconds", WALL_SECONDS)
        return execute.error_json("timeout", f"Your code ran for more than {seconds:g} s and was stopped.")
    if outcome.flooded:
        return execute.error_json(
            "output_limit",
            f"Your code printed more than {STDOUT_LIMIT // 1024} KiB; the run was stopped there.",
        )
    if os.WIFSIGNALED(outcome.status):
        sig = os.WTERMSIG(outcome.status)
        if sig == signal.SIGXCPU:
            cpu = request.get("cpu_seconds", 5)
            return execute.error_json(
                "timeout", f"Your code used more than {cpu} s of CPU time and was stopped."
            )
        if sig == signal.SIGXFSZ:
            return execute.error_json("forbidden", "Writing files is not allowed in the sandbox.")
        if sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
            name = signal.Signals(sig).name
            return execute.error_json("exception", f"Your code crashed the Python process ({name}).")
        return execute.error_json(
            "exception", f"The process running your code was killed ({signal.Signals(sig).name})."
        )
    if outcome.result is None:
        code = os.WEXITSTATUS(outcome.status) if os.WIFEXITED(outcome.status) else -1
        return execute.error_json(
            "exception",
            f"Your code ended the process before it finished (exit status {code}); "
            "nothing it printed after that point is reported.",
        )
    error: dict[str, Any] | None = outcome.result.get("error")
    return error or {}


def _run_once(
    request: dict[str, Any], dataset: datasets.Dataset, ready: Child | None, client: socket.socket | None
) -> Outcome:
    """One repeat: in ``ready`` if it is still alive when the request reaches it, else in a new child.

    A child acknowledges its request before anything else; one that died waiting
    (killed, out of memory) never did, and the run goes to a fresh child instead.
    """
    outcome = Outcome()
    for attempt in range(2):
        child = ready if attempt == 0 and ready is not None else fork_child(dataset)
        if not _send_request(child, request):
            discard_child(child)
            continue
        outcome = run_child(request, child, client)
        if outcome.received or outcome.abandoned or outcome.timed_out:
            return outcome
    return outcome


def supervise(
    request: dict[str, Any],
    dataset: datasets.Dataset,
    client: socket.socket | None = None,
    ready: Child | None = None,
) -> dict[str, Any]:
    """Run the request ``repeat`` times, each in a fresh child, and merge the results.

    ``ready`` is a child forked in advance for the first repeat; later repeats
    fork theirs when the previous one has finished, so they never compete.
    """
    repeat = max(1, min(int(request.get("repeat", 1)), 20))
    outcomes: list[Outcome] = []
    first_error: dict[str, Any] = {}
    for _ in range(repeat):
        reap_children()  # a repeat never shares the machine with the last one's exit
        outcome = _run_once(request, dataset, ready, client)
        ready = None
        outcomes.append(outcome)
        if outcome.abandoned:
            break
        first_error = _judge(outcome, request)
        if first_error:
            break
    if ready is not None:
        discard_child(ready)
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


def supervisor_main(control: socket.socket, dataset: datasets.Dataset, *, warm: bool) -> NoReturn:
    """A spare supervisor: fork the first child now, then wait for a run to be handed over.

    The main process hands over the client's connection on ``control``; if it
    closes ``control`` instead (the dataset left the pool, or it exits), the
    spare and its waiting child end without having seen any code. A spare's
    child warms up while it waits (``warm``); one forked for a run that is
    already waiting (no spare was left) does not make that run wait for it.
    """
    ready = fork_child(dataset, warm=warm)
    try:
        message, fds, _, _ = socket.recv_fds(control, 16, 1)
    except OSError:
        message, fds = b"", []
    control.close()
    if not message or not fds:
        discard_child(ready)
        os._exit(0)
    conn = socket.socket(fileno=fds[0])
    try:
        body = _read_line(conn, limit=4 * 1024 * 1024)
    except (OSError, ValueError) as exc:
        discard_child(ready)
        _reply(conn, {"error": execute.error_json("internal", f"Malformed request: {exc}")})
    else:
        request = {**body, "dataset": {"size": dataset.size, "seed": dataset.seed}}
        _reply(conn, supervise(request, dataset, conn, ready))
    reap_children()
    os._exit(0)


@dataclass
class Spare:
    pid: int
    control: socket.socket


@dataclass
class Server:
    listener: socket.socket
    max_children: int
    spares_per_dataset: int = 2
    queue_seconds: float = QUEUE_SECONDS
    # Supervisors with a run (they count against max_children), and the spares.
    supervisors: dict[int, float] = field(default_factory=dict)
    spares: OrderedDict[Key, deque[Spare]] = field(default_factory=OrderedDict)
    pending: deque[tuple[socket.socket, dict[str, Any], float]] = field(default_factory=deque)
    last_activity: float = field(default_factory=time.monotonic)
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    wake: tuple[int, int] = field(default_factory=os.pipe)

    def _spawn(self, key: Key, dataset: datasets.Dataset, *, warm: bool) -> Spare:
        """Fork a spare supervisor for ``dataset``; it forks its own child at once."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # the supervisor: nothing of the main loop's stays open in it
            try:
                ours.close()
                self.listener.close()
                self.selector.close()
                for fd in self.wake:
                    os.close(fd)
                for queued, _, _ in self.pending:
                    queued.close()
                for pool in self.spares.values():
                    for spare in pool:
                        spare.control.close()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                supervisor_main(theirs, dataset, warm=warm)
            except BaseException:
                traceback.print_exc()  # a bug in the supervisor: the worker's log says where
            finally:
                os._exit(0)
        theirs.close()
        return Spare(pid, ours)

    def _retire(self, key: Key) -> None:
        """Close the pool of ``key``: its spares see the end of their control socket and exit."""
        for spare in self.spares.pop(key, deque()):
            spare.control.close()

    def start(self, conn: socket.socket, request: dict[str, Any]) -> None:
        building = time.monotonic()
        try:
            key: Key = (request["dataset"]["size"], int(request["dataset"]["seed"]))
            dataset = datasets.get(*key)
        except Exception as exc:
            _reply(conn, {"error": execute.error_json("internal", f"Could not prepare the dataset: {exc}")})
            return
        # Time spent building a new dataset is the worker's, not the queue's: runs that
        # waited through it are not answered "busy" for it.
        built = time.monotonic() - building
        if built > 0.1:
            self.pending = deque((c, r, at + built) for c, r, at in self.pending)
        pool = self.spares.setdefault(key, deque())
        self.spares.move_to_end(key)
        while len(self.spares) > POOLED_DATASETS:
            self._retire(next(iter(self.spares)))
        for _ in range(len(pool) + 2):
            spare = pool.popleft() if pool else self._spawn(key, dataset, warm=False)
            try:
                socket.send_fds(spare.control, [b"r"], [conn.fileno()])
            except OSError:
                continue  # it died while it waited: the next one takes the run
            finally:
                spare.control.close()
            conn.close()
            self.supervisors[spare.pid] = time.monotonic()
            return
        _reply(conn, {"error": execute.error_json("internal", "No sandbox process could take the run.")})

    def replenish(self) -> bool:
        """Fork one spare where a pool is short, most recent dataset first; True if it did."""
        for key in reversed(self.spares):
            if len(self.spares[key]) < self.spares_per_dataset:
                dataset = datasets.cached(*key)
                if dataset is None:  # evicted from the worker's memory: no spares for it
                    self._retire(key)
                    return True
                self.spares[key].append(self._spawn(key, dataset, warm=True))
                return True
        return False

    def reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.supervisors.pop(pid, None) is None:
                self._forget_spare(pid)

    def _forget_spare(self, pid: int) -> None:
        for pool in self.spares.values():
            for spare in pool:
                if spare.pid == pid:
                    spare.control.close()
                    pool.remove(spare)
                    return

    def dispatch(self) -> None:
        now = time.monotonic()
        while self.pending and len(self.supervisors) < self.max_children:
            conn, request, _ = self.pending.popleft()
            self.start(conn, request)
        while self.pending and now - self.pending[0][2] > self.queue_seconds:
            conn, _, _ = self.pending.popleft()
            _reply(
                conn,
                {
                    "error": execute.error_json(
                        "busy", "The sandbox is busy with other runs; retry in a moment."
                    )
                },
            )

    def handle(self, conn: socket.socket) -> bool:
        """Serve one connection; False when asked to shut down."""
        try:
            request = _read_line(conn, limit=4096)
        except (OSError, ValueError) as exc:
            _reply(conn, {"error": execute.error_json("internal", f"Malformed request: {exc}")})
            return True
        op = request.get("op", "run")
        if op == "ping":
            spares = sum(len(pool) for pool in self.spares.values())
            _reply(
                conn, {"ok": True, "pid": os.getpid(), "children": len(self.supervisors), "spares": spares}
            )
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
        wake_r, wake_w = self.wake
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(wake_r, selectors.EVENT_READ)
        try:
            while True:
                self.reap()
                self.dispatch()
                idle = not self.supervisors and not self.pending
                if idle and time.monotonic() - self.last_activity > IDLE_EXIT_SECONDS:
                    return
                # Spares are forked only while no run is going: a run never waits for a fork,
                # and a spare's warm-up stops at its next step when its run arrives.
                short = not self.pending and not self.supervisors and self.replenish()
                timeout = 0 if short else 0.05 if self.pending else 5
                for event, _ in self.selector.select(timeout=timeout):
                    if event.fd == wake_r:
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
        finally:
            for pooled in list(self.spares):
                self._retire(pooled)


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sandbox.worker")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--spares", type=int, default=2, help="spare supervisors per recent dataset")
    parser.add_argument("--warm", action="append", default=[], help="size:seed to build at start")
    args = parser.parse_args(argv)
    execute.make_undumpable()
    listener = socket.socket(fileno=args.listen_fd)
    listener.setblocking(False)
    server = Server(listener, max_children=args.max_children, spares_per_dataset=args.spares)
    for spec in args.warm:
        size, _, seed_value = spec.partition(":")
        server.spares.setdefault((size, int(seed_value)), deque())
        datasets.get(size, int(seed_value))
    print(f"sandbox worker {os.getpid()} ready", file=sys.stderr, flush=True)
    server.serve()
