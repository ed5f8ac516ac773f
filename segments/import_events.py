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
``CALLOUT_MAX_EVENT_NAMES``; lines with a name past it are rejected), its users (created when
unknown), its users' summaries (``activity.record_events``, each user once per batch), then its
events, and the daily counts (``rollup``). SQLite: through the ORM.

PostgreSQL (docs/scale.md, Events, has the measurements): of each user's summary only the
entries of the batch's names are read (``activity -> 'e' -> name``) and written back (merged
with ``jsonb_set``), where the row is still the version read (``xmin``), else read again,
locked, and counted again; a summary of a kilobyte was printed and parsed twice per event
before. The event ids already stored are looked up first, then the summaries written (each
user locked before its events are stored, as /track does), then the events COPYed into a
temporary table and inserted by a plain INSERT; an event_id stored meanwhile by another import
rolls the batch back to run again (``_Again``). Outside a caller's transaction each batch is
shared by user between ``writers`` connections (``_Writers``; its new names discovered first,
in a transaction of their own), each share a transaction, committed without waiting for the
disk; the import's last transaction waits for all of them.
"""

from __future__ import annotations

import gc
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.utils import timezone

from . import activity, tracking
from .behaviour import EVENT_NAME
from .events import event_limit_message
from .importing import Reject, _read_ahead, _reason
from .models import Application, EndUser, TrackedEvent
from .rollup import Rollup, rollup_add
from .traits import MAX_ID

BATCH_SIZE = {"postgresql": 20_000, "sqlite": 2_000}
LINE_FIELDS = frozenset({"id", "name", "timestamp", "properties", "event_id"})
MAX_EVENT_ID = 128  # TrackedEvent.event_id
ATTEMPTS = 3  # of a batch that met a concurrent writer's work (``_Again``)
WRITERS = 2  # threads writing each batch on PostgreSQL (events_import)


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
    """JSON Lines: one event object per line; blank lines are skipped.

    Most lines of a real file are alike: text ids, a known name, a number for the time, no or
    few properties. Those are taken here with the few checks that settle them (``quick_row``),
    about half the time ``clean_line`` takes; any other line, good or bad, goes through
    ``clean_line``, which finds its reason."""
    window = window or Window.at()
    loads = json.JSONDecoder().decode
    names: set[str] = set()
    for number, text in enumerate(file, start=1):
        try:
            data = loads(text)
        except ValueError as error:
            if text.strip():
                yield Reject(number, None, f"not JSON: {error}")
            continue
        yield quick_row(number, data, window, names) or clean_line(number, data, window)


MAX_NAMES_SEEN = 10_000


def quick_row(number: int, data: Any, window: Window, names: set[str]) -> EventRow | None:
    """The row ``clean_line`` would make of a line of the common kind (ASCII text ids, a name
    in ``names`` or a valid one, which joins it, a timestamp ``tracking.read_timestamp``
    reads within the window, valid properties), or None: ``clean_line`` decides."""
    if type(data) is not dict or not data.keys() <= LINE_FIELDS:
        return None
    external_id = data.get("id")
    event_id = data.get("event_id")
    name = data.get("name")
    if not (
        type(external_id) is str
        and 0 < len(external_id) <= MAX_ID
        and external_id.isascii()
        and "\x00" not in external_id
        and (
            event_id is None
            or (
                type(event_id) is str
                and 0 < len(event_id) <= MAX_EVENT_ID
                and event_id.isascii()
                and "\x00" not in event_id
            )
        )
    ):
        return None
    if name not in names:
        if type(name) is not str or not EVENT_NAME.fullmatch(name):
            return None
        if len(names) < MAX_NAMES_SEEN:
            names.add(name)
    micros = tracking.read_timestamp(data.get("timestamp"))
    if micros is None or not window.oldest <= micros <= window.newest:
        return None
    try:
        properties = tracking.clean_properties(data.get("properties"), "properties")
    except ValidationError:
        return None
    return EventRow(number, external_id, name, micros, properties, event_id or "")


# --- Writing -------------------------------------------------------------------------------


Progress = Callable[[EventImportResult], None]


def events_import(
    *,
    application: Application,
    rows: Iterable[EventRow | Reject],
    batch_size: int | None = None,
    on_batch: Progress | None = None,
    writers: int | None = None,
) -> EventImportResult:
    """Store every good row's event and count it into its user's summary; collect the rejected
    rows. Each batch commits on its own, so an interrupted import keeps what it wrote, and a
    re-run of a file with event ids completes it.

    On PostgreSQL, outside a caller's transaction, each batch is written by ``writers``
    (default ``WRITERS``) threads on connections of their own, each taking the users of one
    share (by external id): the database's work per event is most of an import's time, and this way
    it runs on as many of the server's cores. Users are never shared, so the writers never
    wait for each other's rows; a batch's repeats of an event_id are dropped before it is
    shared, and a batch starts once the previous one is committed, so the first line with
    an event_id is the one stored, as with one writer."""
    vendor = "postgresql" if connection.vendor == "postgresql" else "sqlite"
    size = batch_size or BATCH_SIZE[vendor]
    outside = not connection.in_atomic_block
    # Batches commit without waiting for the disk (not inside a caller's transaction, whose
    # commit is the caller's); once the last has, one transaction that does wait writes the
    # log up to there: every batch is then on disk. A crash meanwhile loses at most the
    # batches of the last moment, which the command had not reported, and which a re-run with
    # event ids adds. The wait per batch was a few percent of an import's time.
    asynchronous = vendor == "postgresql" and outside
    count = max(1, writers or WRITERS) if vendor == "postgresql" and outside else 1
    result = EventImportResult()
    started = time.perf_counter()
    batch: list[EventRow] = []

    def work(rows: list[EventRow]) -> EventImportResult:
        return _write_batch(application, rows, vendor, asynchronous)

    pool = _Writers(count, work) if count > 1 else None

    def flush() -> None:
        if batch:
            if pool is None:
                _add(result, work(batch))
            else:
                first = EventImportResult()
                rows = _first_of_each_id(batch, first)
                # The batch's new names, discovered once before it is shared: writers each
                # discovering them would take turns on the application's row, and the second
                # could count the first's new names against the limit.
                with tracking.writing():
                    _within_name_limit(application, rows, first)
                shares: list[list[EventRow]] = [[] for _ in range(count)]
                for row in rows:
                    shares[hash(row.external_id) % count].append(row)
                _add(result, first)
                for done in pool.write(shares):
                    _add(result, done)
            result.rows += len(batch)
            batch.clear()
        result.seconds = time.perf_counter() - started
        if on_batch:
            on_batch(result)

    # A batch and the rows read ahead are a few hundred thousand tuples, which hold no cycles:
    # the cyclic garbage collector, set off by every few hundred new ones, went over them again
    # and again (about a fifth of the Python time of an import). Back on when done.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for row in _read_ahead(rows):
            if type(row) is Reject:
                result.rejected.append(row)
                result.rows += 1
                continue
            batch.append(row)  # type: ignore[arg-type]
            if len(batch) >= size:
                flush()
        flush()
    finally:
        if pool is not None:
            pool.close()
        if collecting:
            gc.enable()
    if asynchronous and result.rows:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()")  # a transaction id: a durable commit
    if vendor == "postgresql" and result.imported and outside:
        # Fresh statistics at once (the Events page's counts and charts plan on them), not
        # when autovacuum gets to it; as import_users does for users. Only of a table that
        # changed as much as makes autovacuum analyze it (a tenth of its rows): a million
        # events into twenty million took seconds to sample again, for the same figures.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")  # this import's counts too
            cursor.execute(_STALE, [[TrackedEvent._meta.db_table, EndUser._meta.db_table]])
            stale = [connection.ops.quote_name(name) for (name,) in cursor.fetchall()]
            if stale:
                cursor.execute(f"ANALYZE {', '.join(stale)}")
        result.seconds = time.perf_counter() - started
    return result


def _add(result: EventImportResult, done: EventImportResult) -> None:
    result.imported += done.imported
    result.duplicates += done.duplicates
    result.users_created += done.users_created
    result.rejected += done.rejected


def _write_batch(
    application: Application, batch: list[EventRow], vendor: str, asynchronous: bool
) -> EventImportResult:
    """One batch in one transaction, on this thread's connection; run again if it met a
    concurrent writer's work (``_Again``). What it did, once committed."""
    write = _write_postgresql if vendor == "postgresql" else _write_sqlite
    for attempt in range(1, ATTEMPTS + 1):
        done = EventImportResult()
        rows = list(batch)
        try:
            with tracking.writing():
                if asynchronous:
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL synchronous_commit = off")
                _within_name_limit(application, rows, done)
                if rows:
                    write(application, rows, done)
        except _Again:
            if attempt == ATTEMPTS:
                raise
            continue
        break
    return done


