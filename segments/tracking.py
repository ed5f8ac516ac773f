"""What the users of a customer's app did: events, checked, stored raw (``TrackedEvent``) and
counted into each user's activity summary (``segments/activity.py``), which the rules read.

Every write of events goes through here (``/api/v1/track``; ``import_events`` shares the
checks and the name discovery): keyword-only, atomic and validated as ``segments/actions.py``,
errors a ``ValidationError`` keyed by the field's path (``events[3].name``,
``events[0].properties.plan``). A call with one bad event stores nothing, not even its good
ones.

An event's time is kept as whole Unix microseconds (``TrackEvent.micros``): the raw row's
timestamp and the summary's float are both made from it, so a summary rebuilt from the raw rows
holds exactly the times counted in when the events arrived.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from . import activity, coerce
from .actions import _upsert_end_user, end_user_clean
from .behaviour import EVENT_NAME
from .events import event_limit_message, event_names_over_limit
from .models import Application, EndUser, EventDefinition, TrackedEvent
from .rollup import Rollup, rollup_add, user_shard
from .traits import MAX_TRAITS, TraitError, check_key, check_value

MAX_EVENTS = 100  # per /track call
MAX_AGE_DAYS = 365  # /track refuses older events (import_events: the retention instead)
MAX_AHEAD_SECONDS = 300  # and events more than this in the future (a clock set wrong)
EVENT_FIELDS = frozenset({"name", "timestamp", "properties"})

MICROS = 1_000_000
DAY_MICROS = 86_400 * MICROS
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A Unix timestamp above this is in milliseconds, as a date trait is read (coerce.coerce_date):
# 10^11 seconds is the year 5138, 10^11 milliseconds March 1973.
MILLISECONDS_ABOVE = 1e11


class TrackEvent(NamedTuple):  # a tuple: an import builds millions
    name: str
    micros: int  # Unix microseconds
    properties: dict[str, Any]

    @property
    def when(self) -> float:
        """Unix seconds, as the activity summary keeps them."""
        return self.micros / MICROS

    @property
    def timestamp(self) -> datetime:
        return moment(self.micros)


def moment(micros: int) -> datetime:
    """Unix microseconds as an aware datetime (UTC), exactly."""
    return EPOCH + timedelta(microseconds=micros)


# --- Checks ------------------------------------------------------------------------------


def now_micros(now: datetime | float | None = None) -> int:
    return round(coerce.now_seconds(now) * MICROS)


def read_timestamp(value: Any) -> int | None:
    """An event's time as Unix microseconds, read as a date trait is read: ISO 8601 text (a
    date alone is midnight UTC; a time without an offset is UTC), or a Unix timestamp in
    seconds, or in milliseconds when above 10^11. None when it is none of these."""
    kind = type(value)
    if kind is str:
        return coerce.iso_micros(value)
    if kind is int:
        return value * 1_000 if value > MILLISECONDS_ABOVE else value * MICROS
    if kind is float and math.isfinite(value):
        seconds = value / 1000.0 if value > MILLISECONDS_ABOVE else value
        return round(seconds * MICROS)
    return None


def _shown(micros: int) -> str:
    """ " (2026-11-20T14:30:00Z)": how a timestamp was read, when it is a date at all."""
    try:
        when = moment(micros)
    except OverflowError:
        return ""
    return f" ({when.isoformat().replace('+00:00', 'Z')})"


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def clean_properties(properties: Any, within: str) -> dict[str, Any]:
    """An event's properties: an object of scalars with the trait rules (keys, values, at most
    ``MAX_TRAITS`` of them); ``within`` is its path, for the errors."""
    if properties is None:
        return {}
    if type(properties) is not dict:
        raise _invalid(within, f"{within} must be an object of text, numbers, true/false or null.")
    if len(properties) > MAX_TRAITS:
        raise _invalid(within, f"{within} has more than {MAX_TRAITS} properties.")
    try:
        for key, value in properties.items():
            check_key(key, noun="Property", within=within)
            check_value(key, value, noun="Property", within=within)
    except TraitError as error:
        raise _invalid(error.field, error.message) from None
    return properties


def clean_event(
    raw: Any,
    prefix: str,
    *,
    default: int | None,
    oldest: int,
    newest: int,
    fields: frozenset[str] = EVENT_FIELDS,
    too_old: str = f"more than {MAX_AGE_DAYS} days before",
) -> TrackEvent:
    """One event ``{"name", "timestamp"?, "properties"?}``; ``prefix`` is its path with a dot
    (``events[3].``, or "" for an import's line). ``default``: the time of an event without a
    timestamp (None: the timestamp is required); a time must fall within ``[oldest, newest]``
    (``too_old`` says how far back is too far). Raises ValidationError on the first bad field."""
    where = prefix[:-1] or "the line"
    if type(raw) is not dict:
        raise _invalid(where, f"{where} must be an object {{name, timestamp, properties}}.")
    if not raw.keys() <= fields:
        unknown = sorted(raw.keys() - fields)[0]
        expected = ", ".join(sorted(fields))
        raise _invalid(
            f"{prefix}{unknown}", f"{where} has an unknown field {unknown!r} (expected {expected})."
        )
    name = raw.get("name")
    if type(name) is not str or not EVENT_NAME.fullmatch(name):
        raise _invalid(
            f"{prefix}name",
            f"{prefix}name is required."
            if name is None
            else f"{prefix}name {name!r} is not an event name: 1 to 128 letters, digits, _, - "
            "or ., starting with a letter or _.",
        )
    given = raw.get("timestamp")
    if given is None:
        if default is None:
            raise _invalid(f"{prefix}timestamp", f"{prefix}timestamp is required.")
        micros = default
    else:
        micros = read_timestamp(given)
        if micros is None:
            raise _invalid(
                f"{prefix}timestamp",
                f"{prefix}timestamp must be ISO 8601 text (2026-11-20T14:30:00Z) or Unix "
                "seconds or milliseconds.",
            )
        if not oldest <= micros <= newest:
            ahead = f"more than {MAX_AHEAD_SECONDS // 60} minutes after"
            raise _invalid(
                f"{prefix}timestamp",
                f"{prefix}timestamp {given!r}{_shown(micros)} is "
                f"{too_old if micros < oldest else ahead} the server's time.",
            )
    properties = clean_properties(raw.get("properties"), f"{prefix}properties")
    return TrackEvent(name, micros, properties)


def events_clean(*, events: Any, now: datetime | float | None = None) -> list[TrackEvent]:
    """A /track call's events, checked: 1 to ``MAX_EVENTS`` of them; each time within
    ``MAX_AGE_DAYS`` before and ``MAX_AHEAD_SECONDS`` after ``now`` (the server's time, also
    the time of an event without one). Raises ValidationError on the first bad field."""
    if type(events) is not list or not 1 <= len(events) <= MAX_EVENTS:
        raise _invalid("events", f"events must be a list of 1 to {MAX_EVENTS} events.")
    at = now_micros(now)
    oldest, newest = at - MAX_AGE_DAYS * DAY_MICROS, at + MAX_AHEAD_SECONDS * MICROS
    return [
        clean_event(event, f"events[{i}].", default=at, oldest=oldest, newest=newest)
        for i, event in enumerate(events)
    ]


# --- Names -------------------------------------------------------------------------------


def event_names_discover(*, application: Application, names: Iterable[str]) -> list[str]:
    """Give each new name (in order) an auto-discovered definition, up to
    ``settings.CALLOUT_MAX_EVENT_NAMES`` per application (``events.event_names_over_limit``,
    shared with the Events page); the names past it, which got none. Call it in the
    transaction that stores the events, before locking any user: a new name locks the
    application's row (parallel discoveries count in turn), and identify and the imports take
    the application before the users too, so none of them can deadlock."""
    names = list(dict.fromkeys(names))
    known = set(
        EventDefinition.objects.filter(application=application, name__in=names)
        .order_by()
        .values_list("name", flat=True)
    )
    new = [name for name in names if name not in known]
    over = event_names_over_limit(application=application, names=new)
    EventDefinition.objects.bulk_create(
        [
            EventDefinition(application=application, name=name, auto_discovered=True)
            for name in new
            if name not in over
        ],
        ignore_conflicts=True,  # a definition made meanwhile (the Events page) is as good
    )
    return over


# --- Tracking ----------------------------------------------------------------------------


def _locked_user(application: Application, external_id: str) -> tuple[int, dict[str, Any]]:
    """The user's id and activity summary, the row locked until the transaction ends (FOR NO
    KEY UPDATE: what the UPDATE of the summary takes anyway, and it lets other tables' inserts
    that refer to the user, such as the snippet's experience events, through); created as
    identify would when unknown."""
    users = EndUser.objects.select_for_update(no_key=True).filter(
        application=application, external_id=external_id
    )
    found = list(users.order_by().values_list("pk", "activity")[:1])
    if not found:
        _upsert_end_user(application, external_id, {})  # locks the row it wrote
        found = list(users.order_by().values_list("pk", "activity")[:1])
    user_id, summary = found[0]
    return user_id, summary if isinstance(summary, dict) else {}


def record_activity(
    *,
    application: Application,
    user_id: int,
    summary: dict[str, Any],
    events: Sequence[tuple[str, float]],
    **fields: Any,
) -> None:
    """Count ``events`` (name, Unix seconds) into the summary of a user whose row the caller
    locked (``summary``: as read under that lock), and store it with ``fields``.

    ``application.events_kept`` may be older than the database's (a rule needing more was
    saved, and its rebuild ran, since the caller read the application): the UPDATE writes only
    if the kept count it was computed with is still current, else it is read again and the
    summary counted again, so a rebuild is never cut back to a shorter history."""
    kept = application.events_kept
    for _ in range(3):
        record = activity.record_events(summary, events, kept)
        current = Application.objects.filter(pk=application.pk, events_kept=kept)
        written = (
            EndUser.objects.filter(Exists(current.filter(pk=OuterRef("application_id"))))
            .filter(pk=user_id)
            .update(activity=record, **fields)
        )
        if written:
            return
        kept = Application.objects.values_list("events_kept", flat=True).get(pk=application.pk)
        stored = EndUser.objects.values_list("activity", flat=True).get(pk=user_id)
        summary = stored if isinstance(stored, dict) else {}
    raise RuntimeError("events_kept kept changing")  # pragma: no cover - three saves in a row


@contextmanager
def writing() -> Iterator[None]:
    """``transaction.atomic()`` for a transaction that reads, then writes. On SQLite it begins
    IMMEDIATE, taking the write lock at once: a deferred transaction that has read cannot wait
    for another writer when it comes to write (SQLite refuses at once, "database is locked", to
    avoid a deadlock), and a track whose beacon arrives with the next page's identify did."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic():
            yield
        return
    connection.ensure_connection()  # transaction_mode is read from the settings on connecting
    deferred = connection.transaction_mode
    connection.transaction_mode = "IMMEDIATE"
    try:
        with transaction.atomic():
            connection.transaction_mode = deferred  # BEGIN IMMEDIATE is sent; the rest as usual
            yield
    finally:
        connection.transaction_mode = deferred


