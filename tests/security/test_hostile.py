"""Hostile code against the sandbox: every attempt ends the way it should and harms nothing.

Each snippet is run on the tiny dataset and then checked four ways: its own
outcome (the error kind and message, or what it printed), no secret in anything
it returned, the dataset digest unchanged, and an ordinary run afterwards in the
same worker process still printing the original counts.

The AST guard (sandbox/worker/guard.py) is only the friendly first layer, and it
is easy to walk around: ``statistics.sys`` and ``re.enum.sys`` hand out ``sys``
(and so every loaded module and the real builtins), ``json.codecs.open`` is
``open``, ``operator.attrgetter`` is ``getattr``, and a format string built at
run time walks attributes. The bypass cases use those routes to test the real
boundary: bubblewrap, rlimits, seccomp and the SQLite authorizer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import select
import socket
import subprocess
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from blog import seed
from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest, RunResult
from sandbox.worker import confine
from tests.sandbox.test_runner import wait_for_spares

DATASET = DatasetRef("tiny", 1)
SIZE = seed.SIZES[DATASET.size]
ARTICLES, COMMENTS = SIZE.articles, SIZE.comments
ARTICLE_TAGS = len(seed.generate(DATASET.size, DATASET.seed).article_tags)
PROJECT = confine.PROJECT
APP_PORT = 8000

# Imports the guard allows whose modules lead to sys, os and the real builtins.
REAL = textwrap.dedent(
    """\
    import statistics, operator
    sys = statistics.sys
    os = sys.modules["os"]
    real_builtins = sys.modules["builtins"]
    real_import = operator.attrgetter("__import__")(real_builtins)
    """
)
# Student code that knows the worker's pid: its parent is its supervisor's zygote, whose parent is the
# supervisor, whose parent is the worker's main process.
FIND_WORKER = REAL + textwrap.dedent(
    """\
    def parent(pid):
        with real_builtins.open(f"/proc/{pid}/status") as status:
            return int([line.split()[1] for line in status if line.startswith("PPid:")][0])
    worker = parent(parent(os.getppid()))
    """
)
# Paths a snippet tries to create; none may appear on the host.
WRITE_TARGETS = (
    PROJECT / "blog" / "pwned.txt",
    PROJECT / "var" / "pwned.txt",
    PROJECT / "pwned.txt",
    PROJECT.parent / "pwned.txt",
)


def run(code: str, probe: str | None = None) -> RunResult:
    return runner.run(RunRequest(textwrap.dedent(code), dataset=DATASET, probe=probe))


@pytest.fixture(scope="module")
def baseline_digest(own_worker: runner.Worker) -> str:
    return runner.digest_of(DATASET)


def returned_texts(result: RunResult) -> list[str]:
    texts = [result.stdout, result.probe_output or ""]
    if result.error is not None:
        texts += [result.error.message, result.error.traceback or ""]
    return texts


def assert_nothing_leaked(result: RunResult, secrets: dict[str, str]) -> None:
    for text in returned_texts(result):
        for what, secret in secrets.items():
            assert secret not in text, f"{what} leaked"


def assert_no_file_written_on_the_host() -> None:
    assert [path for path in WRITE_TARGETS if path.exists()] == []


def assert_sandbox_intact(baseline: str, worker_process: subprocess.Popen[bytes]) -> None:
    """The dataset is as built, and the same worker still answers an ordinary run."""
    assert runner.digest_of(DATASET) == baseline
    after = run("print(Article.objects.count(), Comment.objects.count())")
    assert after.error is None
    assert after.stdout == f"{ARTICLES} {COMMENTS}\n"
    assert runner.worker().process is worker_process
    assert worker_process.poll() is None


@dataclass(frozen=True)
class Error:
    kind: str
    message: str


@dataclass(frozen=True)
class OneOf:
    """Outcomes that depend on the machine's load, e.g. a CPU limit or the wall clock first."""

    options: tuple[Error, ...]


@dataclass(frozen=True)
class Completes:
    prints: str


def case(id: str, code: str, outcome: Error | OneOf | Completes, *, slow: bool = False) -> object:
    marks = [pytest.mark.slow] if slow else []
    return pytest.param(textwrap.dedent(code), outcome, id=id, marks=marks)


def forbidden_import(module: str) -> Error:
    return Error("forbidden", f"importing {module!r} is not allowed here")


def underscore(attribute: str) -> Error:
    return Error("forbidden", f"attributes starting with an underscore (.{attribute}) are off limits")


PERMISSION = Error(
    "exception",
    "PermissionError: [Errno 1] Operation not permitted (the sandbox does not allow this operation)",
)
CPU_TIMEOUT = Error("timeout", "Your code used more than 5 s of CPU time and was stopped.")
WALL_TIMEOUT = Error("timeout", "Your code ran for more than 8 s and was stopped.")
OUT_OF_MEMORY = Error("memory", "Your code ran out of memory (the limit is 512 MB).")
# A busy child on a loaded machine may reach the 8 s wall clock before 5 s of CPU.
CPU_OR_WALL_TIMEOUT = OneOf((CPU_TIMEOUT, WALL_TIMEOUT))
# A statement the database could not finish within the limit on any hardware.
STATEMENT_TIMEOUT = Error(
    "timeout", "A statement ran longer than the sandbox's statement timeout (5 s) and was cancelled."
)
PROC_1_CLOSED = Error("exception", "PermissionError: [Errno 13] Permission denied: '/proc/1/environ'")
OUTPUT_LIMIT = Error("output_limit", "Your code printed more than 64 KiB; the run was stopped there.")
NOT_FOUND = Error("exception", "FileNotFoundError: [Errno 2] No such file or directory")


