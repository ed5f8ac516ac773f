"""POST /api/v1/track: the events of the customer's app, all stored or none; CORS, text/plain,
identity verification, limits and errors as for identify; a constant number of queries."""

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callout import ratelimit
from experiences import lookup, track
from experiences.checks import user_hash
from segments import actions, activity
from segments.models import EndUser, EventDefinition, TrackedEvent
from tests.factories import ApplicationFactory, EndUserFactory, PublishedExperienceFactory

pytestmark = pytest.mark.django_db

TRACK, EXPERIENCES = "/api/v1/track", "/api/v1/experiences"


def post(client, body, content_type="text/plain"):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(TRACK, data=raw, content_type=content_type)


@pytest.fixture(autouse=True, params=["in steps", "at once"])
def track_path(request, monkeypatch):
    """Every test runs with track taking each of its paths (experiences/track.py): "in steps"
    (the application, the checks, events_track's transaction), and "at once", where the
    process already knows the application before each call, so that a valid call for a known
    user and known names is two statements on PostgreSQL, and every other call falls back."""
    if request.param == "in steps":
        monkeypatch.setattr(track, "track_at_once", lambda data: None)
        return request.param

    plain_post = post

    def warm_then_post(client, body, content_type="text/plain"):
        if isinstance(body, dict) and isinstance(body.get("key"), str):
            lookup.lookup(body["key"], "warm-up")  # read-only: the application, no user
        return plain_post(client, body, content_type)

    monkeypatch.setitem(globals(), "post", warm_then_post)
    return request.param


def error_of(response):
    return response.json()["error"]


@pytest.fixture
def app():
    return ApplicationFactory()


def body(app, *events, **fields):
    return {"key": app.public_key, "id": "u1", "events": list(events), **fields}


def test_track__answers_how_many_were_accepted_and_stores_them(client, app):
    response = post(
        client,
        body(
            app,
            {"name": "project_created", "properties": {"template": "kanban", "public": False}},
            {"name": "invited", "timestamp": "2026-11-20T14:30:00Z"},
        ),
    )
    assert (response.status_code, response.json()) == (200, {"accepted": 2})
    assert sorted(TrackedEvent.objects.values_list("name", "properties")) == [
        ("invited", {}),
        ("project_created", {"template": "kanban", "public": False}),
    ]
    user = EndUser.objects.get(application=app, external_id="u1")
    assert activity.entry(user.activity, "project_created")[activity.COUNT] == 1
    assert set(EventDefinition.objects.values_list("name", "auto_discovered")) == {
        ("project_created", True),
        ("invited", True),
    }


def test_track__an_unknown_user_is_created__an_integer_id_is_its_text(client, app):
    assert post(client, {**body(app, {"name": "a"}), "id": 42}).status_code == 200
    assert EndUser.objects.get(application=app).external_id == "42"


