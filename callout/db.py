"""Prepared statements for the few statements every serve runs (PostgreSQL, psycopg 3).

Django binds parameters on the client, so PostgreSQL parses and plans each statement anew; for
the serve's lookup and identify's upsert, planning costs more than running (~0.3 ms against
~0.1). ``fetchone_prepared`` binds on the server and prepares: a statement is planned once per
connection (psycopg names it and keeps it for the connection's life). It needs
``prepare_threshold`` in the database OPTIONS (``callout/settings.py`` sets it unless
``DATABASE_PREPARE=0``, for PgBouncer older than 1.21 in transaction mode); without it, or on
SQLite, it is Django's ordinary cursor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

from django.db import DEFAULT_DB_ALIAS, connections

try:
    import psycopg
except ImportError:  # pragma: no cover - installs without psycopg 3
    psycopg = None


if psycopg is not None:

    class _PreparingCursor(psycopg.Cursor):
        """Prepares every statement it runs (psycopg's automatic preparing counts to 5)."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, **{**kwargs, "prepare": True})


# One preparing cursor per database connection, kept for its life: the serve runs a statement
# per request, and a new cursor (with its adapters) per statement showed in its profile.
_cursors: WeakKeyDictionary[Any, Any] = WeakKeyDictionary()


def fetchone_prepared(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """The first row of ``sql``, prepared on PostgreSQL, with what Django's cursors promise:
    errors are django.db errors; queries are logged and counted when Django records them
    (DEBUG, and tests, which assert the numbers) or a wrapper is installed."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each attribute of django.db.connection looks it up
    if db.vendor == "postgresql" and psycopg is not None:
        db.ensure_connection()
        raw = db.connection
        if isinstance(raw, psycopg.Connection):  # not psycopg2
            cursor = _cursors.get(raw)
            if cursor is None or cursor.closed:
                cursor = _cursors[raw] = _PreparingCursor(raw)
            if db.queries_logged or db.execute_wrappers:  # tests and DEBUG count and log
                wrapped = (
                    db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)
                )
                wrapped.execute(sql, params)
                return wrapped.fetchone()
            # What Django's CursorWrapper would do around it, without its layers of calls.
            db.validate_no_broken_transaction()
            with db.wrap_database_errors:
                cursor.execute(sql, params)
                return cursor.fetchone()
    with db.cursor() as plain:
        plain.execute(sql, params)
        return plain.fetchone()


def array_literal(items: Sequence[str]) -> str:
    """PostgreSQL's text form of a one-dimensional array of ``items`` (none holding a NUL, which
    PostgreSQL text cannot), each quoted and its quotes and backslashes escaped, for a
    statement to cast (``%s::timestamptz[]``). psycopg adapts a Python list element by element
    in Python: the arrays of a /track call of 20 events took it about 0.3 ms of CPU; as text,
    a few string operations over all the items at once, they take a few microseconds."""
    if not items:
        return "{}"
    joined = "\0".join(items).replace("\\", "\\\\").replace('"', '\\"')
    return '{"' + joined.replace("\0", '","') + '"}'


@contextmanager
def without_statement_timeout(cursor: Any) -> Iterator[None]:
    """Lifts DB_STATEMENT_TIMEOUT for the statements inside (PostgreSQL): for work that is
    slow on purpose, such as building a trait index CONCURRENTLY after a save, which a
    cancellation would leave invalid. Inside a transaction the lift ends with it (SET LOCAL);
    in autocommit it is reset to the connection's start-up value afterwards."""
    db = cursor.db
    if db.vendor != "postgresql":
        yield
        return
    if db.in_atomic_block:
        cursor.execute("SET LOCAL statement_timeout = 0")
        yield
        return
    cursor.execute("SET statement_timeout = 0")
    try:
        yield
    finally:
        cursor.execute("RESET statement_timeout")
