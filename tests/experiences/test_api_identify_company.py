"""identify with a company: the company created or merged like a user's traits, the user moved
into it, out of it (null) or to another; errors named by path with nothing stored; company
traits discovered as company trait definitions; company_hash; the serve reading the company
with the user in its one query. Every test runs on both identify paths."""

import json
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiences import identify, lookup, targeting
from experiences.checks import company_hash, user_hash
from experiences.models import TargetingVersion
from experiences.serving import explain_serve, serve
from segments import actions
from segments.models import Company, EndUser, TraitDefinition
from segments.traits import MAX_TRAITS
from tests.factories import ApplicationFactory, PublishedExperienceFactory

pytestmark = pytest.mark.django_db

IDENTIFY, EXPERIENCES = "/api/v1/identify", "/api/v1/experiences"
COMPANY = TraitDefinition.Scope.COMPANY


def _post(client, body):
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post(IDENTIFY, data=raw, content_type="text/plain")


@pytest.fixture(autouse=True, params=["in steps", "at once"])
def identify_path(request, monkeypatch):
    """As tests/experiences/test_api.py's: "in steps" never takes the one statement; "at
    once" makes the process know the application before each call, so that a valid call is one
    statement on PostgreSQL (the others fall back to the steps)."""
    if request.param == "in steps":
        monkeypatch.setattr(identify, "identify_at_once", lambda data: None)
    return request.param


@pytest.fixture
def post(identify_path):
    def post(client, body):
        if identify_path == "at once" and isinstance(body.get("key"), str):
            lookup.lookup(body["key"], "warm-up")  # read-only: the application, no user
        return _post(client, body)

    return post


@pytest.fixture
def app():
    return ApplicationFactory()


def error_of(response):
    return response.json()["error"]


def user(app, external_id="u1"):
    return EndUser.objects.select_related("company").get(application=app, external_id=external_id)


def company_traits(app, external_id="c1"):
    return Company.objects.get(application=app, external_id=external_id).traits


def definitions(app, scope):
    return dict(
        TraitDefinition.objects.filter(application=app, scope=scope).values_list("key", "type")
    )


def test_creates_the_company_with_its_traits_and_puts_the_user_in_it(client, app, post):
    body = {
        "key": app.public_key,
        "id": "u1",
        "traits": {"role": "admin"},
        "company": {"id": "c1", "traits": {"seats": 10, "plan": "pro"}},
    }
    response = post(client, body)
    assert response.status_code == 200, response.content
    assert response.json() == {"id": "u1"}
    found = user(app)
    assert found.traits == {"role": "admin"}
    assert found.company.external_id == "c1"
    assert found.company.traits == {"seats": 10, "plan": "pro"}
    # Company traits are company trait definitions, not the users'.
    assert definitions(app, COMPANY) == {"seats": "number", "plan": "string"}
    assert definitions(app, TraitDefinition.Scope.USER) == {"role": "string"}
    assert TraitDefinition.objects.get(application=app, scope=COMPANY, key="seats").auto_discovered


def test_company_traits_merge_like_a_users__omitted_kept__null_removes(client, app, post):
    key = app.public_key
    first = {"id": "c1", "traits": {"seats": 10, "plan": "pro", "region": "eu"}}
    post(client, {"key": key, "id": "u1", "company": first})
    change = {"id": "c1", "traits": {"seats": 12, "plan": None}}
    assert post(client, {"key": key, "id": "u2", "company": change}).status_code == 200
    assert company_traits(app) == {"seats": 12, "region": "eu"}
    # Without traits: the company's are kept, and this user joins it too.
    assert post(client, {"key": key, "id": "u3", "company": {"id": "c1"}}).status_code == 200
    assert company_traits(app) == {"seats": 12, "region": "eu"}
    assert Company.objects.filter(application=app).count() == 1
    assert set(Company.objects.get().users.values_list("external_id", flat=True)) == {
        "u1",
        "u2",
        "u3",
    }
    # The user's own traits are not the company's.
    assert user(app, "u2").traits == {}


def test_a_call_without_company_keeps_the_users_company(client, app, post):
    key = app.public_key
    post(client, {"key": key, "id": "u1", "company": {"id": "c1", "traits": {"seats": 3}}})
    assert post(client, {"key": key, "id": "u1", "traits": {"plan": "pro"}}).status_code == 200
    found = user(app)
    assert (found.company.external_id, found.traits) == ("c1", {"plan": "pro"})


