"""What the Events page shows of each event name, read from the raw events (``TrackedEvent``):
how many times it happened, by how many users, when last, and a daily chart of the last 30 UTC
days.

Two queries whatever the number of names: one GROUP BY name for the totals, one GROUP BY name
and day for the charts, both on the index (application, name, timestamp). The counts are those
of the raw events kept (``CALLOUT_EVENT_RETENTION_DAYS``), not of the users' activity summary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from callout.charts import DailyChart, daily_chart

from .models import Application, TrackedEvent

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
    # order_by(): the model's default ordering must not join the GROUP BY.
    events = TrackedEvent.objects.filter(application=application, name__in=names).order_by()
    totals = {
        row["name"]: row
        for row in events.values("name").annotate(
            total=Count("pk"), users=Count("end_user_id", distinct=True), last=Max("timestamp")
        )
    }
    by_day: dict[str, dict[date, int]] = defaultdict(dict)
    daily = (
        events.filter(timestamp__gte=start, timestamp__lt=end)
        .annotate(day=TruncDate("timestamp", tzinfo=UTC))
        .values("name", "day")
        .annotate(count=Count("pk"))
    )
    for row in daily:
        by_day[row["name"]][row["day"]] = row["count"]
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
