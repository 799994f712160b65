"""runner.run(): every error kind, the worker's life cycle, and the JSON a run answers with."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sandbox import datasets, runner
from sandbox.contract import LIMITS, DatasetRef, Limits, RunError, RunRequest, RunResult
from sandbox.worker import wire

TINY = DatasetRef("tiny", 1)
SMALL = DatasetRef("small", 1)


def run(code: str, **kwargs: Any) -> RunResult:
    return runner.run(RunRequest(code, dataset=kwargs.pop("dataset", TINY), **kwargs))


def run_when_free(code: str) -> RunResult:
    """``run``, asked again while the worker says busy, as a client would: on a slow or
    loaded machine the first runs of a new worker may wait past the queue's limit."""
    for _ in range(50):
        result = run(code)
        if result.error is None or result.error.kind != "busy":
            return result
    return result


def error_of(result: RunResult) -> RunError:
    assert result.error is not None, result.stdout
    return result.error


def wait_until_refused(path: Path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
            except ConnectionRefusedError:
                return
            except OSError:
                pass
        assert time.monotonic() < deadline, "the killed worker still listens"
        time.sleep(0.01)


# --- error kinds -----------------------------------------------------------------------------


def test_a_syntax_error_names_its_line() -> None:
    result = run("x = 1\nfor article in\n    print(article)\n")
    error = error_of(result)
    assert (error.kind, error.line) == ("syntax", 2)
    assert error.message.startswith("SyntaxError: ")
    assert result.queries == []
    assert result.query_count == 0


def test_an_exception_reports_its_line_and_a_traceback_of_the_students_frames_only() -> None:
    code = """\
def load(pk):
    return Article.objects.get(pk=pk)

print('before')
load(-1)
"""
    result = run(code)
    error = error_of(result)
    assert error.kind == "exception"
    assert error.message == "DoesNotExist: Article matching query does not exist."
    assert error.line == 2
    assert error.traceback == (
        "Traceback (most recent call last):\n"
        "  line 5, in <module>\n"
        "    load(-1)\n"
        "  line 2, in load\n"
        "    return Article.objects.get(pk=pk)\n"
        "DoesNotExist: Article matching query does not exist."
    )
    assert "django/" not in error.traceback
    assert "sandbox/" not in error.traceback
    assert ".py" not in error.traceback
    assert result.stdout == "before\n"
    assert result.query_count == 1  # what ran before the error is still reported


def test_the_wall_clock_limit_stops_a_sleeping_run() -> None:
    started = time.monotonic()
    result = run(
        "import time\nprint('started', flush=True)\ntime.sleep(30)\n", limits=Limits(wall_seconds=1.0)
    )
    error = error_of(result)
    assert error.kind == "timeout"
    assert error.message == "Your code ran for more than 1 s and was stopped."
    assert time.monotonic() - started < 10
    assert result.stdout == "started\n"


def test_the_cpu_limit_stops_a_busy_loop() -> None:
    # A generous wall clock: on a loaded machine CPU time lags it.
    result = run("n = 0\nwhile True:\n    n += 1\n", limits=Limits(cpu_seconds=1, wall_seconds=30.0))
    error = error_of(result)
    assert error.kind == "timeout"
    assert error.message == "Your code used more than 1 s of CPU time and was stopped."


@pytest.mark.slow
def test_the_default_wall_clock_limit_is_eight_seconds() -> None:
    started = time.monotonic()
    error = error_of(run("import time\ntime.sleep(60)\n"))
    elapsed = time.monotonic() - started
    assert (error.kind, error.message) == ("timeout", "Your code ran for more than 8 s and was stopped.")
    assert 7.5 < elapsed < 20


@pytest.mark.slow
def test_the_default_cpu_limit_is_five_seconds() -> None:
    # A long wall clock, so the CPU limit is reached first even under load.
    error = error_of(run("while True:\n    pass\n", limits=Limits(wall_seconds=60.0)))
    assert (error.kind, error.message) == (
        "timeout",
        "Your code used more than 5 s of CPU time and was stopped.",
    )


def test_running_out_of_memory_is_its_own_kind_with_the_line() -> None:
    error = error_of(run("small = [1, 2, 3]\nhuge = bytearray(2 * 512 * 1024 * 1024)\n"))
    assert error.kind == "memory"
    assert error.message == "Your code ran out of memory (the limit is 512 MB)."
    assert error.line == 2


def test_output_over_64_kib_stops_the_run_and_is_cut_at_64_kib() -> None:
    result = run("print('x' * 65536)\nprint('never')\n")
    error = error_of(result)
    assert error.kind == "output_limit"
    assert error.message == "Your code printed more than 64 KiB; the run was stopped there."
    assert result.truncated is True
    assert result.stdout == "x" * 65536


def test_output_of_exactly_64_kib_is_kept_whole() -> None:
    result = run("print('x' * 65535)\n")
    assert result.error is None
    assert result.truncated is False
    assert len(result.stdout) == 65536


def test_an_endless_print_loop_is_cut_at_64_kib() -> None:
    result = run("while True:\n    print('flood' * 100)\n")
    assert error_of(result).kind == "output_limit"
    assert result.truncated is True
    assert len(result.stdout.encode()) == 64 * 1024


def test_importing_a_module_outside_the_allow_list_is_forbidden_on_its_line() -> None:
    result = run("import math\nimport os\nprint(os.getcwd())\n")
    error = error_of(result)
    assert error.kind == "forbidden"
    assert error.line == 2
    assert error.message.startswith("importing 'os' is not allowed here")
    assert result.stdout == ""  # refused before anything ran


@pytest.mark.parametrize(
    ("statement", "what"),
    [
        ("ATTACH DATABASE ':memory:' AS other", "ATTACH DATABASE"),
        ("DROP TABLE blog_comment", "DROP TABLE"),
        ("PRAGMA writable_schema = ON", "PRAGMA"),
    ],
)
def test_sql_that_touches_the_schema_or_other_databases_is_forbidden(statement: str, what: str) -> None:
    result = run(f'print("start")\nwith connection.cursor() as cursor:\n    cursor.execute("{statement}")\n')
    error = error_of(result)
    assert (error.kind, error.line) == ("forbidden", 3)
    assert error.message == f"{what} is not allowed in the sandbox."
    assert result.stdout == "start\n"


def test_code_over_20_kb_is_refused_without_running() -> None:
    result = run("x = 1\n" * 4000)
    error = error_of(result)
    assert (error.kind, error.message) == ("forbidden", "The code is over 20 KB; shorten it.")
    assert result.dataset == {"size": "tiny", "seed": 1, "digest": None}


@pytest.mark.slow
def test_runs_beyond_the_worker_capacity_that_wait_too_long_are_answered_busy() -> None:
    sleeper = "import time\ntime.sleep(3)\nprint('done')\n"
    n = 3 * (os.cpu_count() or 2) + 2
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda _: run(sleeper), range(n)))
    busy = [r for r in results if r.error is not None and r.error.kind == "busy"]
    done = [r for r in results if r.ok]
    assert busy, [r.error for r in results]
    assert done
    assert len(busy) + len(done) == n
    assert {r.error.message for r in busy if r.error} == {
        "The sandbox is busy with other runs; retry in a moment."
    }
    assert all(r.stdout == "done\n" for r in done)
    assert run("print('again')").stdout == "again\n"


