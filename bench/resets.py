"""Section 6: an instructor's reset, end to end, as the task runs it.

``instructor.resets.run`` builds the dataset in the sandbox worker unless it is
built already (generated once, written, digested in memory), then fills the app
database's tables from that copy inside the database, in one transaction. Each
reset here is to a seed no earlier run prepared; its copies are removed after,
the data that was live before is seeded again and the jobs removed.
"""

from __future__ import annotations

import os
import time

from django.db import connection
from django.test.utils import override_settings

from bench import report
from blog import seed
from exercises import warm
from instructor import resets
from instructor.models import ResetJob
from sandbox import datasets, pg
from sandbox.contract import DatasetRef

RESIZE_TARGET_SECONDS = 6.0


def _reset(size: str, seed_value: int, created: list[int]) -> tuple[ResetJob, float]:
    """One reset, run directly (no task queue) exactly as the task runs it; the job and its seconds."""
    queued = ResetJob.objects.create(size=size, seed=seed_value, previous=seed.live_dataset())
    created.append(queued.pk)
    started = time.perf_counter()
    with override_settings(QUERYLAB_MEASURE_AFTER_RESET=False):  # the lessons' measuring is not the reset
        job = resets.run(queued.pk)
    return job, time.perf_counter() - started


def _setup() -> str:
    """Where the app's tables and the sandbox's datasets live: what a reset copies from and to."""
    kept = "PostgreSQL schemas" if pg.enabled() else "SQLite files"
    return f"app on {connection.vendor}, datasets in {kept}"


def _row(label: str, job: ResetJob, seconds: float, target: str, ok: bool) -> list[str]:
    app = f"{job.result.seconds:.1f} s" if job.result else "—"
    done = job.status == ResetJob.Status.SUCCEEDED
    return [_setup(), label, job.status, f"{seconds:.1f} s", app, report.target(target, done and ok)]


def run() -> str:
    rows = []
    before = seed.live_dataset()
    created: list[int] = []
    fresh = 100_000 + os.getpid()  # a seed never prepared here
    try:
        # A new seed: nothing is ready, the sandbox's copy is built first.
        for size in ("small", "default", "large"):
            job, seconds = _reset(size, fresh, created)
            rows.append(_row(f"to {size}, a new seed", job, seconds, "seconds, not minutes", seconds < 60))
        # Resizing within the live seed, as a class does: the warm-up a start queues (and the
        # one after each reset) has built every size of it already.
        seed.seed("default", fresh + 1)
        warm.warm(lessons=False)
        job, seconds = _reset("large", fresh + 1, created)
        target = f"≤ {RESIZE_TARGET_SECONDS:g} s"
        rows.append(
            _row("default → large, the same seed", job, seconds, target, seconds <= RESIZE_TARGET_SECONDS)
        )
    finally:
        ResetJob.objects.filter(pk__in=created).delete()
        for value in (fresh, fresh + 1):
            for dataset in warm.datasets(DatasetRef("default", value)):
                datasets.discard(dataset)
        if before is not None:
            seed.seed(before.size, before.seed)
    headers = ["setup", "reset", "outcome", "end to end", "of which the app's tables", "target"]
    intro = (
        "## 6. Instructor reset, end to end\n\nA reset builds the sandbox's copy (generated once, written, "
        "digested in memory) unless it is built already, then fills the app's tables from it inside "
        "the database, in one transaction. To a new seed nothing is built yet; resizing within the live "
        "seed finds every size built by the warm-up that each start and each reset queue (exercises/warm.py). "
        "The app's tables are filled inside the database (SQLite: `ATTACH` and `INSERT ... SELECT`; "
        "PostgreSQL: `INSERT ... SELECT` from the dataset's schema), or, with the app on PostgreSQL and "
        "the datasets in SQLite files, streamed in with one `COPY` per table. A run of `make bench` "
        "measures its own setup; the rows of the other setups come from runs of this section alone "
        "with `DATABASE_URL` (and `QUERYLAB_SANDBOX_DATABASE=postgresql`) set."
    )
    return intro + "\n\n" + report.table(headers, rows)
