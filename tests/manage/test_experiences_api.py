from datetime import UTC, datetime

import pytest

from experiences.models import Experience
from tests.factories import ExperienceFactory, saved_segment

pytestmark = pytest.mark.django_db

FIELDS = {
    "id", "version", "name", "kind", "status", "content", "segments", "url_include",
    "url_exclude", "frequency", "priority", "starts_at", "ends_at",
    "goal_kind", "goal_event", "goal_url", "conversion_window_days", "holdout_percent",
    "translations",
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
        ({"holdout_percent": 51}, "holdout_percent"),
        ({"holdout_percent": "10"}, "holdout_percent"),
        ({"goal_kind": "revenue"}, "goal_kind"),
        ({"goal_kind": "event"}, "goal_event"),
        ({"goal_kind": "page", "goal_url": ""}, "goal_url"),
        ({"conversion_window_days": 0}, "conversion_window_days"),
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


# --- Schedules ---------------------------------------------------------------------------


def test_create__a_schedule_in_any_offset_is_answered_in_utc(api, app):
    response = api(
        "POST",
        "experiences",
        banner(app, starts_at="2026-12-04T10:00:00+01:00", ends_at="2026-12-06T18:00:00Z"),
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["starts_at"], body["ends_at"]) == ("2026-12-04T09:00:00Z", "2026-12-06T18:00:00Z")
    stored = Experience.objects.get(pk=body["id"])
    assert stored.starts_at == datetime(2026, 12, 4, 9, tzinfo=UTC)


def test_create__without_a_schedule__null_both(api, app):
    body = api("POST", "experiences", banner(app)).json()
    assert (body["starts_at"], body["ends_at"]) == (None, None)


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"starts_at": "2026-12-04T09:00:00"}, "starts_at"),  # no offset: which zone?
        ({"starts_at": "2026-12-04"}, "starts_at"),
        ({"starts_at": "next friday"}, "starts_at"),
        ({"ends_at": 1764838800}, "ends_at"),
        ({"starts_at": "2026-12-04T09:00:00Z", "ends_at": "2026-12-04T09:00:00Z"}, "ends_at"),
        ({"starts_at": "2026-12-04T09:00:00Z", "ends_at": "2026-12-04T08:00:00Z"}, "ends_at"),
    ],
)
def test_create__a_bad_schedule__400_on_its_field_and_nothing_saved(api, app, extra, field):
    response = api("POST", "experiences", banner(app, **extra))

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_field", field)
    assert not app.experiences.exists()


def test_put__an_absent_schedule_is_kept__null_removes_it__the_end_checked_against_the_start(
    api, app
):
    schedule = {"starts_at": "2026-12-04T09:00:00Z", "ends_at": "2026-12-06T18:00:00Z"}
    created = api("POST", "experiences", banner(app, **schedule)).json()
    path = f"experiences/{created['id']}"

    assert api("PUT", path, {"priority": 1}).json()["starts_at"] == "2026-12-04T09:00:00Z"
    refused = api("PUT", path, {"ends_at": "2026-12-01T00:00:00Z"})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "ends_at"
    assert refused.json()["error"]["message"] == "The end must be after the start."
    body = api("PUT", path, {"starts_at": None}).json()
    assert (body["starts_at"], body["ends_at"]) == (None, "2026-12-06T18:00:00Z")


def test_a_published_experience_whose_schedule_ended_is_not_served(api, app, client):
    created = api("POST", "experiences", banner(app, ends_at="2020-01-01T00:00:00Z")).json()
    api("POST", f"experiences/{created['id']}/publish")
    served = f"/api/v1/experiences?key={app.public_key}&id=u00&url=https://x.test/dashboard"
    assert client.get(served).json()["experiences"] == []

    api("PUT", f"experiences/{created['id']}", {"ends_at": None})

    assert [e["id"] for e in client.get(served).json()["experiences"]] == [created["id"]]


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


# --- Versions (docs/experiences.md, History and restore) -----------------------------------


def test_update__with_the_version_read__saves_a_new_version(api, app):
    created = api("POST", "experiences", banner(app)).json()
    assert created["version"] == 1

    response = api("PUT", f"experiences/{created['id']}", {"priority": 7, "version": 1})

    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_update__with_a_stale_version__409_and_nothing_changed(api, app):
    created = api("POST", "experiences", banner(app)).json()
    api("PUT", f"experiences/{created['id']}", {"priority": 7})

    response = api("PUT", f"experiences/{created['id']}", {"priority": 9, "version": 1})

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("stale_version", "version")
    assert Experience.objects.get(pk=created["id"]).priority == 7


@pytest.mark.parametrize("version", ["1", -1, False])
def test_update__a_version_not_a_whole_number__400(api, app, version):
    created = api("POST", "experiences", banner(app)).json()
    response = api("PUT", f"experiences/{created['id']}", {"version": version})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "version"


def test_list__each_experience_with_its_latest_version(api, app):
    created = api("POST", "experiences", banner(app)).json()
    api("PUT", f"experiences/{created['id']}", {"priority": 7})
    listed = {e["id"]: e["version"] for e in api("GET", "experiences").json()["results"]}
    assert listed[created["id"]] == 2


def test_translations_are_written_and_read_and_a_bad_path_is_a_field_error(api, app):
    app.languages = ["en", "pt"]
    app.save(update_fields=["languages"])
    created = api("POST", "experiences", banner(app, translations={"pt": {"text": "Vá pro"}}))
    assert created.status_code == 201
    assert created.json()["translations"] == {"pt": {"text": "Vá pro"}}
    pk = created.json()["id"]
    refused = api("PUT", f"experiences/{pk}", {"translations": {"pt": {"title": "x"}}})
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "translations.pt.title"
    assert api("GET", f"experiences/{pk}").json()["translations"] == {"pt": {"text": "Vá pro"}}
