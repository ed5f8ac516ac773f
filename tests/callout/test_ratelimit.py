"""The snippet API's rate limits (callout/ratelimit.py): per public key and per client IP,
429 with Retry-After in our JSON error shape with CORS; shared through Redis when configured;
one cache round trip per request."""

import json
import os
import time
import uuid

import pytest
from django.test import Client

from callout import ratelimit
from segments.models import EndUser
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

REDIS_URL = os.environ.get("CALLOUT_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


@pytest.fixture(params=["local", "redis"])
def backend(request, settings, monkeypatch):
    if request.param == "redis":
        import redis

        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        except redis.RedisError:
            pytest.skip(f"No Redis at {REDIS_URL}: start one or set CALLOUT_TEST_REDIS_URL")
        # A prefix of its own, never clear(): that would flush a Redis database other test
        # runs on this machine may be using. The counters expire with their window.
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": f"callout-ratelimit-test-{uuid.uuid4().hex}",
            }
        }
    monkeypatch.setattr(ratelimit, "_counters", ratelimit._Counters())
    # Counting is per fixed window: a test that crossed a window's edge would see its counts
    # start again. Begin well inside one (a test takes well under a second).
    window = settings.API_RATE_WINDOW
    while time.time() % window > window - 2:
        time.sleep(0.1)
    return request.param


@pytest.fixture
def app():
    application = ApplicationFactory()
    EndUser.objects.create(application=application, external_id="u1")
    return application


def experiences(app, ip="10.0.0.1", key=None):
    params = {"key": key or app.public_key, "id": "u1", "url": "/"}
    return Client().get("/api/v1/experiences", params, REMOTE_ADDR=ip)


def identify(app, ip="10.0.0.1", raw=None):
    body = raw or json.dumps({"key": app.public_key, "id": "u1"})
    return Client().post("/api/v1/identify", body, content_type="text/plain", REMOTE_ADDR=ip)


def assert_429(response):
    assert response.status_code == 429
    assert response["Access-Control-Allow-Origin"] == "*"
    assert 1 <= int(response["Retry-After"]) <= 11
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert "retry in" in error["message"]


def test_per_ip__429_past_the_limit__other_addresses_unaffected(backend, app, settings):
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_KEY = 3, 0
    for _ in range(3):
        assert experiences(app).status_code == 200
    assert_429(experiences(app))
    assert_429(identify(app))  # every endpoint shares the address's budget
    assert experiences(app, ip="10.0.0.2").status_code == 200


def test_per_key__429_past_the_limit__from_any_address__get_and_post(backend, app, settings):
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_KEY = 0, 4
    other = ApplicationFactory()
    assert experiences(app, ip="10.0.1.1").status_code == 200
    assert identify(app, ip="10.0.1.2").status_code == 200
    # The key spelled with a JSON escape counts against the same key.
    escaped = json.dumps({"key": app.public_key, "id": "u1"}).replace("pk_", "pk\\u005f")
    assert identify(app, ip="10.0.1.3", raw=escaped).status_code == 200
    assert experiences(app, ip="10.0.1.4").status_code == 200
    assert_429(experiences(app, ip="10.0.1.5"))
    assert_429(identify(app, ip="10.0.1.6"))
    assert experiences(other, ip="10.0.1.7").status_code == 404  # its own budget: unknown user


def test_a_refused_request_writes_nothing(backend, app, settings):
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_KEY = 1, 0
    identify(app)
    body = json.dumps({"key": app.public_key, "id": "new-user"})
    assert_429(identify(app, raw=body))
    assert not EndUser.objects.filter(external_id="new-user").exists()


def test_preflight_is_not_counted(backend, app, settings):
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_KEY = 1, 0
    client = Client()
    for _ in range(3):
        assert client.options("/api/v1/identify", REMOTE_ADDR="10.0.2.1").status_code == 204
    assert experiences(app, ip="10.0.2.1").status_code == 200