SECRETS_AND_FILES = [
    case(
        "settings-secret-key-via-django-conf",
        "from django.conf import settings\nprint(settings.SECRET_KEY)",
        forbidden_import("django.conf"),
    ),
    case("settings-via-article-meta", "print(Article._meta.apps)", underscore("_meta")),
    case("os-environ", "import os\nprint(os.environ)", forbidden_import("os")),
    case(
        "open-proc-self-environ",
        'print(open("/proc/self/environ").read())',
        Error("forbidden", "open() is not available in the sandbox"),
    ),
    case(
        "proc-1-environ-via-builtins-dict",
        'print(__builtins__["open"]("/proc/1/environ").read())',
        Error("forbidden", "names starting with an underscore (__builtins__) are off limits"),
    ),
    case(
        "proc-1-environ-via-print-self",
        'print(print.__self__.open("/proc/1/environ").read())',
        underscore("__self__"),
    ),
    case(
        "proc-1-environ-via-type-of-print-descriptor",
        'real = type(print).__dict__["__self__"].__get__(print)\nprint(real.open("/proc/1/environ").read())',
        underscore("__get__"),
    ),
    case(
        "proc-1-environ-via-print-self-attrgetter",
        'import operator\nopener = operator.attrgetter("__self__.open")(print)\nprint(opener("/proc/1/environ").read())',
        PROC_1_CLOSED,
    ),
    case(
        "proc-1-environ-via-json-codecs-open",
        'import json\nprint(json.codecs.open("/proc/1/environ").read())',
        PROC_1_CLOSED,
    ),
    case(
        "os-environ-via-statistics-sys",
        REAL + "print(dict(os.environ))",
        Completes("{}\n"),
    ),
    case(
        "connection-settings-dict",
        'print(connection.settings_dict["NAME"], repr(connection.settings_dict["PASSWORD"]))',
        Completes("supervisor ''\n"),
    ),
    case(
        "settings-secret-key-via-function-globals",
        'import operator\nconf = operator.attrgetter("__globals__")(Article.save)["settings"]\n'
        "print(conf.SETTINGS_MODULE, len(conf.SECRET_KEY))",
        Completes("sandbox.worker.settings 43\n"),
    ),
    case(
        "settings-secret-key-via-runtime-format-string",
        'template = "{0." + "__globals__[settings].SECRET_KEY}"\nprint(len(template.format(Article.save)))',
        Completes("43\n"),
    ),
    case(
        "open-project-settings",
        f'print(open("{PROJECT}/config/settings.py").read())',
        Error("forbidden", "open() is not available in the sandbox"),
    ),
    *(
        case(
            f"read-{relative.replace('/', '-')}-via-json-codecs",
            f'import json\nprint(json.codecs.open("{PROJECT / relative}").read())',
            NOT_FOUND,
        )
        for relative in ("config/settings.py", "var/querylab.sqlite3", "var/secret_key")
    ),
    case(
        "read-app-database-via-attach",
        f"connection.cursor().execute(\"ATTACH DATABASE '{settings.DATABASES['default']['NAME']}' AS app\")",
        Error("forbidden", "ATTACH DATABASE is not allowed in the sandbox."),
    ),
    case(
        "write-file-with-open",
        'open("pwned.txt", "w").write("x")',
        Error("forbidden", "open() is not available in the sandbox"),
    ),
    case(
        "write-file-in-blog-via-json-codecs",
        f'import json\njson.codecs.open("{PROJECT}/blog/pwned.txt", "w").write("x")',
        Error("exception", "OSError: [Errno 30] Read-only file system"),
    ),
    case(
        "write-file-in-var-via-real-open",
        REAL + f'real_builtins.open("{PROJECT}/var/pwned.txt", "w").write("x")',
        NOT_FOUND,
    ),
    case(
        "write-bytes-into-dev-shm",
        REAL + 'real_builtins.open("/dev/shm/pwned.txt", "wb", buffering=0).write(b"x" * 10)',
        Error("exception", "OSError: [Errno 30] Read-only file system"),
    ),
]

