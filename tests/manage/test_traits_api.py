import pytest

from segments.models import TraitDefinition
from tests.factories import saved_segment

pytestmark = pytest.mark.django_db


def test_list__every_trait_by_key(api, app):
    body = api("GET", "traits").json()

    assert [t["key"] for t in body["results"]] == ["plan", "role", "teamSize"]
    assert body["results"][0] == {
        "key": "plan",
        "type": "string",
        "label": "",
        "description": "",
        "auto_discovered": False,
    }


def test_create__201_with_the_trait(api, app):
    response = api("POST", "traits", {"key": "seats", "type": "number", "label": "Seats"})

    assert response.status_code == 201
    assert response.json()["key"] == "seats"
    assert app.trait_definitions.get(key="seats").label == "Seats"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"type": "number"}, "key"),
        ({"key": "seats"}, "type"),
        ({"key": "seats", "type": "colour"}, "type"),
        ({"key": "plan", "type": "string"}, "key"),  # taken
        ({"key": "seats", "type": "number", "label": 3}, "label"),
    ],
)
def test_create__invalid__400_on_the_field(api, app, body, field):
    response = api("POST", "traits", body)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_patch__changes_only_what_is_given(api, app):
    response = api("PATCH", "traits/plan", {"label": "Plan"})

    assert response.status_code == 200
    trait = app.trait_definitions.get(key="plan")
    assert (trait.label, trait.type) == ("Plan", "string")


def test_patch__bad_type__400_and_unchanged(api, app):
    response = api("PATCH", "traits/plan", {"type": "colour"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "type"
    assert app.trait_definitions.get(key="plan").type == "string"


def test_delete__unused__204(api, app):
    assert api("DELETE", "traits/role").status_code == 204
    assert not app.trait_definitions.filter(key="role").exists()


def test_delete__used__409_listing_the_segments(api, app):
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])

    response = api("DELETE", "traits/plan")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "in_use"
    assert error["used_by"]["segments"] == [{"id": segment.pk, "name": "Pro"}]
    assert '"Pro"' in error["message"]
    assert TraitDefinition.objects.filter(application=app, key="plan").exists()


def test_unknown_key__404(api):
    response = api("GET", "traits/nope")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
