"""The one timing loop every benchmark uses, and the summaries of what it measured."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """Samples (seconds, unless derived) with the summaries the tables print."""

    samples: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    def percentile(self, p: int) -> float:
        """The p-th percentile (1..99), interpolated between samples."""
        if self.n < 2:
            return self.samples[0]
        return statistics.quantiles(self.samples, n=100, method="inclusive")[p - 1]

    def map(self, fn: Callable[[float], float]) -> Stats:
        return Stats(tuple(fn(s) for s in self.samples))

    def split(self, k: int) -> tuple[Stats, ...]:
        """Undo ``cycle()``: the samples of each of its ``k`` variants, in order."""
        return tuple(Stats(self.samples[i::k]) for i in range(k))

    @classmethod
    def merge(cls, parts: Iterable[Stats]) -> Stats:
        return cls(tuple(s for part in parts for s in part.samples))

    @classmethod
    def pairwise(cls, a: Stats, b: Stats, fn: Callable[[float, float], float]) -> Stats:
        """``fn(a_i, b_i)`` for the i-th samples of two equally long measurements."""
        return cls(tuple(fn(x, y) for x, y in zip(a.samples, b.samples, strict=True)))


def sample(
    fn: Callable[[], object],
    *,
    times: int | None = None,
    seconds: float | None = None,
    around: Callable[[], AbstractContextManager[object]] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Stats:
    """Time ``fn()`` ``times`` times, or as often as ``seconds`` allow (or both limits).

    ``around()`` gives a context manager entered before and left after each
    call, outside the timed span: set-up and clean-up are never measured.
    ``clock`` is wall time unless told otherwise (``time.thread_time`` for CPU
    work that other processes on the machine must not inflate).
    """
    if times is None and seconds is None:
        raise ValueError("sample() needs times, seconds or both")
    deadline = None if seconds is None else time.perf_counter() + seconds
    samples: list[float] = []
    while (times is None or len(samples) < times) and (deadline is None or time.perf_counter() < deadline):
        with around() if around is not None else nullcontext():
            started = clock()
            fn()
            samples.append(clock() - started)
    return Stats(tuple(samples))


def cycle[T](*variants: Callable[[], T]) -> Callable[[], T]:
    """One callable that calls ``variants`` in turn, so one ``sample()`` interleaves them.

    Interleaving (ABAB…) spreads drift and other processes' load evenly over
    the variants being compared; ``Stats.split()`` separates their samples.
    """
    turns = itertools.cycle(variants)
    return lambda: next(turns)()