@pytest.mark.slow
def test_a_worker_killed_mid_run_fails_that_run_as_internal_and_the_next_run_restarts_it() -> None:
    assert run("print('warm')").stdout == "warm\n"
    worker = runner.worker()
    process = worker.process
    assert process is not None and process.poll() is None
    assert worker.pid() == process.pid

    results: list[RunResult] = []
    in_flight = threading.Thread(target=lambda: results.append(run("import time\ntime.sleep(20)\n")))
    in_flight.start()
    deadline = time.monotonic() + 10
    while worker.request({"op": "ping"}, timeout=2)["children"] == 0:
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.05)

    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    in_flight.join(timeout=30)
    assert not in_flight.is_alive()

    (killed,) = results
    error = error_of(killed)
    assert error.kind == "internal"
    assert error.message == (
        "The sandbox stopped unexpectedly (the sandbox closed the connection without an answer). Run it again."
    )

    wait_until_refused(worker.socket_path)
    after = run("print(Article.objects.count())")
    assert after.error is None
    assert after.stdout == "20\n"
    assert worker.process is not None and worker.process is not process
    assert worker.process.poll() is None
    assert worker.pid() == worker.process.pid != process.pid


# --- the worker's life -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_worker_started_by_a_short_lived_thread_outlives_that_thread() -> None:
    """The dev server serves each request in a thread that ends with it: the worker must not."""
    worker = runner.worker()
    worker.stop()
    assert worker.pid() is None
    started: list[RunResult] = []
    request_thread = threading.Thread(target=lambda: started.append(run("print('first')")))
    request_thread.start()
    request_thread.join()
    assert started[0].stdout == "first\n"
    pid = worker.pid()
    assert pid is not None
    time.sleep(1)  # a parent-death signal would have killed it by now
    results = [run(f"print({i})") for i in range(10)]
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(10)]
    assert worker.pid() == pid
    assert Path(f"/proc/{pid}").exists()