NETWORK_AND_PROCESSES = [
    case("import-socket", "import socket", forbidden_import("socket")),
    case(
        "socket-to-the-app-port-via-sys-modules",
        REAL + f'sys.modules["socket"].create_connection(("127.0.0.1", {APP_PORT}), timeout=1)',
        PERMISSION,
    ),
    case(
        "dns-lookup-via-sys-modules",
        REAL + 'print(sys.modules["socket"].getaddrinfo("example.com", 80))',
        Error("exception", "gaierror: [Errno -3]"),
    ),
    case(
        "http-to-the-app-port-via-real-import",
        REAL + f'real_import("urllib.request").request.urlopen("http://127.0.0.1:{APP_PORT}/", timeout=2)',
        Error("exception", "URLError: <urlopen error [Errno 1] Operation not permitted>"),
    ),
    case("import-subprocess", 'import subprocess\nsubprocess.run(["id"])', forbidden_import("subprocess")),
    case("os-system", 'import os\nos.system("id")', forbidden_import("os")),
    case(
        "subprocess-via-real-import",
        REAL + 'print(real_import("subprocess").run(["id"], capture_output=True))',
        PERMISSION,
    ),
    case(
        "os-system-via-statistics-sys",
        REAL + f'print(os.system("touch {PROJECT.parent}/pwned.txt"))',
        Completes("32512\n"),
    ),
    case("fork-bomb-via-statistics-sys", REAL + "while True:\n    os.fork()", PERMISSION),
    case("import-threading", "import threading", forbidden_import("threading")),
    case(
        "threading-via-dunder-import",
        '__import__("threading")',
        Error("forbidden", "names starting with an underscore (__import__) are off limits"),
    ),
    case(
        "import-importlib",
        'import importlib\nimportlib.import_module("threading")',
        forbidden_import("importlib"),
    ),
    case(
        "thread-via-loaded-importlib",
        REAL + 'threading = sys.modules["importlib"].import_module("threading")\n'
        'threading.Thread(target=print, args=("from a thread",)).start()',
        Error("exception", "RuntimeError: can't start new thread"),
    ),
    case("import-ctypes", "import ctypes\nctypes.string_at(0)", forbidden_import("ctypes")),
    case(
        "ctypes-segfault-via-real-import",
        REAL + 'real_import("ctypes").string_at(0)',
        Error("exception", "Your code crashed the Python process (SIGSEGV)."),
    ),
    case("os-exit", "import os\nos._exit(0)", forbidden_import("os")),
    case(
        "os-exit-via-attrgetter",
        REAL + 'operator.attrgetter("_exit")(os)(3)',
        Error("exception", "Your code ended the process before it finished (exit status 3)"),
    ),
    case(
        "raise-system-exit",
        "raise SystemExit(0)",
        Error("exception", "SystemExit: code cannot end the sandbox process"),
    ),
    case(
        "ignore-sigterm",
        "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)",
        forbidden_import("signal"),
    ),
    case(
        "ignore-sigterm-via-sys-modules",
        REAL
        + 'signal = sys.modules["signal"]\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint("ignoring")',
        Completes("ignoring\n"),
    ),
    case("kill-the-parent", "import os\nos.kill(os.getppid(), 9)", forbidden_import("os")),
    case("kill-the-parent-via-statistics-sys", REAL + "os.kill(os.getppid(), 9)", PERMISSION),
    case(
        "close-stdout-via-statistics-sys",
        REAL + 'sys.stdout.close()\nprint("after close")',
        Error("exception", "ValueError: I/O operation on closed file."),
    ),
]

RESOURCES = [
    case("busy-loop", "while True:\n    pass", CPU_OR_WALL_TIMEOUT, slow=True),
    case("sleep-a-minute", "import time\ntime.sleep(60)", WALL_TIMEOUT, slow=True),
    case(
        "busy-loop-ignoring-sigxcpu",
        REAL
        + 'signal = sys.modules["signal"]\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass',
        OneOf((Error("exception", "The process running your code was killed (SIGKILL)."), WALL_TIMEOUT)),
        slow=True,
    ),
    case("allocate-ten-gigabytes", "block = bytearray(10**10)", OUT_OF_MEMORY),
    case("grow-a-list-forever", "chunks = []\nwhile True:\n    chunks.append(' ' * 10**7)", OUT_OF_MEMORY),
    case("print-ten-million-lines", "for i in range(10**7):\n    print(i)", OUTPUT_LIMIT),
    case("print-a-hundred-megabyte-string", 'print("x" * 10**8)', OUTPUT_LIMIT),
    case("print-a-gigabyte-string", 'print("x" * 10**9)', OUT_OF_MEMORY),
    case("ten-to-the-ten-million", "print(str(10**10**7))", CPU_OR_WALL_TIMEOUT, slow=True),
    case(
        "int-to-str-digit-limit",
        "print(str(10**5000))",
        Error("exception", "ValueError: Exceeds the limit (4300 digits) for integer string conversion"),
    ),
    case(
        "deep-recursion",
        "def down(n):\n    return down(n + 1)\ndown(0)",
        Error("exception", "RecursionError: maximum recursion depth exceeded"),
    ),
    case(
        "runaway-recursive-cte",
        'connection.cursor().execute("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) '
        'SELECT count(*) FROM r").fetchall()',
        STATEMENT_TIMEOUT,
        slow=True,
    ),
    case(
        "cartesian-join-of-three-comment-tables",
        'print(connection.cursor().execute("SELECT count(*) FROM blog_comment a, blog_comment b, '
        'blog_comment c").fetchone()[0])',
        Completes(f"{COMMENTS**3}\n"),
    ),
    case(
        # 60**12 (2 * 10**21) rows: no database finishes that within any limit, however fast the machine.
        "cartesian-join-of-twelve-comment-tables",
        'print(connection.cursor().execute("SELECT count(*) FROM '
        + ", ".join(f"blog_comment t{i}" for i in range(12))
        + '").fetchone()[0])',
        STATEMENT_TIMEOUT,
        slow=True,
    ),
    case(
        "runaway-statement-caught-and-tried-again",
        'for _ in range(3):\n    try:\n        connection.cursor().execute("WITH RECURSIVE r(n) AS '
        '(SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r").fetchall()\n'
        "    except Exception:\n        pass",
        WALL_TIMEOUT,
        slow=True,
    ),
]