def test_null_leaves_the_company__which_stays(client, app, post):
    key = app.public_key
    post(client, {"key": key, "id": "u1", "company": {"id": "c1", "traits": {"seats": 3}}})
    response = post(client, {"key": key, "id": "u1", "traits": {"a": 1}, "company": None})
    assert response.status_code == 200
    found = user(app)
    assert (found.company, found.traits) == (None, {"a": 1})
    assert company_traits(app) == {"seats": 3}
    # Leaving when in no company is fine too, and creates the user.
    assert post(client, {"key": key, "id": "u2", "company": None}).status_code == 200
    assert user(app, "u2").company is None


def test_moving_to_another_company(client, app, post):
    key = app.public_key
    post(client, {"key": key, "id": "u1", "company": {"id": "c1", "traits": {"seats": 3}}})
    post(client, {"key": key, "id": "u1", "company": {"id": "c2", "traits": {"seats": 9}}})
    assert user(app).company.external_id == "c2"
    assert not Company.objects.get(external_id="c1").users.exists()
    assert company_traits(app, "c1") == {"seats": 3}
    assert company_traits(app, "c2") == {"seats": 9}


def test_a_whole_number_company_id_is_taken_as_text(client, app, post):
    post(client, {"key": app.public_key, "id": "u1", "company": {"id": 42}})
    assert user(app).company.external_id == "42"


def test_company_ids_are_per_application(client, app, post):
    other = ApplicationFactory()
    post(client, {"key": app.public_key, "id": "u1", "company": {"id": "c1", "traits": {"a": 1}}})
    post(client, {"key": other.public_key, "id": "u1", "company": {"id": "c1", "traits": {"b": 2}}})
    assert company_traits(app) == {"a": 1}
    assert company_traits(other) == {"b": 2}


def test_company_trait_types_are_inferred_as_a_users(client, app, post):
    traits = {
        "seats": 10,
        "mrr": 99.5,
        "enterprise": True,
        "renewal": "2026-11-20",
        "name": "Acme",
    }
    post(client, {"key": app.public_key, "id": "u1", "company": {"id": "c1", "traits": traits}})
    assert definitions(app, COMPANY) == {
        "seats": "number",
        "mrr": "number",
        "enterprise": "boolean",
        "renewal": "date",
        "name": "string",
    }


def test_a_defined_company_trait_keeps_its_type(client, app, post):
    actions.trait_definition_create(application=app, key="seats", type="string", scope=COMPANY)
    post(
        client, {"key": app.public_key, "id": "u1", "company": {"id": "c1", "traits": {"seats": 4}}}
    )
    trait = TraitDefinition.objects.get(application=app, scope=COMPANY, key="seats")
    assert (trait.type, trait.auto_discovered) == ("string", False)


# --- refused calls store nothing ---------------------------------------------------------


@pytest.mark.parametrize(
    ("company", "field"),
    [
        ("c1", "company"),
        (["c1"], "company"),
        (7, "company"),
        ({}, "company.id"),
        ({"traits": {"seats": 1}}, "company.id"),
        ({"id": ""}, "company.id"),
        ({"id": True}, "company.id"),
        ({"id": 1.5}, "company.id"),
        ({"id": "x" * 256}, "company.id"),
        ({"id": "a\x00b"}, "company.id"),
        ({"id": "\ud800"}, "company.id"),
        ({"id": "c1", "name": "Acme"}, "company.name"),
        ({"id": "c1", "traits": ["seats"]}, "company.traits"),
        ({"id": "c1", "traits": "seats"}, "company.traits"),
        ({"id": "c1", "traits": {"9seats": 1}}, "company.traits.9seats"),
        ({"id": "c1", "traits": {"seats": [1, 2]}}, "company.traits.seats"),
        ({"id": "c1", "traits": {"hq": {"city": "Oslo"}}}, "company.traits.hq"),
        ({"id": "c1", "traits": {"bio": "x" * 2001}}, "company.traits.bio"),
        ({"id": "c1", "traits": {"n": 2**64}}, "company.traits.n"),
        ({"id": "c1", "traits": {f"t{n}": n for n in range(MAX_TRAITS + 1)}}, "company.traits"),
    ],
)
def test_a_bad_company__400_naming_its_path__nothing_stored(client, app, post, company, field):
    EndUser.objects.create(application=app, external_id="u1", traits={"plan": "trial"})
    body = {"key": app.public_key, "id": "u1", "traits": {"plan": "pro", "new": 1}}
    response = post(client, {**body, "company": company})
    assert response.status_code == 400, response.content
    assert (error_of(response)["code"], error_of(response)["field"]) == ("invalid_field", field)
    assert field in error_of(response)["message"] or field.startswith("company.traits")
    found = user(app)
    assert (found.traits, found.company) == ({"plan": "trial"}, None)
    assert not Company.objects.exists()
    assert not TraitDefinition.objects.filter(application=app).exists()


