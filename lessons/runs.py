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
OFFERED_SIZES = ("small", "default", "large")
LATENCIES = (0, 1, 5)


@dataclass(frozen=True)
class ComparisonRun:
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
    def spread(self) -> float:
        """How much one run's time varies here: the larger half-range of the two, relative to its median."""
        return max(
            (t.max - t.min) / (2 * t.median) if t.median else 0.0
            for t in (self.bad.wall_ms, self.good.wall_ms)
        )

    def _counts(self) -> str:
        """e.g. "51 → 2 queries"; a block that raises on purpose says what it raises instead."""
        said = [
            f"raises {block.raises}" if block.raises else f"{result.query_count}"
            for block, result in ((self.comparison.bad, self.bad), (self.comparison.good, self.good))
        ]
        if not (self.comparison.bad.raises or self.comparison.good.raises):
            return f"{said[0]} → {said[1]} queries"
        return " → ".join(part if part.startswith("raises") else f"{part} queries" for part in said)

    def _time(self) -> str | None:
        if self.comparison.tradeoff:
            return self.comparison.tradeoff
        speedup = self.speedup
        if speedup is None:
            return None
        if abs(speedup - 1) <= self.spread:
            return f"same time (±{self.spread * 100:.0f}%)"
        return f"{speedup:.1f}× faster" if speedup >= 1 else f"{1 / speedup:.1f}× slower"

    @property
    def header(self) -> str:
        """e.g. "51 → 2 queries · 9.4× faster", computed from the two runs."""
        return " · ".join(part for part in (self._counts(), self._time()) if part)


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


def compare(comparison: Comparison, *, size: str, latency_ms: int, seed: int) -> ComparisonRun:
    dataset = DatasetRef(size, seed)
    bad, good = (
        runner.run(RunRequest(block.code, repeat=REPEAT, latency_ms=latency_ms, dataset=dataset))
        for block in comparison.variants
    )
    return ComparisonRun(comparison, bad, good, size, latency_ms)
