"""Goals: what counts as a conversion, within the window after first being eligible; the
results per group (experiences/results.py) on the experience page, as CSV and through the
management API."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from experiences import actions
from experiences.holdout import held_out
from experiences.models import Event, Exposure
from experiences.results import experience_results
from management_api.actions import api_token_create
from segments.models import EndUser, Membership
from tests.factories import (
    ApplicationFactory,
    EndUserFactory,
    ExperienceFactory,
    MembershipFactory,
    PublishedExperienceFactory,
    TrackedEventFactory,
)

pytestmark = pytest.mark.django_db
EXPERIENCES = "/api/v1/experiences"


def expose(experience, users, group, when=None, **extra):
    Exposure.objects.bulk_create(
        Exposure(
            application=experience.application,
            experience=experience,
            end_user=user,
            group=group,
            eligible_at=when or timezone.now() - timedelta(days=1),
            **extra,
        )
        for user in users
    )


def users(app, count, prefix="u"):
    return [EndUserFactory(application=app, external_id=f"{prefix}{n}") for n in range(count)]


# --- The goal's fields ---------------------------------------------------------------------


def test_an_event_goal_needs_the_events_name_and_a_page_goal_a_valid_pattern():
    experience = ExperienceFactory()
    with pytest.raises(ValidationError) as error:
        actions.experience_update(experience=experience, goal_kind="event")
    assert "goal_event" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        actions.experience_update(experience=experience, goal_kind="page", goal_url="  ")
    assert "goal_url" in error.value.message_dict
    experience.refresh_from_db()
    assert experience.goal_kind == "none"


def test_a_new_goal_empties_the_other_kinds_field_and_other_fields_are_kept():
    experience = ExperienceFactory()
    actions.experience_update(
        experience=experience, goal_kind="event", goal_event=" signed_up ", holdout_percent=10
    )
    experience.refresh_from_db()
    assert (experience.goal_kind, experience.goal_event) == ("event", "signed_up")
    actions.experience_update(experience=experience, goal_kind="page", goal_url="/billing/**")
    experience.refresh_from_db()
    assert (experience.goal_event, experience.goal_url) == ("", "/billing/**")
    assert (experience.holdout_percent, experience.conversion_window_days) == (10, 7)


@pytest.mark.parametrize(
    ("field", "value"), [("holdout_percent", 51), ("conversion_window_days", 0), ("goal_kind", "x")]
)
def test_out_of_range_goal_fields_are_field_errors(field, value):
    with pytest.raises(ValidationError) as error:
        actions.experience_update(experience=ExperienceFactory(), **{field: value})
    assert field in error.value.message_dict


@pytest.fixture
def member(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    membership = MembershipFactory(role=Membership.Role.EDITOR)
    client.force_login(membership.user)
    return membership


def test_the_editor_sets_the_goal_and_shows_its_errors_inline(client, member):
    app = member.application
    experience = ExperienceFactory(application=app)
    experience.segments.set([app.everyone])
    edit = reverse("experiences:edit", args=[app.pk, experience.pk])
    form = {
        "name": experience.name,
        "segments": [app.everyone.pk],
        "frequency": "once",
        "content-text": "Hello",
        "content-position": "top",
        "content-style": "info",
        "goal_kind": "event",
        "goal_event": "",
        "holdout_percent": "20",
    }
    response = client.post(edit, form)
    assert response.status_code == 200
    assert 'id="id_goal_event_error"' in response.content.decode()
    response = client.post(edit, {**form, "goal_event": "project_created"})
    assert response.status_code == 302, response.content.decode()[:3000]
    experience.refresh_from_db()
    assert (experience.goal_kind, experience.goal_event) == ("event", "project_created")
    assert (experience.holdout_percent, experience.conversion_window_days) == (20, 7)
    page = client.get(edit).content.decode()
    assert 'name="goal_event" value="project_created"' in page


# --- Conversions ---------------------------------------------------------------------------


def test_completing_the_experience_within_the_window_converts():
    experience = PublishedExperienceFactory(goal_kind="completed", conversion_window_days=7)
    app = experience.application
    inside, late, never = users(app, 3)
    expose(experience, [inside, late, never], "treatment")
    Event.objects.create(application=app, end_user=inside, experience=experience, type="completed")
    Exposure.objects.filter(end_user=late).update(eligible_at=timezone.now() - timedelta(days=9))
    Event.objects.create(application=app, end_user=late, experience=experience, type="completed")
    found = experience_results(experience)
    assert (found.treatment.eligible, found.treatment.conversions) == (3, 1)


def test_an_event_tracked_in_the_window_converts_but_not_one_before_eligibility():
    experience = PublishedExperienceFactory(goal_kind="event", goal_event="project_created")
    app = experience.application
    inside, before, other_name = users(app, 3)
    eligible = timezone.now() - timedelta(days=2)
    expose(experience, [inside, before, other_name], "holdout", when=eligible)
    TrackedEventFactory(end_user=inside, name="project_created", timestamp=eligible + timedelta(1))
    TrackedEventFactory(end_user=before, name="project_created", timestamp=eligible - timedelta(1))
    TrackedEventFactory(end_user=other_name, name="invited", timestamp=eligible + timedelta(1))
    found = experience_results(experience)
    assert (found.holdout.eligible, found.holdout.conversions) == (3, 1)


def test_a_page_goal_is_recorded_by_the_serve_once_within_the_window(client):
    app = ApplicationFactory()
    experience = PublishedExperienceFactory(
        application=app, segments=[app.everyone], goal_kind="page", goal_url="/billing/**"
    )
    user = EndUserFactory(application=app, external_id="u1")

    def visit(url):
        params = {"key": app.public_key, "id": "u1", "url": url}
        assert client.get(EXPERIENCES, params).status_code == 200

    visit("/dashboard")  # eligible (served: no holdout)
    exposure = Exposure.objects.get(end_user=user)
    assert (exposure.group, exposure.converted_at) == ("treatment", None)
    visit("/settings")
    assert Exposure.objects.get(end_user=user).converted_at is None
    visit("/billing/plans")
    converted = Exposure.objects.get(end_user=user).converted_at
    assert converted is not None
    visit("/billing/plans")  # once: the summary knows
    assert Exposure.objects.get(end_user=user).converted_at == converted
    assert experience_results(experience).treatment.conversions == 1


def test_a_page_visit_after_the_window_does_not_convert(client):
    app = ApplicationFactory()
    experience = PublishedExperienceFactory(
        application=app,
        segments=[app.everyone],
        goal_kind="page",
        goal_url="/billing",
        conversion_window_days=1,
    )
    user = EndUserFactory(application=app, external_id="u1")
    old = timezone.now() - timedelta(days=2)
    actions.exposures_record(
        application_id=app.pk,
        end_user_id=user.pk,
        exposures=[(experience.pk, "treatment")],
        when=old,
    )
    params = {"key": app.public_key, "id": "u1", "url": "/billing"}
    assert client.get(EXPERIENCES, params).status_code == 200
    assert Exposure.objects.get(end_user=user).converted_at is None


def test_a_held_out_user_reaching_the_page_goal_converts_in_the_holdout(client):
    app = ApplicationFactory()
    experience = PublishedExperienceFactory(
        application=app,
        segments=[app.everyone],
        goal_kind="page",
        goal_url="/billing",
        holdout_percent=50,
    )
    people = users(app, 20)
    user = next(u for u in people if held_out(app.pk, experience.pk, u.pk, 50))
    for url in ("/", "/billing"):
        params = {"key": app.public_key, "id": user.external_id, "url": url}
        assert client.get(EXPERIENCES, params).json()["experiences"] == []
    found = experience_results(experience)
    assert (found.holdout.eligible, found.holdout.conversions) == (1, 1)
    assert "g" in EndUser.objects.get(pk=user.pk).activity


# --- Results -------------------------------------------------------------------------------


@pytest.fixture
def measured(db):
    """An experience whose page goal 30 of 200 served users and 15 of 200 held-out users
    reached: enough data."""
    app = ApplicationFactory()
    experience = PublishedExperienceFactory(
        application=app, name="Tour", goal_kind="page", goal_url="/billing", holdout_percent=50
    )
    served, held = users(app, 200, "t"), users(app, 200, "h")
    converted = {"converted_at": timezone.now()}
    expose(experience, served[:30], "treatment", **converted)
    expose(experience, served[30:], "treatment")
    expose(experience, held[:15], "holdout", **converted)
    expose(experience, held[15:], "holdout")
    return experience


def test_results_count_eligible_users_and_conversions_per_group_with_the_lifts(measured):
    found = experience_results(measured)
    assert (found.treatment.eligible, found.treatment.conversions) == (200, 30)
    assert (found.holdout.eligible, found.holdout.conversions) == (200, 15)
    assert found.comparison.absolute.estimate == pytest.approx(0.075)
    assert found.comparison.relative.estimate == pytest.approx(1.0)
    assert found.absolute_words.startswith("+7.5 points (")


def test_below_the_threshold_the_results_say_not_enough_data_yet(client, member):
    experience = PublishedExperienceFactory(
        application=member.application, goal_kind="completed", holdout_percent=10
    )
    expose(experience, users(member.application, 5), "treatment")
    assert not experience_results(experience).enough_data
    page = client.get(reverse("experiences:detail", args=[member.application.pk, experience.pk]))
    text = page.content.decode()
    assert "Not enough data yet." in text
    assert "Absolute lift" not in text


@pytest.mark.parametrize("role", list(Membership.Role))
def test_every_role_reads_the_results_on_the_page_and_as_csv(client, measured, role, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    membership = MembershipFactory(application=measured.application, role=role)
    client.force_login(membership.user)
    app_id = measured.application.pk
    page = client.get(reverse("experiences:detail", args=[app_id, measured.pk])).content.decode()
    assert "Absolute lift" in page and "+7.5 points" in page and "15.0%" in page
    response = client.get(reverse("experiences:results_csv", args=[app_id, measured.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["group"], r["eligible"], r["conversions"]) for r in rows] == [
        ("treatment", "200", "30"),
        ("holdout", "200", "15"),
    ]
    assert rows[0]["absolute_lift"] == "0.075000" and rows[1]["absolute_lift"] == ""
    assert rows[0]["enough_data"] == "yes"


def test_another_applications_results_are_a_404(client, member, measured):
    app_id = member.application.pk
    for name in ("detail", "results_csv"):
        assert (
            client.get(reverse(f"experiences:{name}", args=[app_id, measured.pk])).status_code
            == 404
        )
        theirs = reverse(f"experiences:{name}", args=[measured.application.pk, measured.pk])
        assert client.get(theirs).status_code == 404


def test_a_formula_like_name_is_quoted_in_the_csv(client, member):
    experience = PublishedExperienceFactory(application=member.application, name="=HYPERLINK(1)")
    url = reverse("experiences:results_csv", args=[member.application.pk, experience.pk])
    body = b"".join(client.get(url).streaming_content).decode()
    assert "'=HYPERLINK(1)" in body


def test_the_management_api_answers_the_results_to_a_viewer_token(client, measured):
    token = api_token_create(application=measured.application, name="R", role="viewer")[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    response = client.get(f"/api/v1/manage/experiences/{measured.pk}/results", **auth)
    assert response.status_code == 200
    body = response.json()
    assert body["treatment"] == {"eligible": 200, "conversions": 30, "rate": 0.15}
    assert body["holdout"] == {"eligible": 200, "conversions": 15, "rate": 0.075}
    assert body["enough_data"] is True
    assert body["absolute_lift"]["estimate"] == pytest.approx(0.075)
    assert body["relative_lift"]["low"] < 1.0 < body["relative_lift"]["high"]
    other = ExperienceFactory()
    response = client.get(f"/api/v1/manage/experiences/{other.pk}/results", **auth)
    assert response.status_code == 404


def test_the_management_api_results_without_enough_data_have_null_lifts(client):
    experience = PublishedExperienceFactory(goal_kind="completed")
    token = api_token_create(application=experience.application, name="R", role="viewer")[1]
    response = client.get(
        f"/api/v1/manage/experiences/{experience.pk}/results",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    body = response.json()
    assert body["enough_data"] is False
    assert body["absolute_lift"] is None and body["relative_lift"] is None
    assert body["thresholds"] == {"min_eligible_per_group": 100, "min_conversions_per_group": 10}


def test_the_admin_lists_exposures_read_only(admin_client, measured):
    response = admin_client.get(reverse("admin:experiences_exposure_changelist"))
    assert response.status_code == 200
    assert "Tour" in response.content.decode()
    exposure = Exposure.objects.first()
    change = reverse("admin:experiences_exposure_change", args=[exposure.pk])
    assert admin_client.post(change, {"group": "holdout"}).status_code == 403
