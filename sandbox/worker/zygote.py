"""The zygote: a clean process that forks each run's child, for a supervisor that is not clean.

A supervisor serves run after run: its memory holds its database connection and
what earlier runs sent it (their code, the grader's probes). A child forked from
it would inherit all of that. So each supervisor forks a zygote first, before it
has any of it, and asks the zygote for children: the zygote forks one, and hands
the supervisor the child's channel, its output pipe and a pidfd (``SCM_RIGHTS``),
then tells it how the child ended once it has reaped it.

A zygote dies with its supervisor and a child with its zygote (parent-death
signals), so nothing outlives the supervisor that owns it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import traceback
from dataclasses import dataclass
from typing import NoReturn

from sandbox.worker import child, confine

# Zygote to supervisor: a child (with its descriptors), or how one ended.
_BORN = struct.Struct(">cI")  # b"c", pid
_ENDED = struct.Struct(">cIi")  # b"x", pid, wait status


@dataclass
class Child:
    """A child, seen from its supervisor: its pid, its channel, its output and a pidfd to stop it."""

    pid: int
    channel: socket.socket
    stdout: int
    pidfd: int

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def alive(self) -> bool:
        """False once it has exited: its pidfd becomes readable then."""
        return not select.select([self.pidfd], [], [], 0)[0]

    def close(self) -> None:
        self.channel.close()
        for fd in (self.stdout, self.pidfd):
            with contextlib.suppress(OSError):
                os.close(fd)


class Zygote:
    """The supervisor's end of its zygote."""

    def __init__(self, hidden: list[str]) -> None:
        # Packets, not a stream: each message (and the descriptors it carries) arrives whole.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.pid = os.fork()
        if self.pid == 0:
            try:
                ours.close()
                _serve(theirs, hidden)
            finally:
                os._exit(70)
        theirs.close()
        self.sock = ours
        self.ended: dict[int, int] = {}

    def child(self) -> Child:
        """A new child, confined and waiting for its code."""
        self.sock.sendall(b"f")
        while True:
            message, fds, _, _ = socket.recv_fds(self.sock, _ENDED.size, 3)
            if not message:
                raise OSError("the zygote is gone")
            if self._ended(message):
                continue
            _, pid = _BORN.unpack(message[: _BORN.size])
            channel, stdout, pidfd = fds
            return Child(pid, socket.socket(fileno=channel), stdout, pidfd)

    def status(self, pid: int, timeout: float = 10) -> int:
        """How ``pid`` ended (a wait status), once the zygote has reaped it."""
        self.sock.settimeout(timeout)
        try:
            while pid not in self.ended:
                message = self.sock.recv(_ENDED.size)
                if not message:
                    raise OSError("the zygote is gone")
                self._ended(message)
        finally:
            self.sock.settimeout(None)
        return self.ended.pop(pid)

    def _ended(self, message: bytes) -> bool:
        if message[:1] != b"x":
            return False
        _, pid, status = _ENDED.unpack(message)
        self.ended[pid] = status
        if len(self.ended) > 64:  # statuses nobody asked for: children ended after their last word
            self.ended.pop(next(iter(self.ended)))
        return True


def _serve(sock: socket.socket, hidden: list[str]) -> NoReturn:
    """The zygote's loop: a child on every request, a status for every child that ends."""
    confine.die_with_parent()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    try:
        while True:
            readable, _, _ = select.select([sock.fileno(), wake_r], [], [])
            if wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                _reap(sock)
            if sock.fileno() in readable:
                if not sock.recv(1):
                    break
                _fork(sock, hidden, (wake_r, wake_w))
    except (ConnectionError, BrokenPipeError):
        pass  # the supervisor is gone, and its zygote with it
    except BaseException:
        traceback.print_exc()
        os._exit(70)
    os._exit(0)


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock.sendall(_ENDED.pack(b"x", pid, status))


def _fork(sock: socket.socket, hidden: list[str], wake: tuple[int, int]) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.setsid()
            os.dup2(theirs.fileno(), 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.closerange(3, 65536)
            child.main(hidden)
        finally:
            os._exit(70)
    theirs.close()
    os.close(out_w)
    pidfd = os.pidfd_open(pid)
    try:
        socket.send_fds(
            sock, [_BORN.pack(b"c", pid).ljust(_ENDED.size, b"\0")], [ours.fileno(), out_r, pidfd]
        )
    finally:
        ours.close()
        os.close(out_r)
        os.close(pidfd)
