"""Running a lesson's comparison: both variants through the runner, and what the pair shows."""

from __future__ import annotations

from dataclasses import dataclass

from lessons.loader import Comparison
from sandbox import runner

REPEAT = 5
SIZES = ("small", "default", "large")
LATENCIES = (0, 1, 5)


@dataclass(frozen=True)
class Outcome:
    comparison: Comparison
    bad: runner.RunResult
    good: runner.RunResult
    size: str
    latency_ms: int

    @property
    def speedup(self) -> float | None:
        bad, good = self.bad.wall_ms["median"], self.good.wall_ms["median"]
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


def compare(comparison: Comparison, *, size: str, latency_ms: int, seed: int) -> Outcome:
    dataset = runner.DatasetRef(size, seed)
    bad, good = (
        runner.run(block.code, repeat=REPEAT, latency_ms=latency_ms, dataset=dataset)
        for block in comparison.variants
    )
    return Outcome(comparison, bad, good, size, latency_ms)