def test_a_company_merge_past_the_trait_limit__refused__the_user_untouched(client, app, post):
    key = app.public_key
    full = {f"t{n}": n for n in range(MAX_TRAITS)}
    post(client, {"key": key, "id": "u1", "traits": {"plan": "free"}, "company": {"id": "c0"}})
    post(client, {"key": key, "id": "u2", "company": {"id": "c1", "traits": full}})
    body = {"key": key, "id": "u1", "traits": {"plan": "pro"}}
    response = post(client, {**body, "company": {"id": "c1", "traits": {"one_more": 1}}})
    assert (response.status_code, error_of(response)["field"]) == (400, "company.traits")
    assert f"at most {MAX_TRAITS} traits" in error_of(response)["message"]
    found = user(app)
    assert (found.traits, found.company.external_id) == ({"plan": "free"}, "c0")
    assert company_traits(app) == full
    assert not TraitDefinition.objects.filter(key="one_more").exists()
    # Removing one makes room in the same call.
    change = {"id": "c1", "traits": {"t0": None, "one_more": 1}}
    assert post(client, {**body, "company": change}).status_code == 200
    assert user(app).company.external_id == "c1"


def test_a_user_merge_past_the_trait_limit__refused__the_company_untouched(client, app, post):
    key = app.public_key
    full = {f"t{n}": n for n in range(MAX_TRAITS)}
    post(client, {"key": key, "id": "u1", "traits": full})
    post(client, {"key": key, "id": "u2", "company": {"id": "c1", "traits": {"seats": 3}}})
    company = {"id": "c1", "traits": {"seats": 4, "plan": "pro"}}
    response = post(client, {"key": key, "id": "u1", "traits": {"one_more": 1}, "company": company})
    assert (response.status_code, error_of(response)["field"]) == (400, "traits")
    assert company_traits(app) == {"seats": 3}
    assert user(app).company is None
    assert not TraitDefinition.objects.filter(key__in=["one_more", "plan"]).exists()
    # A new company is not created either.
    company = {"id": "c2", "traits": {"seats": 1}}
    response = post(client, {"key": key, "id": "u1", "traits": {"one_more": 1}, "company": company})
    assert response.status_code == 400
    assert not Company.objects.filter(external_id="c2").exists()


def test_company_trait_definitions_have_their_own_limit(client, app, post, settings):
    """The limit of definitions is counted per scope: company traits do not use up the users'
    room, nor the other way round; a key past it refuses the whole call, naming it."""
    settings.CALLOUT_MAX_TRAIT_DEFINITIONS = 2
    key = app.public_key
    body = {"key": key, "id": "u1", "traits": {"a": 1, "b": 2}}
    company = {"id": "c1", "traits": {"seats": 1, "plan": "pro"}}
    assert post(client, {**body, "company": company}).status_code == 200
    company = {"id": "c1", "traits": {"seats": 2, "region": "eu"}}
    response = post(client, {"key": key, "id": "u2", "traits": {"a": 5}, "company": company})
    assert (response.status_code, error_of(response)["field"]) == (400, "company.traits.region")
    assert "at most 2 company traits" in error_of(response)["message"]
    assert not EndUser.objects.filter(external_id="u2").exists()
    assert company_traits(app) == {"seats": 1, "plan": "pro"}
    response = post(client, {"key": key, "id": "u2", "traits": {"c": 1}, "company": {"id": "c1"}})
    assert (response.status_code, error_of(response)["field"]) == (400, "traits.c")
    assert not EndUser.objects.filter(external_id="u2").exists()
    assert definitions(app, COMPANY).keys() == {"seats", "plan"}
    assert definitions(app, TraitDefinition.Scope.USER).keys() == {"a", "b"}
    # A key that is a user trait is new as a company trait: it counts there.
    response = post(client, {"key": key, "id": "u1", "company": {"id": "c1", "traits": {"a": 1}}})
    assert (response.status_code, error_of(response)["field"]) == (400, "company.traits.a")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # not JSON: invalid_json, no field
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    company=json_values
    | st.dictionaries(
        st.sampled_from(["id", "traits", "name"]),
        json_values | st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    ),
    traits=st.dictionaries(st.sampled_from(["plan", "9x"]), json_values, max_size=2),
)
def test_any_company__never_a_500__a_refused_call_stores_nothing(
    client, app, post, company, traits
):
    before = (
        list(EndUser.objects.values_list("external_id", "traits", "company_id")),
        list(Company.objects.values_list("external_id", "traits")),
        TraitDefinition.objects.count(),
    )
    body = {"key": app.public_key, "id": "u1", "traits": traits, "company": company}
    response = post(client, body)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert set(error_of(response)) == {"code", "message", "field"}
        after = (
            list(EndUser.objects.values_list("external_id", "traits", "company_id")),
            list(Company.objects.values_list("external_id", "traits")),
            TraitDefinition.objects.count(),
        )
        assert after == before


