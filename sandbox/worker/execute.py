"""What happens inside one forked child: confine it, run the code, report.

The child never returns: it writes one JSON result to its result pipe (never to
stdout, which belongs to the code) and exits. The supervisor that forked it
trusts only that pipe and its own observations (exit status, time, bytes).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import ctypes
import io
import json
import math
import os
import resource
import select
import signal
import sys
import time
import traceback
from types import CodeType
from typing import Any, NoReturn

import django.db.models
from django.core.exceptions import FieldError, ObjectDoesNotExist
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from blog.models import Article, Author, Category, Comment, Tag
from sandbox.capture import STUDENT_FILENAME, QueryLog
from sandbox.worker import datasets, guard

try:  # imported up front: finding libseccomp may run ldconfig, which a child cannot
    import pyseccomp as seccomp
except (ImportError, OSError):  # no libseccomp: rlimits and bubblewrap still apply
    seccomp = None

MAX_QUERIES_REPORTED = 2_000
RECEIVED = b"\x06"  # the first byte on the result pipe: the child has its request
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def make_undumpable() -> None:
    """No process of the worker can be read or written through /proc/<pid>/mem by a run.

    Set once in the worker's main process; supervisors and children inherit it.
    """
    _prctl(PR_SET_DUMPABLE, 0)


def _guarded_import(
    name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
) -> Any:
    if level or name.split(".")[0] not in guard.ALLOWED_MODULES:
        raise ImportError(f"importing {name!r} is not allowed in the sandbox")
    return __import__(name, globals, locals, fromlist, level)


def _safe_builtins() -> dict[str, Any]:
    allowed = {
        name: value
        for name, value in vars(builtins).items()
        if name not in guard.BLOCKED_NAMES and not name.startswith("_")
    }
    allowed["__import__"] = _guarded_import
    allowed["__build_class__"] = builtins.__build_class__
    return allowed


def namespace() -> dict[str, Any]:
    """The names submitted code starts with: the models and django.db.models' API."""
    names: dict[str, Any] = {name: getattr(django.db.models, name) for name in django.db.models.__all__}
    names.update(
        {
            "__builtins__": _safe_builtins(),
            "__name__": "__main__",
            "Article": Article,
            "Author": Author,
            "Category": Category,
            "Comment": Comment,
            "Tag": Tag,
            "models": django.db.models,
            "connection": django.db.connection,
            "transaction": transaction,
            "timezone": timezone,
            "FieldError": FieldError,
            "ObjectDoesNotExist": ObjectDoesNotExist,
        }
    )
    return names


def _vm_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def lock_down(*, result_fd: int) -> None:
    """Drop every privilege no run needs: no environment, files, processes or new sockets."""
    os.environ.clear()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(16, result_fd + 4),) * 2)
    _seccomp()


