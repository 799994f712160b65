"""Server-rendered SVG line charts for "Scale it": no chart library, no script."""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH, HEIGHT = 420, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 30, 26, 44


@dataclass(frozen=True)
class Series:
    label: str
    css: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    y_label: str
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    lines: tuple[tuple[Series, str, tuple[tuple[float, float], ...]], ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = HEIGHT - BOTTOM
    right: int = WIDTH - RIGHT


def _nice_step(maximum: float) -> float:
    raw = maximum / 4 or 1
    magnitude: float = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def line_chart(title: str, y_label: str, rows: list[int], series: list[Series]) -> Chart:
    """Values against rows, rows on a log scale (each dataset size is ~5-20x the last)."""
    lo, hi = math.log10(min(rows)), math.log10(max(rows))

    def x(r: int) -> float:
        return LEFT + (math.log10(r) - lo) / ((hi - lo) or 1) * (WIDTH - LEFT - RIGHT)

    peak = max((v for s in series for v in s.values), default=1)
    step = _nice_step(peak)
    top_value = step * math.ceil(peak / step) or step

    def y(v: float) -> float:
        return HEIGHT - BOTTOM - v / top_value * (HEIGHT - TOP - BOTTOM)

    y_ticks = tuple(Tick(y(step * i), f"{step * i:g}") for i in range(int(round(top_value / step)) + 1))
    x_ticks = tuple(Tick(x(r), f"{r:,}") for r in rows)

    def line(s: Series) -> tuple[Series, str, tuple[tuple[float, float], ...]]:
        dots = tuple((round(x(r), 1), round(y(v), 1)) for r, v in zip(rows, s.values, strict=True))
        return s, " ".join(f"{px:.1f},{py:.1f}" for px, py in dots), dots

    return Chart(title, y_label, x_ticks, y_ticks, tuple(line(s) for s in series))
