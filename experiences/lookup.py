"""The serve's SQL: one query finds the application by its public key with its targeting
version, the user with traits and activity (``lookup``); identify with a url is one statement
too once the process knows the application (``identify_and_lookup``), on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from .models import TargetingVersion
from .targeting import Targeting

# The one query of a serve: the application by its public key with its targeting version, and
# the user by id with the traits and the activity summary (what the user did and saw: the
# frequency history and every behavioural rule read it, segments/activity.py). Backed by the
# public_key and (application, external_id) indexes. {names} are quoted table names.
_LOOKUP = """
    SELECT a.id, v.version, u.id, u.traits, u.activity
    FROM {application} a
    LEFT JOIN {version} v ON v.application_id = a.id
    LEFT JOIN {end_user} u ON u.application_id = a.id AND u.external_id = %s
    WHERE a.public_key = %s"""


@dataclass(frozen=True, slots=True)
class Visitor:
    """One user of one application as a serve sees them. ``id`` None: never identified."""

    id: int | None
    traits: dict[str, Any]
    activity: dict[str, Any]  # segments/activity.py


@lru_cache(maxsize=4)
def _lookup_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    tables = {"application": Application, "version": TargetingVersion, "end_user": EndUser}
    return _LOOKUP.format(**{name: quote(model._meta.db_table) for name, model in tables.items()})


def _json(value: Any) -> dict[str, Any]:
    """A JSON object column as a dict: PostgreSQL's jsonb and SQLite's text both arrive as
    text; NULL (no user) or anything else is empty."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def lookup(public_key: str, external_id: str) -> tuple[Targeting, Visitor] | None:
    """The application with this public key (None if unknown) and its user ``external_id``
    with the traits and activity: one query, plus the targeting's own when its version
    is new to this process and to the cache."""
    if not isinstance(public_key, str) or not targetings.PUBLIC_KEY.fullmatch(public_key):
        return None
    # Planned once per connection (callout/db.py).
    row = fetchone_prepared(_lookup_sql(connection.vendor), [external_id, public_key])
    if row is None:
        return None
    application_id, version, user_id, traits, activity = row
    found = targetings.targeting_for(application_id, version)
    if found is None or found.application.public_key != public_key:
        return None
    targetings.remember_key(public_key, application_id)
    return found, Visitor(user_id, _json(traits), _json(activity))


# identify in one statement when this process knows the application (PostgreSQL): the user is
# merged (segments.merge) only if the application still has this key and the targeting version
# the caller checked the call against, and the statement returns the user with the activity
# the serve needs. Its commit is asynchronous unless IDENTIFY_DURABLE=1.
# {names} are quoted table names; {upsert} is identify's merge.
_IDENTIFY = """
    WITH app AS (
        SELECT a.id FROM {application} a JOIN {version} v ON v.application_id = a.id
        WHERE a.public_key = %s AND v.version = %s
          -- for this statement's own transaction (settings.CALLOUT_IDENTIFY_DURABLE)
          AND set_config('synchronous_commit', %s, true) IS NOT NULL
    ), written AS ({upsert}
    )
    SELECT w.id, w.traits, w.activity
    FROM written w"""


@lru_cache(maxsize=1)
def _identify_sql() -> str:
    quote = connection.ops.quote_name
    end_user = quote(EndUser._meta.db_table)
    return _IDENTIFY.format(
        application=quote(Application._meta.db_table),
        version=quote(TargetingVersion._meta.db_table),
        upsert=merge.pg_upsert(
            end_user, "SELECT app.id, %s, %s::jsonb, %s, %s FROM app", "id, traits, activity"
        ),
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
    user_id, traits, activity = row
    return Visitor(user_id, _json(traits), _json(activity))


def activity_for(end_user_id: int | None) -> dict[str, Any]:
    """The user's activity summary (one query; none for a user never stored)."""
    if end_user_id is None:
        return {}
    row = fetchone_prepared(
        f"SELECT activity FROM {connection.ops.quote_name(EndUser._meta.db_table)} WHERE id = %s",
        [end_user_id],
    )
    return _json(row[0] if row else None)
