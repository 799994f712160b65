"""Running a lesson's comparison: both variants through the runner, and what the pair shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from blog import seed as seed_sizes
from lessons import chart
from lessons.loader import Comparison
from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest, RunResult

REPEAT = 5
SIZES = ("small", "default", "large")
LATENCIES = (0, 1, 5)


@dataclass(frozen=True)
class Outcome:
    comparison: Comparison
    bad: RunResult
    good: RunResult
    size: str
    latency_ms: int

    @property
    def speedup(self) -> float | None:
        bad, good = self.bad.wall_ms.median, self.good.wall_ms.median
        if self.bad.error or self.good.error or not good:
            return None
        return bad / good

    @property
    def header(self) -> str:
        """e.g. "51 → 2 queries · 9.4× faster", computed from the two runs."""
        parts = [f"{self.bad.query_count} → {self.good.query_count} queries"]
        speedup = self.speedup
        if speedup is not None:
            if speedup >= 1:
                parts.append(f"{speedup:.1f}× faster")
            else:
                parts.append(f"{1 / speedup:.1f}× slower")
        return " · ".join(parts)


SCALE_SIZES = ("tiny", "small", "default", "large")
SCALE_REPEAT = 3


@dataclass(frozen=True)
class Scaled:
    """Both variants run at every size: what the chart is drawn from."""

    comparison: Comparison
    rows: list[int]
    bad: list[RunResult]
    good: list[RunResult]

    @property
    def failed(self) -> RunResult | None:
        return next((r for r in self.bad + self.good if r.error and r.error.kind != "exception"), None)

    def charts(self) -> list[chart.Chart]:
        def series(pick: Callable[[RunResult], float]) -> list[chart.Series]:
            return [
                chart.Series(f"bad: {self.comparison.bad.title}", "bad", tuple(map(pick, self.bad))),
                chart.Series(f"good: {self.comparison.good.title}", "good", tuple(map(pick, self.good))),
            ]

        return [
            chart.line_chart("Queries", "queries", self.rows, series(lambda r: r.query_count)),
            chart.line_chart(
                "Wall time (median)", "ms", self.rows, series(lambda r: round(r.wall_ms.median, 1))
            ),
        ]


def scale(comparison: Comparison, *, seed: int) -> Scaled:
    """Run both variants on every dataset size, without simulated latency."""
    bad: list[RunResult] = []
    good: list[RunResult] = []
    for size in SCALE_SIZES:
        dataset = DatasetRef(size, seed)
        bad.append(runner.run(RunRequest(comparison.bad.code, repeat=SCALE_REPEAT, dataset=dataset)))
        good.append(runner.run(RunRequest(comparison.good.code, repeat=SCALE_REPEAT, dataset=dataset)))
    rows = [seed_sizes.SIZES[size].articles for size in SCALE_SIZES]
    return Scaled(comparison, rows, bad, good)


def compare(comparison: Comparison, *, size: str, latency_ms: int, seed: int) -> Outcome:
    dataset = DatasetRef(size, seed)
    bad, good = (
        runner.run(RunRequest(block.code, repeat=REPEAT, latency_ms=latency_ms, dataset=dataset))
        for block in comparison.variants
    )
    return Outcome(comparison, bad, good, size, latency_ms)
