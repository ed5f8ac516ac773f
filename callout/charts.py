"""Small server-rendered charts: the numbers and the geometry, in pure Python.

A chart is plain data that ``templates/charts/daily_bars.html`` draws as inline SVG with
presentation attributes only (x, y, width, height: the CSP forbids style attributes, colours
come from classes in static/css/app.css), and tells in words and in a table beside it, so that
it reads without a mouse and without sight. No JavaScript.

Days are UTC calendar days, oldest first, the last one today; a day with nothing is a zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

# The drawing's size in SVG user units, which the template also uses as its width and height
# in pixels: a bar a day, a gap between bars.
BAR_WIDTH = 5
BAR_GAP = 2
HEIGHT = 32


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class DailyChart:
    """One bar a day over ``len(bars)`` days ending today."""

    bars: list[Bar]
    width: int
    height: int
    noun: str  # what is counted, plural ("events")

    @property
    def total(self) -> int:
        return sum(bar.count for bar in self.bars)

    @property
    def peak(self) -> Bar | None:
        """The busiest day (the most recent of equals), None when every day is zero."""
        busiest = max(self.bars, key=lambda bar: (bar.count, bar.day), default=None)
        return busiest if busiest is not None and busiest.count else None

    @property
    def first_day(self) -> date:
        return self.bars[0].day

    @property
    def last_day(self) -> date:
        return self.bars[-1].day

    @property
    def summary(self) -> str:
        """The chart in words: "30 days: 42 events, peak 7 on 2026-11-20"."""
        head = f"{len(self.bars)} days: {self.total:,} {self.noun}"
        peak = self.peak
        if peak is None:
            return head
        return f"{head}, peak {peak.count:,} on {peak.day.isoformat()}"


def last_days(today: date, days: int) -> list[date]:
    """The ``days`` calendar days ending with ``today``, oldest first."""
    return [today - timedelta(days=back) for back in range(days - 1, -1, -1)]


def daily_chart(
    counts: Mapping[date, int], *, today: date, days: int = 30, noun: str = "events"
) -> DailyChart:
    """Bars for the ``days`` days ending ``today`` from counts by day (missing days are zero,
    days outside the window are ignored). The tallest bar fills the height; any day with a
    count keeps at least one unit, so a single event never disappears beside a peak."""
    window = last_days(today, days)
    values = [int(counts.get(day, 0)) for day in window]
    top = max(values, default=0)
    bars = []
    for index, (day, count) in enumerate(zip(window, values, strict=True)):
        height = max(1, round(count * HEIGHT / top)) if count else 0
        bars.append(
            Bar(
                day=day,
                count=count,
                x=index * (BAR_WIDTH + BAR_GAP),
                y=HEIGHT - height,
                width=BAR_WIDTH,
                height=height,
            )
        )
    width = days * (BAR_WIDTH + BAR_GAP) - BAR_GAP if days else 0
    return DailyChart(bars=bars, width=width, height=HEIGHT, noun=noun)
