"""A comparison's headline: what the two runs did, said no more precisely than they were measured."""

from __future__ import annotations

from lessons import loader
from lessons.runs import ComparisonRun
from sandbox.contract import RunResult, Timing


def block(variant: str, **attrs: str) -> loader.Block:
    return loader.Block(lesson="l", compare="c", variant=variant, code="pass\n", line=1, **attrs)


def result(queries: int, median: float, low: float, high: float) -> RunResult:
    return RunResult(query_count=queries, wall_ms=Timing(median, low, high, 5))


def outcome(bad: RunResult, good: RunResult, **good_attrs: str) -> ComparisonRun:
    comparison = loader.Comparison("c", block("bad", queries="1+N"), block("good", queries="2", **good_attrs))
    return ComparisonRun(comparison, bad, good, "default", 0)


def test_a_clear_gain_reads_as_a_ratio() -> None:
    assert outcome(result(51, 40, 38, 42), result(2, 10, 9.5, 10.5)).header == "51 → 2 queries · 4.0× faster"


def test_a_ratio_inside_the_measured_spread_reads_as_the_same_time() -> None:
    header = outcome(result(11, 10, 7.5, 12.5), result(2, 9.6, 8.6, 10.6)).header
    assert header == "11 → 2 queries · same time (±25%)"


def test_a_slower_good_variant_outside_the_spread_says_so() -> None:
    assert outcome(result(7, 20, 19, 21), result(2, 40, 39, 41)).header == "7 → 2 queries · 2.0× slower"


def test_a_declared_tradeoff_replaces_the_ratio() -> None:
    said = "Seven cheap queries or two: the same time without a network between."
    assert (
        outcome(result(7, 20, 19, 21), result(2, 19, 18, 20), tradeoff=said).header
        == f"7 → 2 queries · {said}"
    )


def test_a_block_that_raises_on_purpose_is_headed_by_what_it_raises() -> None:
    comparison = loader.Comparison("c", block("bad", raises="FieldError"), block("good", queries="2"))
    bad = RunResult(wall_ms=Timing(1, 1, 1, 1))
    header = ComparisonRun(comparison, bad, result(2, 5, 4, 6), "default", 0).header
    assert header.startswith("raises FieldError → 2 queries")
    assert "0 →" not in header
