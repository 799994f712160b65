"""The child: the one process that runs a run's code, and the only one that must be distrusted.

It is forked by the run's supervisor before the supervisor opens its database,
so it inherits no connection. It confines itself (``confine``), waits for the
code on its channel, runs it against ``proxy``'s database, and ends with a
last word: how the code ended. Everything it says is about itself (its error,
the line of each statement) and is shown, never counted: the supervisor
measures and records what happened.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import os
import socket
import sys
import traceback
from types import CodeType
from typing import Any, NoReturn

import django.db.models
import django.db.models.functions
from django.conf import settings
from django.core.exceptions import FieldError, ObjectDoesNotExist
from django.core.paginator import Paginator
from django.db import DatabaseError, connections, transaction
from django.template import Context, Template
from django.utils import timezone

from blog.models import Article, Author, Category, Comment, Tag
from sandbox.worker import confine, guard, own_models, proxy, wire
from sandbox.worker.proxy import STUDENT_FILENAME

# The child keeps its channel (0) and its output (1, 2); a few more for Python's own use.
OPEN_FILES = 16


def _guarded_import(
    name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
) -> Any:
    # A models file starts with "from django.db import models": the module the code already has.
    if not level and (
        name == "django.db.models" or (name == "django.db" and set(fromlist or ()) <= {"models"})
    ):
        return __import__(name, globals, locals, fromlist, level)
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


def namespace(*, guarded: bool = True) -> dict[str, Any]:
    """The names code starts with: the models, django.db.models' API and its database functions.

    Learner code gets guarded builtins; the grader's probe (run by the
    supervisor, trusted) gets the real ones.
    """
    names: dict[str, Any] = {name: getattr(django.db.models, name) for name in django.db.models.__all__}
    # Database functions too (Coalesce, Lower, TruncMonth, RowNumber...): lessons use them unqualified.
    names.update(
        {name: getattr(django.db.models.functions, name) for name in django.db.models.functions.__all__}
    )
    names.update(
        {
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
            "Paginator": Paginator,
            "Template": Template,
            "Context": Context,
        }
    )
    if guarded:
        names["__builtins__"] = _safe_builtins()
    return names


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


def error_json(
    kind: str, message: str, line: int | None = None, tb: str | None = None, source: str = "code"
) -> dict[str, Any]:
    return {"kind": kind, "message": message, "line": line, "traceback": tb, "source": source}


def classify(exc: BaseException, code: str, memory_mb: int) -> dict[str, Any]:
    """What the code's exception was, in a learner's words.

    Database refusals and timeouts are decided again by the supervisor, which
    saw them happen; this is what the child can tell from its side.
    """
    line, tb = _student_traceback(exc, code)
    if isinstance(exc, MemoryError):
        return error_json("memory", f"Your code ran out of memory (the limit is {memory_mb} MB).", line, tb)
    if isinstance(exc, SystemExit):
        return error_json(
            "exception", "SystemExit: code cannot end the sandbox process; the run stopped here.", line, tb
        )
    if isinstance(exc, DatabaseError) and type(exc.__cause__).__name__ == "InsufficientPrivilege":
        first = str(exc).splitlines()[0] if str(exc) else "permission denied"
        return error_json("forbidden", f"Not allowed in the sandbox: {first}.", line, tb)
    message = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, PermissionError):
        message += " (the sandbox does not allow this operation)"
    elif isinstance(exc, DatabaseError) and exc.__cause__ is not None:
        message = message.splitlines()[0] if message else message
    return error_json("exception", message, line, tb)


def compile_code(code: str, filename: str = STUDENT_FILENAME) -> CodeType | dict[str, Any]:
    """The code object, or a syntax/forbidden error for it (``filename`` says which editor it is from)."""
    source = "models" if filename == own_models.MODELS_FILENAME else "code"
    try:
        tree = ast.parse(code, filename)
    except SyntaxError as exc:
        return error_json("syntax", f"SyntaxError: {exc.msg}", exc.lineno, source=source)
    except ValueError as exc:  # e.g. source with NUL bytes
        return error_json("syntax", f"SyntaxError: {exc}", None, source=source)
    refusal = guard.check(tree)
    if refusal is not None:
        return error_json("forbidden", refusal.message, refusal.line, source=source)
    return compile(tree, filename, "exec")


def _scrub() -> None:
    """Forget what the supervisor knew of its database: credentials, connections."""
    for alias in list(connections):
        connections[alias].connection = None
    settings.DATABASES = {}
    os.environ.clear()


# Trusted code a spare child runs before its run's code arrives, against its supervisor's
# database (which does not record it): the stand-in connection is installed and the backend's
# first statement made, so the run's code starts on a connected ORM. One statement, not a
# tour of the ORM: walking its common paths (as this once did, to fault in pages a fresh fork
# shares) cost 45-60 ms of CPU per run under a class's load and saved no measurable latency
# (a run every 100 ms, on the 2-core machine: 28 ms of CPU per run with this one statement,
# 71-90 ms with the tour; a 51-query N+1 took 44 ms end to end after the one, 47 after the tour).
WARM_UP = ('Article.objects.select_related("author").first()\n',)


def warm_up(channel: proxy.Channel, job: dict[str, Any]) -> None:
    """Run the ``WARM_UP`` steps, then say so: nothing of the learner's exists here yet."""
    proxy.install(channel, job["database"])
    for step in job["warm_up"]:
        try:
            exec(compile(step, "<warm-up>", "exec"), namespace(guarded=False))
        except Exception:  # the run has come: the supervisor refused the next statement
            # Cut short anywhere, connecting included (Django then believes autocommit is
            # off): the run starts on a new stand-in, never on this half-set one.
            proxy.forget()
            break
    channel.send(wire.Request(wire.READY))


