"""The serve's SQL: one query finds the application by its public key with its targeting
version, the user and the user's history (``lookup``); identify with a url is one statement
too once the process knows the application (``identify_and_lookup``), on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from callout.db import fetchone_prepared
from segments import merge
from segments.models import Application, EndUser

from . import targeting as targetings
from .models import Event, TargetingVersion
from .targeting import Targeting

# A user's frequency-relevant history, past dismissed/completed events, aggregated to one text
# ("12:dismissed,12:completed"): written once, read by the serve's lookup, identify's one
# statement and ``history_for``. Backed by the event_user_outcome index (partial, per user).
# {user} is the SQL giving the user's id; {event} the quoted table name.
_HISTORY = """(
        SELECT {aggregate} FROM (
            SELECT DISTINCT e.experience_id, e.type FROM {event} e
            WHERE e.end_user_id = {user} AND e.type IN ('dismissed', 'completed')
        ) h
    )"""
_AGGREGATE = {
    "postgresql": "string_agg(h.experience_id::text || ':' || h.type, ',')",
    "sqlite": "group_concat(h.experience_id || ':' || h.type, ',')",
}


def _history_sql(vendor: str, user: str) -> str:
    event = connection.ops.quote_name(Event._meta.db_table)
    return _HISTORY.format(aggregate=_AGGREGATE[vendor], event=event, user=user)


# The one query of a serve: the application by its public key with its targeting version, the
# user by id, and the user's history. Backed by the public_key and (application, external_id)
# indexes. {names} are quoted table names.
_LOOKUP = """
    SELECT a.id, v.version, u.id, u.traits, {history}
    FROM {application} a
    LEFT JOIN {version} v ON v.application_id = a.id
    LEFT JOIN {end_user} u ON u.application_id = a.id AND u.external_id = %s
    WHERE a.public_key = %s"""


@dataclass(frozen=True, slots=True)
class Visitor:
    """One user of one application as a serve sees them. ``id`` None: never identified."""

    id: int | None
    traits: dict[str, Any]
    history: dict[int, set[str]]


@lru_cache(maxsize=4)
def _lookup_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    tables = {"application": Application, "version": TargetingVersion, "end_user": EndUser}
    return _LOOKUP.format(
        history=_history_sql(vendor, "u.id"),
        **{name: quote(model._meta.db_table) for name, model in tables.items()},
    )


def _history(events: str | None) -> dict[int, set[str]]:
    """The aggregated events text ("12:dismissed,12:completed") as {experience id: types}."""
    history: dict[int, set[str]] = {}
    for event in events.split(",") if events else ():
        experience_id, _, type_ = event.partition(":")
        history.setdefault(int(experience_id), set()).add(type_)
    return history


def lookup(public_key: str, external_id: str) -> tuple[Targeting, Visitor] | None:
    """The application with this public key (None if unknown) and its user ``external_id``
    with the frequency-relevant history: one query, plus the targeting's own when its version
    is new to this process and to the cache."""
    if not isinstance(public_key, str) or not targetings.PUBLIC_KEY.fullmatch(public_key):
        return None
    # Planned once per connection (callout/db.py).
    row = fetchone_prepared(_lookup_sql(connection.vendor), [external_id, public_key])
    if row is None:
        return None
    application_id, version, user_id, traits, events = row
    found = targetings.targeting_for(application_id, version)
    if found is None or found.application.public_key != public_key:
        return None
    targetings.remember_key(public_key, application_id)
    if isinstance(traits, str):  # PostgreSQL's jsonb and SQLite's text both arrive as text
        traits = json.loads(traits)
    traits = traits if isinstance(traits, dict) else {}
    return found, Visitor(user_id, traits, _history(events))


# identify in one statement when this process knows the application (PostgreSQL): the user is
# merged (segments.merge) only if the application still has this key and the targeting version
# the caller checked the call against, and the statement returns the user with the history the
# serve needs. Its commit is asynchronous unless IDENTIFY_DURABLE=1.
# {names} are quoted table names; {upsert} is identify's merge.
_IDENTIFY = """
    WITH app AS (
        SELECT a.id FROM {application} a JOIN {version} v ON v.application_id = a.id
        WHERE a.public_key = %s AND v.version = %s
          -- for this statement's own transaction (settings.CALLOUT_IDENTIFY_DURABLE)
          AND set_config('synchronous_commit', %s, true) IS NOT NULL
    ), written AS ({upsert}
    )
    SELECT w.id, w.traits, {history}
    FROM written w"""


@lru_cache(maxsize=1)
def _identify_sql() -> str:
    quote = connection.ops.quote_name
    end_user = quote(EndUser._meta.db_table)
    return _IDENTIFY.format(
        application=quote(Application._meta.db_table),
        version=quote(TargetingVersion._meta.db_table),
        upsert=merge.pg_upsert(
            end_user, "SELECT app.id, %s, %s::jsonb, %s, %s FROM app", "id, traits"
        ),
        history=_history_sql("postgresql", "w.id"),
    )


def identify_and_lookup(
    targeting: Targeting, external_id: str, changes: Mapping[str, Any]
) -> Visitor | None:
    """identify's write and the serve's lookup as one statement, on PostgreSQL, for a call
    already checked against ``targeting`` (its user_hash, its trait keys): the user merged with
    ``changes`` (``end_user_clean``'s output), as the serve sees them. None, with nothing
    written, when the statement cannot stand for the general path: not PostgreSQL, the
    targeting is no longer current, or the merge would exceed the trait limit."""
    if connection.vendor != "postgresql":
        return None
    now = timezone.now()
    traits, merged = merge.pg_params(changes)
    durable = "on" if settings.CALLOUT_IDENTIFY_DURABLE else "off"
    params = [targeting.application.public_key, targeting.version, durable, external_id, traits]
    row = fetchone_prepared(_identify_sql(), [*params, now, now, *merged])
    if row is None:
        return None
    user_id, traits, events = row
    if isinstance(traits, str):
        traits = json.loads(traits)
    return Visitor(user_id, traits, _history(events))


def history_for(end_user_id: int | None, experience_ids: Iterable[int]) -> dict[int, set[str]]:
    """The frequency-relevant event types this user has per experience (of these): one
    query, the serve's own history."""
    ids = set(experience_ids)
    if end_user_id is None or not ids:
        return {}
    row = fetchone_prepared("SELECT " + _history_sql(connection.vendor, "%s"), [end_user_id])
    history = _history(row[0] if row else None)
    return {
        experience_id: types for experience_id, types in history.items() if experience_id in ids
    }