DATABASE = [
    case(
        "delete-every-article",
        "print(Article.objects.all().delete())",
        Completes(
            f"({ARTICLE_TAGS + COMMENTS + ARTICLES}, {{'blog.Article_tags': {ARTICLE_TAGS}, "
            f"'blog.Comment': {COMMENTS}, 'blog.Article': {ARTICLES}}})\n"
        ),
    ),
    case("update-every-article", "print(Article.objects.update(views=0))", Completes(f"{ARTICLES}\n")),
    case(
        "drop-table-via-cursor",
        'connection.cursor().execute("DROP TABLE blog_comment")',
        Error("forbidden", "DROP TABLE is not allowed in the sandbox."),
    ),
    case(
        "drop-table-via-raw",
        'list(Article.objects.raw("DROP TABLE blog_article"))',
        Error("forbidden", "DROP TABLE is not allowed in the sandbox."),
    ),
    case(
        "two-statements-in-one-execute",
        'connection.cursor().execute("SELECT 1; DELETE FROM blog_article")',
        Error("exception", "ProgrammingError: You can only execute one statement at a time."),
    ),
    case(
        "attach-a-memory-database",
        "connection.cursor().execute(\"ATTACH DATABASE ':memory:' AS other\")",
        Error("forbidden", "ATTACH DATABASE is not allowed in the sandbox."),
    ),
    case(
        "pragma-query-only-off",
        'connection.cursor().execute("PRAGMA query_only=OFF")',
        Error("forbidden", "PRAGMA is not allowed in the sandbox."),
    ),
    case(
        "pragma-writable-schema-on",
        'connection.cursor().execute("PRAGMA writable_schema=ON")',
        Error("forbidden", "PRAGMA is not allowed in the sandbox."),
    ),
    case(
        "begin-delete-commit-via-cursor",
        """\
        cursor = connection.cursor()
        cursor.execute("BEGIN")
        cursor.execute("DELETE FROM blog_comment")
        cursor.execute("COMMIT")
        print(Comment.objects.count())
        """,
        Completes("0\n"),
    ),
    case(
        "commit-outside-a-transaction-via-cursor",
        'Comment.objects.all().delete()\nconnection.cursor().execute("COMMIT")',
        Error("exception", "OperationalError: cannot commit - no transaction is active"),
    ),
    case(
        "transaction-commit-after-delete",
        """\
        transaction.set_autocommit(False)
        Comment.objects.all().delete()
        transaction.commit()
        print(Comment.objects.count())
        """,
        Completes("0\n"),
    ),
    case(
        "drop-table-after-removing-the-authorizer",
        """\
        connection.ensure_connection()
        connection.connection.set_authorizer(None)
        connection.cursor().execute("DROP TABLE blog_comment")
        connection.cursor().execute("PRAGMA writable_schema=ON")
        print("dropped")
        """,
        Error("exception", "AttributeError: 'RemoteConnection' object has no attribute 'set_authorizer'"),
    ),
    case(
        "vacuum-into-a-file",
        "connection.cursor().execute(\"VACUUM INTO '/dev/shm/copy.sqlite3'\")",
        Error("exception", "OperationalError: cannot VACUUM from within a transaction"),
    ),
]

INTROSPECTION = [
    case("subclasses-walk", "print(().__class__.__base__.__subclasses__())", underscore("__subclasses__")),
    case(
        "generator-gi-frame",
        "gen = (x for x in [1])\nprint(gen.gi_frame)",
        Error("forbidden", "the attribute .gi_frame is off limits"),
    ),
    case(
        "traceback-frame-f-back",
        "try:\n    1 / 0\nexcept ZeroDivisionError as exc:\n    print(exc.__traceback__.tb_frame.f_back)",
        Error("forbidden", "the attribute .f_back is off limits"),
    ),
    case("sys-getframe", "import sys\nprint(sys._getframe(1))", forbidden_import("sys")),
    case(
        "format-string-attribute-walk",
        'print("{0.__class__}".format(1))',
        Error("forbidden", "format strings may not reach into attributes starting with _"),
    ),
    case(
        "string-formatter", "import string\nstring.Formatter().format('{0}', 1)", forbidden_import("string")
    ),
    case(
        "format-map",
        'print("{x}".format_map({"x": 1}))',
        Error("forbidden", "the attribute .format_map is off limits"),
    ),
    case(
        "format-map-via-methodcaller",
        'import operator\nwalk = "{x." + "__class__}"\nprint(operator.methodcaller("format_map", {"x": 1})(walk))',
        Completes("<class 'int'>\n"),
    ),
    case(
        "subclasses-via-functools-reduce",
        """\
        import functools, operator
        get = lambda obj, name: operator.attrgetter(name)(obj)
        base = functools.reduce(get, ["__class__", "__base__"], ())
        classes = operator.methodcaller("__subclasses__")(base)
        wrap = [c for c in classes if get(c, "__name__") == "_wrap_close"][0]
        module = get(wrap, "__init__.__globals__")
        print(module["system"]("id"), dict(module["environ"]))
        """,
        Completes("32512 {}\n"),
    ),
    case(
        "subclasses-via-itertools",
        'import itertools, operator\nnames = map(operator.attrgetter("__name__"), '
        'operator.methodcaller("__subclasses__")(object))\nprint(list(itertools.islice(names, 2)))',
        Completes("['type', 'async_generator']\n"),
    ),
    case(
        "sys-via-re-enum",
        'import re\nprint(re.enum.sys.modules["os"].getcwd())',
        Completes("/\n"),
    ),
    case(
        "generator-frame-walk-via-attrgetter",
        """\
        import operator
        def walk():
            frame = operator.attrgetter("gi_frame")(gen)
            names = []
            while frame is not None:
                names.append(operator.attrgetter("f_code.co_name")(frame))
                frame = operator.attrgetter("f_back")(frame)
            yield names
        gen = walk()
        print(next(gen)[:6])
        """,
        Completes(
            "['walk', '<module>', 'run', 'main', '_fork', '_serve']\n"
        ),  # back to the zygote, never a supervisor
    ),
    case(
        "exception-traceback-frame-locals",
        """\
        import operator
        try:
            1 / 0
        except ZeroDivisionError as exc:
            frame = operator.attrgetter("__traceback__.tb_frame.f_back")(exc)
            print(sorted(operator.attrgetter("f_locals")(frame)["job"]))
        """,
        # What the child was given: the code and its limits; never the grader's probe.
        Completes("['code', 'cpu_seconds', 'database', 'max_models', 'memory_mb', 'models', 'seed']\n"),
    ),
    case(
        "coroutine-cr-frame-globals-via-attrgetter",
        """\
        import operator
        async def inner():
            return 1
        coroutine = inner()
        scope = operator.attrgetter("cr_frame.f_globals")(coroutine)
        coroutine.close()
        print(scope["__name__"], "open" in scope["__builtins__"])
        """,
        Completes("__main__ False\n"),
    ),
    case(
        "exception-attributes-reach-real-builtins",
        """\
        import operator
        try:
            Article.objects.get(pk=-1)
        except ObjectDoesNotExist as exc:
            frame = operator.attrgetter("__traceback__.tb_next.tb_frame")(exc)
        scope = operator.attrgetter("f_globals")(frame)
        environ = scope["__builtins__"]["open"]("/proc/2/environ").read()
        print(scope["__name__"], "DJANGO_SETTINGS_MODULE=sandbox.worker.settings" in environ)
        """,
        # The worker is not dumpable: its /proc files are closed to every run.
        Error("exception", "PermissionError: [Errno 13] Permission denied: '/proc/2/environ'"),
    ),
]