@pytest.mark.slow
def test_a_worker_still_on_its_way_out_is_waited_for_then_replaced() -> None:
    """After a worker stops, one of its processes may hold the alive lock a moment longer: a
    thread that asks for a worker meanwhile waits for it to let go and starts a new one."""
    worker = runner.worker()
    worker.stop()
    straggler = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(worker.alive_path)], stdout=subprocess.PIPE
    )
    try:
        assert straggler.stdout is not None and straggler.stdout.readline() == b"holding\n"
        assert worker.alive()
        worker.start()
        result = run("print('after')")
    finally:
        straggler.wait()
        assert straggler.stdout is not None
        straggler.stdout.close()
    assert result.error is None, result.error
    assert result.stdout == "after\n"


HOLD_THE_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("holding", flush=True)
time.sleep(1)
"""


@pytest.mark.slow
def test_threads_that_need_the_worker_at_once_start_one_worker_between_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = runner.worker()
    worker.stop()
    started: list[list[str]] = []
    popen = subprocess.Popen

    def counted(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        if "sandbox.worker" in command:  # not bubblewrap's capability probe, run once per process
            started.append(command)
        return popen(command, **kwargs)

    monkeypatch.setattr(runner.subprocess, "Popen", counted)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: run_when_free(f"print({i})"), range(8)))
    assert sorted(r.stdout for r in results) == sorted(f"{i}\n" for i in range(8)), [r.error for r in results]
    assert len(started) == 1
    assert worker.pid() == worker.process.pid if worker.process else False
    mains = [
        pid
        for pid in _processes()
        if _argv(pid)[1:3] == [b"-m", b"sandbox.worker"]
        and _argv(_parent(pid))[1:3] != [b"-m", b"sandbox.worker"]  # not one of its supervisors
        and _descends_from(pid, worker.pid() or 0)
    ]
    assert len(mains) == 1


def test_the_worker_is_alive_exactly_as_long_as_it_holds_its_lock() -> None:
    worker = runner.worker()
    assert run("print(1)").ok
    assert worker.alive()
    worker.stop()
    assert not worker.alive()
    assert worker.pid() is None


# --- the result ------------------------------------------------------------------------------


def test_to_json_has_every_key_of_the_api_with_its_type() -> None:
    result = run(
        "for a in Article.objects.order_by('id')[:3]:\n    print(a.author.username)\n",
        probe="print('probe')",
    )
    data = result.to_json()
    assert set(data) == {
        "stdout", "truncated", "error", "queries", "query_count", "db_ms", "wall_ms", "findings",
        "dataset", "latency", "models",
    }  # fmt: skip
    assert isinstance(data["stdout"], str) and data["stdout"].count("\n") == 3
    assert data["truncated"] is False
    assert data["error"] is None
    assert data["query_count"] == 4 == len(data["queries"])
    assert all(
        set(q)
        == {"sql", "params", "ms", "rows", "line", "many", "control", "error", "streamed", "plan", "filled"}
        for q in data["queries"]
    )
    assert {(q["streamed"], q["plan"]) for q in data["queries"]} == {(False, None)}  # plans only when asked
    assert [q["line"] for q in data["queries"]] == [1, 2, 2, 2]
    assert [q["rows"] for q in data["queries"]] == [3, 1, 1, 1]
    assert isinstance(data["db_ms"], float) and data["db_ms"] >= 0
    assert set(data["wall_ms"]) == {"median", "min", "max", "n"} and data["wall_ms"]["n"] == 1
    assert data["findings"][0]["relation"] == "article.author"
    assert set(data["dataset"]) == {"size", "seed", "digest"}
    assert (data["dataset"]["size"], data["dataset"]["seed"]) == ("tiny", 1)
    assert re.fullmatch(r"[0-9a-f]{64}", data["dataset"]["digest"])
    assert data["latency"] == {"per_query_ms": 0.0, "simulated_ms": 0.0}
    assert data["models"] == []  # a learner's own models, when the run had some
    assert json.loads(json.dumps(data)) == data
    assert result.probe_output == "probe\n"


def test_an_error_result_has_the_error_as_a_dict_in_json() -> None:
    data = run("1 / 0\n").to_json()
    assert data["error"] == {
        "kind": "exception",
        "message": "ZeroDivisionError: division by zero",
        "line": 1,
        "traceback": "Traceback (most recent call last):\n  line 1, in <module>\n    1 / 0\n"
        "ZeroDivisionError: division by zero",
        "source": "code",  # the line is in the code, not in the models
    }


def test_repeat_runs_the_code_that_many_times_and_reports_the_spread() -> None:
    result = run("print(Tag.objects.count())\n", repeat=5)
    wall = result.wall_ms
    assert wall.n == 5
    assert 0 < wall.min <= wall.median <= wall.max
    assert result.stdout == "8\n"  # output and queries come from the first run only
    assert result.query_count == 1


def test_each_repeat_starts_from_the_same_data() -> None:
    code = "Comment.objects.filter(pk__in=Comment.objects.order_by('id').values('pk')[:10]).delete()\nprint(Comment.objects.count())\n"
    result = run(code, repeat=3)
    assert result.error is None
    assert result.stdout == "50\n"
    assert result.wall_ms.n == 3
    assert run("print(Comment.objects.count())").stdout == "60\n"


def test_repeat_is_clamped_to_the_limit_and_a_probe_runs_once() -> None:
    many = run("pass", repeat=1000)
    probed = run("pass", repeat=5, probe="print('probe')")
    assert many.wall_ms.n == LIMITS.max_repeat
    assert (probed.wall_ms.n, probed.probe_output) == (1, "probe\n")


def test_simulated_latency_is_per_counted_query_and_makes_the_run_slower() -> None:
    code = "for pk in (1, 2, 3, 4):\n    Article.objects.filter(pk=pk).exists()\n"
    plain = run(code, repeat=3)
    delayed = run(code, latency_ms=5, repeat=3)
    assert delayed.query_count == 4
    assert delayed.latency == {"per_query_ms": 5.0, "simulated_ms": pytest.approx(5.0 * 4)}
    assert delayed.wall_ms.min >= delayed.latency["simulated_ms"]  # the sleeps are inside every repeat
    assert plain.latency == {"per_query_ms": 0.0, "simulated_ms": 0.0}
    assert delayed.db_ms < delayed.latency["simulated_ms"]  # the sleep is not database time


def test_latency_is_clamped_to_fifty_ms() -> None:
    result = run("Tag.objects.count()\n", latency_ms=500)
    assert result.latency == {"per_query_ms": 50.0, "simulated_ms": 50.0}


def test_the_namespace_has_the_query_expressions_and_fetch_modes_ready() -> None:
    result = run(
        "names = dir()\n"
        "wanted = ['Count', 'Sum', 'Avg', 'F', 'Q', 'Prefetch', 'Exists', 'OuterRef', 'Subquery', 'FETCH_PEERS']\n"
        "print([n for n in wanted if n not in names])\n"
        "print(Count is models.Count, Sum is models.Sum, Avg is models.Avg, F is models.F, Q is models.Q)\n"
        "print(Prefetch is models.Prefetch, Exists is models.Exists, OuterRef is models.OuterRef)\n"
        "print(Subquery is models.Subquery, FETCH_PEERS is models.FETCH_PEERS)\n"
        "print(Article.objects.aggregate(n=Count('id'), s=Sum('views'), a=Avg('views'))['n'])\n"
    )
    assert result.error is None
    assert result.stdout == "[]\nTrue True True True True\nTrue True True\nTrue True\n20\n"


def test_the_dataset_decides_what_the_code_sees() -> None:
    code = "print(Article.objects.count(), Comment.objects.count(), Author.objects.count())\n"
    tiny = run(code, dataset=TINY)
    small = run(code, dataset=SMALL)
    assert tiny.stdout == "20 60 5\n"
    assert small.stdout == "200 1000 20\n"
    assert tiny.dataset["size"] == "tiny" and small.dataset["size"] == "small"
    assert tiny.dataset["digest"] != small.dataset["digest"]


def test_writes_of_a_run_never_reach_the_workers_copy_of_the_dataset() -> None:
    before = runner.digest_of(TINY)
    wrote = run("Comment.objects.all().delete()\nprint(Comment.objects.count())\n")
    assert wrote.stdout == "0\n"
    assert runner.digest_of(TINY) == before == wrote.dataset["digest"]
    assert run("print(Comment.objects.count())\n").stdout == "60\n"


@pytest.mark.slow
def test_a_client_that_disconnects_mid_run_leaves_no_process_behind() -> None:
    assert run("print('warm')").ok
    worker = runner.worker()
    header = {"op": "run", "dataset": {"size": "tiny", "seed": 1}}
    body = {"code": "import time\ntime.sleep(7)\n", "limits": LIMITS.to_json()}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(str(worker.socket_path))
        conn.sendall(b"".join(map(wire.encode_message, (header, body, {"probe": None}))))
        deadline = time.monotonic() + 10
        while worker.request({"op": "ping"}, timeout=2)["children"] == 0:
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.05)
    hung_up = time.monotonic()
    while worker.request({"op": "ping"}, timeout=2)["children"]:
        assert time.monotonic() - hung_up < 3, "the run outlived its client"
        time.sleep(0.05)


# --- spares: idle supervisors, each with a child waiting -----------------------------------------


def _processes() -> list[int]:
    return [int(path.name) for path in Path("/proc").iterdir() if path.name.isdigit()]


def _argv(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        pid = _parent(pid)
    return False


def _children_of(pid: int) -> list[int]:
    """Every process whose parent is ``pid`` (seen from outside the worker's PID namespace)."""
    return [child for child in _processes() if _parent(child) == pid]


def _worker_main(root: int) -> int:
    """The worker's main process: the first process under ``root`` running sandbox.worker."""
    queue = [root]
    while queue:
        pid = queue.pop(0)
        if _argv(pid)[1:3] == [b"-m", b"sandbox.worker"]:  # not bwrap, whose arguments name it too
            return pid
        queue += _children_of(pid)
    raise AssertionError("no worker process under the Popen")


def wait_for_spares(worker: runner.Worker, at_least: int) -> None:
    deadline = time.monotonic() + 15
    while worker.request({"op": "ping"}, timeout=2)["spares"] < at_least:
        assert time.monotonic() < deadline, "no spare supervisor was forked"
        time.sleep(0.05)


@pytest.mark.slow
def test_spares_wait_between_runs_and_one_that_died_waiting_never_costs_a_run() -> None:
    assert run("print('warm')").ok
    worker = runner.worker()
    assert worker.process is not None
    wait_for_spares(worker, 2)
    main = _worker_main(worker.process.pid)
    deadline = time.monotonic() + 10
    while True:  # each supervisor has a zygote, which has forked the child that waits for the next run
        spares = _children_of(main)
        zygotes = [zygote for spare in spares for zygote in _children_of(spare)]
        waiting_children = [child for zygote in zygotes for child in _children_of(zygote)]
        if len(spares) >= 2 and len(waiting_children) == len(zygotes) == len(spares):
            break
        assert time.monotonic() < deadline, (spares, zygotes, waiting_children)
        time.sleep(0.05)

    # Its child killed while it waits: its supervisor gets another from its zygote when the run arrives.
    for pid in waiting_children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    first = run("print(Article.objects.count())")
    assert (first.error, first.stdout) == (None, "20\n")

    # The supervisors themselves killed (and reaped): the main process starts new ones.
    wait_for_spares(worker, 2)
    killed = _children_of(main)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in killed):
        assert time.monotonic() < deadline, "the main process never reaped its dead spares"
        time.sleep(0.01)
    second = run("print(Comment.objects.count())")
    assert (second.error, second.stdout) == (None, "60\n")
    wait_for_spares(worker, 2)  # and the pool fills up again


