"""Database timeouts (callout/settings.py): a statement PostgreSQL cancels after
DB_STATEMENT_TIMEOUT is the API's JSON 503 and Engage's "try again" page, not a 500 or a
worker held for as long as a lock lasts."""

import threading

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.factories import ApplicationFactory, MembershipFactory


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("statement timeouts are PostgreSQL's")


def test_settings__connections_start_with_the_connect_and_statement_timeouts(postgresql, db):
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["connect_timeout"] == settings.DB_CONNECT_TIMEOUT
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone()[0] == f"{settings.DB_STATEMENT_TIMEOUT // 1000}s"


@pytest.fixture
def locked(postgresql, transactional_db):
    """Locks a table from another connection for as long as the test runs, after setting a
    short statement timeout on Django's connection (what DB_STATEMENT_TIMEOUT=300 gives)."""
    db = settings.DATABASES["default"]
    holders = []
    release = threading.Event()

    def lock(table: str) -> None:
        conninfo = psycopg.conninfo.make_conninfo(
            dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"]
        )
        raw = psycopg.connect(conninfo)
        raw.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        holders.append(raw)

    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 300")
    yield lock
    release.set()
    for raw in holders:
        raw.rollback()
        raw.close()
    with connection.cursor() as cursor:
        cursor.execute("RESET statement_timeout")


def test_api__a_cancelled_statement__json_503_with_cors(client, locked):
    app = ApplicationFactory()
    locked("segments_application")
    response = client.get("/api/v1/experiences", {"key": app.public_key, "id": "u1", "url": "/"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response["Access-Control-Allow-Origin"] == "*"


def test_engage__a_cancelled_statement__a_503_page_saying_to_try_again(client, locked):
    membership = MembershipFactory()
    client.force_login(membership.user)
    locked("segments_segment")
    response = client.get(f"/apps/{membership.application.pk}/segments/")
    assert response.status_code == 503
    assert b"Try again in a moment" in response.content
    assert response["Retry-After"] == "5"
