"""Confinement: the walls around the worker and, tighter still, around each run's child.

Two levels, decided by the machine:

- ``bubblewrap``: the worker runs inside bwrap (no network, no view of the
  project's settings, secrets or app database, nothing writable but a private
  tmpfs for staged datasets). Production requires it.
- ``reduced``: bwrap is missing or cannot create namespaces. Local practice only:
  every page shows a banner and production settings refuse to start.

Inside either, the process that runs learner code (the *child*) also gets its
own mount namespace in which the datasets and the PostgreSQL socket are hidden
under empty filesystems, no capabilities, rlimits (files, processes, CPU,
memory) and a seccomp filter that refuses new processes, sockets, signals,
mounts and tracing.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
# The only project code the worker can see: the demo domain and the sandbox.
# Not config/, not var/ (the app database, the key), not the rest of the tree.
VISIBLE_PACKAGES = ("blog", "sandbox")
# Inside the worker: the prepared datasets (read-only) and their staged, private copies.
DATASETS_DIR = "/datasets"
STAGED_DIR = "/run/querylab"

try:  # imported up front: finding libseccomp may run ldconfig, which a child cannot
    import pyseccomp as seccomp
except (ImportError, OSError):  # no libseccomp: rlimits and bubblewrap still apply
    seccomp = None

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
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


def worker_command(
    argv: list[str], env: dict[str, str], *, datasets: Path, sockets: tuple[str, ...] = ()
) -> list[str]:
    """``python -m sandbox.worker ...``, wrapped in bubblewrap when it is available.

    ``env`` is the worker's whole environment; ``datasets`` the directory of
    prepared datasets, seen read-only as ``/datasets``; ``sockets`` are Unix
    socket files (PostgreSQL's) bound in one by one, never the directory around them.
    Without bubblewrap the worker reads the datasets where they are.
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
    binds += ["--ro-bind", str(datasets), DATASETS_DIR, "--tmpfs", STAGED_DIR]
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
        # Nothing writable but the staging tmpfs, which no run's child can see.
        "--remount-ro", "/dev",
        "--remount-ro", "/",
        "--clearenv",
        *settings_env,
        "--chdir", "/",
        "--",
        *python,
    ]  # fmt: skip


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def make_undumpable() -> None:
    """No process of the worker can be read or written through /proc/<pid>/mem by another.

    Set once in the worker's main process; supervisors and children inherit it.
    """
    _prctl(PR_SET_DUMPABLE, 0)


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """``sig`` when the parent exits; call it right after fork, in the forking thread's child."""
    _prctl(PR_SET_PDEATHSIG, sig)
    if os.getppid() == 1:  # the parent is already gone
        os._exit(70)


_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    result = _libc.mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


def hide(paths: list[str]) -> None:
    """Cover ``paths`` with empty read-only filesystems in a mount namespace of this process's own.

    The child cannot undo it: seccomp refuses mount and umount afterwards, and
    capabilities are dropped. Without bubblewrap (reduced isolation) this is
    skipped when the kernel refuses a user namespace.
    """
    try:
        os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNS)
    except OSError:
        if bwrap_path() is None:
            return
        raise
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE)
    for path in paths:
        target = Path(path)
        if target.is_dir():
            _mount(
                "tmpfs", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=4k,mode=000"
            )
        elif target.exists():
            _mount("/dev/null", path, None, _MS_BIND)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities() -> None:
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"capset: {os.strerror(errno)}")
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def lock_down(*, open_files: int) -> None:
    """Drop every privilege no run needs: environment, files, processes, new sockets, signals."""
    os.environ.clear()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    if _PROGRAM is not None:
        _PROGRAM.load()


def _vm_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def limit(*, cpu_seconds: int, memory_mb: int) -> None:
    """The run's own limits, set when its code arrives: CPU time and memory from now on."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)  # what the process used before is not the code's
    resource.setrlimit(resource.RLIMIT_CPU, (used + cpu_seconds, used + cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + memory_mb * 1024 * 1024,) * 2)


_DENIED_SYSCALLS = (
    "fork", "vfork", "clone", "execve", "execveat", "socket", "socketpair", "connect",
    "bind", "listen", "accept", "accept4", "ptrace", "setsid", "setpgid",
    "mount", "umount2", "unshare", "setns", "chroot", "pivot_root", "keyctl", "bpf",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "perf_event_open", "io_uring_setup", "userfaultfd", "personality", "process_vm_readv",
    "process_vm_writev", "memfd_create", "pidfd_open", "pidfd_send_signal", "pidfd_getfd",
    # No signals at all: never to its supervisor, the worker or another run.
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
)  # fmt: skip


def _build_filter() -> Any:
    """The seccomp rules, as libseccomp's filter object."""
    if seccomp is None:
        return None
    denied = seccomp.ERRNO(1)  # EPERM: the code sees a PermissionError, the run goes on
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in _DENIED_SYSCALLS:
        try:
            rules.add_rule(denied, name)
        except (RuntimeError, ValueError, OSError):
            continue  # a syscall this architecture does not have
    # glibc falls back from clone3 to clone when told clone3 does not exist.
    rules.add_rule(seccomp.ERRNO(38), "clone3")
    return rules


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _Program:
    """The filter compiled to BPF once, in the worker; a child only hands it to the kernel.

    libseccomp's own ``load()`` compiles the rules again in every process that calls
    it: 1.4 ms of a child's CPU here, most of it page faults on memory the compiler
    allocates, for a program that never changes.
    """

    SOCK_FILTER_SIZE = 8  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k

    def __init__(self, rules: Any) -> None:
        fd = os.memfd_create("seccomp")
        try:
            with open(fd, "w+b", closefd=False) as exported:
                rules.export_bpf(exported)
            size = os.lseek(fd, 0, os.SEEK_END)
            code = os.pread(fd, size, 0)
        finally:
            os.close(fd)
        self.code = ctypes.create_string_buffer(code, len(code))
        self.fprog = _SockFprog(len(code) // self.SOCK_FILTER_SIZE, ctypes.addressof(self.code))

    def load(self) -> None:
        """Install it on this process; no_new_privs must already be set (``drop_capabilities``)."""
        if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.fprog), 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"seccomp: {os.strerror(errno)}")


_RULES = _build_filter()
_PROGRAM = None if _RULES is None else _Program(_RULES)