class _Writers:
    """``count`` threads, each writing its share of every batch on its own connection."""

    def __init__(self, count: int, work: Callable[[list[EventRow]], EventImportResult]) -> None:
        self.inboxes: list[queue.Queue[list[EventRow] | None]] = [
            queue.Queue() for _ in range(count)
        ]
        self.outbox: queue.Queue[EventImportResult | BaseException] = queue.Queue()
        self.threads = [
            threading.Thread(target=self._run, args=(inbox, work), name=f"import-writer-{n}")
            for n, inbox in enumerate(self.inboxes)
        ]
        for thread in self.threads:
            thread.start()

    def _run(
        self,
        inbox: queue.Queue[list[EventRow] | None],
        work: Callable[[list[EventRow]], EventImportResult],
    ) -> None:
        try:
            while (rows := inbox.get()) is not None:
                try:
                    self.outbox.put(work(rows) if rows else EventImportResult())
                except BaseException as error:  # handed to the importing thread, raised there
                    self.outbox.put(error)
        finally:
            connection.close()  # this thread's own

    def write(self, shares: list[list[EventRow]]) -> list[EventImportResult]:
        """Each share written by its thread, together; what they did, once all committed."""
        for inbox, share in zip(self.inboxes, shares, strict=True):
            inbox.put(share)
        done = [self.outbox.get() for _ in shares]
        for item in done:
            if isinstance(item, BaseException):
                raise item
        return done  # type: ignore[return-value]

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for thread in self.threads:
            thread.join()


