"""Section 6: an instructor's reset to each size, end to end, as the task runs it.

``instructor.resets.run`` builds the dataset in the sandbox worker (generated once,
written to the sandbox's copy, digested in memory), then fills the app database's
tables from that copy inside the database, in one transaction. Each reset is to a
seed no earlier run prepared, so nothing is ready before it; its copy is removed
after, the data that was live before is seeded again and the jobs removed.
"""

from __future__ import annotations

import os
import time

from django.test.utils import override_settings

from bench import report
from blog import seed
from instructor import resets
from instructor.models import ResetJob
from sandbox import datasets
from sandbox.contract import DatasetRef

TARGETS = {"small": 60.0, "default": 60.0, "large": 6.0}  # seconds, end to end


def run() -> str:
    rows = []
    before = seed.live_dataset()
    created: list[int] = []
    fresh = 100_000 + os.getpid()  # a seed never prepared here
    try:
        for size, target in TARGETS.items():
            # Run the job directly (no task queue), exactly as the task would.
            queued = ResetJob.objects.create(size=size, seed=fresh, previous=seed.live_dataset())
            created.append(queued.pk)
            started = time.perf_counter()
            with override_settings(
                QUERYLAB_MEASURE_AFTER_RESET=False
            ):  # the lessons' measuring is not the reset
                job = resets.run(queued.pk)
            seconds = time.perf_counter() - started
            ok = job.status == ResetJob.Status.SUCCEEDED and seconds <= target
            app = f"{job.result.seconds:.1f} s" if job.result else "—"
            label = f"≤ {target:g} s" if size == "large" else "seconds, not minutes"
            rows.append([size, job.status, f"{seconds:.1f} s", app, report.target(label, ok)])
            datasets.discard(DatasetRef(size, fresh))
    finally:
        ResetJob.objects.filter(pk__in=created).delete()
        if before is not None:
            seed.seed(before.size, before.seed)
    headers = ["size", "outcome", "reset, end to end", "of which the app's tables", "target"]
    intro = (
        "## 6. Instructor reset, end to end\n\nTo a seed never prepared before: the sandbox's copy is built "
        "(generated once, written, digested in memory), then the app's tables are filled from it inside "
        "the database, in one transaction."
    )
    return intro + "\n\n" + report.table(headers, rows)
