"""What hostile-code tests guard and the worker they watch.

The module gets a worker of its own, listening in a private run directory: no
other test process or dev server on this machine shares it (or stops it), its
process is this process's child (so its death is observable), and a test that
damages it on purpose leaves a fresh one behind.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from sandbox import runner
from sandbox.contract import DatasetRef
from sandbox.worker import confine


@pytest.fixture(scope="session")
def secrets() -> dict[str, str]:
    """Every value that must never reach a run's output, by what it is."""
    found = {"settings.SECRET_KEY": settings.SECRET_KEY}
    password = settings.DATABASES["default"].get("PASSWORD")
    if password:
        found["the database password"] = password
    for key_file in (Path(settings.VAR_DIR) / "secret_key", confine.PROJECT / "var" / "secret_key"):
        if key_file.is_file() and key_file.read_text().strip():
            found[str(key_file)] = key_file.read_text().strip()
    return found


@pytest.fixture(scope="module")
def own_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[runner.Worker]:
    with override_settings(VAR_DIR=tmp_path_factory.mktemp("sandbox-var")):
        worker = runner.Worker()
    previous, runner._worker = runner._worker, worker
    yield worker
    worker.stop()
    runner._worker = previous


@pytest.fixture
def worker_process(own_worker: runner.Worker) -> subprocess.Popen[bytes]:
    """The live worker process, started now if a previous test stopped it."""
    if own_worker.process is None:
        runner.prepare(DatasetRef("tiny", 1))
    process = own_worker.process
    assert process is not None
    assert process.poll() is None
    return process


@pytest.fixture
def fresh_worker_afterwards(
    own_worker: runner.Worker, worker_process: subprocess.Popen[bytes]
) -> Iterator[None]:
    """For tests that corrupt or kill the worker: the next test gets a new one."""
    yield
    own_worker.stop()
    worker_process.wait(timeout=15)
