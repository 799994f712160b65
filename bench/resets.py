"""Section 6: an instructor's reset to each size, end to end, as the task runs it.

``instructor.resets.run`` builds the dataset in the sandbox worker, then seeds
the app database in one transaction. It runs against the app database; the
data that was live before is seeded again afterwards and the jobs removed.
"""

from __future__ import annotations

import time

from django.test.utils import override_settings

from bench import report
from blog import seed
from instructor import resets
from instructor.models import ResetJob

TARGET_SECONDS = 60.0


def run() -> str:
    rows = []
    before = seed.live_dataset()
    created: list[int] = []
    try:
        for size in ("small", "default", "large"):
            # Run the job directly (no task queue), exactly as the task would.
            queued = ResetJob.objects.create(size=size, seed=99, previous=seed.live_dataset())
            created.append(queued.pk)
            started = time.perf_counter()
            with override_settings(
                QUERYLAB_MEASURE_AFTER_RESET=False
            ):  # the lessons' measuring is not the reset
                job = resets.run(queued.pk)
            seconds = time.perf_counter() - started
            ok = job.status == ResetJob.Status.SUCCEEDED and seconds < TARGET_SECONDS
            rows.append([size, job.status, f"{seconds:.1f} s", report.target("seconds, not minutes", ok)])
    finally:
        ResetJob.objects.filter(pk__in=created).delete()
        if before is not None:
            seed.seed(before.size, before.seed)
    headers = ["size", "outcome", "reset (worker copy + app database)", "target"]
    return "## 6. Instructor reset, end to end\n\n" + report.table(headers, rows)
