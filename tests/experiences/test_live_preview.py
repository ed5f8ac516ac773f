"""The editor's live preview (experiences/live_preview.py): the content as typed, checked as a
save checks it, as the snippet would receive it; nothing written."""

import pytest
from django.urls import reverse

from experiences.models import Experience
from segments import actions
from segments.models import Membership
from tests.factories import ApplicationFactory, MembershipFactory

pytestmark = pytest.mark.django_db

BANNER = {
    "name": "Upgrade",
    "content-text": "  You're on the free plan.  ",
    "content-button_label": "",
    "content-button_url": "",
    "content-position": "bottom",
    "content-style": "info",
}


@pytest.fixture
def member(client):
    membership = MembershipFactory(role=Membership.Role.EDITOR)
    client.force_login(membership.user)
    return membership


def _preview(client, application, kind, data):
    url = reverse("experiences:preview", args=[application.pk, kind])
    return client.post(url, data)


def test_a_banner_as_typed_comes_back_as_the_snippet_would_receive_it(client, member):
    response = _preview(client, member.application, "banner", BANNER)
    assert response.status_code == 200
    body = response.json()
    assert body["experience"]["name"] == "Upgrade"
    assert body["experience"]["kind"] == "banner"
    assert body["experience"]["content"]["text"] == "You're on the free plan."
    assert body["experience"]["content"]["position"] == "bottom"
    assert body["theme"] == {}
    assert not Experience.objects.exists()


def test_the_application_s_theme_comes_with_it(client, member):
    actions.application_set_theme(application=member.application, theme={"radius": 2})
    assert _preview(client, member.application, "banner", BANNER).json()["theme"] == {"radius": 2}


def test_unfinished_content_answers_its_first_problem(client, member):
    body = _preview(client, member.application, "banner", {**BANNER, "content-text": ""}).json()
    assert "experience" not in body
    assert body["problem"] == "Give the banner some text."  # as a save says it


def test_a_tour_step_is_checked_as_a_save_checks_it(client, member):
    steps = {
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-0-type": "tooltip",
        "steps-0-selector": "#save",
        "steps-0-placement": "bottom",
        "steps-0-title": "Save",
        "steps-0-body": "Saves your work.",
    }
    body = _preview(client, member.application, "tour", steps).json()
    assert body["experience"]["content"]["steps"][0]["selector"] == "#save"
    assert body["experience"]["name"] == "Tour"  # no name typed yet
    untitled = {**steps, "steps-0-title": "", "steps-0-body": ""}
    body = _preview(client, member.application, "tour", untitled).json()
    assert body == {"problem": "Step 1: give the step a title or a body."}


def test_a_viewer_s_preview_is_refused_as_the_editor_s_other_posts(client):
    membership = MembershipFactory(role=Membership.Role.VIEWER)
    client.force_login(membership.user)
    assert _preview(client, membership.application, "banner", BANNER).status_code == 403
    frame = reverse("experiences:preview_frame", args=[membership.application.pk])
    assert client.get(frame).status_code == 200


def test_an_unknown_kind_and_another_application_are_404(client, member):
    assert _preview(client, member.application, "popup", BANNER).status_code == 404
    other = ApplicationFactory()
    assert _preview(client, other, "banner", BANNER).status_code == 404
    frame = reverse("experiences:preview_frame", args=[other.pk])
    assert client.get(frame).status_code == 404


def test_the_frame_may_be_framed_by_our_own_pages_only(client, member):
    response = client.get(reverse("experiences:preview_frame", args=[member.application.pk]))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]
    assert "data-callout-anchor" in response.content.decode()
    # every other page keeps refusing to be framed
    page = client.get(reverse("experiences:list", args=[member.application.pk]))
    assert page["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]


def test_the_editor_shows_the_preview_frame(client):
    membership = MembershipFactory(role=Membership.Role.EDITOR)
    client.force_login(membership.user)
    page = client.get(
        reverse("experiences:create", args=[membership.application.pk, "banner"])
    ).content.decode()
    assert 'title="Preview of the banner"' in page
    assert reverse("experiences:preview", args=[membership.application.pk, "banner"]) in page
