"""How strongly code is isolated on this machine, and the command that isolates it.

``bubblewrap`` when bwrap exists and can create the namespaces the worker needs;
``reduced`` otherwise (local use only: every page shows a banner, and
production refuses to start).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
# The only project code the worker can see: the demo domain and the sandbox.
# Not config/, not var/ (the app database, the key), not the rest of the tree.
VISIBLE_PACKAGES = ("blog", "sandbox")
_PROBE = ["--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "--", "/bin/true"]


@functools.cache
def bwrap_path() -> str | None:
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        subprocess.run([path, *_PROBE], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return path


def level() -> str:
    return "bubblewrap" if bwrap_path() else "reduced"


def worker_environment() -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "sandbox.worker.settings",
        "PYTHONPATH": str(PROJECT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }


def _system_dirs() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
        args += ["--ro-bind-try", etc, etc]
    return args


def worker_command(argv: list[str], env: dict[str, str], sockets: tuple[str, ...] = ()) -> list[str]:
    """``python -m sandbox.worker ...`` wrapped in bubblewrap when it is available.

    ``env`` is the worker's whole environment; ``sockets`` are Unix socket files
    (PostgreSQL's) bound in one by one: a socket, never the directory around it.
    """
    python = [sys.executable, "-m", "sandbox.worker", *argv]
    bwrap = bwrap_path()
    if bwrap is None:
        return python
    binds: list[str] = []
    for prefix in sorted({sys.base_prefix, sys.prefix}):
        binds += ["--ro-bind", prefix, prefix]
    for package in VISIBLE_PACKAGES:
        binds += ["--ro-bind", str(PROJECT / package), str(PROJECT / package)]
    for path in sockets:
        binds += ["--bind", path, path]
    settings_env: list[str] = []
    for key, value in env.items():
        settings_env += ["--setenv", key, value]
    return [
        bwrap,
        "--unshare-all",  # network, IPC, PID, UTS, cgroup and user namespaces
        "--unshare-user",
        "--uid", "65534", "--gid", "65534",
        "--cap-drop", "ALL",
        "--die-with-parent",
        "--new-session",
        *_system_dirs(),
        *binds,
        "--proc", "/proc",
        "--dev", "/dev",
        # Nothing writable anywhere: no run can leave a file for the next one.
        "--remount-ro", "/dev",
        "--remount-ro", "/",
        "--clearenv",
        *settings_env,
        "--chdir", "/",
        "--",
        *python,
    ]  # fmt: skip