def events_track(
    *,
    application: Application,
    external_id: Any,
    events: Any,
    now: datetime | None = None,
) -> int:
    """Store a user's events (``/api/v1/track``) and count them into the user's activity
    summary, in one transaction; an unknown user is created as identify would, and ``last_seen``
    moves to now. Returns how many were stored: all of them, or none (ValidationError).

    A constant number of queries, whatever the number of events: the names known (plus three
    when one is new), the user locked (plus two when new), the events in one INSERT, the summary
    in one UPDATE."""
    now = now or timezone.now()
    end_user_clean(external_id=external_id, traits=None)  # identify's check of the id
    cleaned = events_clean(events=events, now=now)
    with writing():
        return _track(application, external_id, cleaned, now)


def _track(
    application: Application, external_id: str, cleaned: list[TrackEvent], now: datetime
) -> int:
    over = event_names_discover(application=application, names=(e.name for e in cleaned))
    if over:
        first = next(i for i, e in enumerate(cleaned) if e.name in over)
        raise _invalid(f"events[{first}].name", event_limit_message(cleaned[first].name))
    user_id, summary = _locked_user(application, external_id)
    done = [(event.name, event.when) for event in cleaned]
    rollup = Rollup()
    rollup.add_user(activity.event_names(summary), done)
    TrackedEvent.objects.bulk_create(
        [
            TrackedEvent(
                application=application,
                end_user_id=user_id,
                name=event.name,
                timestamp=event.timestamp,
                properties=event.properties,
                received_at=now,
            )
            for event in cleaned
        ]
    )
    record_activity(
        application=application,
        user_id=user_id,
        summary=summary,
        events=done,
        last_seen=now,
    )
    rollup_add(application_id=application.pk, rollup=rollup, shard=user_shard(user_id))
    return len(cleaned)


