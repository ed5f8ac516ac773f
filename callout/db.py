"""Prepared statements for the few statements every serve runs (PostgreSQL, psycopg 3).

Django binds parameters on the client, so PostgreSQL parses and plans each statement anew; for
the serve's lookup and identify's upsert, planning costs more than running (~0.3 ms against
~0.1). ``prepared_cursor`` binds on the server and prepares: a statement is planned once per
connection (psycopg names it and keeps it for the connection's life). It needs
``prepare_threshold`` in the database OPTIONS (``callout/settings.py`` sets it unless
``DATABASE_PREPARE=0``, for PgBouncer older than 1.21 in transaction mode); without it, or on
SQLite, it is Django's ordinary cursor.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.backends.utils import CursorWrapper

try:
    import psycopg
except ImportError:  # pragma: no cover - installs without psycopg 3
    psycopg = None


if psycopg is not None:

    class _PreparingCursor(psycopg.Cursor):
        """Prepares every statement it runs (psycopg's automatic preparing counts to 5)."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, **{**kwargs, "prepare": True})


def prepared_cursor() -> CursorWrapper:
    """A cursor whose statements are prepared on PostgreSQL, wrapped as Django wraps its own:
    errors are django.db errors, queries are logged and counted (tests assert the numbers)."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    raw = connection.connection
    if psycopg is None or not isinstance(raw, psycopg.Connection):  # psycopg2
        return connection.cursor()
    cursor = _PreparingCursor(raw)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)
