"""The worker's main process: a pool of spare supervisors and a queue, on a Unix socket.

It has Django set up and nothing else: no dataset, no database connection, no
learner's code. Its loop only accepts connections, reads their header line (an
op and a dataset), queues them, hands each over to a *spare supervisor*
(``sandbox.worker.supervisor``) and reaps the ones that finished. Everything
slow — staging a dataset, opening a database, forking the child, running the
code — happens in the supervisor, so a run on one dataset never waits for
another dataset to get ready.

Forking costs milliseconds, so supervisors are forked before runs arrive: a few
spares per recently used dataset, each with its child forked and its database
open. A request is handed to one by passing its connection's descriptor
(``SCM_RIGHTS``); the main process then forks a replacement once no run is going.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
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
from sandbox.worker import confine, supervisor, wire

IDLE_EXIT_SECONDS = 30 * 60
# Spare supervisors are kept for this many of the most recently used datasets.
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
class Spare:
    pid: int
    control: socket.socket


@dataclass
class Server:
    listener: socket.socket
    where: supervisor.Where
    max_children: int
    spares_per_dataset: int = 2
    queue_seconds: float = LIMITS.queue_seconds
    boot: str = field(default_factory=lambda: os.urandom(8).hex())
    # Supervisors at work (they count against max_children) and the CPU each runs on, and the spares.
    supervisors: dict[int, int | None] = field(default_factory=dict)
    spares: OrderedDict[DatasetRef, deque[Spare]] = field(default_factory=OrderedDict)
    pending: deque[tuple[socket.socket, dict[str, Any], float]] = field(default_factory=deque)
    last_activity: float = field(default_factory=time.monotonic)
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    wake: tuple[int, int] = field(default_factory=os.pipe)

    def _spawn(self, dataset: DatasetRef) -> Spare:
        """Fork a spare supervisor for ``dataset``: it forks its child and opens its database."""
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
                for pool in self.spares.values():
                    for spare in pool:
                        spare.control.close()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                supervisor.main(theirs, self.where, dataset)
            except BaseException:
                traceback.print_exc()  # a bug in the supervisor: the worker's log says where
            finally:
                os._exit(0)
        theirs.close()
        return Spare(pid, ours)

    def _retire(self, dataset: DatasetRef) -> None:
        """Close the pool of ``dataset``: its spares see the end of their control socket and exit."""
        for spare in self.spares.pop(dataset, deque()):
            spare.control.close()

    def start(self, conn: socket.socket, request: dict[str, Any]) -> None:
        """Hand ``conn`` over to a spare of its dataset, forking one if none is waiting."""
        try:
            dataset = DatasetRef(str(request["dataset"]["size"]), int(request["dataset"]["seed"]))
        except (KeyError, TypeError, ValueError):
            _reply(conn, _error("internal", "A request without a dataset."))
            return
        pool = self.spares.setdefault(dataset, deque())
        self.spares.move_to_end(dataset)
        while len(self.spares) > POOLED_DATASETS:
            self._retire(next(iter(self.spares)))
        cpu = self._quietest_cpu()
        what = HANDOVER[request.get("op", "run")] + (b"" if cpu is None else bytes([cpu]))
        for _ in range(len(pool) + 2):
            spare = pool.popleft() if pool else self._spawn(dataset)
            try:
                socket.send_fds(spare.control, [what], [conn.fileno()])
            except OSError:
                continue  # it died while it waited: the next one takes the request
            finally:
                spare.control.close()
            conn.close()
            self.supervisors[spare.pid] = cpu
            return
        _reply(conn, _error("internal", "No sandbox process could take the run."))

    def _quietest_cpu(self) -> int | None:
        """The CPU with the fewest runs on it: each run keeps its supervisor and child on one."""
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 255:
            return None
        busy = list(self.supervisors.values())
        return min(cpus, key=busy.count)

    def replenish(self) -> bool:
        """Fork one spare where a pool is short, most recent dataset first; True if it did."""
        for dataset in reversed(self.spares):
            if len(self.spares[dataset]) < self.spares_per_dataset:
                self.spares[dataset].append(self._spawn(dataset))
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
            _reply(conn, _error("busy", "The sandbox is busy with other runs; retry in a moment."))

    def handle(self, conn: socket.socket) -> bool:
        """Serve one connection; False when asked to shut down."""
        try:
            request = wire.read_message(conn, limit=4096, timeout=5)
        except (OSError, ValueError) as exc:
            _reply(conn, _error("internal", f"Malformed request: {exc}"))
            return True
        op = request.get("op", "run")
        if op == "ping":
            spares = sum(len(pool) for pool in self.spares.values())
            _reply(conn, {"ok": True, "boot": self.boot, "children": len(self.supervisors), "spares": spares})
        elif op == "shutdown":
            _reply(conn, {"ok": True})
            return False
        elif op not in HANDOVER:
            _reply(conn, _error("internal", f"Unknown request {op!r}."))
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
                # Spares are forked only while no run is going: a run never waits for a fork.
                short = idle and self.replenish()
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
    parser = argparse.ArgumentParser(prog="python -m sandbox.worker")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--alive-fd", type=int, help="a locked file kept open while the worker lives")
    parser.add_argument("--datasets", default=confine.DATASETS_DIR, help="prepared datasets (read-only)")
    parser.add_argument("--staged", default=confine.STAGED_DIR, help="private, writable copies of them")
    parser.add_argument("--hide", action="append", default=[], help="a path no child may see")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--spares", type=int, default=2, help="spare supervisors per recent dataset")
    parser.add_argument("--warm", action="append", default=[], help="size:seed to keep spares for at start")
    args = parser.parse_args(argv)
    confine.make_undumpable()
    listener = socket.socket(fileno=args.listen_fd)
    listener.setblocking(False)
    where = supervisor.Where(Path(args.datasets), Path(args.staged), [args.datasets, args.staged, *args.hide])
    where.staged.mkdir(parents=True, exist_ok=True)
    server = Server(listener, where, max_children=args.max_children, spares_per_dataset=args.spares)
    for spec in args.warm:
        size, _, seed_value = spec.partition(":")
        server.spares.setdefault(DatasetRef(size, int(seed_value)), deque())
    # Everything loaded so far is shared copy-on-write with every supervisor and child: keep the
    # collector from touching it (and so copying it) in each of them.
    # https://docs.python.org/3/library/gc.html#gc.freeze
    supervisor.preload()
    gc.collect()
    gc.freeze()
    print(f"sandbox worker {server.boot} ready", file=sys.stderr, flush=True)
    server.serve()
