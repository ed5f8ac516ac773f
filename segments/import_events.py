"""Bulk import of event history from JSON Lines: /track's checks, millions of lines at a time.

One event per line, ``{"id", "name", "timestamp", "properties"?, "event_id"?}``: ``id`` is the
user's (an unknown one is created, as /track and identify would), the event as /track takes it
(``tracking.clean_event``: the name, properties and the ways of writing a time), except that the
timestamp is required and may be as old as the raw events are kept
(``CALLOUT_EVENT_RETENTION_DAYS``), not only 365 days: history is what an import is for. An
older event is refused: the next ``prune_events`` would delete it at once, and its
``event_id`` would then no longer be there to make a re-run skip it. A bad line is rejected
with its number and reason; the others go on.

Re-running a file is safe when its lines carry ``event_id``: an event whose id the application
already has is skipped (the ``one_event_per_event_id`` constraint; a repeat within the file
too), and only the events stored count into the users' activity summaries. Lines without one
are stored again on a re-run.

Each batch is one transaction: its new event names (discovered up to
``CALLOUT_MAX_EVENT_NAMES``; lines with a name past it are rejected), its users (created, then
locked in id order), its events and its users' summaries (``activity.record_events``, each user
once per batch). PostgreSQL: the events are COPYed into a temporary table and inserted by one
``INSERT ... ON CONFLICT DO NOTHING RETURNING``; the summaries are written by one UPDATE from
arrays. SQLite: the same steps through the ORM.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from . import activity, tracking
from .events import event_limit_message
from .importing import Reject, _read_ahead, _reason
from .models import Application, EndUser, TrackedEvent
from .rollup import Rollup, rollup_add
from .traits import MAX_ID

BATCH_SIZE = {"postgresql": 20_000, "sqlite": 2_000}
LINE_FIELDS = frozenset({"id", "name", "timestamp", "properties", "event_id"})
MAX_EVENT_ID = 128  # TrackedEvent.event_id


class EventRow(NamedTuple):  # a tuple: millions of them are built per import
    line: int
    external_id: str
    name: str
    micros: int  # Unix microseconds (tracking.TrackEvent)
    properties: dict[str, Any]
    event_id: str  # "" when the line has none


@dataclass
class EventImportResult:
    rows: int = 0  # lines read (blank ones aside), rejected ones included
    imported: int = 0  # events stored and counted
    duplicates: int = 0  # skipped: their event_id was already stored, or earlier in the file
    users_created: int = 0
    rejected: list[Reject] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# --- Reading -------------------------------------------------------------------------------


def _text(value: Any, max_length: int) -> str | None:
    """Text of 1 to ``max_length`` characters that PostgreSQL can store, or None. A whole
    number is taken as its decimal text (as the API takes an id)."""
    if type(value) is int:
        value = str(value)
    if type(value) is not str or not 1 <= len(value) <= max_length or "\x00" in value:
        return None
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate ("\ud800" is valid JSON)
            return None
    return value


class Window(NamedTuple):
    """The times an import accepts, as Unix microseconds."""

    oldest: int
    newest: int
    days: int

    @classmethod
    def at(cls, now: datetime | float | None = None, days: int | None = None) -> Window:
        days = settings.CALLOUT_EVENT_RETENTION_DAYS if days is None else days
        at = tracking.now_micros(now)
        return cls(
            at - days * tracking.DAY_MICROS, at + tracking.MAX_AHEAD_SECONDS * tracking.MICROS, days
        )


def clean_line(line: int, data: Any, window: Window) -> EventRow | Reject:
    """One line's object through /track's checks of an event, plus the user id and event_id."""
    if type(data) is not dict:
        return Reject(line, None, 'expected an object {"id", "name", "timestamp", ...}')
    external_id = _text(data.get("id"), MAX_ID)
    if external_id is None:
        return Reject(line, None, f"id must be text of 1 to {MAX_ID} characters.")
    event_id = data.get("event_id")
    if event_id is not None:
        event_id = _text(event_id, MAX_EVENT_ID)
        if event_id is None:
            reason = f"event_id must be text of 1 to {MAX_EVENT_ID} characters."
            return Reject(line, external_id, reason)
    try:
        event = tracking.clean_event(
            data,
            "",
            default=None,
            oldest=window.oldest,
            newest=window.newest,
            fields=LINE_FIELDS,
            too_old=f"more than {window.days} days (the retention of raw events) before",
        )
    except ValidationError as error:
        return Reject(line, external_id, _reason(error))
    return EventRow(line, external_id, event.name, event.micros, event.properties, event_id or "")


def read_jsonl(file: IO[str], window: Window | None = None) -> Iterator[EventRow | Reject]:
    """JSON Lines: one event object per line; blank lines are skipped."""
    window = window or Window.at()
    loads = json.JSONDecoder().decode
    for number, text in enumerate(file, start=1):
        try:
            data = loads(text)
        except ValueError as error:
            if text.strip():
                yield Reject(number, None, f"not JSON: {error}")
            continue
        yield clean_line(number, data, window)


# --- Writing -------------------------------------------------------------------------------


Progress = Callable[[EventImportResult], None]


def events_import(
    *,
    application: Application,
    rows: Iterable[EventRow | Reject],
    batch_size: int | None = None,
    on_batch: Progress | None = None,
) -> EventImportResult:
    """Store every good row's event and count it into its user's summary; collect the rejected
    rows. Each batch commits on its own, so an interrupted import keeps what it wrote, and a
    re-run of a file with event ids completes it."""
    vendor = "postgresql" if connection.vendor == "postgresql" else "sqlite"
    size = batch_size or BATCH_SIZE[vendor]
    write = _write_postgresql if vendor == "postgresql" else _write_sqlite
    result = EventImportResult()
    started = time.perf_counter()
    batch: list[EventRow] = []

    def flush() -> None:
        if batch:
            with tracking.writing():
                rows = len(batch)
                _within_name_limit(application, batch, result)
                if batch:
                    write(application, batch, result)
            result.rows += rows
            batch.clear()
        result.seconds = time.perf_counter() - started
        if on_batch:
            on_batch(result)

    for row in _read_ahead(rows):
        if type(row) is Reject:
            result.rejected.append(row)
            result.rows += 1
            continue
        batch.append(row)  # type: ignore[arg-type]
        if len(batch) >= size:
            flush()
    flush()
    if vendor == "postgresql" and result.imported and not connection.in_atomic_block:
        # Fresh statistics at once (the Events page's counts and charts plan on them), not
        # when autovacuum gets to it; as import_users does for users.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_table(TrackedEvent)}, {_table(EndUser)}")
        result.seconds = time.perf_counter() - started
    return result


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _within_name_limit(
    application: Application, batch: list[EventRow], result: EventImportResult
) -> None:
    """Discover the batch's new event names (before any user is locked: the order every
    writer keeps); reject the rows whose name is past the application's limit, removing them
    from ``batch``."""
    over = set(
        tracking.event_names_discover(
            application=application, names=dict.fromkeys(row.name for row in batch)
        )
    )
    if over:
        result.rejected += [
            Reject(row.line, row.external_id, event_limit_message(row.name))
            for row in batch
            if row.name in over
        ]
        batch[:] = [row for row in batch if row.name not in over]


def _first_of_each_id(batch: list[EventRow], result: EventImportResult) -> list[EventRow]:
    """The batch without repeats of an event_id (the first one stays); repeats are
    duplicates."""
    seen: set[str] = set()
    kept = []
    for row in batch:
        event_id = row.event_id
        if event_id:
            if event_id in seen:
                result.duplicates += 1
                continue
            seen.add(event_id)
        kept.append(row)
    return kept


def _write_sqlite(
    application: Application, batch: list[EventRow], result: EventImportResult
) -> None:
    batch = _first_of_each_id(batch, result)
    external_ids = list(dict.fromkeys(row.external_id for row in batch))
    users = EndUser.objects.filter(application=application)

    def read(wanted: list[str]) -> dict[str, tuple[int, Any]]:
        found: dict[str, tuple[int, Any]] = {}
        for start in range(0, len(wanted), 500):  # SQLite's limit on query parameters
            chunk = wanted[start : start + 500]
            for pk, external_id, summary in users.filter(external_id__in=chunk).values_list(
                "pk", "external_id", "activity"
            ):
                found[external_id] = (pk, summary)
        return found

    found = read(external_ids)
    missing = [external_id for external_id in external_ids if external_id not in found]
    if missing:
        now = timezone.now()
        EndUser.objects.bulk_create(
            [
                EndUser(
                    application=application,
                    external_id=external_id,
                    traits={},
                    first_seen=now,
                    last_seen=now,
                )
                for external_id in missing
            ],
            batch_size=500,
            ignore_conflicts=True,
        )
        created = read(missing)
        result.users_created += len(created)
        found.update(created)
    ids = {external_id: pk for external_id, (pk, _) in found.items()}
    given = [row.event_id for row in batch if row.event_id]
    stored_ids: set[str] = set()
    for start in range(0, len(given), 500):
        stored_ids.update(
            TrackedEvent.objects.filter(
                application=application, event_id__in=given[start : start + 500]
            ).values_list("event_id", flat=True)
        )
    inserted = [row for row in batch if not row.event_id or row.event_id not in stored_ids]
    result.duplicates += len(batch) - len(inserted)
    now = timezone.now()
    TrackedEvent.objects.bulk_create(
        [
            TrackedEvent(
                application=application,
                end_user_id=ids[row.external_id],
                name=row.name,
                timestamp=tracking.moment(row.micros),
                properties=row.properties,
                event_id=row.event_id,
                received_at=now,
            )
            for row in inserted
        ],
        batch_size=500,
    )
    # The batch's transaction holds SQLite's write lock from its start (tracking.writing):
    # nothing has changed the summaries read above.
    kept = Application.objects.values_list("events_kept", flat=True).get(pk=application.pk)
    stored = dict(found.values())
    rollup = Rollup()
    users = []
    for pk, done in _by_user(inserted, ids).items():
        summary = _summary(stored[pk])
        rollup.add_user(activity.event_names(summary), done)
        users.append(EndUser(pk=pk, activity=activity.record_events(summary, done, kept)))
    EndUser.objects.bulk_update(users, ["activity"], batch_size=500)
    rollup_add(application_id=application.pk, rollup=rollup)
    result.imported += len(inserted)


# The batch's users as they are now, with the version of each row (xmin: the transaction that
# wrote it), unlocked: the summaries are written back only where that version is still the
# current one (``_WRITE_SUMMARIES``). Locking each row here would write it twice (the lock,
# then the update): it made the import half as fast. {enduser}: the quoted table name.
_READ_USERS = """
SELECT id, external_id, activity, xmin::text FROM {enduser}
WHERE application_id = %s AND external_id = ANY(%s)
"""

# Users unknown so far, created as identify would (no traits; activity: the column's default).
_CREATE_USERS = """
INSERT INTO {enduser} (application_id, external_id, traits, first_seen, last_seen)
SELECT %s, x, '{{}}'::jsonb, %s, %s FROM unnest(%s::text[]) AS x
ON CONFLICT (application_id, external_id) DO NOTHING
RETURNING id, external_id, activity, xmin::text
"""

# Users whose row changed since it was read (a /track, identify or a rebuild committed
# meanwhile): read again, locked, so that the second write cannot miss.
_LOCK_USERS = """
SELECT id, external_id, activity, xmin::text FROM {enduser}
WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE
"""

_TEMP = """
CREATE TEMPORARY TABLE callout_import_events (
    end_user_id bigint NOT NULL,
    name text NOT NULL,
    micros bigint NOT NULL,
    properties jsonb NOT NULL,
    event_id text NOT NULL
) ON COMMIT DROP;
CREATE TEMPORARY TABLE callout_import_summaries (
    id bigint NOT NULL,
    version xid NOT NULL,
    activity jsonb NOT NULL
) ON COMMIT DROP
"""

# The batch's events; an event_id already stored is skipped (the one_event_per_event_id
# constraint), and RETURNING says which were stored. Times: whole microseconds, exactly.
_INSERT = """
INSERT INTO {event} (application_id, end_user_id, name, timestamp, properties, event_id,
                     received_at)
