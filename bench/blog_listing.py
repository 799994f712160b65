"""Section: the demo blog's listing page on the large dataset, server time.

The app's own view (``blog.views.article_list``), through Django's test client,
on a throwaway SQLite database seeded with the large dataset: the time the
server spends on ``/blog/`` (three queries, the page rendered), and on
``/blog/?naive=1`` for comparison.
"""

from __future__ import annotations

from django.db import connections, transaction
from django.test import Client

from bench import report
from bench.databases import throwaway_sqlite
from bench.timing import cycle, sample
from blog import seed

SIZE = "large"
TIMES = 30
TARGET_MS = 20.0


def run() -> str:
    with throwaway_sqlite("bench_blog") as alias:
        with transaction.atomic(using=alias):
            seed.write(seed.generate(SIZE, 1), using=alias)
        previous = connections["default"]
        connections["default"] = connections[alias]
        try:
            client = Client()
            client.get("/blog/"), client.get("/blog/?naive=1")  # templates and connection warm
            listing, naive = sample(
                cycle(lambda: client.get("/blog/"), lambda: client.get("/blog/?naive=1")), times=2 * TIMES
            ).split(2)
        finally:
            connections["default"] = previous
    rows = [
        ["`/blog/`", str(listing.n), report.single(listing.percentile(50), "ms"), report.single(listing.percentile(95), "ms"),
         report.target(f"p50 ≤ {TARGET_MS:g} ms", listing.percentile(50) * 1000 <= TARGET_MS)],
        ["`/blog/?naive=1`", str(naive.n), report.single(naive.percentile(50), "ms"), report.single(naive.percentile(95), "ms"), "—"],
    ]  # fmt: skip
    intro = (
        f"## Blog listing on `{SIZE}`\n\nServer time of the demo blog's listing (Django's test client, "
        f"no network), on a throwaway SQLite database seeded with the `{SIZE}` dataset; {TIMES} requests "
        "each, the two pages alternating."
    )
    return f"{intro}\n\n{report.table(['page', 'n', 'p50', 'p95', 'target'], rows)}"
