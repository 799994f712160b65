"""Section 5: lesson comparisons whose two variants send the same number of queries.

There the good variant's gain is less data moved (fewer columns, no model
instances, one row instead of many, an index range instead of the whole
table), which shows as time. Both variants run through ``runner.run``,
alternately (bad, good, bad, good...), and the medians of their in-sandbox
wall times are compared, on ``default`` and on ``large``.

The target is judged on ``large``: several lessons say their gain grows with
the table (a scan reads every row, an index range only the matches), and on
``default`` such a gain can be smaller than one run's noise.
"""

from __future__ import annotations

from bench import report
from bench.timing import Stats
from lessons import loader
from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest

SIZES = ("default", "large")
JUDGED = "large"
ROUNDS = 7
REPEAT = 3


def _walls(bad_code: str, good_code: str, size: str) -> tuple[Stats, Stats, int]:
    """ROUNDS rounds of (bad, good): each sample is the child's median of REPEAT runs."""
    dataset = DatasetRef(size, 1)
    samples: tuple[list[float], list[float]] = ([], [])
    count = 0
    for _ in range(ROUNDS):
        for walls, code in zip(samples, (bad_code, good_code), strict=True):
            result = runner.run(RunRequest(code, repeat=REPEAT, dataset=dataset))
            count = result.query_count
            walls.append(result.wall_ms.median / 1000)
    return Stats(tuple(samples[0])), Stats(tuple(samples[1])), count


def run() -> str:
    rows = []
    for lesson in loader.all_lessons():
        for comparison in lesson.comparisons.values():
            # Equal declared counts (the lesson tests hold every block to its count).
            if comparison.bad.queries != comparison.good.queries:
                continue
            cells: list[str] = []
            faster = False
            for size in SIZES:
                bad, good, count = _walls(comparison.bad.code, comparison.good.code, size)
                cells += [
                    report.figure(bad, "ms"),
                    report.figure(good, "ms"),
                    report.single(bad.median / good.median, "×"),
                ]
                if size == JUDGED:
                    faster = good.median < bad.median
            target = report.target(f"good faster on {JUDGED}", faster)
            rows.append([f"{lesson.slug} / {comparison.id}", str(count), *cells, target])
    headers = ["comparison", "queries (both)"]
    for size in SIZES:
        headers += [f"bad wall ({size})", f"good wall ({size})", f"bad / good ({size})"]
    headers.append("target")
    intro = (
        "## 5. Lessons: comparisons with equal query counts\n\n"
        f"Each variant run {ROUNDS} × (median of {REPEAT} runs) through the sandbox, bad and good "
        "alternating; wall time measured inside the child around the code. Judged on "
        f"`{JUDGED}`, where a gain that grows with the table is larger than the noise of one run."
    )
    return intro + "\n\n" + report.table(headers, rows)
