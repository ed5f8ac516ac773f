"""The snippet's JSON API: identify, experiences, events; errors, limits, CORS, query counts."""

import json
import threading
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.forms import modelform_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiences import api, identify, lookup, targeting
from experiences.checks import user_hash
from experiences.models import Event, Experience, TargetingVersion
from segments import actions
from segments.models import EndUser, TraitDefinition
from tests.factories import (
    ApplicationFactory,
    EndUserFactory,
    EventFactory,
    PublishedExperienceFactory,
    segment_with_rules,
)

pytestmark = pytest.mark.django_db

IDENTIFY, EXPERIENCES, EVENTS = "/api/v1/identify", "/api/v1/experiences", "/api/v1/events"


def post(client, path, body, content_type="text/plain"):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=raw, content_type=content_type)


def error_of(response):
    return response.json()["error"]


def stored_traits(app, user_id):
    return EndUser.objects.get(application=app, external_id=user_id).traits


@pytest.fixture(autouse=True, params=["in steps", "at once"])
def identify_path(request, monkeypatch):
    """Every test runs with identify taking each of its paths (experiences/identify.py): "in steps"
    (lookup, checks, write), and "at once", where the process already knows the application
    before each call, so that a valid call is one statement on PostgreSQL and every other call
    falls back to the steps."""
    if request.param == "in steps":
        monkeypatch.setattr(identify, "identify_at_once", lambda data: None)
        return request.param

    plain_post = post

    def warm_then_post(client, path, body, content_type="text/plain"):
        if path == IDENTIFY and isinstance(body, dict) and isinstance(body.get("key"), str):
            lookup.lookup(body["key"], "warm-up")  # read-only: the application, no user
        return plain_post(client, path, body, content_type)

    monkeypatch.setitem(globals(), "post", warm_then_post)
    return request.param


@pytest.fixture
def app():
    return ApplicationFactory()


@pytest.fixture
def acme(app):
    """The product docs' example: an upgrade banner for free users on the dashboard."""
    free = segment_with_rules(app, "Free Plan Users", ("plan", "string", "equals", "free"))
    admins = segment_with_rules(app, "Admins", ("role", "string", "equals", "admin"))
    banner = PublishedExperienceFactory(
        application=app,
        name="Upgrade banner",
        content={"text": "Upgrade!", "button_label": "Upgrade", "button_url": "/billing"},
        url_include=["/dashboard"],
        segments=[free],
        priority=5,
    )
    tooltip = PublishedExperienceFactory(
        application=app,
        name="Admin tooltip",
        kind=Experience.Kind.TOOLTIP,
        content={"selector": "#settings-save", "title": "Admins only"},
        url_include=["/settings"],
        segments=[admins],
    )
    return app, banner, tooltip


# --- identify ----------------------------------------------------------------------------


def test_identify__creates_the_user_and_answers_its_id__not_its_traits(client, app):
    response = post(
        client, IDENTIFY, {"key": app.public_key, "id": "u1", "traits": {"plan": "free"}}
    )
    assert response.status_code == 200
    assert response.json() == {"id": "u1"}  # the stored traits stay on the server
    assert EndUser.objects.get(application=app, external_id="u1").traits == {"plan": "free"}


def test_identify__traits_merge__omitted_kept__null_removes(client, app):
    key = app.public_key
    post(client, IDENTIFY, {"key": key, "id": "u1", "traits": {"plan": "free", "role": "admin"}})
    post(client, IDENTIFY, {"key": key, "id": "u1", "traits": {"plan": "pro", "role": None}})
    assert stored_traits(app, "u1") == {"plan": "pro"}
    post(client, IDENTIFY, {"key": key, "id": "u1", "traits": {"seats": 3}})
    assert stored_traits(app, "u1") == {"plan": "pro", "seats": 3}
    assert EndUser.objects.get(external_id="u1").traits == {"plan": "pro", "seats": 3}


def test_identify__without_traits__keeps_them_and_updates_last_seen(client, app):
    user = EndUserFactory(application=app, external_id="u1", traits={"plan": "free"})
    before = user.last_seen
    response = post(client, IDENTIFY, {"key": app.public_key, "id": "u1"})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.traits == {"plan": "free"}
    assert user.last_seen > before


def test_identify__unknown_trait_keys_are_discovered_with_an_inferred_type(client, app):
    traits = {
        "beta": True,
        "seats": 12,
        "mrr": 99.5,
        "signupDate": "2026-11-20",
        "lastLogin": "2026-11-20T14:30:00Z",
        "company": "Acme",
        "gone": None,
    }
    post(client, IDENTIFY, {"key": app.public_key, "id": "u1", "traits": traits})
    found = {
        t.key: (t.type, t.auto_discovered) for t in TraitDefinition.objects.filter(application=app)
    }
    assert found == {
        "beta": ("boolean", True),
        "seats": ("number", True),
        "mrr": ("number", True),
        "signupDate": ("date", True),
        "lastLogin": ("date", True),
        "company": ("string", True),
    }


