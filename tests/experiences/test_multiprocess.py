"""Many processes, one truth: an edit made in one process is served by every other process on
its next request, with the local-memory cache (one per process) and with Redis (shared).

Two gunicorn servers (one worker each, so each port is one process) run on the test database;
this test process edits through the actions, as the UI and the admin do, and commits.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from segments import actions
from segments.models import TraitDefinition
from tests.factories import ApplicationFactory, EndUserFactory, PublishedExperienceFactory

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CALLOUT_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.skip("the SQLite test database is in memory (tests/conftest.py files it)")
        return f"sqlite:///{name}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def _redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _forget_redis_targeting() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter("callout:*targeting:*"):
        client.delete(key)


class Server:
    """One gunicorn process on the test database."""

    def __init__(self, env: dict[str, str]):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "callout.wsgi:application",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_until_up(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited: {self.process.stderr.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"gunicorn did not answer on {self.base}")

    def experiences(self, key: str, user_id: str, url: str = "/dashboard") -> tuple[int, list]:
        query = urllib.parse.urlencode({"key": key, "id": user_id, "url": url})
        try:
            with urllib.request.urlopen(f"{self.base}/api/v1/experiences?{query}", timeout=10) as r:
                return r.status, [e["name"] for e in json.load(r)["experiences"]]
        except urllib.error.HTTPError as error:
            return error.code, []

    def identify(self, body: dict) -> int:
        request = urllib.request.Request(
            f"{self.base}/api/v1/identify", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(params=["locmem", "redis"])
def servers(request, transactional_db):
    """Two server processes; the parameter is their cache backend."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "REDIS_URL", "DEBUG")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "callout.settings",
        "DATABASE_URL": _database_url(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "multiprocess-test-" + "x" * 40,
        "PYTHONPATH": str(ROOT),
    }
    if request.param == "redis":
        if not _redis_reachable():
            pytest.skip(
                f"No Redis at {REDIS_URL}: start one (redis-server --port 6379) "
                "or set CALLOUT_TEST_REDIS_URL"
            )
        env["REDIS_URL"] = REDIS_URL
    pair = [Server(env), Server(env)]
    try:
        for server in pair:
            server.wait_until_up()
        yield pair
    finally:
        for server in pair:
            server.stop()
        if request.param == "redis":
            _forget_redis_targeting()


def test_an_edit_in_one_process_is_served_by_every_process_on_its_next_request(servers):
    app = ApplicationFactory()
    actions.trait_definition_create(application=app, key="plan", type="string")
    free = actions.segment_create(
        application=app,
        name="Free",
        rules=[{"trait": "plan", "operator": "equals", "value": "free"}],
    )
    banner = PublishedExperienceFactory(
        application=app, name="Banner", segments=[free], url_include=["/dashboard"]
    )
    EndUserFactory(application=app, external_id="u1", traits={"plan": "free"})

    def everywhere(key: str = app.public_key) -> list[tuple[int, list]]:
        return [server.experiences(key, "u1") for server in servers]

    # Each process compiles the targeting and keeps it.
    assert everywhere() == [(200, ["Banner"])] * 2
    assert everywhere() == [(200, ["Banner"])] * 2

    # A segment's rules change (the segment saved, its rules replaced): nobody is in it.
    actions.segment_update(
        segment=free, rules=[{"trait": "plan", "operator": "equals", "value": "pro"}]
    )
    assert everywhere() == [(200, [])] * 2

    # An experience's URL patterns and audience change (a model form, as the admin saves).
    banner.url_include = ["/dashboard/**"]
    banner.save()
    banner.segments.set([app.everyone])
    assert everywhere() == [(200, ["Banner"])] * 2

    # A trait is retyped: the Free segment's rule no longer fits; Everyone still matches.
    banner.segments.set([free])
    actions.segment_update(
        segment=free, rules=[{"trait": "plan", "operator": "equals", "value": "free"}]
    )
    assert everywhere() == [(200, ["Banner"])] * 2
    actions.trait_definition_update(
        trait=TraitDefinition.objects.get(application=app, key="plan"), type="number"
    )
    assert everywhere() == [(200, [])] * 2

    # The keys are rotated: the old key is unknown everywhere at once, the new one works.
    old_key = app.public_key
    actions.application_rotate_keys(application=app)
    assert everywhere(old_key) == [(401, [])] * 2
    assert everywhere(app.public_key) == [(200, [])] * 2

    # An edit through one server process (identify discovers a trait) reaches the other.
    first, second = servers
    assert first.identify({"key": app.public_key, "id": "u2", "traits": {"seats": 3}}) == 200
    seats = actions.segment_create(
        application=app,
        name="Teams",
        rules=[{"trait": "seats", "operator": "greater_than", "value": 2}],
    )
    PublishedExperienceFactory(application=app, name="Teams banner", segments=[seats])
    assert second.experiences(app.public_key, "u2") == (200, ["Teams banner"])
    assert first.experiences(app.public_key, "u2") == (200, ["Teams banner"])
