"""/api/v1/track: one entry point (``track``) that tries the two-statement path and falls back
to the general one (``segments.tracking.events_track``), as identify does
(``experiences/identify.py``).

The general path is a transaction of five statements and a durable commit; on PostgreSQL, once
this process knows the application, a call for a known user with known event names is two
statements and no transaction around them: one reads the user's summary with the row's
version, the application's ``events_kept`` and which names are known; the second writes the
summary (``activity.record_events``, in Python) only if the row is still that version, and
inserts the events only if it did, so that a write that raced another is written by neither.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from callout.db import array_literal, fetchone_prepared
from segments import activity, tracking
from segments.models import Application, EndUser, EventDay, EventDefinition, TrackedEvent
from segments.rollup import Rollup, user_shard

from . import targeting
from .checks import ApiError, invalid, key_of, unknown_key, user_id_of, verify
from .models import TargetingVersion


def track(data: dict[str, Any]) -> int:
    """One track call's body: how many events were stored (all). Raises ApiError for a call
    to refuse, with nothing stored."""
    accepted = track_at_once(data)
    return track_in_steps(data) if accepted is None else accepted


def track_in_steps(data: dict[str, Any]) -> int:
    """The general path: the application by its key (one query: a track needs neither the
    user's traits nor their history), every check with its error, then ``events_track``."""
    key = key_of(data)
    app = targeting.targeting_for_key(key)
    if app is None:
        raise unknown_key()
    targeting.remember_key(key, app.application.pk)  # the next call may go at once
    user_id = user_id_of(data)
    verify(app, user_id, data)
    if "events" not in data:
        raise invalid("events", "events (a list of 1 to 100 events) is required.")
    try:
        return tracking.events_track(
            application=app.application, external_id=user_id, events=data["events"]
        )
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise invalid(field, messages[0]) from None


# The user's summary and the version of their row (xmin: the transaction that wrote it last),
# the application's events_kept, and how many of the call's names it knows; no row when the
# key's targeting is no longer the version this process checked the call against, or the user
# is unknown. {names} are quoted table names.
_READ = """
    SELECT u.id, u.activity, u.xmin::text, a.events_kept,
           (SELECT count(*) FROM {definition} d
            WHERE d.application_id = a.id AND d.name = ANY(%s::text[]))
    FROM {application} a
    JOIN {version} v ON v.application_id = a.id
    JOIN {end_user} u ON u.application_id = a.id AND u.external_id = %s
    WHERE a.public_key = %s AND v.version = %s"""

# The summary written if the row is still the version read and events_kept unchanged; the
# events inserted only if it was (they join the UPDATE's output), and the day's counts added
# to the user's shard. Its commit is asynchronous unless TRACK_DURABLE=1, as identify's one
# statement. The arrays are passed as text (callout.db.array_literal).
_WRITE = """
    WITH written AS (
        UPDATE {end_user} SET activity = %s::jsonb, last_seen = %s
        WHERE id = %s AND xmin = %s::xid
          AND (SELECT events_kept FROM {application} WHERE id = %s) = %s
          AND set_config('synchronous_commit', %s, true) IS NOT NULL
        RETURNING id
    ), stored AS (
        INSERT INTO {event} (application_id, end_user_id, name, "timestamp", properties,
                             event_id, received_at)
        SELECT %s, w.id, e.name, e.at, e.properties, '', %s
        FROM written w, unnest(%s::text[], %s::timestamptz[], %s::text[]::jsonb[])
            AS e(name, at, properties)
        RETURNING 1
    ), counted AS (
        -- The day's counts (segments/rollup.py), in (name, day) order as rollup_add writes.
        INSERT INTO {day} AS d (application_id, name, day, shard, events, new_users, last_at)
        SELECT %s, r.name, r.day, %s, r.events, r.new_users, r.last_at
        FROM written w, unnest(%s::text[], %s::date[], %s::bigint[], %s::int[],
                               %s::timestamptz[]) AS r(name, day, events, new_users, last_at)
        ORDER BY r.name, r.day
        ON CONFLICT (application_id, name, day, shard) DO UPDATE SET
            events = d.events + excluded.events,
            new_users = d.new_users + excluded.new_users,
            last_at = GREATEST(d.last_at, excluded.last_at)
        RETURNING 1
    )
    SELECT count(*) FROM stored"""


@lru_cache(maxsize=1)
def _sql() -> tuple[str, str]:
    quote = connection.ops.quote_name
    tables = {
        "application": Application,
        "version": TargetingVersion,
        "end_user": EndUser,
        "definition": EventDefinition,
        "event": TrackedEvent,
        "day": EventDay,
    }
    names = {name: quote(model._meta.db_table) for name, model in tables.items()}
    return _READ.format(**names), _WRITE.format(**names)


def track_at_once(data: dict[str, Any]) -> int | None:
    """A track in two statements (PostgreSQL), checked against the targeting this process
    already holds for the key. None, with nothing written, to take the general path, which
    also answers every error: not PostgreSQL, an application new to this process or changed
    since, an unknown user or event name (the general path creates them), a call with anything
    wrong, or a row written by someone else between the two statements."""
    if connection.vendor != "postgresql":
        return None
    app = targeting.known_targeting(data.get("key"))
    if app is None:
        return None
    now = timezone.now()
    try:
        user_id = user_id_of(data)
        verify(app, user_id, data)
        events = tracking.events_clean(events=data.get("events"), now=now)
    except (ApiError, ValidationError):
        return None
    names = list(dict.fromkeys(event.name for event in events))
    read, write = _sql()
    params = [array_literal(names), user_id, app.application.public_key, app.version]
    row = fetchone_prepared(read, params)
    if row is None or row[4] < len(names):
        return None
    user_pk, stored, version, kept, _ = row
    summary = json.loads(stored) if isinstance(stored, str) else stored
    summary = summary if isinstance(summary, dict) else {}
    done = [(event.name, event.when) for event in events]
    rollup = Rollup()
    rollup.add_user(activity.event_names(summary), done)
    activity.record_events(summary, done, kept)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    durable = "on" if settings.CALLOUT_TRACK_DURABLE else "off"
    application_id = app.application.pk
    columns = (
        array_literal([event.name for event in events]),
        array_literal([event.timestamp.isoformat() for event in events]),
        array_literal([dumps(e.properties) if e.properties else "{}" for e in events]),
    )
    summary_params = [dumps(summary), now, user_pk, version, application_id, kept, durable]
    days = sorted(rollup.days.items())
    counts = (
        array_literal([name for (name, _), _ in days]),
        array_literal([day.isoformat() for (_, day), _ in days]),
        array_literal([str(c.events) for _, c in days]),
        array_literal([str(c.new_users) for _, c in days]),
        array_literal([datetime.fromtimestamp(c.last_at, UTC).isoformat() for _, c in days]),
    )
    shard = user_shard(user_pk)
    params = [*summary_params, application_id, now, *columns, application_id, shard, *counts]
    (inserted,) = fetchone_prepared(write, params)
    return inserted if inserted == len(events) else None