# --- identity verification ---------------------------------------------------------------


@pytest.fixture
def verified_app():
    return ApplicationFactory(require_user_hash=True)


def test_company_hash__is_hmac_sha256_hex_of_the_user_id_nul_company_id():
    import hashlib
    import hmac

    expected = hmac.new(b"sk_secret", b"u1\x00c1", hashlib.sha256).hexdigest()
    assert company_hash("sk_secret", "u1", "c1") == expected
    # Neither the user's hash nor another pair's.
    assert company_hash("sk_secret", "u1", "c1") != user_hash("sk_secret", "u1")
    assert company_hash("sk_secret", "u1", "c1") != company_hash("sk_secret", "u1c", "1")


def test_identity_verification__a_company_needs_its_company_hash(client, verified_app, post):
    app = verified_app
    key, secret = app.public_key, app.secret_key
    body = {"key": key, "id": "u1", "user_hash": user_hash(secret, "u1"), "traits": {"a": 1}}
    company = {"id": "c1", "traits": {"plan": "enterprise"}}
    wrong = [
        {},
        {"company_hash": "00" * 32},
        {"company_hash": 7},
        {"company_hash": company_hash(secret, "u2", "c1")},  # another user's
        {"company_hash": company_hash(secret, "u1", "c2")},  # another company's
        {"company_hash": user_hash(secret, "u1")},
    ]
    for sent in wrong:
        response = post(client, {**body, "company": company, **sent})
        assert response.status_code == 403, sent
        assert error_of(response)["code"] == "identity_verification_failed"
        assert error_of(response)["field"] == "company_hash"
    assert not EndUser.objects.exists()
    assert not Company.objects.exists()
    signed = {"company_hash": company_hash(secret, "u1", "c1").upper()}
    assert post(client, {**body, "company": company, **signed}).status_code == 200
    assert user(app).company.traits == {"plan": "enterprise"}
    # Without a company, or leaving it, the user_hash is enough.
    assert post(client, {**body, "traits": {"a": 2}}).status_code == 200
    assert post(client, {**body, "company": None}).status_code == 200
    assert user(app).company is None
    # And the user_hash is still needed.
    response = post(client, {**body, "user_hash": "00", "company": company, **signed})
    assert error_of(response)["field"] == "user_hash"


def test_identity_verification_off__company_hash_ignored(client, app, post):
    body = {"key": app.public_key, "id": "u1", "company": {"id": "c1"}, "company_hash": "x"}
    assert post(client, body).status_code == 200


# --- the serve ---------------------------------------------------------------------------


@pytest.fixture
def enterprise(app):
    """An experience for the users of enterprise companies."""
    actions.trait_definition_create(application=app, key="plan", type="string", scope=COMPANY)
    segment = actions.segment_create(
        application=app,
        name="Enterprise accounts",
        definition={
            "match": "all",
            "rules": [{"company_trait": "plan", "operator": "equals", "value": "enterprise"}],
        },
    )
    return PublishedExperienceFactory(
        application=app, name="Enterprise tour", url_include=["/dashboard"], segments=[segment]
    )


def served(response):
    assert response.status_code == 200, response.content
    return [e["name"] for e in response.json()["experiences"]]