MONKEYPATCHING = [
    case(
        "replace-the-article-manager-and-print",
        "Article.objects = None\nsaved = print\nprint = None\nsaved('patched')",
        Completes("patched\n"),
    ),
    case(
        "patch-queryset-count-on-the-class",
        "models.QuerySet.count = lambda self: -1\nprint(Article.objects.count())",
        Completes("-1\n"),
    ),
    case(
        "patch-the-real-builtins-module",
        REAL + "real_builtins.len = None",
        Error("exception", "Your code ended the process before it finished (exit status 0)"),
    ),
]


@pytest.mark.parametrize(
    ("code", "outcome"),
    SECRETS_AND_FILES + NETWORK_AND_PROCESSES + RESOURCES + DATABASE + INTROSPECTION + MONKEYPATCHING,
)
def test_hostile_code_ends_as_expected_and_harms_nothing(
    code: str,
    outcome: Error | OneOf | Completes,
    secrets: dict[str, str],
    baseline_digest: str,
    worker_process: subprocess.Popen[bytes],
) -> None:
    result = run(code)
    if isinstance(outcome, Completes):
        assert result.error is None, result.error
        assert outcome.prints in result.stdout
    else:
        options = outcome.options if isinstance(outcome, OneOf) else (outcome,)
        assert result.error is not None, result.stdout
        assert any(
            result.error.kind == option.kind and option.message in result.error.message for option in options
        ), result.error
    assert_nothing_leaked(result, secrets)
    assert_no_file_written_on_the_host()
    assert_sandbox_intact(baseline_digest, worker_process)


def test_the_worker_runs_inside_bubblewrap() -> None:
    assert confine.level() == "bubblewrap"


def test_the_secrets_guarded_here_are_real_values(secrets: dict[str, str]) -> None:
    assert len(secrets["settings.SECRET_KEY"]) >= 32
    assert all(len(value) >= 8 for value in secrets.values())