def test_identify__a_new_trait_key_keeps_the_targeting_version(
    client, app, django_assert_num_queries, identify_path
):
    """Discovering a key must not make every process recompile (no rule can use it yet): the
    version stays; this process knows the key from now on, and another process, which does not,
    takes the general path once, which finds the definition and creates no second one."""
    key = app.public_key
    post(client, IDENTIFY, {"key": key, "id": "u0"})  # this process knows the application
    before = TargetingVersion.objects.get(application=app).version
    assert (
        post(client, IDENTIFY, {"key": key, "id": "u1", "traits": {"fresh": 1}}).status_code == 200
    )
    assert TargetingVersion.objects.get(application=app).version == before
    assert TraitDefinition.objects.filter(application=app, key="fresh").count() == 1
    # This process: the key is known, so a valid call is one statement on PostgreSQL.
    at_once = connection.vendor == "postgresql" and identify_path == "at once"
    body = json.dumps({"key": key, "id": "u2", "traits": {"fresh": 2}})
    with django_assert_num_queries(1 if at_once else 2):
        assert client.post(IDENTIFY, data=body, content_type="text/plain").status_code == 200
    # Another process: the targeting from the shared cache, without the key.
    targeting.clear_local()
    for user_id in ("u3", "u4"):
        body = {"key": key, "id": user_id, "traits": {"fresh": 3, "other": None}}
        assert post(client, IDENTIFY, body).status_code == 200
        assert stored_traits(app, user_id) == {"fresh": 3}
    assert TraitDefinition.objects.filter(application=app, key="fresh").count() == 1
    assert TargetingVersion.objects.get(application=app).version == before
    assert EndUser.objects.get(application=app, external_id="u4").traits == {"fresh": 3}


def test_identify__a_known_trait_keeps_its_defined_type(client, app):
    TraitDefinition.objects.create(application=app, key="plan", type="string")
    post(client, IDENTIFY, {"key": app.public_key, "id": "u1", "traits": {"plan": 3}})
    trait = TraitDefinition.objects.get(application=app, key="plan")
    assert (trait.type, trait.auto_discovered) == ("string", False)


def test_identify__accepts_application_json_too(client, app):
    body = {"key": app.public_key, "id": "u1"}
    assert post(client, IDENTIFY, body, content_type="application/json").status_code == 200


def test_identify__an_integer_id_is_taken_as_text(client, app):
    response = post(client, IDENTIFY, {"key": app.public_key, "id": 42})
    assert response.json()["id"] == "42"


def test_identify_with_url__answers_the_experiences_in_one_round_trip(client, acme):
    app, banner, _ = acme
    body = {"key": app.public_key, "id": "u1", "traits": {"plan": "free"}}
    response = post(client, IDENTIFY, {**body, "url": "https://app.example.com/dashboard"})
    assert [e["id"] for e in response.json()["experiences"]] == [banner.pk]
    assert response.json()["experiences"][0] == {
        "id": banner.pk,
        "name": "Upgrade banner",
        "kind": "banner",
        "frequency": "once",
        "priority": 5,
        "content": banner.content,
    }
    response = post(client, IDENTIFY, {**body, "url": "https://app.example.com/settings"})
    assert response.json()["experiences"] == []


# --- experiences -------------------------------------------------------------------------


def get_experiences(client, app, user_id, url, **extra):
    return client.get(EXPERIENCES, {"key": app.public_key, "id": user_id, "url": url, **extra})


def served_names(response):
    assert response.status_code == 200, response.content
    return [e["name"] for e in response.json()["experiences"]]


def test_experiences__by_segment_and_url(client, acme):
    app, _, _ = acme
    EndUserFactory(application=app, external_id="free", traits={"plan": "free"})
    EndUserFactory(
        application=app, external_id="boss", traits={"plan": "enterprise", "role": "admin"}
    )
    assert served_names(get_experiences(client, app, "free", "/dashboard")) == ["Upgrade banner"]
    assert served_names(get_experiences(client, app, "free", "/settings")) == []
    assert served_names(get_experiences(client, app, "boss", "/dashboard")) == []
    assert served_names(get_experiences(client, app, "boss", "/settings")) == ["Admin tooltip"]