def test_the_serve_reads_the_users_company(client, app, post, enterprise):
    key, url = app.public_key, "https://app.example.com/dashboard"
    company = {"id": "c1", "traits": {"plan": "enterprise"}}
    assert served(post(client, {"key": key, "id": "u1", "company": company, "url": url})) == [
        "Enterprise tour"
    ]
    params = {"key": key, "id": "u1", "url": url}
    assert served(client.get(EXPERIENCES, params)) == ["Enterprise tour"]
    # Another user of the company, identified without it: not in it.
    assert served(post(client, {"key": key, "id": "u2", "url": url})) == []
    # Joining it without traits: its stored traits count.
    joined = {"key": key, "id": "u2", "company": {"id": "c1"}, "url": url}
    assert served(post(client, joined)) == ["Enterprise tour"]
    # The company's plan changes through another of its users: every user sees it.
    downgrade = {"id": "c1", "traits": {"plan": "pro"}}
    assert served(post(client, {"key": key, "id": "u3", "company": downgrade, "url": url})) == []
    assert served(client.get(EXPERIENCES, params)) == []
    assert served(post(client, {"key": key, "id": "u1", "url": url})) == []
    post(client, {"key": key, "id": "u3", "company": company})
    assert served(post(client, {"key": key, "id": "u1", "url": url})) == ["Enterprise tour"]
    # Leaving the company: no company traits, whatever the call's url.
    assert served(post(client, {"key": key, "id": "u1", "company": None, "url": url})) == []
    assert served(client.get(EXPERIENCES, params)) == []


def test_the_serve_and_explain_serve_read_the_company_as_stored(app, enterprise):
    company = Company.objects.create(
        application=app, external_id="c1", traits={"plan": "enterprise"}
    )
    member = EndUser.objects.create(application=app, external_id="u1", company=company)
    loose = EndUser.objects.create(application=app, external_id="u2")
    for end_user in (member, EndUser.objects.get(pk=member.pk)):  # loaded, and to be read
        assert [e.name for e in serve(app, end_user, "/dashboard")] == ["Enterprise tour"]
        (decision,) = explain_serve(app, end_user, "/dashboard")
        assert decision.served, decision.reason
    assert serve(app, loose, "/dashboard") == []
    assert explain_serve(app, loose, "/dashboard")[0].reason == "not in any of its segments"
    # A preview's unsaved user with an unsaved company.
    preview = EndUser(
        application=app, external_id="p", company=Company(traits={"plan": "enterprise"})
    )
    assert [e.name for e in serve(app, preview, "/dashboard")] == ["Enterprise tour"]


def test_a_warm_serve_is_still_one_query_with_the_company(
    client, app, post, enterprise, identify_path, django_assert_num_queries
):
    """The company comes back with the user in the serve's one query; identify naming a company
    writes it in its one statement too (PostgreSQL, once the process knows the application)."""
    key, url = app.public_key, "/dashboard"
    body = {"key": key, "id": "u1", "company": {"id": "c1", "traits": {"plan": "enterprise"}}}
    assert post(client, {**body, "url": url}).status_code == 200  # warms the cache
    with django_assert_num_queries(1):
        assert served(client.get(EXPERIENCES, {"key": key, "id": "u1", "url": url}))
    at_once = connection.vendor == "postgresql" and identify_path == "at once"
    raw = json.dumps({**body, "url": url})
    # Else: the lookup, then in a transaction (a savepoint in tests) the company and the user.
    with django_assert_num_queries(1 if at_once else 5):
        assert served(client.post(IDENTIFY, data=raw, content_type="text/plain"))
    # Without a company, or leaving it: one statement, or the lookup and the user's upsert.
    for company in ({}, {"company": None}):
        raw = json.dumps({"key": key, "id": "u1", "url": url, **company})
        with django_assert_num_queries(1 if at_once else 2):
            client.post(IDENTIFY, data=raw, content_type="text/plain")
    # A new company trait key takes the general path once (its definition is created there),
    # without a new targeting version; then this process knows it.
    version = TargetingVersion.objects.get(application=app).version
    body = {"key": key, "id": "u2", "company": {"id": "c1", "traits": {"region": "eu"}}}
    assert post(client, body).status_code == 200
    assert TargetingVersion.objects.get(application=app).version == version
    body["company"]["traits"]["region"] = "us"
    with django_assert_num_queries(1 if at_once else 5):
        assert _post(client, body).status_code == 200
    assert company_traits(app) == {"plan": "enterprise", "region": "us"}