SELECT %(application)s, end_user_id, name, 'epoch'::timestamptz + micros * interval '1 us',
       properties, event_id, %(now)s
FROM callout_import_events
ON CONFLICT (application_id, event_id) WHERE event_id <> '' DO NOTHING
RETURNING event_id
"""

# The new summaries, each written only if the row is still the version it was computed from
# and the application still keeps the number of times it was computed with (a rule needing
# more was saved meanwhile: its rebuild must not be cut back); RETURNING says which were.
_WRITE_SUMMARIES = """
UPDATE {enduser} AS u SET activity = t.activity
FROM callout_import_summaries AS t
WHERE u.id = t.id AND u.xmin = t.version
  AND (SELECT events_kept FROM {application} WHERE id = %s) = %s
RETURNING u.id
"""


def _write_postgresql(
    application: Application, batch: list[EventRow], result: EventImportResult
) -> None:
    batch = _first_of_each_id(batch, result)
    enduser, event = _table(EndUser), _table(TrackedEvent)
    external_ids = list(dict.fromkeys(row.external_id for row in batch))
    now = timezone.now()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with connection.cursor() as cursor:
        cursor.execute(_READ_USERS.format(enduser=enduser), [application.pk, external_ids])
        found = {external_id: row for row, external_id in _users(cursor)}
        missing = [external_id for external_id in external_ids if external_id not in found]
        if missing:
            sql = _CREATE_USERS.format(enduser=enduser)
            cursor.execute(sql, [application.pk, now, now, missing])
            created = {external_id: row for row, external_id in _users(cursor)}
            result.users_created += len(created)
            found.update(created)
            if len(found) < len(external_ids):  # created meanwhile by another writer
                late = [external_id for external_id in missing if external_id not in found]
                cursor.execute(_READ_USERS.format(enduser=enduser), [application.pk, late])
                found.update((external_id, row) for row, external_id in _users(cursor))
        ids = {external_id: row[0] for external_id, row in found.items()}
        # Dropped on commit; inside a caller's transaction the previous batch's are still here.
        cursor.execute(
            "DROP TABLE IF EXISTS pg_temp.callout_import_events, pg_temp.callout_import_summaries"
        )
        cursor.execute(_TEMP)
        with cursor.copy(
            "COPY callout_import_events (end_user_id, name, micros, properties, event_id) "
            "FROM STDIN"
        ) as copy:
            write_row = copy.write_row
            for row in batch:
                properties = row.properties
                write_row(
                    (
                        ids[row.external_id],
                        row.name,
                        row.micros,
                        dumps(properties) if properties else "{}",
                        row.event_id,
                    )
                )
        cursor.execute(_INSERT.format(event=event), {"application": application.pk, "now": now})
        stored = {event_id for (event_id,) in cursor.fetchall()}
        inserted = [row for row in batch if not row.event_id or row.event_id in stored]
        result.duplicates += len(batch) - len(inserted)
        events = _by_user(inserted, ids)
        users = {pk: (summary, version) for pk, summary, version in found.values()}
        kept = application.events_kept
        rollup = Rollup()
        for attempt in range(2):
            if attempt:  # the rows that changed meanwhile, locked now; events_kept afresh
                cursor.execute(_LOCK_USERS.format(enduser=enduser), [list(events)])
                users = {pk: (summary, version) for (pk, summary, version), _ in _users(cursor)}
                kept = Application.objects.values_list("events_kept", flat=True).get(
                    pk=application.pk
                )
                cursor.execute("TRUNCATE callout_import_summaries")
            with cursor.copy(
                "COPY callout_import_summaries (id, version, activity) FROM STDIN"
            ) as copy:
                known = {}
                for pk, done in events.items():
                    summary, version = users[pk]
                    counted = _summary(summary)
                    known[pk] = activity.event_names(counted)
                    activity.record_events(counted, done, kept)
                    copy.write_row((pk, version, dumps(counted)))
            # Its size known to the planner (the id column only: statistics on the summaries
            # cost a tenth of the batch): unanalysed, it was guessed ten times too big, which
            # makes the UPDATE read every user of every application (a hash join) rather than
            # look these up, once the table is large.
            cursor.execute("ANALYZE callout_import_summaries (id)")
            sql = _WRITE_SUMMARIES.format(enduser=enduser, application=_table(Application))
            cursor.execute(sql, [application.pk, kept])
            for (pk,) in cursor.fetchall():
                rollup.add_user(known[pk], events.pop(pk))
            if not events:
                break
        else:  # pragma: no cover - locked rows cannot change; only events_kept could, twice
            raise RuntimeError("the summaries changed under their lock")
        rollup_add(application_id=application.pk, rollup=rollup)
    result.imported += len(inserted)


def _users(cursor: Any) -> Iterator[tuple[tuple[int, Any, str], str]]:
    """((id, summary, version), external id) of each row of a users' query."""
    for pk, external_id, summary, version in cursor.fetchall():
        yield (pk, summary, version), external_id


def _by_user(rows: list[EventRow], ids: dict[str, int]) -> dict[int, list[tuple[str, float]]]:
    """The rows' (name, Unix seconds) per user id, in order."""
    events: dict[int, list[tuple[str, float]]] = {}
    for row in rows:
        events.setdefault(ids[row.external_id], []).append((row.name, row.micros / tracking.MICROS))
    return events


def _summary(stored: Any) -> dict[str, Any]:
    """A stored summary as a dict (PostgreSQL's jsonb arrives as text)."""
    if type(stored) is str:
        stored = json.loads(stored)
    return stored if type(stored) is dict else {}