def test_a_runs_record_holds_its_own_statements_only() -> None:
    assert run("print(Article.objects.count())").ok
    wait_for_spares(runner.worker(), 1)
    result = run("print(Tag.objects.count())")
    assert (result.stdout, result.query_count) == ("8\n", 1)
    assert [q.line for q in result.queries] == [1]


@pytest.mark.slow
def test_preparing_a_large_dataset_never_stalls_runs_on_another() -> None:
    """The worker builds nothing: a new dataset is prepared on the web side and staged by its own supervisor.

    The large dataset's preparation is held at its lock for as long as the test
    likes, so nothing here depends on how fast the machine builds it.
    """
    assert run("print('warm')").ok
    fresh = DatasetRef("large", 4242)  # a seed no other test uses
    for prepared in datasets.directory().glob(f"{fresh.key()}.*"):
        prepared.unlink()
    datasets._ready.discard(fresh)
    big: list[RunResult] = []
    with open(datasets.directory() / f"{fresh.key()}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        preparing = threading.Thread(
            target=lambda: big.append(run("print(Article.objects.count())", dataset=fresh))
        )
        preparing.start()
        meanwhile = [run("print(Tag.objects.count())") for _ in range(5)]
        assert preparing.is_alive()  # still waiting for its dataset
    assert [r.stdout for r in meanwhile] == ["8\n"] * 5
    preparing.join(timeout=600)
    assert big[0].error is None and big[0].stdout == "20000\n"


def test_plans_come_only_when_asked_and_iterator_streams_on_sqlite_too() -> None:
    code = (
        'print(Article.objects.filter(status="published", pub_date__year=2025).count())\n'
        "print(sum(1 for _ in Article.objects.values_list('id', flat=True).iterator(chunk_size=5)))\n"
    )
    tiny = DatasetRef("tiny", 1)
    planned = runner.run(RunRequest(code, dataset=tiny, explain=True))
    plain = runner.run(RunRequest(code, dataset=tiny))
    assert planned.stdout == plain.stdout
    assert planned.stdout.splitlines()[-1] == "20"
    counted, streamed = [q for q in planned.queries if not q.control]
    assert (
        counted.plan is not None
        and "SEARCH blog_article USING COVERING INDEX article_status_pub_idx" in counted.plan
    )
    assert (counted.streamed, streamed.streamed) == (False, True)
    assert streamed.rows == 20
    assert all(q.plan is None for q in plain.queries)
    assert planned.query_count == plain.query_count == 2
