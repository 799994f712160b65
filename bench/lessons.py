"""Section 5: every lesson comparison, timed: is the good variant really faster?

Both variants run through ``runner.run``, alternately (bad, good, bad, good...),
``ROUNDS`` times each, every sample the median of ``REPEAT`` runs in fresh
children, by the supervisor's clock; on ``default`` and on ``large``. A
comparison whose good variant is not ``FASTER`` times faster on ``large`` must
say why on its page (``tradeoff="..."`` on the good block): the table marks
those it finds, and ``bench/lessons.json`` keeps the figures for
``tests/lessons/test_truth.py``, which fails when a lesson and its figures
disagree. Blocks that raise on purpose are not timed.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import report
from bench.timing import Stats
from lessons import loader
from sandbox import runner
from sandbox.contract import DatasetRef, RunRequest

BENCH_SIZES = ("default", "large")
JUDGED = "large"
ROUNDS = 7
REPEAT = 3
FASTER = 1.2
# Runs of this section on an idle machine put one comparison's ratio up to 0.26 apart: within
# FASTER x (1 +/- NOISE) a lesson may say either (a tradeoff, or none). A comparison whose runs
# straddle the band declares none when every run found its good variant above the band's floor.
NOISE = 0.1
FIGURES = Path(__file__).resolve().parent / "lessons.json"


def _walls(bad_code: str, good_code: str, size: str) -> tuple[Stats, Stats, tuple[int, int]]:
    """ROUNDS rounds of (bad, good): each sample is the median of REPEAT runs."""
    dataset = DatasetRef(size, 1)
    samples: tuple[list[float], list[float]] = ([], [])
    counts = [0, 0]
    for _ in range(ROUNDS):
        for index, (walls, code) in enumerate(zip(samples, (bad_code, good_code), strict=True)):
            result = runner.run(RunRequest(code, repeat=REPEAT, dataset=dataset))
            counts[index] = result.query_count
            walls.append(result.wall_ms.median / 1000)
    return Stats(tuple(samples[0])), Stats(tuple(samples[1])), (counts[0], counts[1])


def _verdict(ratio: float, *, said: bool) -> str:
    """What the page must say of a good variant ``ratio`` times as fast on JUDGED."""
    if FASTER * (1 - NOISE) <= ratio < FASTER * (1 + NOISE):
        return f"within ±{NOISE:.0%} of {FASTER:g}×: either reading holds ✅"
    faster = ratio >= FASTER
    return (
        "faster ✅" if faster and not said
        else "tradeoff declared ✅" if said and not faster
        else "faster, yet a tradeoff is declared ❌" if faster
        else "not faster, no tradeoff declared ❌"
    )  # fmt: skip


def run(only: frozenset[str] = frozenset()) -> str:
    """Time every comparison, or only those of the lessons named in ``only`` (keeping the others' figures)."""
    rows = []
    figures: dict[str, dict[str, float]] = {}
    if only:
        figures = json.loads(FIGURES.read_text())["ratios"]
    for size in BENCH_SIZES:
        runner.prepare(DatasetRef(size, 1))
    for lesson in loader.all_lessons():
        if only and lesson.slug not in only:
            continue
        for comparison in lesson.comparisons.values():
            if comparison.bad.raises or comparison.good.raises:
                continue
            key = f"{lesson.slug}/{comparison.id}"
            cells: list[str] = []
            for size in BENCH_SIZES:
                bad, good, counts = _walls(comparison.bad.code, comparison.good.code, size)
                ratio = bad.median / good.median
                figures.setdefault(key, {})[size] = round(ratio, 3)
                cells += [
                    f"{counts[0]} → {counts[1]}",
                    report.figure(bad, "ms"),
                    report.figure(good, "ms"),
                    report.single(ratio, "×"),
                ]
            verdict = _verdict(figures[key][JUDGED], said=comparison.tradeoff is not None)
            rows.append([key, *cells, verdict])
    summary = {"faster": FASTER, "noise": NOISE, "judged": JUDGED, "ratios": figures}
    FIGURES.write_text(json.dumps(summary, indent=1) + "\n")
    headers = ["comparison"] + [
        f"{what} ({size})" for size in BENCH_SIZES for what in ("queries", "bad wall", "good wall", "bad / good")
    ] + [f"good ≥ {FASTER:g}× faster on {JUDGED}"]  # fmt: skip
    intro = (
        "## 5. Lessons: is every good variant faster?\n\n"
        f"Every comparison whose blocks do not raise on purpose, {ROUNDS} rounds of (bad, good), each "
        f"sample the median of {REPEAT} runs by the supervisor's clock. A good variant under {FASTER:g}× "
        f"faster on `{JUDGED}` must declare its tradeoff (within ±{NOISE:.0%} of {FASTER:g}×, the spread "
        "between two runs of this section, either reading holds); the figures go to `bench/lessons.json`, "
        "which `tests/lessons/test_truth.py` holds the lessons to."
    )
    return f"{intro}\n\n{report.table(headers, rows)}"
