"""Companies (accounts) as identify and the imports write them.

A company comes in identify's ``company`` field as ``{"id": ..., "traits": {...}}``:
``company_clean`` checks it with a user's rules (the id, trait keys and values, at most
``MAX_TRAITS``), each error named by its path (``company.id``, ``company.traits.seats``);
``company_upsert`` creates it or merges its traits in one statement (``segments.merge``, as a
user's: omitted keys kept, null removes). Which company a user belongs to is the user's write
(``actions.end_user_identify``'s ``company``); the serve reads the company with the user
(``experiences/lookup.py``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Final, NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from callout.db import fetchone_prepared

from . import merge
from .models import Application, Company
from .traits import MAX_ID, MAX_TRAITS, TraitError, check_traits


class _Keep:
    """The user's company as it is: a call without ``company``."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()

FIELDS = frozenset({"id", "traits"})


class CompanyChange(NamedTuple):
    """A company named by a call, and the changes to its traits (None removes one)."""

    external_id: str
    changes: dict[str, Any]


def company_id_clean(value: Any, field: str = "company.id") -> str:
    """A company's id as text (a whole number taken as its decimal text, as a user's id);
    ValidationError keyed ``field``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    message = f"{field} must be text of 1 to {MAX_ID} characters."
    if value is None:
        message = f"{field} (the company's id) is required."
    elif isinstance(value, str) and 1 <= len(value) <= MAX_ID:
        if "\x00" in value:
            message = f"{field} contains a NUL character."
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                message = f"{field} is not valid Unicode."
            else:
                return value
    raise ValidationError({field: [message]})


def company_clean(company: Any) -> CompanyChange | None:
    """identify's ``company``, checked before anything is read or written: None (the user
    leaves their company) or the company and its trait changes. Raises ValidationError keyed
    by path: ``company``, ``company.id``, ``company.traits`` or ``company.traits.<key>``, and
    ``company.<field>`` for a field a company does not have."""
    if company is None:
        return None
    if not isinstance(company, dict):
        raise ValidationError(
            {"company": ['company must be an object {"id": ..., "traits": {...}}, or null.']}
        )
    unknown = sorted(set(company) - FIELDS, key=str)
    if unknown:
        field = f"company.{unknown[0]}"
        raise ValidationError(
            {field: [f"{field} is not a field of a company (id, traits): traits go in traits."]}
        )
    external_id = company_id_clean(company.get("id"))
    traits = company.get("traits")
    try:
        changes = check_traits(
            {} if traits is None else traits, noun="Company trait", within="company.traits"
        )
    except TraitError as error:
        raise ValidationError({error.field: [error.message]}) from None
    if sum(1 for value in changes.values() if value is not None) > MAX_TRAITS:
        raise ValidationError({"company.traits": [merge.COMPANY_TOO_MANY]})
    return CompanyChange(external_id, changes)


# --- The write ---------------------------------------------------------------------------

_FIELDS = [f.attname for f in Company._meta.concrete_fields]  # from_db reads them in this order
_RETURNING = ", ".join(_FIELDS)


@lru_cache(maxsize=2)
def _upsert_sql(vendor: str) -> str:
    table = connection.ops.quote_name(Company._meta.db_table)
    if vendor == "postgresql":
        return merge.pg_upsert(table, "VALUES (%s, %s, %s::jsonb, %s, %s)", _RETURNING)
    return merge.sqlite_upsert(table, _RETURNING)


def company_upsert(*, application: Application, change: CompanyChange) -> Company | None:
    """Create the company or merge ``change`` into its traits, in one statement (parallel
    calls for one company lose none of each other's traits), and move its ``last_seen``; None,
    with nothing written, when the merge would take it past ``MAX_TRAITS``. Trait definitions
    are the caller's (``actions.end_user_identify`` discovers them first)."""
    vendor = connection.vendor
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    if vendor == "postgresql":
        traits, merged = merge.pg_params(change.changes)
    elif vendor == "sqlite":
        traits, merged = merge.sqlite_params(change.changes)
    else:  # pragma: no cover - Callout runs on PostgreSQL and SQLite only
        raise NotImplementedError(vendor)
    sql = _upsert_sql(vendor)
    params = [application.pk, change.external_id, traits, now, now, *merged]
    if vendor == "postgresql":
        # Prepared, as the user's upsert; the row as the model, traits decoded (Django reads
        # jsonb as text here), the timestamps already aware.
        row = fetchone_prepared(sql, params)
        if row is None:
            return None
        values = list(row)
        traits = _FIELDS.index("traits")
        if isinstance(values[traits], str):
            values[traits] = json.loads(values[traits])
        return Company.from_db(connection.alias, _FIELDS, values)
    rows = list(Company.objects.raw(sql, params))
    return rows[0] if rows else None
