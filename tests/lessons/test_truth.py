"""A gate on truth: what each lesson says of speed agrees with the last committed benchmark.

`make bench` times every comparison (bench/lessons.py) and writes its figures to
bench/lessons.json. A good variant that is not clearly faster on the large
dataset must say why on its page (``tradeoff="..."``); one that is, must not.
Within the noise band (``noise`` around ``faster``: two runs of the bench put one
comparison's ratio that far apart), either reading holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lessons import loader

FIGURES = json.loads((Path(__file__).resolve().parents[2] / "bench" / "lessons.json").read_text())
TIMED = {
    f"{lesson.slug}/{comparison.id}": comparison
    for lesson in loader.all_lessons()
    for comparison in lesson.comparisons.values()
    if not (comparison.bad.raises or comparison.good.raises)
}


def test_the_benchmark_timed_every_comparison_and_nothing_else() -> None:
    assert sorted(FIGURES["ratios"]) == sorted(TIMED)


@pytest.mark.parametrize("key", sorted(TIMED))
def test_a_comparisons_claim_about_speed_agrees_with_the_benchmark(key: str) -> None:
    ratio = FIGURES["ratios"][key][FIGURES["judged"]]
    threshold, noise = FIGURES["faster"], FIGURES["noise"]
    if threshold * (1 - noise) <= ratio < threshold * (1 + noise):
        return  # too close to call: the page may declare a tradeoff or not
    faster = ratio >= threshold
    if TIMED[key].tradeoff is not None:
        assert not faster, f"{key} declares a tradeoff, yet its good variant ran {ratio:.2f}× faster"
    else:
        assert faster, (
            f"{key}: the good variant ran only {ratio:.2f}× as fast on {FIGURES['judged']}: "
            'say why on its page with tradeoff="<one sentence>" on the good block'
        )