# The tables whose rows changed since they were last analysed by more than autovacuum's
# default threshold (autovacuum_analyze_scale_factor 0.1, autovacuum_analyze_threshold 50).
_STALE = """
SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.relname = ANY(%s) AND s.schemaname = current_schema()
  AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
"""


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
# wrote it), unlocked, and of each user's summary only the entries of the names the batch has
# for them (as text: SQL NULL when the summary has no such key, 'null' when its value is null):
# a summary is a few kilobytes, an entry a hundred bytes, and PostgreSQL's time went mostly to
# printing and parsing whole summaries. The summaries are written back only where that
# version is still the current one (``_WRITE_SUMMARIES``). Locking each row here would write
# it twice (the lock, then the update): it made the import half as fast. {enduser}: the
# quoted table name; the parameters: [[external id, name], ...] as JSON (lists of text go
# through psycopg's quoting one item at a time; JSON text is written and read in C), and the
# application.
#
# Each lookup is a LATERAL subquery with LIMIT (the key is unique: it changes nothing): it
# cannot be turned into a join, so it is always a probe of the index, whatever the planner
# believes of the table. As a join, statistics older than the import (a new application
# whose users the batches are creating) made it hash every user of the application, batch
# after batch.
_READ_USERS = """
SELECT u.external_id, u.id, u.xmin::text, x.value ->> 1,
       (u.activity -> 'e' -> (x.value ->> 1))::text
FROM json_array_elements(%s::json) AS x
CROSS JOIN LATERAL (
    SELECT id, external_id, xmin, activity FROM {enduser}
    WHERE application_id = %s AND external_id = x.value ->> 0 LIMIT 1
) AS u
"""

# Users unknown so far, created as identify would (no traits; activity: the column's default,
# so no entries).
_CREATE_USERS = """
INSERT INTO {enduser} (application_id, external_id, traits, first_seen, last_seen)
SELECT %s, x, '{{}}'::jsonb, %s, %s FROM json_array_elements_text(%s::json) AS x
ON CONFLICT (application_id, external_id) DO NOTHING
RETURNING external_id, id, xmin::text
"""