def limit(*, cpu_seconds: int, memory_mb: int) -> None:
    """The run's own limits, set when its request arrives: CPU time and memory from now on."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)  # the warm-up's is not the code's
    resource.setrlimit(resource.RLIMIT_CPU, (used + cpu_seconds, used + cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + memory_mb * 1024 * 1024,) * 2)


_DENIED_SYSCALLS = (
    "fork", "vfork", "clone", "execve", "execveat", "socket", "socketpair", "connect",
    "bind", "listen", "accept", "accept4", "ptrace", "setsid", "setpgid",
    "mount", "umount2", "unshare", "setns", "chroot", "pivot_root", "keyctl", "bpf",
    "perf_event_open", "io_uring_setup", "userfaultfd", "personality", "process_vm_readv",
    "process_vm_writev", "memfd_create", "pidfd_open", "pidfd_send_signal",
    # No signals at all: never to its supervisor, the worker or another run.
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
)  # fmt: skip


def _build_filter() -> Any:
    """The seccomp filter, built once in the worker; each child only loads its copy."""
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


_FILTER = _build_filter()


def _seccomp() -> None:
    if _FILTER is not None:
        _FILTER.load()


def _student_traceback(exc: BaseException, code: str) -> tuple[int | None, str]:
    lines = code.splitlines()
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == STUDENT_FILENAME]
    out = ["Traceback (most recent call last):"]
    for frame in frames:
        out.append(f"  line {frame.lineno}, in {frame.name}")
        if frame.lineno and 0 < frame.lineno <= len(lines):
            out.append(f"    {lines[frame.lineno - 1].strip()}")
    out.append(f"{type(exc).__name__}: {exc}".rstrip(": "))
    return (frames[-1].lineno if frames else None), "\n".join(out)


def error_json(kind: str, message: str, line: int | None = None, tb: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "message": message, "line": line, "traceback": tb}


def classify(exc: BaseException, code: str, memory_mb: int) -> dict[str, Any]:
    line, tb = _student_traceback(exc, code)
    if isinstance(exc, MemoryError):
        return error_json("memory", f"Your code ran out of memory (the limit is {memory_mb} MB).", line, tb)
    if isinstance(exc, DatabaseError) and "authoriz" in str(exc) and datasets.last_denied:
        what = datasets.last_denied[-1]
        return error_json("forbidden", f"{what} is not allowed in the sandbox.", line, tb)
    cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else ""
    if cause == "InsufficientPrivilege":
        first = str(exc).splitlines()[0] if str(exc) else "permission denied"
        return error_json("forbidden", f"Not allowed in the sandbox: {first}.", line, tb)
    if cause == "QueryCanceled":
        return error_json(
            "timeout",
            "A statement ran longer than the sandbox's statement timeout and was cancelled.",
            line,
            tb,
        )
    if isinstance(exc, SystemExit):
        return error_json(
            "exception",
            "SystemExit: code cannot end the sandbox process; the run stopped here.",
            line,
            tb,
        )
    message = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, PermissionError):
        message += " (the sandbox does not allow this operation)"
    return error_json("exception", message, line, tb)


def compile_code(code: str) -> CodeType | dict[str, Any]:
    """The code object, or a syntax/forbidden error for it."""
    try:
        tree = ast.parse(code, STUDENT_FILENAME)
    except SyntaxError as exc:
        return error_json("syntax", f"SyntaxError: {exc.msg}", exc.lineno)
    except ValueError as exc:  # e.g. source with NUL bytes
        return error_json("syntax", f"SyntaxError: {exc}", None)
    refusal = guard.check(tree)
    if refusal is not None:
        return error_json("forbidden", refusal.message, refusal.line)
    return compile(tree, STUDENT_FILENAME, "exec")


def run_code(request: dict[str, Any], dataset: datasets.Dataset) -> dict[str, Any]:
    code: str = request["code"]
    memory_mb: int = request.get("memory_mb", 512)
    compiled = compile_code(code)
    if isinstance(compiled, dict):
        return {"error": compiled, "queries": [], "wall_ms": 0.0, "simulated_ms": 0.0}
    datasets.activate(dataset)
    connection = connections["default"]
    log = QueryLog(latency_ms=float(request.get("latency_ms") or 0))
    error = None
    probe_output = None
    with contextlib.ExitStack() as stack:
        if dataset.connection is None:
            # PostgreSQL: connect before the clock starts, and hold one transaction
            # that is always rolled back, whatever the code does.
            connection.ensure_connection()
            stack.enter_context(transaction.atomic())
            stack.callback(transaction.set_rollback, True)
        started = time.perf_counter()
        try:
            with log.capture(connection):
                exec(compiled, namespace())
        except BaseException as exc:  # everything the code can raise is reported, never re-raised
            error = classify(exc, code, memory_mb)
        wall_ms = (time.perf_counter() - started) * 1000
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        if request.get("probe") and error is None:
            probe_output = _probe(request["probe"])
    result: dict[str, Any] = {
        "error": error,
        "queries": [q.to_json() for q in log.queries[:MAX_QUERIES_REPORTED]],
        "queries_total": len(log.queries),
        "query_count": log.query_count,
        "db_ms": log.db_ms,
        "wall_ms": wall_ms,
        "simulated_ms": log.simulated_ms,
    }
    if probe_output is not None:
        result["probe_output"] = probe_output
    return result


def _probe(code: str) -> str:
    """Run the grader's own read-back code after the learner's; not counted, not shown."""
    captured = io.StringIO()
    real_stdout = sys.stdout
    sys.stdout = captured
    try:
        exec(compile(code, "<probe>", "exec"), namespace())
    except Exception as exc:  # reported as the probe's output, which then fails to match
        print(f"probe failed: {type(exc).__name__}: {exc}")
    finally:
        sys.stdout = real_stdout
    return captured.getvalue()


# Trusted code a spare child runs before its request arrives. Forking shares the
# worker's memory copy-on-write, and CPython writes to every object it touches
# (reference counts), so the first pass through the ORM, the capture and the
# JSON encoder copies pages and faults in code; the warm-up pays for that before
# the clock starts, as a long-lived process would have. The steps walk the paths
# lesson code takes most: rows and their related objects one by one (N+1),
# select_related and prefetch_related, annotations, values, counts. They print
# nothing, their queries are not reported, and a step is never started once the
# request is there.
WARM_UP = (
    'for article in Article.objects.order_by("id")[:20]:\n    article.author.username, article.category.name\n',
    'articles = Article.objects.select_related("author").prefetch_related("tags", "comments")\n'
    "for article in articles[:10]:\n    [tag.name for tag in article.tags.all()], len(article.comments.all())\n",
    'list(Author.objects.annotate(n=Count("articles")).values("username", "n")[:10])\n',
    'Article.objects.filter(status="published").only("title").exists(), Comment.objects.count()\n',
)


def _waiting(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


# A spare waits this long before it warms up: under load its request comes sooner, and the
# CPU a warm-up would take goes to runs instead.
WARM_UP_AFTER_SECONDS = 0.025


def warm_up(dataset: datasets.Dataset, request_fd: int) -> None:
    """Run the ``WARM_UP`` steps as requests run, until the request arrives (SQLite only)."""
    if dataset.connection is None:  # PostgreSQL: not connected before the request
        return
    if select.select([request_fd], [], [], WARM_UP_AFTER_SECONDS)[0]:
        return
    for step in WARM_UP:
        if _waiting(request_fd):
            break
        result = run_code({"code": step}, dataset)
        if result["error"] is not None:  # a broken warm-up is a bug in the worker, not the run's
            raise RuntimeError(f"the warm-up failed: {result['error']['message']}")
        json.dumps(result, default=str)
    datasets.last_denied.clear()


def _read_request(request_fd: int) -> dict[str, Any]:
    """Block until the supervisor sends the request (all of it, then end of file)."""
    data = bytearray()
    while chunk := os.read(request_fd, 1 << 16):
        data += chunk
    if not data:  # the supervisor discarded this child unused
        os._exit(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, request_fd)
    os.close(null)
    request: dict[str, Any] = json.loads(data)
    return request


def child_main(dataset: datasets.Dataset, *, request_fd: int, result_fd: int, warm: bool) -> NoReturn:
    """Entry point of a forked child: fds 1 and 2 are already the output pipe.

    On SQLite it locks itself down at once and, if ``warm``, warms up; then it
    waits for its one request on ``request_fd``, sets the run's limits and runs
    it. On PostgreSQL it opens its connection after the request, before the
    lock-down forbids sockets.
    """
    try:
        # Die with the supervisor: a child must never outlive its wall-clock limit.
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:
            os._exit(70)
        sys.stdout = sys.stderr = io.TextIOWrapper(
            io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace"
        )
        datasets.activate(dataset)
        failed: Exception | None = None
        if dataset.connection is not None:
            lock_down(result_fd=result_fd)
            try:
                if warm:
                    warm_up(dataset, request_fd)
            except Exception as exc:  # reported to the run it would have served
                failed = exc
        request = _read_request(request_fd)
        os.write(result_fd, RECEIVED)
        if failed is not None:
            raise failed
        if dataset.connection is None:
            # PostgreSQL: the one connection this run gets, opened before seccomp forbids sockets.
            connections["default"].ensure_connection()
            lock_down(result_fd=result_fd)
        limit(cpu_seconds=int(request.get("cpu_seconds", 5)), memory_mb=int(request.get("memory_mb", 512)))
        result = run_code(request, dataset)
    except BaseException as exc:  # the harness itself failed: say so, do not hide it
        result = {"error": error_json("internal", f"The sandbox failed: {type(exc).__name__}: {exc}")}
    data = json.dumps(result, default=str).encode()
    view = memoryview(data)
    while view:
        written = os.write(result_fd, view)
        view = view[written:]
    # Close the pipes before exiting: the supervisor answers at their end of file,
    # not after the kernel has torn this process's memory down.
    for fd in (result_fd, 1, 2):
        with contextlib.suppress(OSError):
            os.close(fd)
    os._exit(0)
