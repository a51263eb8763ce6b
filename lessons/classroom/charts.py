"""A histogram of numeric guesses on a log axis, as coordinates for a server-side SVG (the
template draws it: no JavaScript needed). Plain Python.

Guesses for "how many microseconds?" span orders of magnitude, so bins are equal in log10:
a quarter of a decade each (edges at 1, 1.78, 3.16, 5.62, 10, ...), widened to whole decades
when the guesses span more than MAX_BINS bins. A guess of 0 has no place on a log axis: it is
counted in ``not_drawn``. The answer is a line; the range judged right (the step's tolerance
band, lessons.predictions.right_range) a shaded strip behind the bars.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from lessons.figures import format_number

BINS_PER_DECADE = 4
MAX_BINS = 40
WIDTH, HEIGHT = 520, 170
LEFT, RIGHT, TOP, BOTTOM = 30, 30, 14, 30  # margins: first and last axis label, bar labels, value axis


@dataclass(frozen=True)
class Bar:
    low: float  # the bin's edges, in the guesses' unit
    high: float
    count: int
    x: float
    width: float
    y: float
    height: float

    @property
    def label_x(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class Histogram:
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # (x, label) on the value axis
    answer_x: float | None
    band: tuple[float, float] | None  # (x, width) of the tolerance band
    drawn: int
    not_drawn: int  # guesses of zero
    max_count: int
    decades_per_bin: float = 1 / BINS_PER_DECADE
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def base_y(self) -> float:
        return self.height - BOTTOM

    @property
    def plot_left(self) -> float:
        return LEFT

    @property
    def plot_right(self) -> float:
        return self.width - RIGHT

    @property
    def bin_width(self) -> str:
        """A bin's width for the caption: a fraction of a decade, or whole decades once the
        guesses spread wider than MAX_BINS of those."""
        if self.decades_per_bin < 1:
            return f"1/{round(1 / self.decades_per_bin)} of a decade"
        return f"{self.decades_per_bin:g} decade{'' if self.decades_per_bin == 1 else 's'}"


def log_histogram(values: list[float], answer: float, right: tuple[float, float] | None = None) -> Histogram | None:
    """None when there is nothing to draw (no positive guess and no positive answer).
    ``right``: (lowest, highest) guess judged right; no band when it is a single number."""
    positive = [v for v in values if v > 0]
    low_answer, high_answer = right or (answer, answer)
    span = positive + [v for v in (answer, low_answer, high_answer) if v > 0]
    if not span:
        return None
    step = 1 / BINS_PER_DECADE
    first, last = _bin(min(span), step), _bin(max(span), step) + 1
    if last - first > MAX_BINS:
        step = math.ceil((last - first) * step / MAX_BINS)  # whole decades per bin
        first, last = _bin(min(span), step), _bin(max(span), step) + 1
    lo, hi = first * step, last * step  # log10 of the axis ends

    def x(value: float) -> float:
        return LEFT + (math.log10(value) - lo) / (hi - lo) * (WIDTH - LEFT - RIGHT)

    counts = [0] * (last - first)
    for value in positive:
        counts[_bin(value, step) - first] += 1
    top = max(counts + [1])
    plot_height = HEIGHT - TOP - BOTTOM
    bars = []
    for index, count in enumerate(counts):
        low, high = 10 ** ((first + index) * step), 10 ** ((first + index + 1) * step)
        height = count / top * plot_height
        bars.append(Bar(low, high, count, x(low), x(high) - x(low), HEIGHT - BOTTOM - height, height))
    band = None
    if low_answer > 0 and high_answer > low_answer:
        band = (x(low_answer), x(high_answer) - x(low_answer))
    return Histogram(bars, _ticks(lo, hi, x), x(answer) if answer > 0 else None, band,
                     len(positive), len(values) - len(positive), top, decades_per_bin=step)


def _bin(value: float, step: float) -> int:
    # The nudge keeps an exact edge (1000 = 10^3) in the bin it opens despite rounding in log10.
    return math.floor(math.log10(value) / step + 1e-9)


def _ticks(lo: float, hi: float, x) -> list[tuple[float, str]]:
    """A label at every power of ten on the axis; at both ends where it spans under a decade."""
    decades = range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1)
    values = [10.0 ** k for k in decades] if len(decades) >= 2 else [10 ** lo, 10 ** hi]
    return [(x(v), format_number(float(f"{v:.3g}"))) for v in values]