# Users whose row changed since it was read (a /track, identify or a rebuild committed
# meanwhile): read again, locked, so that the second write cannot miss. [[id, name], ...].
_LOCK_USERS = """
SELECT u.external_id, u.id, u.xmin::text, x.value ->> 1,
       (u.activity -> 'e' -> (x.value ->> 1))::text
FROM json_array_elements(%s::json) AS x
JOIN {enduser} AS u ON u.id = (x.value ->> 0)::bigint
ORDER BY u.id FOR NO KEY UPDATE OF u
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
    entries jsonb NOT NULL
) ON COMMIT DROP
"""

# Of the batch's event ids ([id, ...] as JSON), those the application already has: their
# events are skipped. A probe of one_event_per_event_id each (LATERAL, as _READ_USERS; its
# condition implies the index's predicate): as a join or "= ANY", the planner scanned all
# of the application's event ids, or its events, when its statistics said there were few.
_STORED_IDS = """
SELECT x.event_id FROM json_array_elements_text(%s::json) AS x (event_id)
CROSS JOIN LATERAL (
    SELECT 1 FROM {event}
    WHERE application_id = %s AND event_id = x.event_id AND event_id <> '' LIMIT 1
) AS stored
"""

# The batch's new events. Times: whole microseconds, exactly. An event_id stored since
# _STORED_IDS read them (an import of the same file at the same time) breaks the
# one_event_per_event_id constraint: the batch runs again (``_Again``).
_INSERT = """
INSERT INTO {event} (application_id, end_user_id, name, timestamp, properties, event_id,
                     received_at)
SELECT %(application)s, end_user_id, name, 'epoch'::timestamptz + micros * interval '1 us',
       properties, event_id, %(now)s
FROM callout_import_events
"""

# The summaries' entries written into them (a summary that is not an object, or whose "e" is
# not one, taken as empty, as activity.record_events takes it), each only if the row is still
# the version they were computed from and the application still keeps the number of times
# they were computed with (a rule needing more was saved meanwhile: its rebuild must not be
# cut back); RETURNING says which were.
_WRITE_SUMMARIES = """
UPDATE {enduser} AS u SET activity = jsonb_set(
    CASE WHEN jsonb_typeof(u.activity) = 'object' THEN u.activity ELSE '{{}}' END, '{{e}}',
    CASE WHEN jsonb_typeof(u.activity -> 'e') = 'object' THEN u.activity -> 'e' ELSE '{{}}' END
    || t.entries)
FROM callout_import_summaries AS t
WHERE u.id = t.id AND u.xmin = t.version
  AND (SELECT events_kept FROM {application} WHERE id = %s) = %s
RETURNING u.id
"""


class _Stored(NamedTuple):
    """A user as read: the row's version and the entries of the batch's names it has."""

    version: str
    entries: dict[str, Any]


def _read_users(cursor: Any, sql: str, params: list[Any]) -> dict[str, tuple[int, _Stored]]:
    """{external id: (id, stored)} from ``_READ_USERS``' or ``_LOCK_USERS``' rows."""
    found: dict[str, tuple[int, _Stored]] = {}
    cursor.execute(sql, params)
    loads = json.JSONDecoder().decode
    for external_id, pk, version, name, entry in cursor.fetchall():
        user = found.get(external_id)
        if user is None:
            user = found[external_id] = (pk, _Stored(version, {}))
        if entry is not None:
            user[1].entries[name] = loads(entry)
    return found


class _Again(Exception):
    """A batch met work of a concurrent writer it cannot count around (an event_id stored since
    it looked, a user deleted since it read them): rolled back, it runs again."""


