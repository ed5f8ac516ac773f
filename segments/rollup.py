"""Daily event counts per name (``EventDay``), kept with the events so that the Events page
reads a few hundred rows, not millions of raw events.

``rollup_add`` is called in the transaction that stores events (``/track``, ``import_events``)
with what that transaction added: per name and UTC day, the events, the users for whom the
name is new (their activity summary had no entry for it before), and the latest time. It is
one ``INSERT ... ON CONFLICT DO UPDATE`` adding to the day's row; rows are written in (name,
day) order, so two transactions never wait on each other in a cycle. ``rollup_rebuild``
recomputes an application's rows from its raw events and summaries (data loaded by other
means: a migration, the demo data, a benchmark's COPY).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Max
from django.db.models.functions import TruncDate

from . import activity
from .models import Application, EndUser, EventDay, TrackedEvent


@dataclass
class Day:
    events: int = 0
    new_users: int = 0
    last_at: float = float("-inf")


@dataclass
class Rollup:
    """What one transaction adds, per (name, UTC day)."""

    days: dict[tuple[str, date], Day] = field(default_factory=dict)

    def add(self, name: str, when: float, new_user: bool = False) -> None:
        day = self.days.setdefault((name, _utc_day(when)), Day())
        day.events += 1
        day.new_users += new_user
        day.last_at = max(day.last_at, when)

    def add_user(self, known: Collection[str], events: Iterable[tuple[str, float]]) -> None:
        """One user's new events, ``known`` being the names the user's summary had before them
        (``activity.event_names``): a new name counts the user once, on the day of their first
        such event."""
        events = list(events)
        firsts: dict[str, float] = {}
        for name, when in events:
            if name not in known:
                firsts[name] = min(firsts.get(name, when), when)
        for name, when in events:
            self.add(name, when, new_user=firsts.get(name) == when)
            if firsts.get(name) == when:
                del firsts[name]  # equal times: the user counts once


def _utc_day(when: float) -> date:
    return datetime.fromtimestamp(when, UTC).date()


_UPSERT = """
    INSERT INTO {table} (application_id, name, day, events, new_users, last_at)
    VALUES {values}
    ON CONFLICT (application_id, name, day) DO UPDATE SET
        events = {table}.events + excluded.events,
        new_users = {table}.new_users + excluded.new_users,
        last_at = {greatest}({table}.last_at, excluded.last_at)"""


def rollup_add(*, application_id: int, rollup: Rollup) -> None:
    """Add ``rollup`` to the application's daily rows: one statement."""
    if not rollup.days:
        return
    table = connection.ops.quote_name(EventDay._meta.db_table)
    greatest = "GREATEST" if connection.vendor == "postgresql" else "max"
    rows = sorted(rollup.days.items())
    params: list[Any] = []
    for (name, day), counts in rows:
        last = datetime.fromtimestamp(counts.last_at, UTC)
        params += [application_id, name, day, counts.events, counts.new_users, last]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT.format(table=table, values=values, greatest=greatest), params)


def rollup_rebuild(*, application: Application) -> int:
    """The application's daily rows recomputed from its raw events (events, latest time) and its
    users' summaries (the day each user first did each name); the number of rows."""
    EventDay.objects.filter(application=application).delete()
    days: dict[tuple[str, date], EventDay] = {}
    counted = (
        TrackedEvent.objects.filter(application=application)
        .order_by()
        .annotate(day=TruncDate("timestamp", tzinfo=UTC))
        .values("name", "day")
        .annotate(events=Count("pk"), last_at=Max("timestamp"))
    )
    for row in counted.iterator():
        days[row["name"], row["day"]] = EventDay(
            application=application,
            name=row["name"],
            day=row["day"],
            events=row["events"],
            last_at=row["last_at"],
        )
    summaries = EndUser.objects.filter(application=application).values_list("activity", flat=True)
    for summary in summaries.iterator(chunk_size=2000):
        for name in (summary or {}).get(activity.EVENTS, {}):
            found = activity.entry(summary, name)
            if found is None:
                continue
            first = found[activity.FIRST]
            key = (name, _utc_day(first))
            if key not in days:  # a first time whose raw event was pruned
                stamp = datetime.fromtimestamp(first, UTC)
                days[key] = EventDay(
                    application=application, name=name, day=key[1], events=0, last_at=stamp
                )
            days[key].new_users += 1
    EventDay.objects.bulk_create(days.values(), batch_size=2000)
    return len(days)
