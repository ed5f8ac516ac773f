"""A version on every save of a segment, whatever the path; History, Restore and edit
conflicts (segments/versions.py, segments/views/history.py)."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from callout.actor import Actor, acting
from management_api.actions import api_token_create
from segments import actions, versions
from segments.models import Membership, Segment, SegmentVersion
from tests.factories import ApplicationFactory, MembershipFactory, TraitDefinitionFactory
from tests.test_admin import admin_url, segment_post

pytestmark = pytest.mark.django_db

TEAM = {"trait": "teamSize", "operator": "greater_than", "value": 10}


def rules(value):
    return [{**TEAM, "value": value}]


@pytest.fixture
def big(app):
    return actions.segment_create(application=app, name="Big teams", rules=rules(10))


def edit_post(segment, value, **extra):
    data = {
        "name": segment.name,
        "description": segment.description,
        "rules": "0",
        "rules-0-trait": "teamSize",
        "rules-0-operator": "greater_than",
        "rules-0-value": str(value),
    }
    return data | extra


# --- Recording -----------------------------------------------------------------------------


def test_create__records_version_1_with_the_whole_definition(big):
    version = big.versions.get()
    assert version.number == 1
    assert version.via == "system" and version.actor_name == "the system"
    assert version.definition == {
        "name": "Big teams",
        "description": "",
        "definition": {
            "match": "all",
            "rules": [{**TEAM, "case_sensitive": False}],
        },
    }


def test_update__records_the_next_number_by_the_current_actor(big, member):
    with acting(Actor(via="engage", user=member.user)):
        actions.segment_update(segment=big, rules=rules(20), description="Sales")
    latest = big.versions.first()
    assert latest.number == 2
    assert (latest.via, latest.user, latest.actor_name) == (
        "engage",
        member.user,
        member.user.get_username(),
    )
    assert latest.definition["description"] == "Sales"
    assert latest.definition["definition"]["rules"][0]["value"] == 20


def test_a_refused_save__records_nothing(big):
    with pytest.raises(ValidationError):
        actions.segment_update(segment=big, rules=[{**TEAM, "value": "lots"}])
    assert big.versions.count() == 1


def test_the_number_is_unique_per_segment(big):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        SegmentVersion.objects.create(
            segment=big, number=1, via="system", actor_name="x", definition={}
        )


def test_a_save_on_a_stale_version__is_refused_and_writes_nothing(big):
    actions.segment_update(segment=big, rules=rules(20))
    with pytest.raises(versions.StaleVersion):
        actions.segment_update(segment=big, rules=rules(30), version=1)
    big.refresh_from_db()
    assert big.versions.count() == 2
    assert Segment.objects.get(pk=big.pk).definition["rules"][0]["value"] == 20


def test_a_save_on_the_latest_version__passes(big):
    actions.segment_update(segment=big, rules=rules(20), version=1)
    assert versions.latest_number(big) == 2


def test_engage_save__is_a_version_through_engage(client, member, big):
    url = reverse("segments:edit", args=[member.application.pk, big.pk])
    assert client.post(url, edit_post(big, 20, version="1")).status_code == 302
    latest = big.versions.first()
    assert (latest.number, latest.via, latest.user) == (2, "engage", member.user)


def test_admin_save__is_a_version_through_the_admin(client):
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "pw")
    client.force_login(operator)
    application = ApplicationFactory()
    plan = TraitDefinitionFactory(application=application, key="plan")
    data = segment_post(application, "Free", [{"trait": plan.pk, "operator": "is_set"}])
    assert client.post(admin_url(Segment, "add"), data).status_code == 302
    version = Segment.objects.get(name="Free").versions.get()
    assert (version.via, version.actor_name) == ("admin", "operator")


def test_management_api_save__is_a_version_by_the_tokens_name(client, app):
    token = api_token_create(application=app, name="CI", role="editor")[1]
    definition = {"match": "all", "rules": [TEAM]}
    response = client.post(
        "/api/v1/manage/segments",
        json.dumps({"name": "Big", "definition": definition}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 201
    version = Segment.objects.get(pk=response.json()["id"]).versions.get()
    assert (version.via, version.actor_name) == ("api", "API token “CI”")


def test_seed_demo__saves_versions_through_a_command():
    call_command("seed_demo", users=5)
    assert SegmentVersion.objects.exists()
    assert set(SegmentVersion.objects.values_list("via", flat=True)) == {"command"}


# --- History -------------------------------------------------------------------------------


def history(member, segment):
    return reverse("segments:history", args=[member.application.pk, segment.pk])


def test_history__lists_versions_and_the_latest_change_in_words(client, member, big):
    with acting(Actor(via="engage", user=member.user)):
        actions.segment_update(segment=big, rules=rules(20))
    page = client.get(history(member, big)).content.decode()
    assert "History of “Big teams”" in page
    assert "rule 1: `teamSize is greater than 10` → `teamSize is greater than 20`" in page
    assert member.user.get_username() in page and "Engage" in page


def test_history__compares_any_two_versions(client, member, big):
    actions.segment_update(segment=big, rules=rules(20))
    actions.segment_update(segment=big, name="Huge teams", rules=rules(20))
    page = client.get(history(member, big), {"old": "1", "new": "3"}).content.decode()
    assert "What changed from version 1 to version 3" in page
    assert "Name: &quot;Big teams&quot; → &quot;Huge teams&quot;" in page
    assert "teamSize is greater than 20" in page


def test_history__another_applications_segment_is_404(client, member):
    other = ApplicationFactory()
    theirs = actions.segment_create(application=other, name="Theirs")
    url = reverse("segments:history", args=[member.application.pk, theirs.pk])
    assert client.get(url).status_code == 404
    url = reverse("segments:restore", args=[member.application.pk, theirs.pk, 1])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert theirs.versions.count() == 1


def test_history__a_viewer_reads_it_but_cannot_restore(client, big):
    viewer = MembershipFactory(application=big.application, role=Membership.Role.VIEWER)
    client.force_login(viewer.user)
    actions.segment_update(segment=big, rules=rules(20))
    page = client.get(reverse("segments:history", args=[big.application.pk, big.pk]))
    assert page.status_code == 200 and "Restore" not in page.content.decode()
    url = reverse("segments:restore", args=[big.application.pk, big.pk, 1])
    preview = client.get(url)
    assert preview.status_code == 200 and "Only an editor or an owner" in preview.content.decode()
    assert client.post(url).status_code == 403
    assert big.versions.count() == 2


# --- Restore -------------------------------------------------------------------------------


def test_restore__shows_the_impact_and_what_changes_then_saves_a_new_version(client, member, big):
    actions.segment_update(segment=big, rules=rules(5))
    url = reverse("segments:restore", args=[member.application.pk, big.pk, 1])
    page = client.get(url).content.decode()
    assert "If you restore" in page and "leave" in page
    assert "rule 1: `teamSize is greater than 5` → `teamSize is greater than 10`" in page

    response = client.post(url)

    assert response.status_code == 302
    latest = big.versions.first()
    assert latest.number == 3 and latest.via == "engage"
    assert latest.definition == big.versions.get(number=1).definition
    big = Segment.objects.get(pk=big.pk)
    assert big.definition["rules"][0]["value"] == 10


def test_restore__a_version_that_no_longer_fits__is_refused_with_the_reason(client, member, app):
    TraitDefinitionFactory(application=app, key="seats", type="number")
    segment = actions.segment_create(
        application=app, name="Seats", rules=[{"trait": "seats", "operator": "is_set"}]
    )
    actions.segment_update(segment=segment, rules=rules(10))
    app.trait_definitions.get(key="seats").delete()
    url = reverse("segments:restore", args=[app.pk, segment.pk, 1])
    response = client.post(url)
    assert response.status_code == 400
    assert "cannot be restored" in response.content.decode()
    assert segment.versions.count() == 2


# --- Edit conflicts ------------------------------------------------------------------------


def test_edit_form__carries_the_version_it_was_opened_at(client, member, big):
    page = client.get(reverse("segments:edit", args=[member.application.pk, big.pk]))
    assert '<input type="hidden" name="version" value="1">' in page.content.decode()


def test_a_second_save_on_an_old_version__shows_what_changed_and_overwrites_nothing(
    client, member, big
):
    url = reverse("segments:edit", args=[member.application.pk, big.pk])
    other = MembershipFactory(application=big.application, role=Membership.Role.EDITOR)
    with acting(Actor(via="engage", user=other.user)):
        actions.segment_update(segment=big, rules=rules(20))

    response = client.post(url, edit_post(big, 30, version="1"))

    assert response.status_code == 409
    page = response.content.decode()
    assert f"{other.user.get_username()} saved this segment since you opened it" in page
    assert "rule 1: `teamSize is greater than 10` → `teamSize is greater than 20`" in page
    assert "Reload" in page and "Save anyway" in page
    assert Segment.objects.get(pk=big.pk).definition["rules"][0]["value"] == 20

    # Save anyway: deliberately over the newer version.
    response = client.post(url, edit_post(big, 30, version="1", overwrite="1"))
    assert response.status_code == 302
    assert Segment.objects.get(pk=big.pk).definition["rules"][0]["value"] == 30
    assert versions.latest_number(big) == 3


# --- The back-fill migration -----------------------------------------------------------------


def test_backfill__version_1_is_the_definition_as_segment_definition_reads_it(app):
    import importlib

    from django.apps import apps

    from experiences import actions as experience_actions
    from tests.factories import CompanyTraitFactory

    backfill = importlib.import_module("segments.migrations.0024_segment_versions_backfill")
    CompanyTraitFactory(application=app, key="seats", type="number")
    other = actions.segment_create(application=app, name="Other", rules=rules(3))
    tour = experience_actions.experience_create(
        application=app, name="Tour", kind="banner", content={"text": "Hi"}
    )
    definition = {
        "match": "any",
        "rules": [
            {"trait": "plan", "operator": "is_set"},
            {
                "match": "none",
                "rules": [
                    {"segment": other.pk},
                    {"event": "saved", "operator": "at_least", "value": 2, "within_days": 7},
                ],
            },
            {"experience": tour.pk, "state": "completed"},
            {"company_trait": "seats", "operator": "greater_than", "value": 5},
            {"company_users": {"segment": other.pk}, "operator": "at_least", "value": 2},
            {**TEAM, "case_sensitive": False},
        ],
    }
    segment = actions.segment_create(application=app, name="Mixed", definition=definition)
    expected = versions.snapshot(Segment.objects.get(pk=segment.pk))
    SegmentVersion.objects.all().delete()

    backfill.backfill(apps, None)

    version = SegmentVersion.objects.get(segment=segment)
    assert (version.number, version.via) == (1, "system")
    assert version.definition == expected
    assert SegmentVersion.objects.filter(segment=other).exists()


def test_restore__a_version_naming_a_segment_deleted_since__previews_and_is_refused(
    client, member, app
):
    gone = actions.segment_create(application=app, name="Gone", rules=rules(1))
    segment = actions.segment_create(
        application=app, name="Uses", definition={"match": "all", "rules": [{"segment": gone.pk}]}
    )
    actions.segment_update(segment=segment, rules=rules(10))
    actions.segment_delete(segment=gone)
    url = reverse("segments:restore", args=[app.pk, segment.pk, 1])

    page = client.get(url)
    assert page.status_code == 200
    assert "in a segment that is gone" in page.content.decode()

    response = client.post(url)
    assert response.status_code == 400
    assert versions.latest_number(segment) == 2


def test_history_of_everyone__says_it_has_no_versions(client, member):
    everyone = member.application.everyone
    page = client.get(reverse("segments:history", args=[member.application.pk, everyone.pk]))
    assert "cannot be edited, so it has no versions" in page.content.decode()
    restore = reverse("segments:restore", args=[member.application.pk, everyone.pk, 1])
    assert client.post(restore).status_code == 403