def test_a_chooser_that_raises__each_segment_alone_still_reads_the_company(
    app, enterprise, monkeypatch
):
    """The fallback of a generated function that raises (experiences/targeting.py) runs each
    segment alone, with the company's traits too."""

    def broken(segments, choices):
        def choose(*args):
            raise RuntimeError("a code generation bug")

        return choose

    monkeypatch.setattr(targeting, "compile_chooser", broken)
    company = Company.objects.create(
        application=app, external_id="c1", traits={"plan": "enterprise"}
    )
    member = EndUser.objects.create(application=app, external_id="u1", company=company)
    assert [e.name for e in serve(app, member, "/dashboard")] == ["Enterprise tour"]
    assert serve(app, EndUser.objects.create(application=app, external_id="u2"), "/dashboard") == []


def test_identify_at_once__answers_what_the_steps_answer(client, app, enterprise, monkeypatch):
    actions.trait_definition_create(application=app, key="seats", type="number", scope=COMPANY)
    body = {
        "key": app.public_key,
        "id": "u1",
        "company": {"id": "c1", "traits": {"plan": "enterprise", "seats": None}},
        "url": "/dashboard",
    }
    Company.objects.create(application=app, external_id="c1", traits={"seats": 5})
    lookup.lookup(app.public_key, "u1")
    at_once = _post(client, body)
    assert company_traits(app) == {"plan": "enterprise"}
    monkeypatch.setattr(identify, "identify_at_once", lambda data: None)
    in_steps = _post(client, body)
    assert company_traits(app) == {"plan": "enterprise"}
    assert served(at_once) == served(in_steps) == ["Enterprise tour"]
    assert at_once.content == in_steps.content


# --- concurrency (PostgreSQL) ------------------------------------------------------------


def _waiting_for_a_lock():
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else read once per transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE '%%segments_company%%'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_at_once__a_user_merge_refused_after_the_company_was_written__neither_is(identify_path):
    """The one statement writes the company, then the user. If the user's merge passed the
    check before the company was written but fails on the row as another call left it, the
    statement must fail whole: the company is not written, and the general path answers 400."""
    if connection.vendor != "postgresql" or identify_path != "at once":
        pytest.skip("the one statement is PostgreSQL's")
    app = ApplicationFactory()
    actions.trait_definition_create(application=app, key="seats", type="number", scope=COMPANY)
    full = {f"t{n}": n for n in range(MAX_TRAITS - 1)}
    actions.end_user_identify(application=app, external_id="u1", traits=full)
    actions.end_user_identify(application=app, external_id="u0", traits={"t_last": 1})
    # The process knows the application and every key.
    lookup.lookup(app.public_key, "u1")
    responses = []

    def identify_in_a_request():
        try:
            body = {
                "key": app.public_key,
                "id": "u1",
                "traits": {"t_last": 1},  # the 200th: fits when checked
                "company": {"id": "c1", "traits": {"seats": 5}},
            }
            responses.append(_post(Client(), body))
        finally:
            connections.close_all()

    with transaction.atomic():  # another call holding the user's row, adding a trait
        EndUser.objects.filter(external_id="u1").update(traits={**full, "other": 1})
        thread = threading.Thread(target=identify_in_a_request)
        thread.start()
        # Until the statement has written the company and waits for the user's row.
        deadline = time.monotonic() + 30
        while not _waiting_for_a_lock():
            assert time.monotonic() < deadline, "the identify statement never waited"
            time.sleep(0.05)
    thread.join()
    (response,) = responses
    assert (response.status_code, error_of(response)["field"]) == (400, "traits")
    assert not Company.objects.filter(application=app).exists()
    assert EndUser.objects.get(application=app, external_id="u1").traits == {**full, "other": 1}


@pytest.mark.django_db(transaction=True)
def test_parallel_identify_calls_for_one_company_lose_no_trait():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race exists on PostgreSQL")
    app = ApplicationFactory()
    threads_count, rounds = 6, 4
    barrier = threading.Barrier(threads_count)
    failures = []

    def worker(n):
        try:
            client = Client()
            barrier.wait()
            for r in range(rounds):
                company = {"id": "acme", "traits": {f"t{n}_{r}": n}}
                body = {"key": app.public_key, "id": f"u{n}", "company": company}
                response = _post(client, body)
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
    assert company_traits(app, "acme") == {
        f"t{n}_{r}": n for n in range(threads_count) for r in range(rounds)
    }
    assert Company.objects.get(external_id="acme").users.count() == threads_count
