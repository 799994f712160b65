"""Every section in order, assembled into results.md."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.test.utils import override_settings

from bench import (
    blog_listing,
    capture_overhead,
    lessons,
    load,
    own_models,
    report,
    resets,
    runner_overhead,
    seeding,
    served,
    throughput,
)
from sandbox import runner

RESULTS = Path(__file__).resolve().parent / "results.md"


def _timed[T](name: str, step: Callable[[], T]) -> T:
    print(f"bench: {name}…", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = step()
    print(f"bench: {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return result


def _sections() -> list[str]:
    parts = [_timed("seed", seeding.run), _timed("blog listing", blog_listing.run)]
    try:
        failure = _timed("worker warm-up", runner_overhead.warm)
        if failure is None:
            parts.append(_timed("cost per statement", capture_overhead.run))
            parts.append(_timed("runner overhead", runner_overhead.run))
            parts.append(_timed("throughput", throughput.run))
            parts.append(_timed("lessons", lessons.run))
            parts.append(_timed("resets", resets.run))
            parts.append(_timed("load", load.run))
            parts.append(_timed("own models", own_models.run))
            parts.append(_timed("served", served.run))
        else:
            parts.append(
                f"## 3. Runner overhead and 4. Throughput\n\nNot measured: a warm-up run failed ({failure})."
            )
    finally:
        runner.worker().stop()
    return parts


def run() -> Path:
    """Run sections 1–4, write ``bench/results.md`` (overwriting it) and return its path.

    Everything runs with DEBUG off, as in production and in the sandbox worker:
    DEBUG's SQL logging is a development aid, not part of what is measured.
    """
    started = time.perf_counter()
    header = report.machine()
    with override_settings(DEBUG=False):
        parts = _sections()
    footer = (
        f"_Whole run: {time.perf_counter() - started:.0f} s; load average at the end: "
        f"{report.load()}. Written by `python -m bench`._"
    )
    RESULTS.write_text("\n\n".join(["# QueryLab benchmarks", header, *parts, footer]) + "\n")
    return RESULTS


def replace_section(section: str) -> Path:
    """Put ``section`` (starting with its "## N." heading) in place of that section of results.md."""
    heading = section.split("\n", 1)[0].split(" ", 2)[:2]  # ["##", "5."]
    text = RESULTS.read_text()
    start = text.index(" ".join(heading) + " ")
    end = text.find("\n## ", start + 1)
    end = len(text) if end == -1 else end + 1
    RESULTS.write_text(text[:start] + section.rstrip() + "\n\n" + text[end:].lstrip("\n"))
    return RESULTS
