"""Running a lesson's comparison: both variants through the runner, and what the pair shows."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from blog import seed as seed_sizes
from lessons import chart, loader
from lessons.loader import Comparison
from sandbox import datasets, runner
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
    measured_at: datetime = field(default_factory=timezone.now)
    shared: bool = False  # served from an earlier measurement, not run for this request

    @property
    def key(self) -> str:
        """What was measured: the code, the dataset's rows and the latency (``measured_at`` tells when)."""
        return _key(
            "compare", self.comparison, str(self.bad.dataset.get("digest", "")), self.size, self.latency_ms
        )

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
    measured_at: datetime = field(default_factory=timezone.now)
    shared: bool = False

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


# Lesson runs are the same for every learner on one dataset: measured once, kept in the
# cache every process and node shares (the database's), served with when they were
# measured. The key names the dataset's digest, so a reset (new rows) measures afresh.
KEPT_SECONDS = 7 * 24 * 3600


def _key(kind: str, comparison: Comparison, digest: str, *parts: object) -> str:
    def short(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    code = short(f"{comparison.bad.code}\0{comparison.good.code}")
    return ":".join(["lesson-run", kind, short(digest), code, *map(str, parts)])


def _keepable(results: list[RunResult]) -> bool:
    """Only what any later run would show again: no timeout, busy or broken worker."""
    return all(r.error is None or r.error.kind == "exception" for r in results)


# One measurement at a time per key: learners who ask meanwhile wait for it (a class that
# opens the same lesson at once would otherwise measure it once each, all at the same time).
MEASURING_SECONDS = 180  # how long a measurement holds the others off, should its process die
WAIT_POLL_SECONDS = 0.1


def _wait_for_another() -> None:
    """Another process (or thread) is measuring what this one wants: look again in a moment."""
    time.sleep(WAIT_POLL_SECONDS)


def _shared[T: (ComparisonRun, Scaled)](
    kind: type[T],
    key: str | None,
    measure: Callable[[], T],
    key_of: Callable[[T], str],
    results_of: Callable[[T], list[RunResult]],
    *,
    again: bool,
) -> T:
    """What ``key`` keeps, else ``measure()`` once for everyone asking, kept under ``key_of(fresh)``.

    ``key`` is None when the dataset is not prepared yet (its digest is not known);
    ``again`` measures afresh whatever is kept.
    """
    measuring = f"{key}:measuring"
    holding = False
    while key and not again:
        kept = cache.get(key)
        if isinstance(kept, kind):
            return replace(kept, shared=True)
        holding = cache.add(measuring, True, MEASURING_SECONDS)
        if holding:
            break
        _wait_for_another()
    try:
        fresh = measure()
        if _keepable(results_of(fresh)):
            cache.set(key_of(fresh), fresh, KEPT_SECONDS)
    finally:
        if holding:
            cache.delete(measuring)
    return fresh


def shared_compare(
    comparison: Comparison, *, size: str, latency_ms: int, seed: int, again: bool = False
) -> ComparisonRun:
    """``compare``, measured once per dataset and shared; ``again`` measures afresh (and shares that)."""
    digest = datasets.prepared_digest(DatasetRef(size, seed))
    kept = _shared(
        ComparisonRun,
        _key("compare", comparison, digest, size, latency_ms) if digest else None,
        lambda: compare(comparison, size=size, latency_ms=latency_ms, seed=seed),
        lambda fresh: _key("compare", comparison, str(fresh.bad.dataset["digest"]), size, latency_ms),
        lambda fresh: [fresh.bad, fresh.good],
        again=again,
    )
    return replace(kept, comparison=comparison)


def shared_scale(comparison: Comparison, *, seed: int, again: bool = False) -> Scaled:
    """``scale``, measured once per live seed and shared, like ``shared_compare``."""
    digests = [datasets.prepared_digest(DatasetRef(size, seed)) for size in SCALE_SIZES]
    kept = _shared(
        Scaled,
        _key("scale", comparison, "-".join(d or "" for d in digests)) if all(digests) else None,
        lambda: scale(comparison, seed=seed),
        lambda fresh: _key("scale", comparison, "-".join(str(r.dataset["digest"]) for r in fresh.bad)),
        lambda fresh: fresh.bad + fresh.good,
        again=again,
    )
    return replace(kept, comparison=comparison)


def measure_all(seed: int, *, only: frozenset[str] = frozenset()) -> int:
    """Scale it for every comparison (or those of the lessons in ``only``) on ``seed``: their first view is instant.

    Run after an instructor's reset, by the task worker. Returns how many were measured.
    """
    measured = 0
    for lesson in loader.all_lessons():
        if only and lesson.slug not in only:
            continue
        for comparison in lesson.comparisons.values():
            if not shared_scale(comparison, seed=seed).shared:
                measured += 1
    return measured
