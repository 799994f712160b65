"""The worker's main process: a pool of supervisors and a queue, on a Unix socket.

It has Django set up and nothing else: no dataset, no database connection, no
learner's code. Its loop only accepts connections, reads their header (an op and
a dataset), queues them, hands each to an idle supervisor of its dataset
(``sandbox.worker.supervisor``) by passing the connection's descriptor
(``SCM_RIGHTS``), and hears from the supervisors when they are idle again.
Everything slow — staging a dataset, opening a database, forking a child,
running the code — happens in a supervisor, so a run on one dataset never waits
for another dataset to get ready.

Supervisors live for many runs: as many per recently used dataset as runs may go
at once, each with its database open and a child forked and warmed up before a
run arrives. Every run still gets a fresh child, forked by the supervisor's clean
zygote (``sandbox.worker.zygote``).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.contract import LIMITS, DatasetRef
from sandbox.worker import confine, prefork, supervisor, wire

IDLE_EXIT_SECONDS = 30 * 60
# Supervisors are kept for this many of the most recently used datasets.
POOLED_DATASETS = 2
# What the main process tells a spare to do with the connection it hands over.
HANDOVER = {"run": b"r", "digest": b"d", "prepare": b"p"}


def _reply(conn: socket.socket, payload: dict[str, Any]) -> None:
    try:
        conn.sendall(json.dumps(payload).encode() + b"\n")
    except OSError:
        pass  # the client went away; nothing to tell it
    finally:
        conn.close()


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"kind": kind, "message": message}}


@dataclass
class Supervisor:
    """The main process's view of one supervisor: its control socket, its dataset, and whether it is free."""

    pid: int
    control: socket.socket
    dataset: DatasetRef
    idle: bool = False
    cpu: int | None = None
    idle_since: float = 0.0


