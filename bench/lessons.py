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

SIZES = ("default", "large")
JUDGED = "large"
ROUNDS = 7
REPEAT = 3


def _walls(bad_code: str, good_code: str, size: str) -> tuple[Stats, Stats, int, int]:
    """ROUNDS rounds of (bad, good); each sample is the child's median of REPEAT runs."""
    dataset = runner.DatasetRef(size, 1)
    samples: dict[str, list[float]] = {"bad": [], "good": []}
    counts: dict[str, int] = {}
    for _ in range(ROUNDS):
        for variant, code in (("bad", bad_code), ("good", good_code)):
            result = runner.run(code, repeat=REPEAT, dataset=dataset)
            counts[variant] = result.query_count
            samples[variant].append(result.wall_ms["median"] / 1000)
    return Stats(tuple(samples["bad"])), Stats(tuple(samples["good"])), counts["bad"], counts["good"]


def run() -> str:
    rows = []
    for lesson in loader.all_lessons():
        for comparison in lesson.comparisons.values():
            if comparison.bad.raises:
                continue
            cells: list[str] = []
            faster = False
            equal = True
            count = 0
            for size in SIZES:
                bad, good, count, good_count = _walls(comparison.bad.code, comparison.good.code, size)
                if count != good_count:
                    equal = False
                    break
                cells += [
                    report.figure(bad, "ms"),
                    report.figure(good, "ms"),
                    report.single(bad.median / good.median, "×"),
                ]
                if size == JUDGED:
                    faster = good.median < bad.median
            if not equal:
                continue
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
