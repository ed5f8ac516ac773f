"""A version on every save of an experience, whatever the path; History, Restore and edit
conflicts (experiences/versions.py, experiences/history.py)."""

import json

import pytest
from django.urls import reverse

from callout.actor import Actor, acting
from experiences import actions, versions
from experiences.models import Experience, ExperienceVersion
from management_api.actions import api_token_create
from segments.models import Membership
from tests.factories import ApplicationFactory, MembershipFactory

pytestmark = pytest.mark.django_db

BANNER = {"text": "Hello", "position": "top", "style": "info"}


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def member(client):
    membership = MembershipFactory()
    client.force_login(membership.user)
    return membership


@pytest.fixture
def banner(member):
    return actions.experience_create(
        application=member.application,
        name="Upgrade",
        kind="banner",
        content=BANNER,
        url_include=["/dashboard"],
    )


def url(name, experience, *args):
    return reverse(f"experiences:{name}", args=[experience.application_id, experience.pk, *args])


def edit_post(experience, text, **extra):
    return {
        "name": experience.name,
        "segments": [experience.application.everyone.pk],
        "url_include": "/dashboard",
        "url_exclude": "",
        "frequency": "once",
        "priority": "0",
        "content-text": text,
        "content-position": "top",
        "content-style": "info",
    } | extra


# --- Recording -----------------------------------------------------------------------------


def test_create__records_version_1_with_the_whole_definition(banner):
    version = banner.versions.get()
    assert version.number == 1 and version.via == "system"
    assert version.definition == {
        "name": "Upgrade",
        "kind": "banner",
        "status": "draft",
        "content": BANNER,
        "segments": [banner.application.everyone.pk],
        "url_include": ["/dashboard"],
        "url_exclude": [],
        "frequency": "once",
        "priority": 0,
        "starts_at": None,
        "ends_at": None,
        "goal_kind": "none",
        "goal_event": "",
        "goal_url": "",
        "conversion_window_days": 7,
        "holdout_percent": 0,
    }


def test_a_goal_and_a_holdout_are_part_of_a_version_and_its_diff(banner):
    actions.experience_update(
        experience=banner, goal_kind="event", goal_event="project_created", holdout_percent=10
    )
    old, new = banner.versions.order_by("number")
    assert new.definition["holdout_percent"] == 10
    lines = versions.changes_between(banner, old.number, new.number)
    assert "Goal: none → event" in lines
    assert "Holdout (%): 0 → 10" in lines
    assert versions.restore_fields(old)["goal_kind"] == "none"


def test_update_publish_and_unpublish__each_records_a_version(banner, member):
    with acting(Actor(via="engage", user=member.user)):
        actions.experience_update(experience=banner, priority=5)
        actions.experience_publish(experience=banner, allow_empty_audience=True)
        actions.experience_publish(experience=banner, allow_empty_audience=True)  # no change
        actions.experience_unpublish(experience=banner)
    numbers = list(banner.versions.values_list("number", "definition__status"))
    assert numbers == [(4, "draft"), (3, "published"), (2, "draft"), (1, "draft")]
    assert banner.versions.first().user == member.user


def test_a_stale_save__is_refused_and_writes_nothing(banner):
    actions.experience_update(experience=banner, priority=5)
    with pytest.raises(versions.StaleVersion):
        actions.experience_update(experience=banner, priority=7, version=1)
    assert Experience.objects.get(pk=banner.pk).priority == 5
    assert banner.versions.count() == 2


def test_the_number_is_unique_per_experience(banner):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ExperienceVersion.objects.create(
            experience=banner, number=1, via="system", actor_name="x", definition={}
        )


def test_engage_save__is_a_version_through_engage(client, member, banner):
    response = client.post(url("edit", banner), edit_post(banner, "Hi", version="1"))
    assert response.status_code == 302
    latest = banner.versions.first()
    assert (latest.number, latest.via, latest.user) == (2, "engage", member.user)


