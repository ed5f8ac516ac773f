"""/api/v1/manage/company-traits mirrors /traits (same fields, errors and roles) on the
companies' trait definitions; a key defined in both scopes is two definitions."""

import pytest

from segments import actions
from segments.models import TraitDefinition
from tests.factories import TraitDefinitionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def company_traits(app):
    """Company traits plan (also a user trait), seats and region."""
    for key, type_ in (("plan", "string"), ("seats", "number"), ("region", "string")):
        TraitDefinitionFactory(application=app, scope="company", key=key, type=type_)


def company_rule(app, name="Enterprise"):
    return actions.segment_create(
        application=app,
        name=name,
        definition={
            "match": "all",
            "rules": [{"company_trait": "plan", "operator": "equals", "value": "enterprise"}],
        },
    )


def test_list__every_company_trait_by_key(api, company_traits):
    body = api("GET", "company-traits").json()

    assert [t["key"] for t in body["results"]] == ["plan", "region", "seats"]
    assert body["next"] is None
    assert body["results"][2] == {
        "key": "seats",
        "type": "number",
        "label": "",
        "description": "",
        "auto_discovered": False,
    }


def test_traits_and_company_traits_list_their_own_scope(api, company_traits):
    users = [t["key"] for t in api("GET", "traits").json()["results"]]
    assert users == ["plan", "role", "teamSize"]


def test_a_key_in_both_scopes__each_endpoint_reads_its_own(api, app, company_traits):
    api("PATCH", "company-traits/plan", {"label": "Billing plan"})

    assert api("GET", "traits/plan").json()["label"] == ""
    assert api("GET", "company-traits/plan").json()["label"] == "Billing plan"
    assert app.trait_definitions.get(scope="user", key="plan").label == ""


def test_create__201_with_the_company_trait(api, app, company_traits):
    response = api("POST", "company-traits", {"key": "employees", "type": "number"})

    assert response.status_code == 201
    assert response.json()["key"] == "employees"
    assert app.trait_definitions.get(key="employees").scope == "company"


def test_create__a_user_traits_key_is_free_for_a_company_trait(api, app):
    response = api("POST", "company-traits", {"key": "role", "type": "string"})

    assert response.status_code == 201
    assert app.trait_definitions.filter(key="role").count() == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"type": "number"}, "key"),
        ({"key": "employees"}, "type"),
        ({"key": "employees", "type": "colour"}, "type"),
        ({"key": "plan", "type": "string"}, "key"),  # taken
        ({"key": "9 lives", "type": "string"}, "key"),
        ({"key": "employees", "type": "number", "label": 3}, "label"),
    ],
)
def test_create__invalid__400_on_the_field(api, app, company_traits, body, field):
    before = app.trait_definitions.count()

    response = api("POST", "company-traits", body)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert app.trait_definitions.count() == before


def test_create__taken__says_company_trait(api, company_traits):
    error = api("POST", "company-traits", {"key": "plan", "type": "string"}).json()["error"]
    assert error["message"] == 'A company trait "plan" already exists.'


def test_patch__changes_only_what_is_given(api, app, company_traits):
    response = api("PATCH", "company-traits/seats", {"description": "Paid seats"})

    assert response.status_code == 200
    trait = app.trait_definitions.get(scope="company", key="seats")
    assert (trait.description, trait.type) == ("Paid seats", "number")


def test_patch__bad_type__400_and_unchanged(api, app, company_traits):
    response = api("PATCH", "company-traits/seats", {"type": "colour"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "type"
    assert app.trait_definitions.get(scope="company", key="seats").type == "number"


def test_delete__unused__204_and_the_user_trait_stays(api, app, company_traits):
    assert api("DELETE", "company-traits/plan").status_code == 204
    assert not app.trait_definitions.filter(scope="company", key="plan").exists()
    assert app.trait_definitions.filter(scope="user", key="plan").exists()


def test_delete__used__409_listing_the_segments(api, app, company_traits):
    segment = company_rule(app)

    response = api("DELETE", "company-traits/plan")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "in_use"
    assert error["used_by"]["segments"] == [{"id": segment.pk, "name": "Enterprise"}]
    assert error["message"] == 'Company trait "plan" is used by the rules of "Enterprise".'
    assert TraitDefinition.objects.filter(application=app, scope="company", key="plan").exists()


def test_delete__a_user_trait_used_by_a_company_rule_is_not_in_use(api, app, company_traits):
    company_rule(app)
    assert api("DELETE", "traits/plan").status_code == 204


def test_unknown_key__404(api, company_traits):
    response = api("GET", "company-traits/role")  # a user trait only

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_viewer_token__reads_but_cannot_write(viewer_api, app, company_traits):
    assert viewer_api("GET", "company-traits").status_code == 200
    assert viewer_api("GET", "company-traits/plan").status_code == 200
    for method, path, body in [
        ("POST", "company-traits", {"key": "x", "type": "string"}),
        ("PATCH", "company-traits/plan", {"label": "Mine"}),
        ("DELETE", "company-traits/plan", None),
    ]:
        response = viewer_api(method, path, body)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "forbidden"
    assert app.trait_definitions.get(scope="company", key="plan").label == ""
    assert not app.trait_definitions.filter(key="x").exists()


def test_no_token__401_and_a_wrong_method__405(api, company_traits):
    assert api("GET", "company-traits", token=None).status_code == 401
    response = api("PUT", "company-traits/plan", {"label": "x"})
    assert response.status_code == 405
    assert response["Allow"] == "GET, PATCH, DELETE"