def test_a_result_forged_on_stdout_is_reported_only_as_output(
    secrets: dict[str, str], baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    forged = json.dumps(
        {"stdout": "", "error": None, "queries": [], "query_count": 0, "probe_output": "forged"}
    )
    result = run(
        f"import json\nprint(Article.objects.count())\nprint({forged!r})",
        probe="print('probe ran')",
    )
    assert result.error is None
    assert result.stdout == f"{ARTICLES}\n{forged}\n"
    assert result.query_count == 1
    assert "COUNT" in result.queries[0].sql
    assert result.probe_output == "probe ran\n"
    assert_nothing_leaked(result, secrets)
    assert_sandbox_intact(baseline_digest, worker_process)


def test_a_listener_on_loopback_gets_no_connection_from_the_sandbox(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        tcp = run(REAL + f'sys.modules["socket"].create_connection(("127.0.0.1", {port}), timeout=2)')
        http = run(REAL + f'real_import("urllib.request").request.urlopen("http://127.0.0.1:{port}/")')
        readable, _, _ = select.select([server], [], [], 0.5)
    assert tcp.error is not None and tcp.error.kind == "exception"
    assert tcp.error.message.startswith("PermissionError: [Errno 1] Operation not permitted")
    assert http.error is not None
    assert http.error.message == "URLError: <urlopen error [Errno 1] Operation not permitted>"
    assert readable == []
    assert_sandbox_intact(baseline_digest, worker_process)


def test_the_worker_cannot_see_the_projects_var_or_config_directories(
    secrets: dict[str, str], baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    hidden = [
        PROJECT / "var",
        PROJECT / "config",
        Path(settings.VAR_DIR),
        Path(settings.DATABASES["default"]["NAME"]),
    ]
    listing = run(
        REAL
        + "import json\n"
        + f'print(json.dumps(os.listdir("{PROJECT}")))\n'
        + f"print(json.dumps([os.path.exists(path) for path in {[str(path) for path in hidden]!r}]))"
    )
    settings_dict = run("print(connection.settings_dict)")
    assert listing.error is None
    visible, exists = map(json.loads, listing.stdout.splitlines())
    assert {"blog", "sandbox"} <= set(visible) <= {".venv", "blog", "sandbox"}
    assert exists == [False] * len(hidden)
    assert "'NAME': 'supervisor'" in settings_dict.stdout
    assert str(settings.DATABASES["default"]["NAME"]) not in settings_dict.stdout
    assert str(settings.VAR_DIR) not in settings_dict.stdout
    assert_nothing_leaked(listing, secrets)
    assert_nothing_leaked(settings_dict, secrets)
    assert_sandbox_intact(baseline_digest, worker_process)


def test_a_monkeypatched_manager_does_not_reach_the_next_run(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    patched = run(
        "Article.objects = None\nmodels.QuerySet.count = lambda self: -1\nprint(Comment.objects.count())"
    )
    assert patched.stdout == "-1\n"
    assert_sandbox_intact(baseline_digest, worker_process)


# Holes found by this suite: each test asserts the safe behaviour.


@pytest.mark.usefixtures("fresh_worker_afterwards")
def test_a_run_cannot_rewrite_the_workers_dataset_through_proc_mem(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    result = run(
        FIND_WORKER
        + textwrap.dedent(
            """\
            needle = Article.objects.order_by("id").values_list("title", flat=True).first().encode()
            with real_builtins.open(f"/proc/{worker}/maps") as maps:
                regions = [line.split() for line in maps]
            patched = 0
            with real_builtins.open(f"/proc/{worker}/mem", "r+b", buffering=0) as mem:
                for fields in regions:
                    if fields[1] != "rw-p" or len(fields) > 5 and fields[5].startswith("/"):
                        continue
                    start, end = (int(bound, 16) for bound in fields[0].split("-"))
                    mem.seek(start)
                    try:
                        data = mem.read(end - start)
                    except OSError:
                        continue
                    at = data.find(needle)
                    while at >= 0:
                        mem.seek(start + at)
                        mem.write(needle.swapcase())
                        patched += 1
                        at = data.find(needle, at + 1)
            print("patched", patched)
            """
        )
    )
    assert_sandbox_intact(baseline_digest, worker_process)
    assert "patched" not in result.stdout


@pytest.mark.usefixtures("fresh_worker_afterwards")
def test_a_run_cannot_read_another_runs_code_from_the_workers_memory() -> None:
    marker = f"QLMARK-{uuid.uuid4().hex}"
    first = run(f"print({marker!r})")
    assert first.stdout == f"{marker}\n"
    head, tail = marker[:8], marker[8:]
    spy = run(
        FIND_WORKER
        + textwrap.dedent(
            f"""\
            needle = ({head!r} + {tail!r}).encode()
            with real_builtins.open(f"/proc/{{worker}}/maps") as maps:
                regions = [line.split() for line in maps if line.split()[1] == "rw-p"]
            found = 0
            with real_builtins.open(f"/proc/{{worker}}/mem", "rb", buffering=0) as mem:
                for fields in regions:
                    start, end = (int(bound, 16) for bound in fields[0].split("-"))
                    mem.seek(start)
                    try:
                        found += mem.read(end - start).count(needle)
                    except OSError:
                        continue
            print("found", found)
            """
        )
    )
    assert "found 0" in spy.stdout or (spy.error is not None and spy.error.kind in {"exception", "forbidden"})


def test_a_run_inherits_no_earlier_runs_code_from_the_spare_it_runs_in(own_worker: runner.Worker) -> None:
    marker = f"QLMARK-{uuid.uuid4().hex}"
    first = run(f"print({marker!r})")
    assert first.stdout == f"{marker}\n"
    # Spares are used oldest first: after one more run, the next one runs in a spare
    # forked after the marker's run was handed over.
    wait_for_spares(own_worker, 2)
    assert run("print('filler')").stdout == "filler\n"
    wait_for_spares(own_worker, 2)
    fingerprint = hashlib.sha256(marker.encode()).hexdigest()
    spy = run(
        REAL
        + textwrap.dedent(
            f"""\
            import re
            hashlib = real_import("hashlib")
            pattern = re.compile(rb"QLMARK-[0-9a-f]{{32}}")
            seen = set()
            with real_builtins.open("/proc/self/maps") as maps:
                regions = [line.split() for line in maps if line.split()[1].startswith("r")]
            with real_builtins.open("/proc/self/mem", "rb", buffering=0) as mem:
                for fields in regions:
                    start, end = (int(bound, 16) for bound in fields[0].split("-"))
                    mem.seek(start)
                    try:
                        seen.update(pattern.findall(mem.read(end - start)))
                    except OSError:
                        continue
            print(len(seen), {fingerprint!r} in {{hashlib.sha256(m).hexdigest() for m in seen}})
            """
        )
    )
    assert spy.error is None, spy.error
    assert spy.stdout.endswith(" False\n"), spy.stdout


@pytest.mark.usefixtures("fresh_worker_afterwards")
def test_a_run_cannot_kill_the_worker_with_tgkill(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    result = run(
        FIND_WORKER
        + textwrap.dedent(
            """\
            libc = real_import("ctypes").CDLL(None)
            print(libc.syscall(234, worker, worker, 9))
            """
        )
    )
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker_process.wait(timeout=2)
    assert worker_process.poll() is None
    assert result.error is None and result.stdout == "-1\n"
    assert_sandbox_intact(baseline_digest, worker_process)


@pytest.mark.usefixtures("fresh_worker_afterwards")
def test_a_run_cannot_outlive_its_wall_clock_limit_by_killing_its_supervisor() -> None:
    escape = run(
        REAL
        + textwrap.dedent(
            """\
            import time
            libc = real_import("ctypes").CDLL(None)
            if libc.syscall(234, os.getppid(), os.getppid(), 9) == 0:
                time.sleep(120)
            print("stayed")
            """
        )
    )
    census = run(
        FIND_WORKER
        + textwrap.dedent(
            """\
            def parent_or_none(pid):
                try:
                    return parent(pid)
                except OSError:
                    return None  # it exited while we looked
            import time
            def strays():
                pids = [int(pid) for pid in os.listdir("/proc") if pid.isdigit()]
                # The worker's supervisors, their zygotes and the zygotes' children belong; nothing else may.
                supervisors = {pid for pid in pids if parent_or_none(pid) == worker}
                zygotes = {pid for pid in pids if parent_or_none(pid) in supervisors}
                known = {1, worker, os.getpid()} | supervisors | zygotes
                return sorted(pid for pid in pids if pid not in known and parent_or_none(pid) not in zygotes)
            # A finished run's child can be on its way out for a moment before it is reaped;
            # one that sleeps on is still here after two seconds.
            deadline = time.monotonic() + 2
            while (left := strays()) and time.monotonic() < deadline:
                time.sleep(0.05)
            print(left)
            """
        )
    )
    assert census.stdout == "[]\n"
    assert escape.stdout == "stayed\n"


@pytest.mark.usefixtures("fresh_worker_afterwards")
def test_a_file_created_by_one_run_is_not_visible_to_the_next() -> None:
    marker = f"ql-{uuid.uuid4().hex}"
    places = ["/dev/shm", "/", str(PROJECT.parent)]
    # Every place is tried, whether or not the one before it could be written.
    writer = run(
        REAL
        + f"for place in {places!r}:\n"
        + "    try:\n"
        + f'        real_builtins.open(place + "/{marker}", "w").close()\n'
        + "    except OSError:\n"
        + "        pass\n"
        + 'print("tried")'
    )
    reader = run(REAL + f"print([{marker!r} in os.listdir(place) for place in {places!r}])")
    assert not (PROJECT.parent / marker).exists()
    assert writer.error is not None or reader.stdout == "[False, False, False]\n"
    assert reader.error is None and reader.stdout == "[False, False, False]\n", (writer, reader.error)


# --- the figures: counted by the supervisor, out of the code's reach ---------------------------

# A request frame of the channel's own protocol (sandbox/worker/wire.py), built by learner code.
FRAME = REAL + textwrap.dedent(
    """\
    import json
    struct = real_import("struct")
    def frame(op, params=None, sql=""):
        body = json.dumps(params).encode() if params is not None else b""
        head = struct.pack(">BBiqqIII", op, 0, -1, 0, 0, len(sql.encode()), len(body), 0)
        whole = head + sql.encode() + body
        return struct.pack(">I", len(whole)) + whole
    """
)
N_PLUS_ONE = 'for a in Article.objects.order_by("id")[:10]:\n    a.author.username\n'


def test_a_result_forged_on_the_result_pipe_is_not_trusted(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    forged: dict[str, object] = {
        "error": None, "queries": [], "query_count": 0, "db_ms": 0.0, "wall_ms": 1.0,
        "simulated_ms": 0.0, "probe_output": "forged",
    }  # fmt: skip
    result = run(
        REAL
        + "import json\n"
        + "print(Article.objects.count())\n"
        + f"os.write(3, json.dumps({forged!r}).encode())\n"
        + 'operator.attrgetter("_exit")(os)(0)',
        probe="print(Article.objects.count())",
    )
    assert_sandbox_intact(baseline_digest, worker_process)
    assert result.probe_output != "forged"
    assert result.query_count == 1
    assert result.error is not None and result.error.message == "OSError: [Errno 9] Bad file descriptor"


def test_a_last_word_forged_on_the_channel_ends_the_run_with_the_statements_it_really_sent(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    result = run(
        FRAME
        + N_PLUS_ONE
        + "os.write(0, frame(8, None))\n"  # DONE, no error: "I have finished"
        + "print(Comment.objects.count())\n"
    )
    assert result.query_count == 11  # the list and ten authors; nothing after the forged end
    assert result.error is not None and result.error.kind == "forbidden"
    assert "channel" in result.error.message
    assert [f.relation for f in result.findings] == ["article.author"]
    assert_sandbox_intact(baseline_digest, worker_process)


def test_garbage_written_on_every_inherited_descriptor_stops_the_run_and_counts_what_ran(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    result = run(
        REAL
        + N_PLUS_ONE
        + textwrap.dedent(
            """\
            print(sorted(int(fd) for fd in os.listdir("/proc/self/fd"))[:3])
            for fd in range(256):
                if fd not in (1, 2):
                    try:
                        os.write(fd, b"\\x00\\x00\\x00\\x05{}{}{forged result}" * 3)
                    except OSError:
                        pass
            print(Comment.objects.count())
            """
        )
    )
    assert result.stdout.startswith("[0, 1, 2]\n")
    assert result.query_count == 11
    assert result.error is not None and result.error.kind == "forbidden"
    assert "channel" in result.error.message
    assert_sandbox_intact(baseline_digest, worker_process)


def test_the_child_holds_no_database_connection_and_no_descriptor_but_its_own(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    result = run(
        REAL
        + textwrap.dedent(
            """\
            gc = real_import("gc")
            print(Article.objects.count())
            drivers = [name for name in ("sqlite3", "psycopg") if name in sys.modules]
            kinds = [sys.modules[name].Connection for name in ("sqlite3", "psycopg") if name in sys.modules]
            live = [repr(o) for o in gc.get_objects() if any(isinstance(o, kind) for kind in kinds)]
            print(live)
            print(sorted(int(fd) for fd in os.listdir("/proc/self/fd")))
            import json
            print(json.codecs.open("/proc/self/mountinfo").read().count("tmpfs") >= 2)
            print(os.path.exists("/datasets/tiny-1.sqlite3"), os.path.exists("/run/querylab/tiny-1.sqlite3"))
            """
        )
    )
    lines = result.stdout.splitlines()
    assert result.error is None, result.error
    assert lines[0] == str(ARTICLES)
    assert lines[1] == "[]"
    assert lines[2] == "[0, 1, 2, 3]"  # the channel, the output twice, and the listing itself
    assert lines[4] == "False False"  # the datasets and their staged copies: hidden under empty filesystems
    assert result.query_count == 1
    assert_sandbox_intact(baseline_digest, worker_process)


def test_code_that_unhooks_its_database_through_gc_sends_nothing_and_is_counted_so(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    result = run(
        REAL
        + textwrap.dedent(
            """\
            gc = real_import("gc")
            print(Article.objects.count())
            proxy = sys.modules["sandbox.worker.proxy"]
            channels = [o for o in gc.get_objects() if isinstance(o, proxy.Channel)]
            for channel in channels:
                operator.attrgetter("__dict__")(channel)["call"] = lambda request: (None, 0, None, [(999,)], None)
            print(len(channels), Article.objects.count())
            """
        )
    )
    assert result.error is None, result.error
    assert result.stdout == f"{ARTICLES}\n1 999\n"
    assert result.query_count == 1  # the database answered once; the 999 never came from it
    assert_sandbox_intact(baseline_digest, worker_process)


def test_code_that_replaces_the_cursor_still_reaches_the_database_only_through_its_supervisor(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    result = run(
        textwrap.dedent(
            """\
            connection.ensure_connection()
            raw = connection.connection
            for pk in range(1, 6):
                raw.execute("SELECT title FROM blog_article WHERE id = %s", [pk]).fetchone()
            cursor = connection.cursor()
            cursor.cursor.connection.execute("UPDATE blog_article SET views = 0")
            print(Article.objects.filter(views__gt=0).count())
            """
        )
    )
    assert result.error is None, result.error
    assert result.stdout == "0\n"
    assert result.query_count == 7
    (finding,) = result.findings
    assert (finding.line, finding.count) == (4, 5)
    assert_sandbox_intact(baseline_digest, worker_process)


@pytest.mark.django_db
def test_an_exercise_solution_whose_n_plus_one_goes_through_the_raw_connection_fails_on_its_real_count(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    from exercises import catalog, grading

    exercise = catalog.get("bump-views")
    code = textwrap.dedent(
        """\
        category = Category.objects.order_by("name").first()
        connection.ensure_connection()
        raw = connection.connection
        ids = Article.objects.filter(category=category, status="published").values_list("id", flat=True)
        for pk in ids:
            raw.execute("UPDATE blog_article SET views = views + 1 WHERE id = %s", [pk])
        """
    )
    grade = grading.grade(exercise, code, visible=DATASET)
    checks = {check.name: check for check in grade.checks}
    assert checks["resulting rows"].passed
    assert not checks["query budget"].passed
    assert not checks["no N+1"].passed
    assert not grade.passed
    assert grade.result.query_count > exercise.budget
    assert_sandbox_intact(baseline_digest, worker_process)


def test_the_graders_probe_is_not_readable_by_the_learners_code(
    baseline_digest: str, worker_process: subprocess.Popen[bytes]
) -> None:
    probe = "print('expected answer: ' + str(6 * 7))"
    for _ in range(3):  # a stray copy would be in some runs' memory, not in every one
        result = run(
            REAL
            + textwrap.dedent(
                """\
                import re
                try:
                    1 / 0
                except ZeroDivisionError as exc:
                    frame = operator.attrgetter("__traceback__.tb_frame.f_back")(exc)
                print(sorted(operator.attrgetter("f_locals")(frame)["job"]))
                needle = re.compile(rb"expecte[d] answer")
                found = 0
                with real_builtins.open("/proc/self/maps") as maps:
                    regions = [line.split() for line in maps if line.split()[1].startswith("r")]
                with real_builtins.open("/proc/self/mem", "rb", buffering=0) as mem:
                    for fields in regions:
                        start, end = (int(bound, 16) for bound in fields[0].split("-"))
                        mem.seek(start)
                        try:
                            found += len(needle.findall(mem.read(end - start)))
                        except OSError:
                            continue
                print("found", found)
                """
            ),
            probe=probe,
        )
        assert result.error is None, result.error
        assert (
            result.stdout
            == "['code', 'cpu_seconds', 'database', 'max_models', 'memory_mb', 'models', 'seed']\nfound 0\n"
        )
        assert result.probe_output == "expected answer: 42\n"
    assert_sandbox_intact(baseline_digest, worker_process)
