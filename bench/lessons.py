"""Section 5: lesson comparisons whose two variants send the same number of queries.

There the good variant's gain is less data moved (fewer columns, no model
instances, one row instead of many), which shows as time. Both variants run
through ``runner.run`` on the default dataset, alternately, and the medians of
their in-sandbox wall times are compared.
"""

from __future__ import annotations

from bench import report
from bench.timing import Stats
from lessons import loader
from sandbox import runner

DATASET = runner.DatasetRef("default", 1)
ROUNDS = 7
REPEAT = 3


def _walls(code: str) -> tuple[Stats, int]:
    samples: list[float] = []
    count = 0
    for _ in range(ROUNDS):
        result = runner.run(code, repeat=REPEAT, dataset=DATASET)
        count = result.query_count
        samples.append(result.wall_ms["median"] / 1000)
    return Stats(tuple(samples)), count


def run() -> str:
    rows = []
    for lesson in loader.all_lessons():
        for comparison in lesson.comparisons.values():
            if comparison.bad.raises:
                continue
            bad, bad_count = _walls(comparison.bad.code)
            good, good_count = _walls(comparison.good.code)
            if bad_count != good_count:
                continue
            faster = good.median < bad.median
            rows.append(
                [
                    f"{lesson.slug} / {comparison.id}",
                    str(bad_count),
                    report.figure(bad, "ms"),
                    report.figure(good, "ms"),
                    report.single(bad.median / good.median, "×"),
                    report.target("good faster", faster),
                ]
            )
    headers = ["comparison", "queries (both)", "bad wall", "good wall", "bad / good", "target"]
    intro = (
        "## 5. Lessons: comparisons with equal query counts\n\n"
        f"Each variant run {ROUNDS} × (median of {REPEAT} runs) through the sandbox on `default`; "
        "wall time measured inside the child around the code."
    )
    return intro + "\n\n" + report.table(headers, rows)
