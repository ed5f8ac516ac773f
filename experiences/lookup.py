"""The serve's SQL: one query finds the application by its public key with its targeting
version, the user with traits and activity, and the user's company with its traits
(``lookup``); identify with a url is one statement too once the process knows the application
(``identify_and_lookup``), on PostgreSQL, a company named by the call written in it as well.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DataError, connection
from django.utils import timezone

from callout.db import fetchone_prepared
from segments import merge
from segments.companies import KEEP, CompanyChange
from segments.models import Application, Company, EndUser

from . import targeting as targetings
from .models import TargetingVersion
from .targeting import Targeting

# The one query of a serve: the application by its public key with its targeting version, the
# user by id with the traits and the activity summary (what the user did and saw: the
# frequency history and every behavioural rule read it, segments/activity.py), and the user's
# company with its traits (company rules read them). Backed by the public_key and
# (application, external_id) indexes and the company's primary key. {names} are quoted table
# names.
_LOOKUP = """
    SELECT a.id, v.version, u.id, u.traits, u.activity, c.id, c.traits
    FROM {application} a
    LEFT JOIN {version} v ON v.application_id = a.id
    LEFT JOIN {end_user} u ON u.application_id = a.id AND u.external_id = %s
    LEFT JOIN {company} c ON c.id = u.company_id
    WHERE a.public_key = %s"""


@dataclass(frozen=True, slots=True)
class Visitor:
    """One user of one application as a serve sees them. ``id`` None: never identified."""

    id: int | None
    traits: dict[str, Any]
    activity: dict[str, Any]  # segments/activity.py
    company_id: int | None = None
    company: dict[str, Any] = field(default_factory=dict)  # its traits; {} without one


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    models = {
        "application": Application,
        "version": TargetingVersion,
        "end_user": EndUser,
        "company": Company,
    }
    return {name: quote(model._meta.db_table) for name, model in models.items()}


@lru_cache(maxsize=4)
def _lookup_sql(vendor: str) -> str:
    return _LOOKUP.format(**_tables())


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
    application_id, version, user_id, traits, activity, company_id, company = row
    found = targetings.targeting_for(application_id, version)
    if found is None or found.application.public_key != public_key:
        return None
    targetings.remember_key(public_key, application_id)
    return found, Visitor(user_id, _json(traits), _json(activity), company_id, _json(company))


# identify in one statement when this process knows the application (PostgreSQL): the user is
# merged (segments.merge) only if the application still has this key and the targeting version
# the caller checked the call against, and the statement returns the user with the activity
# and the company's traits the serve needs. Its commit is asynchronous unless
# IDENTIFY_DURABLE=1. {names} are quoted table names; {written} is identify's merge of the
# user; {before} what the call writes first and {select} the answer (``_SELECT``, or with a
# company ``_JOIN_BEFORE`` and ``_JOIN_SELECT``).
_IDENTIFY = """
    WITH app AS (
        SELECT a.id FROM {application} a JOIN {version} v ON v.application_id = a.id
        WHERE a.public_key = %s AND v.version = %s
          -- for this statement's own transaction (settings.CALLOUT_IDENTIFY_DURABLE)
          AND set_config('synchronous_commit', %s, true) IS NOT NULL
    ),{before} written AS ({written}
    ){select}"""

# The user's company as it is after the write (none, after "company": null).
_SELECT = """
    SELECT w.id, w.traits, w.activity, c.id, c.traits
    FROM written w LEFT JOIN {company} c ON c.id = w.company_id"""

# A call naming a company writes it first (its id is the user's company_id). The user's merge
# is checked against the limit before the company is written (``fits``): a user it would take
# past the limit is refused, and the company with it (no row: the general path answers the
# error). A merge that passed that check but fails on the row as it is when written (another
# call added traits in between) would leave the company written without the user: the last
# column then casts text to a number, which fails the statement and rolls all of it back.
_JOIN_BEFORE = """
    fits AS (
        SELECT app.id FROM app
        WHERE NOT EXISTS (
            SELECT 1 FROM {end_user} u
            WHERE u.application_id = app.id AND u.external_id = %s AND NOT ({user_fits}))
    ),
    joined AS ({company_written}
    ),"""
_JOIN_SELECT = """
    SELECT w.id, w.traits, w.activity,
        CASE WHEN w.id IS NULL THEN ('company ' || j.id || ' without its user')::bigint
        ELSE j.id END,
        j.traits
    FROM joined j LEFT JOIN written w ON true"""

_USER_ROWS = "SELECT app.id, %s, %s::jsonb, %s, %s{company} FROM app{join}"


@lru_cache(maxsize=4)
def _identify_sql(mode: str) -> str:
    """The statement for a call that keeps the user's company ("keep"), leaves it ("leave")
    or names one ("join")."""
    tables = _tables()
    returning = "id, traits, activity, company_id"
    select = _SELECT.format(company=tables["company"])
    if mode == "keep":
        rows = _USER_ROWS.format(company="", join="")
        written = merge.pg_upsert(tables["end_user"], rows, returning)
        return _IDENTIFY.format(**tables, before="", written=written, select=select)
    if mode == "leave":
        rows = _USER_ROWS.format(company=", NULL::bigint", join="")
        written = merge.pg_upsert(tables["end_user"], rows, returning, company=True)
        return _IDENTIFY.format(**tables, before="", written=written, select=select)
    rows = _USER_ROWS.format(company=", joined.id", join=", joined")
    written = merge.pg_upsert(tables["end_user"], rows, returning, company=True)
    before = _JOIN_BEFORE.format(
        end_user=tables["end_user"],
        user_fits=merge.pg_fits(merge.pg_merged("u.traits", "%s::jsonb", "%s::text[]")),
        company_written=merge.pg_upsert(
            tables["company"], "SELECT fits.id, %s, %s::jsonb, %s, %s FROM fits", "id, traits"
        ),
    )
    return _IDENTIFY.format(**tables, before=before, written=written, select=_JOIN_SELECT)


def identify_and_lookup(
    targeting: Targeting,
    external_id: str,
    changes: Mapping[str, Any],
    company: CompanyChange | Any | None = KEEP,
) -> Visitor | None:
    """identify's write and the serve's lookup as one statement, on PostgreSQL, for a call
    already checked against ``targeting`` (its user_hash, its trait keys): the user merged with
    ``changes`` (``end_user_clean``'s output), as the serve sees them. ``company``: the
    company the call names (``company_clean``'s output: created or merged, and the user's from
    now on), None (the user leaves their company) or KEEP. None, with nothing written, when the
    statement cannot stand for the general path: not PostgreSQL, the targeting is no longer
    current, or a merge would exceed the trait limit."""
    if connection.vendor != "postgresql":
        return None
    now = timezone.now()
    traits, merged = merge.pg_params(changes)
    durable = "on" if settings.CALLOUT_IDENTIFY_DURABLE else "off"
    params = [targeting.application.public_key, targeting.version, durable]
    user = [external_id, traits, now, now, *merged]
    if isinstance(company, CompanyChange):
        company_traits, company_merged = merge.pg_params(company.changes)
        written = [company.external_id, company_traits, now, now, *company_merged]
        # fits: the user's merge (its first two parameters), before the company is written.
        params += [external_id, *merged[:2], *written, *user]
        mode = "join"
    else:
        params += user
        mode = "keep" if company is KEEP else "leave"
    try:
        row = fetchone_prepared(_identify_sql(mode), params)
    except DataError:
        # The company written without its user (see _JOIN_BEFORE): the statement was rolled
        # back, and the general path answers. Inside a caller's transaction, that is aborted.
        if connection.in_atomic_block:
            raise
        return None
    if row is None:
        return None
    user_id, traits, activity, company_id, company_traits = row
    return Visitor(user_id, _json(traits), _json(activity), company_id, _json(company_traits))


def activity_for(end_user_id: int | None) -> dict[str, Any]:
    """The user's activity summary (one query; none for a user never stored)."""
    if end_user_id is None:
        return {}
    row = fetchone_prepared(
        f"SELECT activity FROM {connection.ops.quote_name(EndUser._meta.db_table)} WHERE id = %s",
        [end_user_id],
    )
    return _json(row[0] if row else None)


def company_traits_of(end_user_id: int | None) -> dict[str, Any]:
    """The traits of the user's company as stored now (one query; none without a company, or
    for a user never stored)."""
    if end_user_id is None:
        return {}
    tables = _tables()
    row = fetchone_prepared(
        f"SELECT c.traits FROM {tables['end_user']} u JOIN {tables['company']} c "
        "ON c.id = u.company_id WHERE u.id = %s",
        [end_user_id],
    )
    return _json(row[0] if row else None)
