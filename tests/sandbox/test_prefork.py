"""What the worker does once before it forks (sandbox/worker/prefork.py), each test in a process of its own."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.worker import prefork

ROOT = Path(__file__).resolve().parents[2]

# A Django process with the worker's settings forks a child that reads every object of a large
# structure, as a child reads Django's; the child's page faults are counted before and after.
FORKED_READS = """
import gc, json, os, resource, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.worker.settings"
import django
django.setup()
from sandbox.worker import prefork

shared = [{"title": f"article {i}", "views": i} for i in range(50_000)]


def faults_of_a_child_reading_it():
    pid = os.fork()
    if pid == 0:
        for row in shared:
            row["title"], row["views"]
        os._exit(0)
    _, _, usage = os.wait4(pid, 0)
    return usage.ru_minflt


gc.freeze()
mortal = faults_of_a_child_reading_it()
count = prefork.settle()
item = shared[0]
before = sys.getrefcount(item)
copies = [item] * 100
print(json.dumps({
    "mortal": mortal,
    "immortal": faults_of_a_child_reading_it(),
    "count": count,
    "refcount_unchanged": sys.getrefcount(item) == before,
    "tour_left_a_connection": django.db.connections["default"].connection is not None,
}))
"""


def _forked_reads() -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", FORKED_READS],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.skipif(not prefork.can_immortalize(), reason="this CPython lays out reference counts otherwise")
def test_a_child_reading_the_workers_objects_no_longer_copies_their_pages() -> None:
    figures = _forked_reads()
    assert figures["refcount_unchanged"] is True
    assert int(figures["count"]) > 50_000  # the structure and all of Django's objects
    # 50,000 dicts fill about 2,000 pages, each copied once when read (its counts written).
    assert int(figures["mortal"]) > 1_500
    assert int(figures["immortal"]) < int(figures["mortal"]) // 4


def test_the_tour_leaves_no_database_open() -> None:
    assert _forked_reads()["tour_left_a_connection"] is False