def run(channel: proxy.Channel, job: dict[str, Any]) -> dict[str, Any] | None:
    """Compile and run ``job``'s code; the error it ended with, or None."""
    code: str = job["code"]
    models_source: str = job.get("models") or ""
    compiled = compile_code(code)
    compiled_models = compile_code(models_source, own_models.MODELS_FILENAME) if models_source else None
    proxy.install(channel, job["database"])
    confine.limit(cpu_seconds=int(job["cpu_seconds"]), memory_mb=int(job["memory_mb"]))
    channel.send(wire.Request(wire.STARTED))
    if isinstance(compiled_models, dict):  # the models' own syntax errors first: nothing else runs
        return compiled_models
    if isinstance(compiled, dict):
        return compiled
    names = namespace()
    names["fill"] = own_models.make_fill(int(job.get("seed", 0)))
    if compiled_models is not None:
        try:
            defined = own_models.define(
                models_source, compiled_models, names, max_models=int(job["max_models"])
            )
            own_models.create_tables(channel, defined)
        except own_models.ModelsError as exc:
            return error_json("exception", exc.message, exc.line, source="models")
        except BaseException as exc:  # the models' code ran out of time or memory, or the database refused
            return {**classify(exc, models_source, int(job["memory_mb"])), "source": "models"}
    try:
        exec(compiled, names)
    except BaseException as exc:  # everything the code can raise is reported, never re-raised
        return classify(exc, code, int(job["memory_mb"]))
    return None


def main(hidden: list[str]) -> NoReturn:
    """Entry point of a forked child: fd 0 is its channel, fds 1 and 2 its output pipe.

    It confines itself at once, then blocks until the supervisor sends the
    run's code (or closes the channel: a spare child discarded unused).
    """
    channel: proxy.Channel | None = None
    error: dict[str, Any] | None
    try:
        confine.die_with_parent()
        # Line by line: what was printed before a timeout or a crash is still shown.
        sys.stdout = sys.stderr = io.TextIOWrapper(
            io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
        )
        _scrub()
        confine.hide(hidden)
        confine.drop_capabilities()
        confine.lock_down(open_files=OPEN_FILES)
        sock = socket.socket(fileno=0)
        channel = proxy.Channel(sock)
        try:
            job = channel.receive()
            if "warm_up" in job:
                warm_up(channel, job)
                job = channel.receive()
        except Exception:  # closed unused, or the supervisor is gone
            os._exit(0)
        error = run(channel, job)
    except BaseException as exc:  # the harness itself failed: say so, do not hide it
        error = error_json("internal", f"The sandbox failed: {type(exc).__name__}: {exc}")
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    for fd in (1, 2):  # the supervisor answers at the end of the output, not at the exit
        with contextlib.suppress(OSError):
            os.close(fd)
    if channel is not None:
        with contextlib.suppress(Exception):
            channel.send(wire.Request(wire.DONE, params=error))
    os._exit(0)
