"""The read replica (callout/replica.py) against a real streaming standby: a throwaway primary
and a pg_basebackup standby that this test starts (tests/throwaway.py), gunicorn on both.

Engage's reads go to the replica (a row the replica has not replayed yet is not on the page);
a replica lagging past REPLICA_MAX_LAG, or gone, is passed over for the primary with no error
page; the snippet's API reads the primary (identify then experiences sees its own write)."""

import http.cookiejar
import json
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.throwaway import Gunicorn, PostgreSQL, manage, server_env

PASSWORD = "correct horse battery"
SETUP = f"""
from django.contrib.auth import get_user_model
from segments import actions
from segments.models import EndUser, Membership
user = get_user_model().objects.create_user("pm", password="{PASSWORD}")
app = actions.application_create(name="Acme")
Membership.objects.create(user=user, application=app, role="owner")
EndUser.objects.create(application=app, external_id="u-first")
print("APP", app.pk, app.public_key)
"""


def wait_for(check, seconds=15.0, what="the condition"):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Browser:
    """A manager's browser: cookies kept, logs in through the form."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def log_in(self) -> None:
        status, page = self.get("/login/")
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert found, (status, page[:2000])
        token = found.group(1)
        form = {"username": "pm", "password": PASSWORD, "csrfmiddlewaretoken": token}
        request = urllib.request.Request(
            self.base + "/login/", data=urllib.parse.urlencode(form).encode(), method="POST"
        )
        with self.opener.open(request, timeout=20) as response:
            assert response.status == 200 and "/login/" not in response.url

    def forget_pin(self) -> None:
        """Drops the cookie a write sets, which keeps this browser on the primary a while."""
        for cookie in list(self.jar):
            if cookie.name == "callout_primary":
                self.jar.clear(cookie.domain, cookie.path, cookie.name)


def api(base: str, method: str, path: str, body: dict | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def pair():
    started = time.monotonic()
    primary = PostgreSQL(primary=True)
    standby = server = None
    static = tempfile.mkdtemp(prefix="callout-test-static.")
    try:
        # Production's static storage (hashed names from a manifest), as docs/deploy.md runs.
        env = server_env(DATABASE_URL=primary.url, STATIC_ROOT=static)
        manage(env, "collectstatic", "--noinput")
        manage(env, "migrate", "--noinput")
        output = manage(env, "shell", "-c", SETUP)
        app_id, key = re.search(r"^APP (\d+) (\S+)$", output, re.MULTILINE).groups()
        standby = PostgreSQL(standby_of=primary)
        wait_for(lambda: standby.sql("SELECT count(*) FROM segments_enduser") == "1",
                 what="the standby to have the data")  # fmt: skip
        env = server_env(
            DATABASE_URL=primary.url,
            STATIC_ROOT=static,
            DATABASE_REPLICA_URL=standby.url,
            REPLICA_MAX_LAG="3",
            REPLICA_CHECK_SECONDS="0.2",
            REPLICA_PIN_SECONDS="2",
            DB_CONNECT_TIMEOUT="2",
        )
        server = Gunicorn(env)
        print(f"primary, standby and gunicorn up in {time.monotonic() - started:.1f} s")
        yield primary, standby, server, int(app_id), key
    finally:
        if server is not None:
            server.stop()
        if standby is not None:
            standby.stop()
        primary.stop()
        shutil.rmtree(static, ignore_errors=True)


def add_user(primary: PostgreSQL, app_id: int, external_id: str) -> None:
    primary.sql(
        "INSERT INTO segments_enduser (application_id, external_id, traits, first_seen,"
        f" last_seen) VALUES ({app_id}, '{external_id}', '{{}}', now(), now())"
    )


def test_engage_reads_the_replica__a_lagging_or_lost_replica_falls_back_to_the_primary(pair):
    primary, standby, server, app_id, key = pair
    users = f"/apps/{app_id}/users/"
    browser = Browser(server.base)
    browser.log_in()
    browser.forget_pin()

    # A fresh replayed transaction, so that the lag starts near 0; then replay stops.
    add_user(primary, app_id, "u-marker")
    wait_for(lambda: "u-marker" in browser.get(users)[1], what="the marker")
    standby.sql("SELECT pg_wal_replay_pause()")
    add_user(primary, app_id, "u-ghost")  # on the primary, not replayed on the replica
    status, page = browser.get(users)
    assert status == 200
    assert "u-marker" in page and "u-ghost" not in page  # read from the replica
    # A browser that has just written (a login is a POST) reads the primary for a while.
    pinned = Browser(server.base)
    pinned.log_in()
    assert "u-ghost" in pinned.get(users)[1]

    # The snippet's API reads the primary: identify, then experiences, sees its own write.
    assert api(server.base, "POST", "/api/v1/identify", {"key": key, "id": "u-new"}) == 200
    query = urllib.parse.urlencode({"key": key, "id": "u-new", "url": "/"})
    assert api(server.base, "GET", f"/api/v1/experiences?{query}") == 200

    # Past REPLICA_MAX_LAG (3 s) of lag, Engage reads the primary.
    started = time.monotonic()
    wait_for(lambda: "u-ghost" in browser.get(users)[1], seconds=10, what="the lag fallback")
    print(f"lag fallback after {time.monotonic() - started:.1f} s of paused replay")

    # Caught up again: the replica is read again (and has everything).
    standby.sql("SELECT pg_wal_replay_resume()")
    add_user(primary, app_id, "u-after")
    wait_for(lambda: "u-after" in browser.get(users)[1], what="the replica to catch up")

    # The replica is lost: pages keep answering, from the primary, with no error page.
    standby.stop(remove=False)
    started = time.monotonic()
    status, page = browser.get(users)
    elapsed = time.monotonic() - started
    print(f"replica lost: {status} in {elapsed:.2f} s")
    assert status == 200 and "u-ghost" in page and elapsed < 5
    add_user(primary, app_id, "u-late")
    for _ in range(3):
        status, page = browser.get(users)
        assert status == 200 and "u-late" in page
