"""A frozen database (every PostgreSQL process stopped with SIGSTOP) must not hang the service:
/healthz answers 503 within 2 s, the API answers its JSON 503 once the connect timeout
passes, and both recover when the database does. Runs gunicorn against a throwaway PostgreSQL
that this test starts, freezes and stops (tests/throwaway.py)."""

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.throwaway import Gunicorn, PostgreSQL, manage, server_env


def get(url: str, timeout: float = 10) -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body = response.status, json.load(response)
    except urllib.error.HTTPError as error:
        status, body = error.code, json.load(error)
    return status, body, time.monotonic() - started


@pytest.fixture(scope="module")
def frozen_setup():
    database = PostgreSQL()
    server = None
    try:
        env = server_env(
            DATABASE_URL=database.url,
            DB_CONNECT_TIMEOUT="2",  # libpq's minimum
            CONN_MAX_AGE="0",  # each request connects: what a worker does after a restart
        )
        manage(env, "migrate", "--noinput")
        server = Gunicorn(env)
        yield database, server
    finally:
        if server is not None:
            server.stop()
        database.stop()


def test_frozen_database__healthz_503_within_2_s__api_json_503__both_recover(frozen_setup):
    database, server = frozen_setup
    experiences = f"{server.base}/api/v1/experiences?key=pk_unknown&id=u1&url=/"
    assert get(f"{server.base}/healthz")[0] == 200
    assert get(experiences)[0] == 401  # the database answers: an unknown key

    database.freeze()
    try:
        for _ in range(2):  # the second probe finds the first one's check still hung
            status, body, seconds = get(f"{server.base}/healthz")
            print(f"frozen: /healthz {status} in {seconds:.2f} s")
            assert status == 503 and seconds < 2.0
            assert body["checks"]["database"]["status"] == "error"
            assert body["checks"]["cache"]["status"] == "ok"
        status, body, seconds = get(experiences)
        print(f"frozen: GET /api/v1/experiences {status} in {seconds:.2f} s")
        assert status == 503 and body["error"]["code"] == "unavailable"
        assert seconds < 5.0
    finally:
        database.thaw()
    thawed = time.monotonic()
    while get(f"{server.base}/healthz")[0] != 200:
        assert time.monotonic() - thawed < 10, "did not recover within 10 s"
        time.sleep(0.1)
    print(f"recovered: /healthz 200 {time.monotonic() - thawed:.2f} s after the thaw")
    # The API's worker may meet its broken connection once more before it reconnects.
    while get(experiences)[0] != 401:
        assert time.monotonic() - thawed < 10, "the API did not recover within 10 s"
        time.sleep(0.1)


def test_frozen_database__a_request_on_an_open_connection__json_503_at_the_deadline(
    frozen_setup,
):
    """A worker that keeps its connection (CONN_MAX_AGE) waits on a socket the frozen server
    never answers: callout/dbwatch.py cuts it at API_DB_DEADLINE."""
    database, _ = frozen_setup
    env = server_env(
        DATABASE_URL=database.url, DB_CONNECT_TIMEOUT="2", CONN_MAX_AGE="60", API_DB_DEADLINE="2"
    )
    server = Gunicorn(env)
    try:
        experiences = f"{server.base}/api/v1/experiences?key=pk_unknown&id=u1&url=/"
        assert get(experiences)[0] == 401  # the worker now holds an open connection
        database.freeze()
        try:
            status, body, seconds = get(experiences)
            print(f"frozen, open connection: GET /api/v1/experiences {status} in {seconds:.2f} s")
            assert status == 503 and body["error"]["code"] == "unavailable"
            assert seconds < 4.0
        finally:
            database.thaw()
        thawed = time.monotonic()
        while get(experiences)[0] != 401:
            assert time.monotonic() - thawed < 10, "the API did not recover within 10 s"
            time.sleep(0.1)
        print(f"recovered: the API answers {time.monotonic() - thawed:.2f} s after the thaw")
    finally:
        server.stop()
