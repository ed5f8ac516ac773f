import pytest

from experiences.models import Experience
from tests.factories import ExperienceFactory, saved_segment

pytestmark = pytest.mark.django_db

FIELDS = {
    "id", "name", "kind", "status", "content", "segments", "url_include", "url_exclude",
    "frequency", "priority",
}  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_targeting_cache():
    from django.core.cache import cache

    from experiences import targeting

    cache.clear()
    targeting.clear_local()
    yield
    cache.clear()
    targeting.clear_local()


def banner(app, **extra):
    pro = saved_segment(app, "Pro", [("plan", "equals", "pro")])
    return {
        "name": "Upgrade",
        "kind": "banner",
        "content": {"text": "Go pro"},
        "segments": [pro.pk],
        "url_include": ["/dashboard"],
        "priority": 5,
        **extra,
    }


def test_create__201_draft_with_the_issue_field_names(api, app):
    response = api("POST", "experiences", banner(app))

    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS
    assert body["status"] == "draft" and body["priority"] == 5
    assert body["url_include"] == ["/dashboard"]


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"kind": "popup"}, "kind"),
        ({"priority": 5000}, "priority"),
        ({"frequency": "hourly"}, "frequency"),
        ({"segments": "all"}, "segments"),
        ({"name": ""}, "name"),
        ({"content": {}}, "content"),
    ],
)
def test_create__invalid__400_on_the_field_and_nothing_saved(api, app, extra, field):
    response = api("POST", "experiences", banner(app, **extra))

    assert response.status_code == 400
    assert response.json()["error"]["field"].split(".")[0] == field
    assert not app.experiences.exists()


def test_create__another_applications_segment__400_on_segments(api, app, other):
    response = api("POST", "experiences", {**banner(app), "segments": [other["segment"].pk]})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "segments"


def test_list_get_put_delete(api, app):
    created = api("POST", "experiences", banner(app)).json()

    listed = api("GET", "experiences").json()
    assert [e["id"] for e in listed["results"]] == [created["id"]] and listed["next"] is None
    assert api("GET", f"experiences/{created['id']}").json() == created

    response = api("PUT", f"experiences/{created['id']}", {"priority": 7, "name": "Renamed"})
    assert response.status_code == 200
    assert (response.json()["priority"], response.json()["name"]) == (7, "Renamed")

    assert api("PUT", f"experiences/{created['id']}", {"kind": "tour"}).status_code == 400

    assert api("DELETE", f"experiences/{created['id']}").status_code == 204
    assert not Experience.objects.filter(pk=created["id"]).exists()


def test_publish_then_unpublish__served_then_not(api, app, client):
    created = api("POST", "experiences", banner(app)).json()
    served = f"/api/v1/experiences?key={app.public_key}&id=u00&url=https://x.test/dashboard"
    assert client.get(served).json()["experiences"] == []

    response = api("POST", f"experiences/{created['id']}/publish")
    assert response.status_code == 200 and response.json()["status"] == "published"
    assert [e["id"] for e in client.get(served).json()["experiences"]] == [created["id"]]

    response = api("POST", f"experiences/{created['id']}/unpublish")
    assert response.status_code == 200 and response.json()["status"] == "draft"
    assert client.get(served).json()["experiences"] == []


def test_put__published_change_is_served_at_once(api, app, client):
    created = api("POST", "experiences", banner(app)).json()
    api("POST", f"experiences/{created['id']}/publish")
    served = f"/api/v1/experiences?key={app.public_key}&id=u00&url=https://x.test/dashboard"
    assert client.get(served).json()["experiences"][0]["priority"] == 5

    api("PUT", f"experiences/{created['id']}", {"priority": 9})

    assert client.get(served).json()["experiences"][0]["priority"] == 9


def test_publish__empty_audience__400_unless_allowed(api, app):
    nobody = saved_segment(app, "Nobody", [("plan", "equals", "gold")])
    experience = ExperienceFactory(application=app)
    experience.segments.set([nobody])

    refused = api("POST", f"experiences/{experience.pk}/publish")
    allowed = api("POST", f"experiences/{experience.pk}/publish", {"allow_empty_audience": True})

    assert refused.status_code == 400 and refused.json()["error"]["field"] == "segments"
    assert allowed.status_code == 200 and allowed.json()["status"] == "published"


def test_delete__used_by_segment_rules__409_listing_them_and_nothing_deleted(api, app):
    experience = ExperienceFactory(application=app, name="Welcome tour")
    rule = {"experience": experience.pk, "state": "completed"}
    created = api(
        "POST", "segments", {"name": "Toured", "definition": {"match": "all", "rules": [rule]}}
    ).json()

    response = api("DELETE", f"experiences/{experience.pk}")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "in_use"
    assert error["used_by"] == {
        "segments": [{"id": created["id"], "name": "Toured"}],
        "experiences": [],
    }
    assert '"Toured"' in error["message"]
    assert Experience.objects.filter(pk=experience.pk).exists()