@dataclass
class Server:
    listener: socket.socket
    where: supervisor.Where
    max_children: int
    queue_seconds: float = LIMITS.queue_seconds
    boot: str = field(default_factory=lambda: os.urandom(8).hex())
    supervisors: dict[int, Supervisor] = field(default_factory=dict)
    # The datasets that have supervisors, least recently used first.
    datasets: OrderedDict[DatasetRef, None] = field(default_factory=OrderedDict)
    pending: deque[tuple[socket.socket, dict[str, Any], float]] = field(default_factory=deque)
    last_activity: float = field(default_factory=time.monotonic)
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    wake: tuple[int, int] = field(default_factory=os.pipe)

    @property
    def busy(self) -> int:
        return sum(1 for s in self.supervisors.values() if not s.idle)

    def _spawn(self, dataset: DatasetRef) -> None:
        """Fork a supervisor for ``dataset``; it says when it is ready (idle) on its control socket."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # the supervisor: nothing of the main loop's stays open in it
            try:
                confine.die_with_parent()
                ours.close()
                self.listener.close()
                self.selector.close()
                for fd in self.wake:
                    os.close(fd)
                for queued, _, _ in self.pending:
                    queued.close()
                for other in self.supervisors.values():
                    other.control.close()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                supervisor.main(theirs, self.where, dataset)
            except BaseException:
                traceback.print_exc()  # a bug in the supervisor: the worker's log says where
            finally:
                os._exit(0)
        theirs.close()
        self.supervisors[pid] = Supervisor(pid, ours, dataset)
        self.selector.register(ours, selectors.EVENT_READ, pid)

    def _forget(self, pid: int) -> None:
        gone = self.supervisors.pop(pid, None)
        if gone is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(gone.control)
            gone.control.close()

    def _retire(self, dataset: DatasetRef) -> None:
        """Close the idle supervisors of ``dataset``: they see the end of their control socket and exit."""
        for pid, sup in list(self.supervisors.items()):
            if sup.dataset == dataset and sup.idle:
                self._forget(pid)

    def _quietest_cpu(self) -> int | None:
        """The CPU with the fewest runs on it: each run keeps its supervisor and child on one."""
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 255:
            return None
        busy = [s.cpu for s in self.supervisors.values() if not s.idle]
        return min(cpus, key=busy.count)

    def _handover(self, sup: Supervisor, conn: socket.socket, request: dict[str, Any]) -> bool:
        cpu = self._quietest_cpu()
        what = HANDOVER[request.get("op", "run")] + (b"" if cpu is None else bytes([cpu]))
        try:
            socket.send_fds(sup.control, [what], [conn.fileno()])
        except OSError:
            self._forget(sup.pid)  # it died while it waited: another takes the request
            return False
        conn.close()
        sup.idle, sup.cpu = False, cpu
        return True

    def _dataset_of(self, request: dict[str, Any]) -> DatasetRef | None:
        try:
            return DatasetRef(str(request["dataset"]["size"]), int(request["dataset"]["seed"]))
        except (KeyError, TypeError, ValueError):
            return None

    def dispatch(self) -> None:
        """Hand waiting requests to idle supervisors of their datasets, starting supervisors as needed."""
        now = time.monotonic()
        waiting: deque[tuple[socket.socket, dict[str, Any], float]] = deque()
        while self.pending:
            conn, request, queued_at = self.pending.popleft()
            dataset = self._dataset_of(request)
            if dataset is None:
                _reply(conn, _error("internal", "A request without a dataset."))
                continue
            self.datasets[dataset] = None
            self.datasets.move_to_end(dataset)
            # The one idle longest first: its waiting child has had the time to warm up.
            free = sorted(
                (sup for sup in self.supervisors.values() if sup.idle and sup.dataset == dataset),
                key=lambda sup: sup.idle_since,
            )
            if self.busy < self.max_children and any(self._handover(sup, conn, request) for sup in free):
                continue
            if now - queued_at > self.queue_seconds:
                _reply(conn, _error("busy", "The sandbox is busy with other runs; retry in a moment."))
                continue
            waiting.append((conn, request, queued_at))
        self.pending = waiting
        self._provide()

    def _provide(self) -> None:
        """Supervisors for the datasets in use: as many as runs may go at once, for the recent ones."""
        while len(self.datasets) > POOLED_DATASETS:
            self._retire(self.datasets.popitem(last=False)[0])
        wanted = {dataset for _, request, _ in self.pending if (dataset := self._dataset_of(request))}
        for dataset in reversed(self.datasets):
            have = [s for s in self.supervisors.values() if s.dataset == dataset]
            if len(have) < self.max_children and (dataset in wanted or not self.pending):
                self._spawn(dataset)
                return  # one at a time: a fork never keeps the loop long

    def reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._forget(pid)

    def handle(self, conn: socket.socket) -> bool:
        """Serve one connection; False when asked to shut down."""
        try:
            request = wire.read_message(conn, limit=4096, timeout=5)
        except (OSError, ValueError) as exc:
            _reply(conn, _error("internal", f"Malformed request: {exc}"))
            return True
        op = request.get("op", "run")
        if op == "ping":
            idle = sum(1 for s in self.supervisors.values() if s.idle)
            _reply(conn, {"ok": True, "boot": self.boot, "children": self.busy, "spares": idle})
        elif op == "shutdown":
            _reply(conn, {"ok": True})
            return False
        elif op not in HANDOVER:
            _reply(conn, _error("internal", f"Unknown request {op!r}."))
        else:
            self.pending.append((conn, request, time.monotonic()))
        return True

    def _heard(self, pid: int) -> None:
        """A supervisor spoke on its control socket: it is idle again, or (at its end) gone."""
        sup = self.supervisors.get(pid)
        if sup is None:
            return
        try:
            news = sup.control.recv(64)
        except OSError:
            news = b""
        if not news:
            self._forget(pid)
        else:
            sup.idle, sup.idle_since = True, time.monotonic()

    def serve(self) -> None:
        wake_r, wake_w = self.wake
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.listener, selectors.EVENT_READ, "listener")
        self.selector.register(wake_r, selectors.EVENT_READ, "wake")
        try:
            while True:
                self.reap()
                self.dispatch()
                idle = not self.busy and not self.pending
                if idle and time.monotonic() - self.last_activity > IDLE_EXIT_SECONDS:
                    return
                for key, _ in self.selector.select(timeout=0.05 if self.pending else 5):
                    if key.data == "wake":
                        with contextlib.suppress(BlockingIOError):
                            os.read(wake_r, 4096)
                    elif key.data == "listener":
                        try:
                            conn, _ = self.listener.accept()
                        except OSError as exc:
                            if exc.errno in (errno.EAGAIN, errno.EINTR):
                                continue
                            raise
                        self.last_activity = time.monotonic()
                        if not self.handle(conn):
                            return
                    else:
                        self._heard(key.data)
        finally:
            for pid in list(self.supervisors):
                self._forget(pid)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.worker")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--alive-fd", type=int, help="a locked file kept open while the worker lives")
    parser.add_argument("--datasets", default=confine.DATASETS_DIR, help="prepared datasets (read-only)")
    parser.add_argument("--staged", default=confine.STAGED_DIR, help="private, writable copies of them")
    parser.add_argument("--hide", action="append", default=[], help="a path no child may see")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--warm", action="append", default=[], help="size:seed to keep spares for at start")
    args = parser.parse_args(argv)
    confine.make_undumpable()
    listener = socket.socket(fileno=args.listen_fd)
    listener.setblocking(False)
    where = supervisor.Where(Path(args.datasets), Path(args.staged), [args.datasets, args.staged, *args.hide])
    where.staged.mkdir(parents=True, exist_ok=True)
    server = Server(listener, where, max_children=args.max_children)
    for spec in args.warm:
        size, _, seed_value = spec.partition(":")
        server.datasets[DatasetRef(size, int(seed_value))] = None
    # Everything loaded so far is shared copy-on-write with every supervisor and child: walked
    # once, made immortal and frozen, so that none of them copies it (prefork.py).
    supervisor.preload()
    prefork.settle()
    print(f"sandbox worker {server.boot} ready", file=sys.stderr, flush=True)
    server.serve()