# --- Retention ---------------------------------------------------------------------------


def retention_cutoff(now: datetime | None = None, days: int | None = None) -> datetime:
    days = settings.CALLOUT_EVENT_RETENTION_DAYS if days is None else days
    return (now or timezone.now()) - timedelta(days=days)


def events_prune(
    *,
    before: datetime,
    batch_size: int = 10_000,
    on_batch: Any = None,
) -> int:
    """Delete the raw events older than ``before``, ``batch_size`` at a time, each batch its
    own transaction (a prune of millions never holds a long lock or a huge transaction); the
    activity summaries keep what the events counted. Returns how many were deleted.

    Name by name within each application, on the (application, name, timestamp) index that
    the Events page and rebuilds read: an index on the time alone served only this, and cost
    every stored event an entry (a /track call of 20 events, 20 index entries and their WAL)."""
    deleted = 0
    for application_id, name in _event_names():
        while True:
            oldest = (
                TrackedEvent.objects.filter(
                    application_id=application_id, name=name, timestamp__lt=before
                )
                .order_by()
                .values("pk")
            )
            with transaction.atomic():
                count, _ = TrackedEvent.objects.filter(pk__in=oldest[:batch_size]).delete()
            deleted += count
            if count and on_batch:
                on_batch(deleted)
            if count < batch_size:
                break
    return deleted


def _event_names() -> Iterator[tuple[int, str]]:
    """Each (application id, name) that raw events have, in order: one or two probes of the
    (application, name, timestamp) index per pair, however many events it has."""
    events = TrackedEvent.objects.order_by("application_id", "name").values_list(
        "application_id", "name"
    )
    found = events.first()
    while found is not None:
        yield found
        application_id, name = found
        found = (
            events.filter(application_id=application_id, name__gt=name).first()
            or events.filter(application_id__gt=application_id).first()
        )