def test_experiences__any_segment_matches__highest_priority_first(client, app):
    free = segment_with_rules(app, "Free", ("plan", "string", "equals", "free"))
    admins = segment_with_rules(app, "Admins", ("role", "string", "equals", "admin"))
    PublishedExperienceFactory(application=app, name="Low", priority=1, segments=[free, admins])
    PublishedExperienceFactory(application=app, name="High", priority=9, segments=[admins])
    PublishedExperienceFactory(application=app, name="Draft", status="draft", segments=[admins])
    EndUserFactory(application=app, external_id="a", traits={"role": "admin"})
    assert served_names(get_experiences(client, app, "a", "/")) == ["High", "Low"]


def test_experiences__frequency_once__gone_after_dismissed(client, acme):
    app, banner, _ = acme
    user = EndUserFactory(application=app, external_id="free", traits={"plan": "free"})
    EventFactory(experience=banner, end_user=user, type="shown")
    assert served_names(get_experiences(client, app, "free", "/dashboard")) == ["Upgrade banner"]
    EventFactory(experience=banner, end_user=user, type="dismissed")
    assert served_names(get_experiences(client, app, "free", "/dashboard")) == []


def test_experiences__until_completed__back_after_dismissed__gone_after_completed(client, acme):
    app, banner, _ = acme
    Experience.objects.filter(pk=banner.pk).update(frequency="until_completed")
    actions.trait_definition_update(trait=TraitDefinition.objects.get(key="plan"))  # invalidate
    user = EndUserFactory(application=app, external_id="free", traits={"plan": "free"})
    EventFactory(experience=banner, end_user=user, type="dismissed")
    assert served_names(get_experiences(client, app, "free", "/dashboard")) == ["Upgrade banner"]
    EventFactory(experience=banner, end_user=user, type="completed")
    assert served_names(get_experiences(client, app, "free", "/dashboard")) == []


def test_experiences__every_time__even_after_completed(client, acme):
    app, banner, _ = acme
    banner.frequency = "every_time"
    banner.save()
    user = EndUserFactory(application=app, external_id="free", traits={"plan": "free"})
    EventFactory(experience=banner, end_user=user, type="completed")
    assert served_names(get_experiences(client, app, "free", "/dashboard")) == ["Upgrade banner"]


def test_experiences__unknown_user__404(client, app):
    response = get_experiences(client, app, "nobody", "/")
    assert response.status_code == 404
    assert error_of(response) == {
        "code": "unknown_user",
        "message": "No user 'nobody': identify the user first.",
        "field": "id",
    }


def test_experiences__url_is_required(client, app):
    EndUserFactory(application=app, external_id="u1")
    response = client.get(EXPERIENCES, {"key": app.public_key, "id": "u1"})
    assert (response.status_code, error_of(response)["field"]) == (400, "url")


# --- events ------------------------------------------------------------------------------


def test_events__recorded_with_a_timestamp(client, acme):
    app, banner, _ = acme
    EndUserFactory(application=app, external_id="u1")
    body = {"key": app.public_key, "id": "u1", "experience": banner.pk}
    response = post(client, EVENTS, {**body, "type": "step", "step": 2})
    assert response.status_code == 201
    assert response.json()["recorded"]["type"] == "step"
    event = Event.objects.get()
    assert (event.type, event.step, event.experience, event.application) == ("step", 2, banner, app)
    assert event.created_at is not None
    for kind in ("shown", "dismissed", "completed"):
        assert post(client, EVENTS, {**body, "type": kind}).status_code == 201
    assert Event.objects.count() == 4


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"type": "clicked"}, 400, "type"),
        ({"type": None}, 400, "type"),
        ({"type": "step"}, 400, "step"),
        ({"type": "step", "step": -1}, 400, "step"),
        ({"type": "step", "step": "2"}, 400, "step"),
        ({"experience": "x"}, 400, "experience"),
        ({"experience": None}, 400, "experience"),
        ({"experience": 987654}, 404, "experience"),
        ({"id": "nobody"}, 404, "id"),
    ],
)
def test_events__invalid(client, acme, change, status, field):
    app, banner, _ = acme
    EndUserFactory(application=app, external_id="u1")
    body = {"key": app.public_key, "id": "u1", "experience": banner.pk, "type": "shown", **change}
    response = post(client, EVENTS, body)
    assert (response.status_code, error_of(response)["field"]) == (status, field)
    assert not Event.objects.exists()


