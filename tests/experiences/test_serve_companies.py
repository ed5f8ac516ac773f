"""Serving on a user's company: a company trait rule is read from the company's row, which comes
back with the user's (one query); a count of the company's users in a segment is exact on the
next serve, one more query made only when such a rule is checked, and a teammate's identify
changes it for everyone in the company."""

import pytest
from django.utils import timezone

from segments import actions
from tests.factories import (
    ApplicationFactory,
    CompanyFactory,
    CompanyTraitFactory,
    EndUserFactory,
    PublishedExperienceFactory,
    TraitDefinitionFactory,
)

pytestmark = pytest.mark.django_db

EXPERIENCES, IDENTIFY = "/api/v1/experiences", "/api/v1/identify"


def served(client, app, user_id):
    response = client.get(EXPERIENCES, {"key": app.public_key, "id": user_id, "url": "/"})
    assert response.status_code == 200, response.content
    return [e["name"] for e in response.json()["experiences"]]


def segment(app, name, *rules):
    return actions.segment_create(
        application=app, name=name, definition={"match": "all", "rules": list(rules)}
    )


@pytest.fixture
def app():
    application = ApplicationFactory()
    TraitDefinitionFactory(application=application, key="role")
    TraitDefinitionFactory(application=application, key="setup", type="boolean")
    CompanyTraitFactory(application=application, key="plan")
    acme = CompanyFactory(application=application, external_id="acme", traits={"plan": "trial"})
    globex = CompanyFactory(application=application, external_id="globex", traits={"plan": "paid"})
    for external_id, company, traits in [
        ("a1", acme, {"role": "admin", "setup": True}),
        ("a2", acme, {"role": "member", "setup": True}),
        ("a3", acme, {"role": "member"}),
        ("g1", globex, {"role": "admin", "setup": True}),
        ("solo", None, {"role": "admin"}),
    ]:
        EndUserFactory(
            application=application, external_id=external_id, company=company, traits=traits
        )
    return application


def test_a_company_trait_rule_serves_in_one_query(client, app, django_assert_num_queries):
    trial = segment(
        app,
        "Trial admins",
        {"trait": "role", "operator": "equals", "value": "admin"},
        {"company_trait": "plan", "operator": "equals", "value": "trial"},
    )
    PublishedExperienceFactory(application=app, name="Admin setup", segments=[trial])
    assert served(client, app, "a1") == ["Admin setup"]  # compiles the targeting
    with django_assert_num_queries(1):
        assert served(client, app, "a1") == ["Admin setup"]
    with django_assert_num_queries(1):
        assert served(client, app, "g1") == []  # a paid company
    with django_assert_num_queries(1):
        assert served(client, app, "solo") == []  # no company: its plan is missing


def test_a_company_count_is_exact_on_the_next_serve_and_a_teammate_changes_it(
    client, app, django_assert_num_queries
):
    done = segment(app, "Set up", {"trait": "setup", "operator": "is_true"})
    few = segment(
        app,
        "Fewer than three set up",
        {"company_users": {"segment": done.pk}, "operator": "at_most", "value": 2},
    )
    PublishedExperienceFactory(application=app, name="Invite your team", segments=[few])
    assert served(client, app, "a3") == ["Invite your team"]  # 2 of acme are set up
    with django_assert_num_queries(2):  # the user, then the company's count
        assert served(client, app, "a3") == ["Invite your team"]
    with django_assert_num_queries(1):  # no company: a count of 0, nothing to read
        assert served(client, app, "solo") == ["Invite your team"]
    # The third teammate finishes setting up: the tour stops for everyone at acme.
    response = client.post(
        IDENTIFY,
        {"key": app.public_key, "id": "a3", "traits": {"setup": True}},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert served(client, app, "a1") == []
    assert served(client, app, "a3") == []
    assert served(client, app, "g1") == ["Invite your team"]


def test_moving_to_another_company_changes_the_next_serve(client, app):
    trial = segment(app, "Trial", {"company_trait": "plan", "operator": "equals", "value": "trial"})
    PublishedExperienceFactory(application=app, name="Trial banner", segments=[trial])
    assert served(client, app, "g1") == []
    response = client.post(
        IDENTIFY,
        {"key": app.public_key, "id": "g1", "company": {"id": "acme"}},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert served(client, app, "g1") == ["Trial banner"]
    client.post(
        IDENTIFY,
        {"key": app.public_key, "id": "g1", "company": None},
        content_type="application/json",
    )
    assert served(client, app, "g1") == []


def test_a_count_that_depends_on_the_time_is_made_after_the_user_and_exact(
    client, app, django_assert_num_queries
):
    TraitDefinitionFactory(application=app, key="seenAt", type="date")
    recent = segment(app, "Recent", {"trait": "seenAt", "operator": "within_last_days", "value": 7})
    active = segment(
        app,
        "Active teams",
        {"company_users": {"segment": recent.pk}, "operator": "at_least", "value": 1},
    )
    PublishedExperienceFactory(application=app, name="Team tips", segments=[active])
    assert served(client, app, "a1") == []
    with django_assert_num_queries(2):  # the user, then the company's count at this moment
        assert served(client, app, "a1") == []
    today = timezone.now().date().isoformat()
    response = client.post(
        IDENTIFY,
        {"key": app.public_key, "id": "a2", "traits": {"seenAt": today}},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert served(client, app, "a1") == ["Team tips"]
    assert served(client, app, "g1") == []
