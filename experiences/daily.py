"""An experience's last 30 UTC days: how many times it was shown, completed and dismissed
each day, as the server-rendered charts of ``callout/charts.py`` (the Events page's).

Counted from the raw ``Event`` rows, grouped by UTC day and type in one query.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from callout.charts import DailyChart, daily_chart
from segments.event_stats import CHART_DAYS, chart_window

from .models import Event, Experience

# What the page charts, in this order: (event type, the noun counted).
CHARTED = (
    (Event.Type.SHOWN, "shown"),
    (Event.Type.COMPLETED, "completed"),
    (Event.Type.DISMISSED, "dismissed"),
)


@dataclass(frozen=True)
class TypeChart:
    type: str
    label: str
    chart: DailyChart


def daily_events(experience: Experience, *, now: datetime | None = None) -> list[TypeChart]:
    """One chart per charted type over the last ``CHART_DAYS`` UTC days (zeros for quiet
    days), from a single query."""
    today, start, end = chart_window(now or timezone.now())
    rows = (
        Event.objects.filter(
            experience=experience,
            type__in=[kind for kind, _ in CHARTED],
            created_at__gte=start,
            created_at__lt=end,
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "type")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_type: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows:
        by_type[row["type"]][row["day"]] = row["n"]
    return [
        TypeChart(
            type=str(kind),
            label=label,
            chart=daily_chart(by_type.get(kind, {}), today=today, days=CHART_DAYS, noun=label),
        )
        for kind, label in CHARTED
    ]