def test_events__an_experience_of_another_application_is_unknown(client, app):
    other = PublishedExperienceFactory()
    EndUserFactory(application=app, external_id="u1")
    body = {"key": app.public_key, "id": "u1", "experience": other.pk, "type": "shown"}
    assert post(client, EVENTS, body).status_code == 404


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{", "not valid JSON"),
        ("", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ('{"key": NaN}', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
        ("[" * 50_000, "not valid JSON"),
    ],
)
def test_malformed_json__400(client, raw, fragment):
    for path in (IDENTIFY, EVENTS):
        response = post(client, path, raw)
        assert response.status_code == 400
        assert error_of(response)["code"] == "invalid_json"
        assert fragment in error_of(response)["message"]


def test_body_over_64_kb__413(client, app):
    body = json.dumps({"key": app.public_key, "id": "u1", "traits": {"t": "x" * 70_000}})
    response = post(client, IDENTIFY, body)
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"
    assert not EndUser.objects.exists()


def test_missing_key__400__unknown_key__401(client, app):
    response = post(client, IDENTIFY, {"id": "u1"})
    assert (response.status_code, error_of(response)["field"]) == (400, "key")
    for key in ("pk_nope", "with spaces", "x" * 300):
        response = post(client, IDENTIFY, {"key": key, "id": "u1"})
        assert response.status_code == 401
        assert error_of(response) == {
            "code": "unknown_key",
            "message": "No application has this public key.",
            "field": "key",
        }
    response = client.get(EXPERIENCES, {"key": "pk_nope", "id": "u1", "url": "/"})
    assert response.status_code == 401


def test_a_rotated_key_stops_working_at_once(client, app):
    old = app.public_key
    assert post(client, IDENTIFY, {"key": old, "id": "u1"}).status_code == 200
    actions.application_rotate_keys(application=app)
    assert post(client, IDENTIFY, {"key": old, "id": "u1"}).status_code == 401
    assert post(client, IDENTIFY, {"key": app.public_key, "id": "u1"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": ""}, "id"),
        ({"id": "x" * 256}, "id"),
        ({"id": None}, "id"),
        ({"id": True}, "id"),
        ({"id": ["u1"]}, "id"),
        ({"id": "a\x00b"}, "id"),
        ({"id": "\ud800"}, "id"),
        ({"id": "u1", "traits": ["plan"]}, "traits"),
        ({"id": "u1", "traits": "plan"}, "traits"),
        ({"id": "u1", "traits": {"9lives": 1}}, "traits.9lives"),
        ({"id": "u1", "traits": {"a b": 1}}, "traits.a b"),
        ({"id": "u1", "traits": {"": 1}}, "traits."),
        ({"id": "u1", "traits": {"k" * 129: 1}}, "traits." + "k" * 129),
        ({"id": "u1", "traits": {"bio": "x" * 2001}}, "traits.bio"),
        ({"id": "u1", "traits": {"bio": "\ud800"}}, "traits.bio"),
        ({"id": "u1", "traits": {"plan": "free", "tags": ["a", "b"]}}, "traits.tags"),
        ({"id": "u1", "traits": {"plan": "free", "address": {"city": "Oslo"}}}, "traits.address"),
        ({"id": "u1", "traits": {"n": 2**64}}, "traits.n"),
        ({"id": "u1", "url": 5}, "url"),
        ({"id": "u1", "url": "/" + "x" * 5000}, "url"),
        ({"id": "u1", "url": "http://[oops/dashboard"}, "url"),
    ],
)
def test_identify__invalid_field__400_naming_it__nothing_stored(client, app, body, field):
    response = post(client, IDENTIFY, {"key": app.public_key, **body})
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "invalid_field"
    assert error_of(response)["field"] == field
    assert not EndUser.objects.exists()
    assert not TraitDefinition.objects.filter(application=app).exists()


def test_identify__a_refused_update_leaves_the_stored_user_as_it_was(client, app):
    EndUserFactory(application=app, external_id="u1", traits={"plan": "free"})
    body = {"key": app.public_key, "id": "u1", "traits": {"plan": "pro", "tags": ["a"]}}
    response = post(client, IDENTIFY, body)
    assert error_of(response)["field"] == "traits.tags"
    assert "is a list" in error_of(response)["message"]
    assert EndUser.objects.get(external_id="u1").traits == {"plan": "free"}


def test_identify__at_most_200_traits(client, app):
    key = app.public_key
    many = {f"t{n}": n for n in range(200)}
    assert post(client, IDENTIFY, {"key": key, "id": "u1", "traits": many}).status_code == 200
    response = post(client, IDENTIFY, {"key": key, "id": "u1", "traits": {"one_more": 1}})
    assert (response.status_code, error_of(response)["field"]) == (400, "traits")
    assert "at most 200 traits" in error_of(response)["message"]
    assert EndUser.objects.get(external_id="u1").traits == many
    assert not TraitDefinition.objects.filter(key="one_more").exists()
    # Removing one makes room in the same call.
    body = {"key": key, "id": "u1", "traits": {"t0": None, "one_more": 1}}
    assert post(client, IDENTIFY, body).status_code == 200
    too_many = {f"t{n}": n for n in range(201)}
    response = post(client, IDENTIFY, {"key": key, "id": "u2", "traits": too_many})
    assert (response.status_code, error_of(response)["field"]) == (400, "traits")
    assert not EndUser.objects.filter(external_id="u2").exists()


def test_identify__a_new_trait_past_the_definition_limit__refused_naming_it(client, app, settings):
    settings.CALLOUT_MAX_TRAIT_DEFINITIONS = 3
    key = app.public_key
    body = {"key": key, "id": "u1", "traits": {"plan": "free", "seats": 2}}
    assert post(client, IDENTIFY, body).status_code == 200  # 2 definitions of 3
    body = {"key": key, "id": "u1", "traits": {"plan": "pro", "role": "x", "team": 4}}
    response = post(client, IDENTIFY, body)
    assert (response.status_code, error_of(response)["field"]) == (400, "traits.team")
    assert "at most 3 traits" in error_of(response)["message"]
    assert EndUser.objects.get(external_id="u1").traits == {"plan": "free", "seats": 2}
    assert set(TraitDefinition.objects.values_list("key", flat=True)) == {"plan", "seats"}
    response = post(client, IDENTIFY, {"key": key, "id": "u2", "traits": {"role": "x"}})
    assert response.status_code == 200  # the third fits
    response = post(client, IDENTIFY, {"key": key, "id": "u3", "traits": {"team": 1}})
    assert (response.status_code, error_of(response)["field"]) == (400, "traits.team")
    assert not EndUser.objects.filter(external_id="u3").exists()
    # Known keys, and removing an unknown one, still work at the limit.
    body = {"key": key, "id": "u1", "traits": {"plan": "pro", "role": "y", "gone": None}}
    assert post(client, IDENTIFY, body).status_code == 200
    assert stored_traits(app, "u1") == {"plan": "pro", "seats": 2, "role": "y"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", IDENTIFY), ("put", IDENTIFY), ("post", EXPERIENCES), ("get", EVENTS)],
)
def test_wrong_method__405_json_with_cors(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "OPTIONS" in response["Allow"]


def test_cors__on_success__errors__and_preflight(client, app):
    ok = post(client, IDENTIFY, {"key": app.public_key, "id": "u1"})
    bad = post(client, IDENTIFY, "{")
    unknown = post(client, IDENTIFY, {"key": "pk_nope", "id": "u1"})
    preflight = client.options(IDENTIFY, headers={"Origin": "https://customer.example"})
    for response in (ok, bad, unknown, preflight):
        assert response["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response["Access-Control-Allow-Methods"]
        assert response["Access-Control-Allow-Headers"] == "Content-Type"
    assert preflight.status_code == 204


# --- identity verification ---------------------------------------------------------------


@pytest.fixture
def verified_app():
    return ApplicationFactory(require_user_hash=True)


def test_user_hash__is_hmac_sha256_hex_of_the_id_with_the_secret_key():
    import hashlib
    import hmac

    expected = hmac.new(b"sk_secret", b"u1", hashlib.sha256).hexdigest()
    assert user_hash("sk_secret", "u1") == expected


def test_identity_verification__required__missing_or_wrong_hash__403(client, verified_app):
    key = verified_app.public_key
    for sent in ({}, {"user_hash": "00" * 32}, {"user_hash": 7}):
        response = post(client, IDENTIFY, {"key": key, "id": "u1", **sent})
        assert response.status_code == 403
        assert error_of(response)["code"] == "identity_verification_failed"
        assert error_of(response)["field"] == "user_hash"
    # Another user's hash does not verify this one.
    other = user_hash(verified_app.secret_key, "u2")
    assert post(client, IDENTIFY, {"key": key, "id": "u1", "user_hash": other}).status_code == 403
    assert not EndUser.objects.exists()


def test_identity_verification__valid_hash__accepted_on_every_endpoint(client, verified_app):
    key, digest = verified_app.public_key, user_hash(verified_app.secret_key, "u1")
    assert post(client, IDENTIFY, {"key": key, "id": "u1", "user_hash": digest}).status_code == 200
    params = {"key": key, "id": "u1", "url": "/"}
    assert client.get(EXPERIENCES, params).status_code == 403
    assert client.get(EXPERIENCES, {**params, "user_hash": digest}).status_code == 200


def test_identity_verification__not_required__hash_ignored(client, app):
    body = {"key": app.public_key, "id": "u1", "user_hash": "nonsense"}
    assert post(client, IDENTIFY, body).status_code == 200


# --- never a 500 -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    user_id=json_values,
    traits=json_values | st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    url=json_values,
    extra=st.dictionaries(st.sampled_from(["experience", "type", "step"]), json_values),
)
def test_any_json__never_a_500(client, app, user_id, traits, url, extra):
    body = {"key": app.public_key, "id": user_id, "traits": traits, "url": url, **extra}
    for path in (IDENTIFY, EVENTS):
        response = post(client, path, body)
        assert response.status_code in (200, 201, 400, 404), response.content
        if response.status_code >= 400:
            assert set(error_of(response)) >= {"code", "message"}


# --- serving fast ------------------------------------------------------------------------


@pytest.fixture
def big_app(app):
    """20 segments of 3 rules each and 30 experiences with URL patterns."""
    segments = [
        segment_with_rules(
            app,
            f"Segment {n}",
            ("plan", "string", "equals", f"plan{n}"),
            ("seats", "number", "greater_than", n),
            ("signupDate", "date", "within_last_days", 30),
        )
        for n in range(20)
    ]
    segments.append(segment_with_rules(app, "Free", ("plan", "string", "in", ["free", "trial"])))
    for n in range(30):
        PublishedExperienceFactory(
            application=app,
            name=f"Experience {n}",
            priority=n,
            url_include=["/dashboard/**", "/projects/:id"],
            url_exclude=["/dashboard/admin/**"],
            segments=segments[n % 7 :: 7],
        )
    EndUserFactory(application=app, external_id="u1", traits={"plan": "free", "seats": 3})
    return app


def test_a_serve_costs_at_most_3_queries(client, big_app, django_assert_max_num_queries):
    key = big_app.public_key
    body = {"key": key, "id": "u1", "traits": {"seats": 4}, "url": "/projects/7"}
    post(client, IDENTIFY, body)  # warms the cache
    with django_assert_max_num_queries(3) as captured:
        response = post(client, IDENTIFY, body)
    assert len(response.json()["experiences"]) == 4
    identify_queries = len(captured)
    with django_assert_max_num_queries(3) as captured:
        response = client.get(EXPERIENCES, {"key": key, "id": "u1", "url": "/dashboard/x"})
    assert len(response.json()["experiences"]) == 4
    print(f"queries per serve: identify+url {identify_queries}, experiences {len(captured)}")


def test_a_warm_serve_is_one_query__identify_with_url_one_or_two(
    client, big_app, django_assert_num_queries, identify_path
):
    """GET experiences: the application, its targeting version, the user and the user's history
    in one query; identify writes in the same statement, or adds its one-statement upsert."""
    key = big_app.public_key
    body = {"key": key, "id": "u1", "traits": {"seats": 4}, "url": "/projects/7"}
    post(client, IDENTIFY, body)  # warms the cache
    # PostgreSQL: the write and the lookup in one statement (SQLite: the lookup, then the write).
    at_once = connection.vendor == "postgresql" and identify_path == "at once"
    with django_assert_num_queries(1 if at_once else 2):
        client.post(IDENTIFY, data=json.dumps(body), content_type="text/plain")  # no warm-up
    with django_assert_num_queries(1):
        client.get(EXPERIENCES, {"key": key, "id": "u1", "url": "/dashboard/x"})
    experience = Experience.objects.filter(application=big_app).first().pk
    shown = {"key": key, "id": "u1", "experience": experience, "type": "shown"}
    # The first "shown" also goes into the user's activity summary: the lookup, then in one
    # transaction (a savepoint here) the insert, the user's row locked and updated.
    with django_assert_num_queries(6):
        response = post(client, EVENTS, shown)
    assert response.status_code == 201
    with django_assert_num_queries(2):  # the summary has it: the lookup and the insert
        response = post(client, EVENTS, shown)
    assert response.status_code == 201
    with django_assert_num_queries(2):  # a step is not in the summary: the lookup and the insert
        post(client, EVENTS, {**shown, "type": "step", "step": 1})


def test_on_postgresql_the_lookup_is_a_prepared_statement(client, big_app):
    """Planning the lookup costs more than running it: it must stay prepared."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    params = {"key": big_app.public_key, "id": "u1", "url": "/dashboard"}
    for _ in range(2):
        assert client.get(EXPERIENCES, params).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert any("targetingversion" in statement for statement in statements)


def test_a_cold_serve_is_a_constant_number_of_queries(
    client, big_app, django_assert_max_num_queries
):
    # The lookup, the targeting's reads (application, traits, segments and each kind of node,
    # experiences with their segments).
    with django_assert_max_num_queries(12):
        client.get(EXPERIENCES, {"key": big_app.public_key, "id": "u1", "url": "/dashboard"})


def _serve_names(client, app, url="/dashboard"):
    return served_names(get_experiences(client, app, "free", url))


def test_an_edit_through_the_actions_is_visible_on_the_next_serve(client, acme):
    app, _banner, _ = acme
    EndUserFactory(application=app, external_id="free", traits={"plan": "free"})
    assert _serve_names(client, app) == ["Upgrade banner"]
    free = app.segments.get(name="Free Plan Users")
    actions.segment_update(
        segment=free, rules=[{"trait": "plan", "operator": "equals", "value": "pro"}]
    )
    assert _serve_names(client, app) == []
    actions.segment_update(
        segment=free, rules=[{"trait": "plan", "operator": "equals", "value": "free"}]
    )
    assert _serve_names(client, app) == ["Upgrade banner"]
    actions.trait_definition_update(trait=TraitDefinition.objects.get(key="plan"), type="number")
    assert _serve_names(client, app) == []


def test_an_edit_through_a_model_form_like_the_admin_is_visible_on_the_next_serve(client, acme):
    """The admin saves with a ModelForm: save() then save_m2m() (m2m_changed)."""
    app, banner, _ = acme
    EndUserFactory(application=app, external_id="free", traits={"plan": "free"})
    form_class = modelform_factory(
        Experience,
        fields=[
            "name",
            "kind",
            "status",
            "segments",
            "content",
            "url_include",
            "url_exclude",
            "frequency",
            "priority",
        ],
    )

    def edit(**changes):
        data = {
            "name": banner.name,
            "kind": banner.kind,
            "status": banner.status,
            "segments": [s.pk for s in banner.segments.all()],
            "content": json.dumps(banner.content),
            "url_include": json.dumps(banner.url_include),
            "url_exclude": json.dumps(banner.url_exclude),
            "frequency": banner.frequency,
            "priority": banner.priority,
            **changes,
        }
        form = form_class(data, instance=banner)
        assert form.is_valid(), form.errors
        form.save()

    assert _serve_names(client, app) == ["Upgrade banner"]
    edit(url_include=json.dumps(["/settings"]))
    assert _serve_names(client, app) == []
    assert _serve_names(client, app, "/settings") == ["Upgrade banner"]
    edit(url_include=json.dumps(["/dashboard"]), segments=[app.segments.get(name="Admins").pk])
    assert _serve_names(client, app) == []
    edit(segments=[app.everyone.pk], status="draft")
    assert _serve_names(client, app) == []
    edit(status="published")
    assert _serve_names(client, app) == ["Upgrade banner"]


def test_deleting_an_experience_or_segment_is_visible_on_the_next_serve(client, acme):
    app, _banner, _ = acme
    EndUserFactory(application=app, external_id="free", traits={"plan": "free"})
    other = PublishedExperienceFactory(application=app, name="Other", segments=[app.everyone])
    assert _serve_names(client, app) == ["Upgrade banner", "Other"]
    other.delete()
    assert _serve_names(client, app) == ["Upgrade banner"]
    # The action refuses a segment in use (it names where); deleted regardless, by an
    # operator in the database, it is gone from the next serve all the same.
    app.segments.get(name="Free Plan Users").delete()
    assert _serve_names(client, app) == []


# --- concurrency -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_parallel_identify_calls_for_one_user_lose_no_trait():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race exists on PostgreSQL")
    from django.db import connections
    from django.test import Client

    app = ApplicationFactory()
    threads_count, rounds = 8, 5
    barrier = threading.Barrier(threads_count)
    failures = []

    def worker(n):
        try:
            client = Client()
            barrier.wait()
            for r in range(rounds):
                body = {"key": app.public_key, "id": "same", "traits": {f"t{n}_{r}": n}}
                response = post(client, IDENTIFY, body)
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
    traits = EndUser.objects.get(application=app, external_id="same").traits
    assert traits == {f"t{n}_{r}": n for n in range(threads_count) for r in range(rounds)}
    assert TraitDefinition.objects.filter(application=app).count() == threads_count * rounds


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["key", "id", "url", "user_hash"]),
        st.text(max_size=30) | st.sampled_from(["http://[x", "//[", "/a\x00b"]),
    )
)
def test_any_query__never_a_500(client, app, params):
    EndUser.objects.get_or_create(application=app, external_id="u1")
    params = {"key": app.public_key, "id": "u1", **params}
    response = client.get(EXPERIENCES, params)
    assert response.status_code in (200, 400, 401, 404), response.content


def test_merged_traits_read_the_same_in_python_and_in_sql(client, app):
    """The merge happens in the database (json_patch / jsonb ||): what it stores must be what
    the evaluator and the SQL engine both read."""
    values = {
        "s": 'café ✓ "quoted" \\ back',
        "f": 0.1,
        "e": 1e-7,
        "big": 2**62,
        "neg": -3,
        "t": True,
        "d": "2026-11-20T14:30:00+02:00",
    }
    key = app.public_key
    post(client, IDENTIFY, {"key": key, "id": "u1", "traits": {"first": 1}})
    assert post(client, IDENTIFY, {"key": key, "id": "u1", "traits": values}).status_code == 200
    user = EndUser.objects.get(external_id="u1")
    assert user.traits == {"first": 1, **values}
    for trait, type_, operator, value in [
        ("s", "string", "equals", values["s"]),
        ("f", "number", "equals", 0.1),
        ("e", "number", "less_than", 1e-6),
        ("big", "number", "equals", 2**62),
        ("neg", "number", "less_than", 0),
        ("t", "boolean", "is_true", None),
        ("d", "date", "before", "2026-11-20T13:00:00Z"),
    ]:
        segment = segment_with_rules(app, f"seg {trait}", (trait, type_, operator, value))
        assert segment.matches(user.traits), trait
        assert list(segment.members()) == [user], trait


def test_identify_at_once__an_edit_since__the_call_is_checked_again_on_fresh_data(client, app):
    """The process knows the application from before an edit that now requires user_hash: the
    one statement must not write on the stale knowledge; the steps answer 403."""
    assert post(client, IDENTIFY, {"key": app.public_key, "id": "u1"}).status_code == 200
    lookup.lookup(app.public_key, "u1")
    app.require_user_hash = True
    app.save()
    body = json.dumps({"key": app.public_key, "id": "u2"})
    response = client.post(IDENTIFY, data=body, content_type="text/plain")  # no warm-up
    assert response.status_code == 403
    assert not EndUser.objects.filter(external_id="u2").exists()


def test_identify_at_once__answers_what_the_steps_answer(client, acme, monkeypatch):
    app, banner, _ = acme
    segment_with_rules(app, "Pro", ("plan", "string", "equals", "pro"))  # defines "plan"
    TraitDefinition.objects.get_or_create(application=app, key="role", defaults={"type": "string"})
    user = EndUserFactory(application=app, external_id="u1", traits={"plan": "free", "role": "x"})
    EventFactory(application=app, end_user=user, experience=banner, type=Event.Type.DISMISSED)
    body = {"key": app.public_key, "id": "u1", "traits": {"role": None}, "url": "/dashboard"}
    lookup.lookup(app.public_key, "u1")
    at_once = post(client, IDENTIFY, body).json()
    assert stored_traits(app, "u1") == {"plan": "free"}
    monkeypatch.setattr(identify, "identify_at_once", lambda data: None)
    in_steps = post(client, IDENTIFY, body).json()
    assert stored_traits(app, "u1") == {"plan": "free"}
    assert at_once == in_steps == {"id": "u1", "experiences": []}


@pytest.mark.parametrize(("durable", "expected"), [(False, "off"), (True, "on")])
def test_identify_at_once__commits_asynchronously_unless_durable(
    client, app, settings, identify_path, durable, expected
):
    if connection.vendor != "postgresql" or identify_path != "at once":
        pytest.skip("the one statement is PostgreSQL's")
    settings.CALLOUT_IDENTIFY_DURABLE = durable
    post(client, IDENTIFY, {"key": app.public_key, "id": "u1"})  # knows the application now
    with connection.cursor() as cursor:  # the test's transaction is the statement's
        cursor.execute("SET LOCAL synchronous_commit = 'local'")
        post(client, IDENTIFY, {"key": app.public_key, "id": "u1"})
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == expected


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pairs=st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=5),
    raw=st.binary(max_size=30),
)
def test_query__reads_the_query_string_as_request_get_does(rf, pairs, raw):
    for query_string in (urlencode(pairs), raw.decode("iso-8859-1"), "a=1&a=2&b&c=&d=x+y%20z"):
        request = rf.get("/api/v1/experiences")
        request.META["QUERY_STRING"] = query_string
        assert api.query(request) == request.GET.dict()


def test_query__too_many_parameters__400_json(client, app, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    response = client.get(EXPERIENCES, {"key": app.public_key, "id": "u1", "url": "/", "x": 1})
    assert (response.status_code, error_of(response)["code"]) == (400, "invalid_request")
