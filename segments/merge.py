"""The one trait merge: what identify and the bulk imports do to a user's stored traits, and
to a company's (the same merge, the same limit; ``company=``).

Omitted keys are kept, a value replaces what is stored, null removes the trait, and the result
may hold at most ``MAX_TRAITS`` keys (else nothing is written). Written once per dialect:
``merge`` in Python (SQLite's import, and the reference tests compare with), and the SQL each
database runs: identify on both its paths (``segments.actions.end_user_identify`` and the serve's
one statement, ``experiences.lookup``), and the PostgreSQL import (``segments.importing``).
Changing what null means is an edit here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .traits import MAX_TRAITS, TraitError

TOO_MANY = f"A user can have at most {MAX_TRAITS} traits."
COMPANY_TOO_MANY = f"A company can have at most {MAX_TRAITS} traits."


def split(changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the traits to set, the keys to remove): a change is one or the other, never both."""
    kept = {key: value for key, value in changes.items() if value is not None}
    return kept, [key for key, value in changes.items() if value is None]


def merge(
    stored: Mapping[str, Any], changes: Mapping[str, Any], *, company: bool = False
) -> dict[str, Any]:
    """``stored`` with ``changes`` merged in; TraitError past the trait limit (a company's
    traits: ``company``, the same limit, named ``company.traits``)."""
    kept, removed = split(changes)
    merged = {**stored, **kept}
    for key in removed:
        merged.pop(key, None)
    if len(merged) > MAX_TRAITS:
        if company:
            raise TraitError(COMPANY_TOO_MANY, "company.traits")
        raise TraitError(TOO_MANY, "traits")
    return merged


# --- PostgreSQL --------------------------------------------------------------------------


def pg_merged(stored: str, kept: str, removed: str | None = None) -> str:
    """The merge as a jsonb expression: ``stored`` (a jsonb column), ``kept`` (a jsonb object
    of the values to set), ``removed`` (a text[] of the keys to remove). Setting and removing
    never name one key, so their order does not matter."""
    merged = f"({stored} || {kept})"
    return merged if removed is None else f"({merged} - {removed})"


def pg_fits(merged: str) -> str:
    """Whether a merged jsonb object stays within the trait limit (a condition)."""
    return f"(SELECT count(*) FROM jsonb_object_keys({merged})) <= {MAX_TRAITS}"


def _columns(company: bool) -> tuple[str, str]:
    """(the columns an upsert inserts, what it sets besides the traits on a conflict): with
    ``company``, a user's company_id too, last in ``rows``."""
    columns = "application_id, external_id, traits, first_seen, last_seen"
    if company:
        return f"{columns}, company_id", "last_seen = {x}.last_seen, company_id = {x}.company_id"
    return columns, "last_seen = {x}.last_seen"


def pg_upsert(table: str, rows: str, returning: str, *, company: bool = False) -> str:
    """identify's write: insert the user (or the company: same columns) from ``rows`` (a
    ``VALUES`` or a ``SELECT`` giving application_id, external_id, traits, first_seen,
    last_seen, whose traits are the third parameter ``pg_params`` gives; with ``company``,
    then the user's company_id, which a conflict sets too) or merge into the stored one within
    the limit; a row the merge would take past the limit is not written (no row returned).
    ``table`` is quoted."""
    merged = pg_merged(f"{table}.traits", "%s::jsonb", "%s::text[]")
    columns, also = _columns(company)
    return f"""
        INSERT INTO {table} ({columns})
        {rows}
        ON CONFLICT (application_id, external_id) DO UPDATE
        SET traits = {merged}, {also.format(x="EXCLUDED")}
        WHERE {pg_fits(merged)}
        RETURNING {returning}"""


def pg_params(changes: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """(a new user's traits, the merge's parameters) of ``pg_upsert`` for one call's changes."""
    kept, removed = split(changes)
    text = json.dumps(kept)
    return text, [text, removed, text, removed]


# --- SQLite ------------------------------------------------------------------------------


def sqlite_upsert(table: str, returning: str, *, company: bool = False) -> str:
    """``pg_upsert`` for SQLite, one row from ``VALUES``. json_patch is RFC 7396 merge-patch:
    a null removes the key, a scalar replaces it (trait values are scalars)."""
    merged = f"json_patch({table}.traits, %s)"
    columns, also = _columns(company)
    values = ", ".join(["%s"] * (6 if company else 5))
    return f"""
        INSERT INTO {table} ({columns})
        VALUES ({values})
        ON CONFLICT (application_id, external_id) DO UPDATE
        SET traits = {merged}, {also.format(x="excluded")}
        WHERE (SELECT count(*) FROM json_each({merged})) <= {MAX_TRAITS}
        RETURNING {returning}"""


def sqlite_params(changes: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """(a new user's traits, the merge's parameters) of ``sqlite_upsert``."""
    patch = json.dumps(dict(changes))
    return json.dumps(split(changes)[0]), [patch, patch]
