"""CPU seconds used by this process and by the sandbox worker's process tree (Linux /proc).

The worker reaps its supervisors, which reap their children, so the worker's
``cutime``/``cstime`` include every finished run; forks are charged to the
parent that forks. Read between loads, when no run is in flight.
"""

from __future__ import annotations

import os
import resource

from sandbox import runner

TICKS = os.sysconf("SC_CLK_TCK")
# Fields after "pid (comm) ": 0 state, 1 ppid, 11 utime, 12 stime, 13 cutime, 14 cstime.
_PPID, _TIMES = 1, slice(11, 15)


def _fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _fields(int(entry))) is not None:
            children.setdefault(int(fields[_PPID]), []).append(int(entry))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue += children.get(pid, [])
    return found


def tree_seconds(root: int) -> float:
    """CPU time of ``root`` and every process under it, finished ones that were reaped included."""
    ticks = 0
    for pid in _descendants(root):
        fields = _fields(pid)
        ticks += sum(int(t) for t in fields[_TIMES]) if fields else 0
    return ticks / TICKS


def tree_pss_mb(root: int) -> float:
    """Memory of ``root`` and every process under it, each shared page split among its sharers (PSS)."""
    kib = 0
    for pid in _descendants(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                kib += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError):
            continue
    return kib / 1024


def worker_seconds() -> float | None:
    """CPU time of the worker this process started (bubblewrap included); None if it did not start one."""
    process = runner.worker().process
    return None if process is None else tree_seconds(process.pid)


def client_seconds() -> float:
    """CPU time of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
