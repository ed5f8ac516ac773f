"""callout/db.py: the serve's prepared statements keep Django's promises about errors."""

import pytest
from django.db import connection
from django.db.utils import DatabaseError

from callout import db

pytestmark = pytest.mark.django_db


def test_fetchone_prepared__answers_the_first_row():
    assert db.fetchone_prepared("SELECT %s, %s", [1, "a"]) == (1, "a")
    assert db.fetchone_prepared("SELECT 1 WHERE %s", [False]) is None


def test_fetchone_prepared__a_failing_statement_raises_djangos_error():
    with pytest.raises(DatabaseError) as raised:
        db.fetchone_prepared("SELECT no_such_column FROM segments_application", [])
    assert type(raised.value).__module__ == "django.db.utils"  # not the driver's own


def test_fetchone_prepared__prepares_on_postgresql_with_one_cursor_per_connection():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    db.fetchone_prepared("SELECT 40 + %s", [2])
    cursor = db._cursors[connection.connection]
    assert db.fetchone_prepared("SELECT 40 + %s", [2]) == (42,)
    assert db._cursors[connection.connection] is cursor
    with connection.cursor() as plain:
        plain.execute("SELECT statement FROM pg_prepared_statements")
        assert any("SELECT 40 + $1" in row[0] for row in plain.fetchall())
