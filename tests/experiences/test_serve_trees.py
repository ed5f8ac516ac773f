"""The serve with trees and references: still one query, and the same answer as the
segment's own evaluation."""

import pytest

from experiences.targeting import clear_local
from segments import actions
from tests.factories import (
    ApplicationFactory,
    EndUserFactory,
    PublishedExperienceFactory,
    TraitDefinitionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    application = ApplicationFactory()
    for key, type_ in [("plan", "string"), ("role", "string"), ("teamSize", "number")]:
        TraitDefinitionFactory(application=application, key=key, type=type_)
    admins = actions.segment_create(
        application=application,
        name="Admins",
        rules=[{"trait": "role", "operator": "equals", "value": "admin"}],
    )
    targets = actions.segment_create(
        application=application,
        name="Free admins or big teams",
        definition={
            "match": "any",
            "rules": [
                {
                    "match": "all",
                    "rules": [
                        {"trait": "plan", "operator": "equals", "value": "free"},
                        {"segment": admins.pk},
                    ],
                },
                {"trait": "teamSize", "operator": "greater_than", "value": 50},
            ],
        },
    )
    PublishedExperienceFactory(application=application, name="Welcome", segments=[targets])
    return application


@pytest.mark.parametrize(
    ("traits", "served"),
    [
        ({"plan": "free", "role": "admin"}, ["Welcome"]),
        ({"plan": "free", "role": "member"}, []),
        ({"teamSize": 80}, ["Welcome"]),
    ],
)
def test_a_tree_with_a_reference__served_in_one_query(
    client, app, traits, served, django_assert_num_queries
):
    EndUserFactory(application=app, external_id="u", traits=traits)
    params = {"key": app.public_key, "id": "u", "url": "/"}
    clear_local()
    client.get("/api/v1/experiences", params)  # compiles the targeting
    with django_assert_num_queries(1):
        response = client.get("/api/v1/experiences", params)
    assert [e["name"] for e in response.json()["experiences"]] == served
    segment = app.segments.get(name="Free admins or big teams")
    assert segment.matches(traits) is bool(served)
    assert segment.members().exists() is bool(served)
