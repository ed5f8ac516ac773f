"""What the Events page shows of each event name: how many times it happened, by how many
users, when last, and a daily chart of the last 30 UTC days.

Read from the daily counts (``EventDay``, segments/rollup.py, each day's shards summed by the
database), written with the events: one query whatever the number of names, and its cost does
not grow with the number of raw events. The counts are lifetime counts (pruning raw events
does not lower them), as the rules' are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from callout.charts import DailyChart, daily_chart

from .models import Application
from .rollup import day_counts

CHART_DAYS = 30


@dataclass(frozen=True)
class EventStats:
    total: int
    users: int
    last_seen: datetime | None
    chart: DailyChart


def chart_window(now: datetime, days: int = CHART_DAYS) -> tuple[date, datetime, datetime]:
    """Today's UTC date, and the start (inclusive) and end (exclusive) of the ``days`` UTC
    calendar days ending today. An event stamped after today (clocks ahead) is left out."""
    today = now.astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)
    return today, start, start + timedelta(days=days)


def event_stats(
    application: Application, names: Iterable[str], *, now: datetime | None = None
) -> dict[str, EventStats]:
    """Each name's statistics (zeros for a name with no event), in two queries."""
    names = list(names)
    if not names:
        return {}
    today, start, end = chart_window(now or timezone.now())
    totals: dict[str, dict[str, Any]] = {}
    by_day: dict[str, dict[date, int]] = defaultdict(dict)
    rows = day_counts(application, names)
    for name, day, events, new_users, last_at in rows:
        row = totals.setdefault(name, {"total": 0, "users": 0, "last": None})
        row["total"] += events
        row["users"] += new_users
        if last_at is not None and (row["last"] is None or last_at > row["last"]):
            row["last"] = last_at
        if start.date() <= day < end.date():
            by_day[name][day] = events
    stats = {}
    for name in names:
        row = totals.get(name, {})
        stats[name] = EventStats(
            total=row.get("total", 0),
            users=row.get("users", 0),
            last_seen=row.get("last"),
            chart=daily_chart(by_day.get(name, {}), today=today, days=CHART_DAYS),
        )
    return stats