def test_track__accepts_application_json_too(client, app):
    response = post(client, body(app, {"name": "a"}), content_type="application/json")
    assert response.json() == {"accepted": 1}


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ([], "events"),
        ([{"name": "a"}] * 101, "events"),
        ("a", "events"),
        ([{"name": "a"}, {"name": "a"}, {"name": "a"}, {"name": "not ok"}], "events[3].name"),
        ([{"name": "a", "properties": [1]}], "events[0].properties"),
        ([{"name": "a", "properties": {"tags": [1]}}], "events[0].properties.tags"),
        ([{"name": "a", "timestamp": "2020-01-01"}], "events[0].timestamp"),
        ([{"name": "a", "timestamp": 4102444800}], "events[0].timestamp"),  # 2100
        ([{"name": "a", "colour": "red"}], "events[0].colour"),
    ],
)
def test_track__bad_input__400_naming_the_path__nothing_stored(client, app, events, field):
    response = post(
        client, body(app, *events) if isinstance(events, list) else body(app) | {"events": events}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_field"
    assert error_of(response)["field"] == field
    assert not TrackedEvent.objects.exists()
    assert not EndUser.objects.exists()
    assert not EventDefinition.objects.exists()


def test_track__missing_events__400(client, app):
    response = post(client, {"key": app.public_key, "id": "u1"})
    assert (response.status_code, error_of(response)["field"]) == (400, "events")


def test_track__missing_key_400__unknown_key_401_before_a_bad_id(client, app):
    assert error_of(post(client, {"id": "u1", "events": [{"name": "a"}]}))["field"] == "key"
    response = post(client, {"key": "pk_nope", "id": "", "events": [{"name": "a"}]})
    assert (response.status_code, error_of(response)["code"]) == (401, "unknown_key")
    response = post(client, {**body(app, {"name": "a"}), "id": ""})
    assert (response.status_code, error_of(response)["field"]) == (400, "id")


def test_track__malformed_json__400(client, app):
    for raw in ("{", "[1]", '{"key": NaN}'):
        assert error_of(post(client, raw))["code"] == "invalid_json"


def test_track__a_new_name_past_the_limit__refused_naming_the_event(client, app, settings):
    settings.CALLOUT_MAX_EVENT_NAMES = 1
    post(client, body(app, {"name": "one"}))
    response = post(client, body(app, {"name": "one"}, {"name": "two"}))
    assert (response.status_code, error_of(response)["field"]) == (400, "events[1].name")
    assert TrackedEvent.objects.count() == 1


def test_track__body_over_64_kb__413(client, app):
    events = [{"name": "a", "properties": {"text": "x" * 1000}}] * 70
    response = post(client, body(app, *events))
    assert (response.status_code, error_of(response)["code"]) == (413, "body_too_large")
    assert not TrackedEvent.objects.exists()


def test_track__cors_on_success__errors__and_preflight__405_for_get(client, app):
    ok = post(client, body(app, {"name": "a"}))
    bad = post(client, body(app, {"name": "no good"}))
    preflight = client.options(TRACK, headers={"Origin": "https://customer.example"})
    wrong = client.get(TRACK)
    for response in (ok, bad, preflight, wrong):
        assert response["Access-Control-Allow-Origin"] == "*"
    assert preflight.status_code == 204
    assert (wrong.status_code, error_of(wrong)["code"]) == (405, "method_not_allowed")


def test_track__identity_verification__missing_or_wrong_hash_403__valid_hash_accepted(client):
    app = ApplicationFactory(require_user_hash=True)
    for sent in ({}, {"user_hash": "00" * 32}, {"user_hash": user_hash(app.secret_key, "u2")}):
        response = post(client, body(app, {"name": "a"}, **sent))
        assert (response.status_code, error_of(response)["field"]) == (403, "user_hash")
    assert not TrackedEvent.objects.exists()
    digest = user_hash(app.secret_key, "u1")
    assert post(client, body(app, {"name": "a"}, user_hash=digest)).json() == {"accepted": 1}


def test_track__rate_limited_like_every_endpoint(client, app, settings, monkeypatch):
    settings.API_RATE_LIMIT_IP, settings.API_RATE_LIMIT_KEY, settings.API_RATE_WINDOW = 1, 0, 3600
    monkeypatch.setattr(ratelimit, "_counters", ratelimit._Counters())
    assert post(client, body(app, {"name": "a"})).status_code == 200
    response = post(client, body(app, {"name": "a"}))
    assert (response.status_code, error_of(response)["code"]) == (429, "rate_limited")
    assert TrackedEvent.objects.count() == 1


def test_track__a_constant_number_of_queries_whatever_the_number_of_events(
    client, app, django_assert_num_queries, track_path
):
    """At once (PostgreSQL, the application known to the process): the user's summary read,
    then written with the events, two statements. In steps: the application by its key, the
    names known, the user's row locked, the events in one INSERT, the summary in one UPDATE,
    the day's counts in one upsert (and, in a test, the savepoint and its release)."""
    post(client, body(app, {"name": "a"}, {"name": "b"}))  # warms the targeting; user, names
    at_once = connection.vendor == "postgresql" and track_path == "at once"
    events = [{"name": "a" if n % 2 else "b", "properties": {"n": n}} for n in range(100)]
    for sent in ([{"name": "a"}], events):
        with django_assert_num_queries(2 if at_once else 8):  # no warm-up: counted as sent
            response = client.post(TRACK, json.dumps(body(app, *sent)), content_type="text/plain")
        assert response.json() == {"accepted": len(sent)}
    summary = EndUser.objects.get(application=app, external_id="u1").activity
    assert activity.entry(summary, "a")[activity.COUNT] == 52
    assert activity.entry(summary, "b")[activity.COUNT] == 51
    assert TrackedEvent.objects.count() == 103


def test_track__any_text_in_names_times_and_properties_is_stored_as_sent(
    client, app, django_assert_num_queries, track_path
):
    """At once passes the events' columns as PostgreSQL array text (callout.db.array_literal):
    quotes, backslashes, braces, commas, NULL, blanks and any character come back as sent."""
    post(client, body(app, {"name": "NULL"}, {"name": "a.b-c_d"}))  # the user, the names
    tricky = ['"', "\\", '\\"', "{}", "a,b", "NULL", "", " x ", "\n\t", "é€😀", '{"a": 1}']
    when = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=1)
    sent = [
        {"name": "NULL", "timestamp": when.isoformat(), "properties": {"t": text}}
        for text in tricky
    ]
    sent.append({"name": "a.b-c_d", "properties": {"k.-_": None, "n": -1.5, "b": True}})
    at_once = connection.vendor == "postgresql" and track_path == "at once"
    with django_assert_num_queries(2 if at_once else 8):
        response = client.post(TRACK, json.dumps(body(app, *sent)), content_type="text/plain")
    assert response.json() == {"accepted": len(sent)}
    stored = list(
        TrackedEvent.objects.order_by("pk").values_list("name", "timestamp", "properties")
    )
    assert [(name, props) for name, _, props in stored][2:] == [
        (e["name"], e["properties"]) for e in sent
    ]
    assert {at for _, at, _ in stored[2:-1]} == {when}