def test_the_window_ends__counting_starts_again(backend, app, settings, monkeypatch):
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_KEY = 1, 0
    now = [1_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    assert experiences(app).status_code == 200
    response = experiences(app)
    assert_429(response)
    assert response["Retry-After"] == "10"
    now[0] += 10
    assert experiences(app).status_code == 200


def test_redis__at_most_one_round_trip_a_request__batched_within_the_sync_interval(
    backend, app, settings, monkeypatch, rf
):
    if backend != "redis":
        pytest.skip("round trips are Redis's")
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_KEY = 100, 100
    import redis.client

    pipelines = []
    original = redis.client.Pipeline.execute
    monkeypatch.setattr(
        redis.client.Pipeline,
        "execute",
        lambda self, *a, **k: pipelines.append(len(self.command_stack)) or original(self, *a, **k),
    )
    calls = []
    original_call = redis.client.Redis.execute_command
    monkeypatch.setattr(
        redis.client.Redis,
        "execute_command",
        lambda self, *a, **k: calls.append(a[0]) or original_call(self, *a, **k),
    )
    now = [2_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    request = rf.get("/api/v1/experiences", {"key": app.public_key, "id": "u1", "url": "/"})
    for _ in range(10):  # within one sync interval: one pipeline for all ten
        assert ratelimit.retry_after(request) is None
    assert pipelines == [4]  # INCRBY and EXPIRE for the address and for the key
    now[0] += ratelimit._Counters.SYNC_SECONDS
    assert ratelimit.retry_after(request) is None
    assert pipelines == [4, 4]
    assert calls == []  # nothing went to Redis outside the pipelines


def test_redis__the_limit_is_shared_by_processes(backend, app, settings, monkeypatch):
    if backend != "redis":
        pytest.skip("sharing is Redis's")
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_KEY = 0, 4
    monkeypatch.setattr(ratelimit._Counters, "SYNC_SECONDS", 0)  # exact, for the count
    first, second = ratelimit._Counters(), ratelimit._Counters()  # two processes' views
    monkeypatch.setattr(ratelimit, "_counters", first)
    for n in range(3):
        assert experiences(app, ip=f"10.0.3.{n}").status_code == 200
    monkeypatch.setattr(ratelimit, "_counters", second)
    assert experiences(app, ip="10.0.3.8").status_code == 200
    assert_429(experiences(app, ip="10.0.3.9"))


def test_the_cache_down__requests_are_served(app, settings, monkeypatch):
    settings.API_RATE_LIMIT_IP = 1

    def down(self, *args):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(ratelimit._Counters, "add", down)
    for _ in range(3):
        assert experiences(app).status_code == 200


def test_redis_failing__counted_locally_and_asked_again_only_after_a_pause(
    backend, app, settings, monkeypatch, rf
):
    if backend != "redis":
        pytest.skip("Redis's")
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_KEY = 2, 0
    tries = []

    def failing(*args):
        tries.append(1)
        raise ConnectionError("redis is down")

    monkeypatch.setattr(ratelimit._Counters, "_send", staticmethod(failing))
    now = [3_000_000.0]
    monkeypatch.setattr(ratelimit.time, "time", lambda: now[0])
    request = rf.get("/api/v1/experiences", {"key": app.public_key, "id": "u1", "url": "/"})
    assert ratelimit.retry_after(request) is None  # served: the failure is not the client's
    for _ in range(5):
        ratelimit.retry_after(request)
    assert tries == [1]  # one try, then a pause: no timeout paid per request
    assert ratelimit.retry_after(request) is not None  # still limited, on local counts
    now[0] += ratelimit._Counters.BACKOFF_SECONDS
    ratelimit.retry_after(request)
    assert tries == [1, 1]


def test_a_body_over_the_api_limit_is_not_read_for_its_key(app, settings):
    settings.API_RATE_LIMIT_KEY = 1
    body = json.dumps({"key": app.public_key, "id": "u1", "pad": "x" * 70_000})
    for _ in range(2):
        response = identify(app, raw=body)
        assert response.status_code == 413  # the view's answer, not a 429 for the key