def _write_postgresql(
    application: Application, batch: list[EventRow], result: EventImportResult
) -> None:
    """The event ids already stored are looked up first (a re-run reads nothing else), then the
    summaries written, then the events: every user of the batch is locked (by its summary's
    UPDATE) before its events are stored, as /track does."""
    batch = _first_of_each_id(batch, result)
    enduser, event = _table(EndUser), _table(TrackedEvent)
    now = timezone.now()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with connection.cursor() as cursor:
        given = [row.event_id for row in batch if row.event_id]
        if given:
            cursor.execute(_STORED_IDS.format(event=event), [dumps(given), application.pk])
            stored = {event_id for (event_id,) in cursor.fetchall()}
            if stored:
                new = [row for row in batch if not row.event_id or row.event_id not in stored]
                result.duplicates += len(batch) - len(new)
                batch = new
                if not batch:
                    return
        pairs = dict.fromkeys((row.external_id, row.name) for row in batch)
        sql = _READ_USERS.format(enduser=enduser)
        found = _read_users(cursor, sql, [dumps(list(pairs)), application.pk])
        missing = list(dict.fromkeys(u for u, _ in pairs if u not in found))
        if missing:
            cursor.execute(
                _CREATE_USERS.format(enduser=enduser), [application.pk, now, now, dumps(missing)]
            )
            created = {u: (pk, _Stored(version, {})) for u, pk, version in cursor.fetchall()}
            result.users_created += len(created)
            found.update(created)
            late = {u for u in missing if u not in found}
            if late:  # created meanwhile by another writer
                late_pairs = [(u, n) for u, n in pairs if u in late]
                found.update(_read_users(cursor, sql, [dumps(late_pairs), application.pk]))
        ids = {external_id: pk for external_id, (pk, _) in found.items()}
        # Dropped on commit; inside a caller's transaction the previous batch's are still here.
        cursor.execute(
            "DROP TABLE IF EXISTS pg_temp.callout_import_events, pg_temp.callout_import_summaries"
        )
        cursor.execute(_TEMP)
        events = _by_user(batch, ids)
        users = {pk: user for pk, user in found.values()}
        kept = application.events_kept
        rollup = Rollup()
        for attempt in range(2):
            if attempt:  # the rows that changed meanwhile, locked now; events_kept afresh
                again = [(pk, name) for pk, done in events.items() for name, _ in done]
                sql = _LOCK_USERS.format(enduser=enduser)
                params = [dumps(list(dict.fromkeys(again)))]
                users = dict(_read_users(cursor, sql, params).values())
                if len(users) < len(events):
                    raise _Again("a user was deleted meanwhile")
                kept = Application.objects.values_list("events_kept", flat=True).get(
                    pk=application.pk
                )
                cursor.execute("TRUNCATE callout_import_summaries")
            with cursor.copy(
                "COPY callout_import_summaries (id, version, entries) FROM STDIN"
            ) as copy:
                known = {}
                # In id order: the UPDATE locks the rows in that order (two imports of the same
                # users never wait for each other in a cycle), and visits them in the order
                # they were stored.
                for pk in sorted(events):
                    done = events[pk]
                    version, entries = users[pk]
                    # record_events changes only the entries of the names it counts: these.
                    counted = {activity.EVENTS: dict(entries)}
                    known[pk] = entries.keys()
                    activity.record_events(counted, done, kept)
                    copy.write_row((pk, version, dumps(counted[activity.EVENTS])))
            # Its size known to the planner (the id column only): unanalysed, it was guessed ten
            # times too big, which makes the UPDATE read every user of every application (a
            # hash join) rather than look these up, once the table is large.
            cursor.execute("ANALYZE callout_import_summaries (id)")
            sql = _WRITE_SUMMARIES.format(enduser=enduser, application=_table(Application))
            cursor.execute(sql, [application.pk, kept])
            for (pk,) in cursor.fetchall():
                rollup.add_user(known[pk], events.pop(pk))
            if not events:
                break
        else:  # pragma: no cover - locked rows cannot change; only events_kept could, twice
            raise RuntimeError("the summaries changed under their lock")
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
        try:
            cursor.execute(_INSERT.format(event=event), {"application": application.pk, "now": now})
        except IntegrityError as error:
            if _constraint(error) != _EVENT_ID_CONSTRAINT:
                raise
            raise _Again("an event_id was stored meanwhile") from error
        rollup_add(application_id=application.pk, rollup=rollup)
    result.imported += len(batch)


_EVENT_ID_CONSTRAINT = "one_event_per_event_id"


def _constraint(error: IntegrityError) -> str | None:
    """The name of the constraint a PostgreSQL error broke, if any."""
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


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
