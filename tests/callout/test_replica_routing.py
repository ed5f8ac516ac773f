"""callout/replica.py's decisions, without a replica: which requests and models may read it,
the pin after a write, and a request run again on the primary when the replica failed."""

import pytest
from django.contrib.sessions.models import Session
from django.http import HttpResponse

from callout import replica
from segments.models import Segment


@pytest.fixture
def with_replica(monkeypatch):
    """As if DATABASE_REPLICA_URL were set and the replica current (no query reaches it here:
    the router only names it)."""
    monkeypatch.setattr(replica, "configured", lambda: True)
    monkeypatch.setattr(replica.health, "check", lambda: True)


def run(rf, method, path, view, cookies=None):
    request = getattr(rf, method.lower())(path)
    request.COOKIES.update(cookies or {})
    return request, replica.ReplicaMiddleware(view)(request)


def routed(model):
    return replica.ReplicaRouter().db_for_read(model)


@pytest.mark.parametrize(
    "method, path, cookies, reads_replica",
    [
        ("GET", "/apps/1/segments/", {}, True),
        ("HEAD", "/apps/1/users/", {}, True),
        ("POST", "/apps/1/segments/new/", {}, False),  # a write's own reads: the primary
        ("GET", "/api/v1/experiences", {}, False),  # the serve sees identify's write
        ("GET", "/admin/segments/segment/", {}, False),
        ("GET", "/apps/1/segments/", {replica.PIN_COOKIE: "9999999999"}, False),  # pinned
        ("GET", "/apps/1/segments/", {replica.PIN_COOKIE: "1"}, True),  # pin expired
    ],
)
def test_which_requests_read_the_replica(with_replica, rf, method, path, cookies, reads_replica):
    seen = {}

    def view(request):
        seen["segment"], seen["session"] = routed(Segment), routed(Session)
        return HttpResponse()

    run(rf, method, path, view, cookies)
    assert seen["segment"] == ("replica" if reads_replica else None)
    assert seen["session"] is None  # a login's redirect must find its session


def test_a_write_pins_the_browser_to_the_primary(with_replica, rf, settings):
    _, response = run(rf, "POST", "/apps/1/segments/new/", lambda r: HttpResponse())
    cookie = response.cookies[replica.PIN_COOKIE]
    assert cookie["max-age"] == settings.REPLICA_PIN_SECONDS and cookie["httponly"]
    _, response = run(rf, "POST", "/api/v1/identify", lambda r: HttpResponse())
    assert replica.PIN_COOKIE not in response.cookies  # the snippet's calls do not pin


def test_the_replica_failing_mid_request__the_get_runs_again_on_the_primary(
    with_replica, rf, monkeypatch
):
    marked = []
    monkeypatch.setattr(replica.health, "mark_down", marked.append)
    calls = []

    def view(request):
        calls.append(routed(Segment))
        if calls[-1] == "replica":
            request.replica_failed = True  # what DatabaseUnavailableMiddleware sets
            return HttpResponse(status=503)
        return HttpResponse("from the primary")

    _, response = run(rf, "GET", "/apps/1/segments/", view)
    assert calls == ["replica", None]
    assert response.status_code == 200 and response.content == b"from the primary"
    assert marked


def test_without_a_replica_nothing_changes(rf):
    assert not replica.configured()
    _, response = run(rf, "POST", "/apps/1/segments/new/", lambda r: HttpResponse())
    assert replica.PIN_COOKIE not in response.cookies


def test_database_unavailable_middleware_flags_a_replica_failure(with_replica, rf):
    from django.db import OperationalError

    from callout.middleware import DatabaseUnavailableMiddleware

    middleware = DatabaseUnavailableMiddleware(lambda r: HttpResponse())

    def view(request):
        routed(Segment)
        response = middleware.process_exception(request, OperationalError("replica gone"))
        assert request.replica_failed
        return response

    run(rf, "GET", "/apps/1/segments/", view)