def test_management_api_save__is_a_version_by_the_tokens_name(client, banner):
    token = api_token_create(application=banner.application, name="CI", role="editor")[1]
    response = client.put(
        f"/api/v1/manage/experiences/{banner.pk}",
        json.dumps({"priority": 9}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    latest = banner.versions.first()
    assert (latest.number, latest.via, latest.actor_name) == (2, "api", "API token “CI”")
    assert latest.definition["priority"] == 9


def test_admin_action__is_a_version_through_the_admin(client, banner):
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "pw")
    client.force_login(operator)
    actions.experience_publish(experience=banner, allow_empty_audience=True)
    response = client.post(
        reverse("admin:experiences_experience_changelist"),
        {"action": "unpublish", "_selected_action": [banner.pk]},
    )
    assert response.status_code == 302
    latest = banner.versions.first()
    assert (latest.number, latest.via, latest.actor_name) == (3, "admin", "operator")
    assert latest.definition["status"] == "draft"


# --- History and Restore -------------------------------------------------------------------


def test_history__lists_versions_and_the_latest_change_in_words(client, member, banner):
    actions.experience_update(experience=banner, url_include=["/home"])
    page = client.get(url("history", banner)).content.decode()
    assert "History of “Upgrade”" in page
    assert "URL pattern changed in &quot;Show on&quot;: /dashboard → /home" in page


def test_history__a_viewer_reads_it_but_cannot_restore(client, banner):
    viewer = MembershipFactory(application=banner.application, role=Membership.Role.VIEWER)
    client.force_login(viewer.user)
    actions.experience_update(experience=banner, priority=5)
    assert client.get(url("history", banner)).status_code == 200
    assert client.post(url("restore", banner, 1)).status_code == 403
    assert Experience.objects.get(pk=banner.pk).priority == 5


def test_history__another_applications_experience_is_404(client, member):
    other = ApplicationFactory()
    theirs = actions.experience_create(application=other, name="X", kind="banner", content=BANNER)
    mine = reverse("experiences:history", args=[member.application.pk, theirs.pk])
    assert client.get(mine).status_code == 404
    restore = reverse("experiences:restore", args=[member.application.pk, theirs.pk, 1])
    assert client.post(restore).status_code == 404
    assert theirs.versions.count() == 1


def test_restore__previews_then_saves_the_old_definition_as_a_new_version(client, member, banner):
    actions.experience_update(experience=banner, content={**BANNER, "text": "Changed"})
    actions.experience_publish(experience=banner, allow_empty_audience=True)
    page = client.get(url("restore", banner, 1)).content.decode()
    assert "If you restore" in page
    assert "Text: &quot;Changed&quot; → &quot;Hello&quot;" in page
    assert "Status: published → draft" not in page  # restoring keeps it published

    response = client.post(url("restore", banner, 1))

    assert response.status_code == 302
    banner = Experience.objects.get(pk=banner.pk)
    assert banner.content["text"] == "Hello" and banner.status == "published"
    assert banner.versions.first().number == 4


# --- Edit conflicts ------------------------------------------------------------------------


def test_editor__carries_the_version_it_was_opened_at(client, member, banner):
    page = client.get(url("edit", banner)).content.decode()
    assert '<input type="hidden" name="version" value="1">' in page


def test_a_second_save_on_an_old_version__shows_what_changed_and_overwrites_nothing(
    client, member, banner
):
    other = MembershipFactory(application=banner.application, role=Membership.Role.EDITOR)
    with acting(Actor(via="engage", user=other.user)):
        actions.experience_update(experience=banner, content={**BANNER, "text": "Theirs"})

    response = client.post(url("edit", banner), edit_post(banner, "Mine", version="1"))

    assert response.status_code == 409
    page = response.content.decode()
    assert f"{other.user.get_username()} saved this experience since you opened it" in page
    assert "Text: &quot;Hello&quot; → &quot;Theirs&quot;" in page
    assert Experience.objects.get(pk=banner.pk).content["text"] == "Theirs"

    response = client.post(
        url("edit", banner), edit_post(banner, "Mine", version="1", overwrite="1")
    )
    assert response.status_code == 302
    assert Experience.objects.get(pk=banner.pk).content["text"] == "Mine"


def test_backfill__version_1_is_the_experience_as_stored(banner):
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("experiences.migrations.0008_experience_versions_backfill")
    expected = banner.versions.get().definition
    ExperienceVersion.objects.all().delete()

    backfill.backfill(apps, None)

    version = banner.versions.get()
    assert (version.number, version.via, version.definition) == (1, "system", expected)
