"""The one trait merge: what identify and the bulk import do to a user's stored traits.

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


def split(changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the traits to set, the keys to remove): a change is one or the other, never both."""
    kept = {key: value for key, value in changes.items() if value is not None}
    return kept, [key for key, value in changes.items() if value is None]


def merge(stored: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``stored`` with ``changes`` merged in; TraitError past the trait limit."""
    kept, removed = split(changes)
    merged = {**stored, **kept}
    for key in removed:
        merged.pop(key, None)
    if len(merged) > MAX_TRAITS:
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


def pg_upsert(table: str, rows: str, returning: str) -> str:
    """identify's write: insert the user from ``rows`` (a ``VALUES`` or a ``SELECT`` giving
    application_id, external_id, traits, first_seen, last_seen, whose traits are the third
    parameter ``pg_params`` gives) or merge into the stored one within the limit; a user the
    merge would take past the limit is not written (no row returned). ``table`` is quoted."""
    merged = pg_merged(f"{table}.traits", "%s::jsonb", "%s::text[]")
    return f"""
        INSERT INTO {table} (application_id, external_id, traits, first_seen, last_seen)
        {rows}
        ON CONFLICT (application_id, external_id) DO UPDATE
        SET traits = {merged}, last_seen = EXCLUDED.last_seen
        WHERE {pg_fits(merged)}
        RETURNING {returning}"""


def pg_params(changes: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """(a new user's traits, the merge's parameters) of ``pg_upsert`` for one call's changes."""
    kept, removed = split(changes)
    text = json.dumps(kept)
    return text, [text, removed, text, removed]


# --- SQLite ------------------------------------------------------------------------------


def sqlite_upsert(table: str, returning: str) -> str:
    """``pg_upsert`` for SQLite, one row from ``VALUES``. json_patch is RFC 7396 merge-patch:
    a null removes the key, a scalar replaces it (trait values are scalars)."""
    merged = f"json_patch({table}.traits, %s)"
    return f"""
        INSERT INTO {table} (application_id, external_id, traits, first_seen, last_seen)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (application_id, external_id) DO UPDATE
        SET traits = {merged}, last_seen = excluded.last_seen
        WHERE (SELECT count(*) FROM json_each({merged})) <= {MAX_TRAITS}
        RETURNING {returning}"""


def sqlite_params(changes: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """(a new user's traits, the merge's parameters) of ``sqlite_upsert``."""
    patch = json.dumps(dict(changes))
    return json.dumps(split(changes)[0]), [patch, patch]