def test_track__a_summary_written_between_the_two_statements__the_call_goes_in_steps(
    client, app, monkeypatch, track_path
):
    """At once writes only if the user's row is still the version it read: another write in
    between (a parallel call, the snippet's events, identify) sends it the general way, and
    neither write is lost."""
    if connection.vendor != "postgresql" or track_path != "at once":
        pytest.skip("the two-statement path is PostgreSQL's")
    post(client, body(app, {"name": "a"}))
    original = track.fetchone_prepared

    def meanwhile(sql, params):
        if "WITH written" in sql:
            EndUser.objects.filter(application=app, external_id="u1").update(
                activity={"e": {"other": [1, 5.0, 5.0, [5.0]]}}
            )
        return original(sql, params)

    monkeypatch.setattr(track, "fetchone_prepared", meanwhile)
    assert post(client, body(app, {"name": "a"}, {"name": "a"})).json() == {"accepted": 2}
    summary = EndUser.objects.get(application=app, external_id="u1").activity
    assert summary["e"]["other"] == [1, 5.0, 5.0, [5.0]]
    assert activity.entry(summary, "a")[activity.COUNT] == 2  # the other write had reset it
    assert TrackedEvent.objects.count() == 3


def test_track__the_next_serve_sees_the_event(client, app):
    """Fresh on the very next request: a segment on an event, an experience for it."""
    segment = actions.segment_create(
        application=app,
        name="Made a project",
        definition={
            "match": "all",
            "rules": [{"event": "project_created", "operator": "at_least", "value": 1}],
        },
    )
    PublishedExperienceFactory(application=app, name="Project tips", segments=[segment])
    EndUserFactory(application=app, external_id="u1")
    params = {"key": app.public_key, "id": "u1", "url": "/dashboard"}
    assert client.get(EXPERIENCES, params).json()["experiences"] == []
    post(client, body(app, {"name": "project_created"}))
    assert segment.members().filter(external_id="u1").exists()
    served = client.get(EXPERIENCES, params).json()["experiences"]
    assert [e["name"] for e in served] == ["Project tips"]


@pytest.mark.django_db(transaction=True)
def test_parallel_track_calls_for_one_user_lose_no_count(track_path):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race exists on PostgreSQL")
    from django.db import connections
    from django.test import Client

    app = ApplicationFactory()
    Client().post(TRACK, json.dumps(body(app, {"name": "shared"})), content_type="text/plain")
    threads_count, rounds = 6, 5
    barrier = threading.Barrier(threads_count)
    failures = []

    def worker(n):
        try:
            client = Client()
            barrier.wait()
            for _ in range(rounds):
                response = post(client, body(app, {"name": "shared"}, {"name": "shared"}))
                if response.status_code != 200:
                    failures.append(response.content)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    summary = EndUser.objects.get(application=app, external_id="u1").activity
    assert activity.entry(summary, "shared")[activity.COUNT] == 1 + 2 * threads_count * rounds
    assert TrackedEvent.objects.count() == 1 + 2 * threads_count * rounds


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
event_values = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["a", "b.c", "9x", ""]) | json_values,
        "timestamp": st.sampled_from(["2026-11-20", 1.5e12, 1e30]) | json_values,
        "properties": st.dictionaries(st.text(max_size=5), json_values, max_size=3) | json_values,
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(user_id=json_values, events=st.lists(event_values, max_size=4) | json_values)
def test_any_json__never_a_500__nothing_stored_unless_accepted(client, app, user_id, events):
    before = TrackedEvent.objects.count()
    response = post(client, {"key": app.public_key, "id": user_id, "events": events})
    assert response.status_code in (200, 400), response.content
    stored = TrackedEvent.objects.count() - before
    assert stored == (response.json()["accepted"] if response.status_code == 200 else 0)


def test_track__the_days_counts_written_with_the_events_equal_a_rebuild(client, app, track_path):
    from segments.models import EndUser, EventDay
    from segments.rollup import day_counts, rollup_rebuild, user_shard

    for user in ("u1", "u2", "u1"):
        sent = [{"name": "a"}, {"name": "b"}, {"name": "a"}]
        response = client.post(
            TRACK, json.dumps(body(app, *sent, id=user)), content_type="text/plain"
        )
        assert response.json() == {"accepted": 3}

    def rows():  # each day's shards summed
        return sorted(day_counts(app))

    written = rows()
    assert [(name, events, users) for name, _, events, users, _ in written] == [
        ("a", 6, 2),
        ("b", 3, 2),
    ]
    # Each user's calls add to the user's shard of the day's rows.
    u1, u2 = (EndUser.objects.get(application=app, external_id=u).pk for u in ("u1", "u2"))
    assert sorted(EventDay.objects.values_list("name", "shard", "events", "new_users")) == sorted(
        [
            ("a", user_shard(u1), 4, 1),
            ("a", user_shard(u2), 2, 1),
            ("b", user_shard(u1), 2, 1),
            ("b", user_shard(u2), 1, 1),
        ]
    )
    rollup_rebuild(application=app)
    assert rows() == written
