"""Daily event counts per name (``EventDay``), kept with the events so that the Events page
reads a few hundred rows, not millions of raw events.

``rollup_add`` is called in the transaction that stores events (``/track``, ``import_events``)
with what that transaction added: per name and UTC day, the events, the users for whom the
name is new (their activity summary had no entry for it before), and the latest time. It is
one ``INSERT ... ON CONFLICT DO UPDATE`` adding to the day's row; rows are written in (name,
day) order, so two transactions never wait on each other in a cycle. ``rollup_rebuild``
recomputes an application's rows from its raw events and summaries (data loaded by other
means: a migration, the demo data, a benchmark's COPY).

A day's counts are spread over rows, its shards, and read as their sum. Every /track call of
an application adds to today's row of each name it tracks: one row per (name, day), and the
calls of all the workers queued on its lock, and under a long transaction anywhere in the
database cluster (which holds back the removal of dead row versions) each update walked all
the versions left by the updates before it; a /track call got slower the longer the run (6 ms
of database CPU a call after 5,000 calls, against 1.2 ms for the rest of the write). A call
adds to its user's shard (``user_shard``: 1 to ``SHARDS``), so that parallel calls mostly
update different rows, each one a ``SHARDS``-th as often. Shard 0 is for the bulk writers
(``import_events``, ``rollup_rebuild``) and for ``rollup_fold``, which ``prune_events`` runs
daily: it sums each past day's shards into its shard 0, so that the Events page reads one row
per name and past day, as many as there were before the shards.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from . import activity
from .models import Application, EndUser, EventDay, TrackedEvent

SHARDS = 64  # a day's rows for /track (user_shard), besides shard 0


def user_shard(user_id: int) -> int:
    """The shard of a day's rows that a user's /track calls add to."""
    return 1 + user_id % SHARDS


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
        # The day of the previous event, and the times surely within it: a call's events are
        # mostly of one day, and reading each time as a date was most of this loop.
        low, high, day = 1.0, 0.0, date.min
        for name, when in events:
            if not low <= when < high:
                day = _utc_day(when)
                low = datetime.combine(day, time.min, UTC).timestamp()
                high = low + 86_400 - 1e-6  # a time read to the microsecond stays in the day
            counts = self.days.setdefault((name, day), Day())
            counts.events += 1
            counts.last_at = max(counts.last_at, when)
            if firsts.get(name) == when:
                counts.new_users += 1
                del firsts[name]  # equal times: the user counts once


def _utc_day(when: float) -> date:
    return datetime.fromtimestamp(when, UTC).date()


_UPSERT = """
    INSERT INTO {table} (application_id, name, day, shard, events, new_users, last_at)
    VALUES {values}
    ON CONFLICT (application_id, name, day, shard) DO UPDATE SET
        events = {table}.events + excluded.events,
        new_users = {table}.new_users + excluded.new_users,
        last_at = {greatest}({table}.last_at, excluded.last_at)"""


def day_counts(
    application: Application, names: Iterable[str] | None = None
) -> QuerySet[EventDay, tuple[str, date, int, int, datetime | None]]:
    """(name, day, events, new users, time of the last event) per name (of ``names``, or all)
    and day: the sums of the day's shards, in one query. The time is None for a day without
    events (a rebuild's first time whose raw event was pruned)."""
    rows = EventDay.objects.filter(application=application)
    if names is not None:
        rows = rows.filter(name__in=list(names))
    return (
        rows.order_by()
        .values("name", "day")
        .annotate(
            total=Sum("events"),
            users=Sum("new_users"),
            last=Max("last_at", filter=Q(events__gt=0)),
        )
        .values_list("name", "day", "total", "users", "last")
    )


def rollup_add(*, application_id: int, rollup: Rollup, shard: int = 0) -> None:
    """Add ``rollup`` to the application's daily rows of ``shard`` (a /track call: its user's,
    ``user_shard``): one statement."""
    if not rollup.days:
        return
    table = connection.ops.quote_name(EventDay._meta.db_table)
    greatest = "GREATEST" if connection.vendor == "postgresql" else "max"
    rows = sorted(rollup.days.items())
    params: list[Any] = []
    for (name, day), counts in rows:
        last = datetime.fromtimestamp(counts.last_at, UTC)
        params += [application_id, name, day, shard, counts.events, counts.new_users, last]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT.format(table=table, values=values, greatest=greatest), params)


def rollup_fold(*, before: date, batch_size: int = 10_000) -> int:
    """Sum the shards of every application's days before ``before`` into each day's shard 0,
    ``batch_size`` rows a transaction; how many rows were folded. A day's sums do not change.

    Each batch locks the table against writes first (reads go on): a /track or an import that
    waits for it holds no lock the fold needs, so none of them can wait on another in a cycle,
    and a late event's add to a day being folded waits, then makes a new row of its shard."""
    from .tracking import writing  # tracking imports this module

    folded = 0
    table = connection.ops.quote_name(EventDay._meta.db_table)
    while True:
        with writing():  # on SQLite, the write lock before the read
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            rows = list(
                EventDay.objects.filter(shard__gt=0, day__lt=before)
                .order_by("application_id", "name", "day", "shard")
                .values_list(
                    "pk", "application_id", "name", "day", "events", "new_users", "last_at"
                )[:batch_size]
            )
            sums: dict[int, Rollup] = {}
            for _, application_id, name, day, events, new_users, last_at in rows:
                counts = sums.setdefault(application_id, Rollup()).days.setdefault(
                    (name, day), Day()
                )
                counts.events += events
                counts.new_users += new_users
                counts.last_at = max(counts.last_at, last_at.timestamp())
            EventDay.objects.filter(pk__in=[row[0] for row in rows]).delete()
            for application_id, rollup in sums.items():
                rollup_add(application_id=application_id, rollup=rollup)
        folded += len(rows)
        if len(rows) < batch_size:
            return folded


def rollup_rebuild(*, application: Application) -> int:
    """The application's daily rows recomputed from its raw events (events, latest time) and its
    users' summaries (the day each user first did each name), one per day in shard 0; the number
    of rows."""
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
