"""The Settings page (segments/app_settings.py): delivery's settings, owners only."""

import json

import pytest
from django.urls import reverse

from experiences.targeting import targeting_for
from segments.models import Application, Membership
from tests.factories import ApplicationFactory, MembershipFactory

pytestmark = pytest.mark.django_db

SETTINGS = {"max_banners_per_edge": "3", "cap_per_day": "10", "cap_per_session": "4"}


def _member(client, role):
    membership = MembershipFactory(role=role)
    client.force_login(membership.user)
    return membership.application, reverse(
        "segments:app_settings", args=[membership.application.pk]
    )


def _stored(application):
    application.refresh_from_db()
    return (application.max_banners_per_edge, application.cap_per_day, application.cap_per_session)


def test_a_new_application_stacks_two_banners_per_edge_and_has_no_caps():
    application = Application.objects.create(name="Fresh")
    assert _stored(application) == (2, None, None)


def test_an_owner_saves_the_settings_and_the_serve_uses_them_at_once(client):
    application, url = _member(client, Membership.Role.OWNER)
    targeting_for(application)  # compiled before the change
    response = client.post(url, SETTINGS)
    assert response.status_code == 302
    assert _stored(application) == (3, 10, 4)
    delivery = targeting_for(application).delivery
    assert (delivery.max_banners_per_edge, delivery.cap_per_day, delivery.cap_per_session) == (
        3,
        10,
        4,
    )
    page = client.get(url).content.decode()
    assert "Delivery settings saved." in page
    assert 'name="cap_per_day" value="10"' in page


def test_empty_caps_turn_them_off(client):
    application, url = _member(client, Membership.Role.OWNER)
    client.post(url, SETTINGS)
    client.post(url, {"max_banners_per_edge": "2", "cap_per_day": "", "cap_per_session": ""})
    assert _stored(application) == (2, None, None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_banners_per_edge", "0", "greater than or equal to 1"),
        ("max_banners_per_edge", "6", "less than or equal to 5"),
        ("max_banners_per_edge", "", "This field is required."),
        ("cap_per_day", "0", "greater than or equal to 1"),
        ("cap_per_session", "two", "Enter a whole number."),
    ],
)
def test_bad_values_are_inline_errors_and_nothing_is_written(client, field, value, message):
    application, url = _member(client, Membership.Role.OWNER)
    before = _stored(application)
    response = client.post(url, {**SETTINGS, field: value})
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert f'id="id_{field}_error"' in page
    assert _stored(application) == before


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.EDITOR])
def test_viewers_and_editors_read_the_settings_but_cannot_change_them(client, role):
    application, url = _member(client, role)
    before = _stored(application)
    page = client.get(url).content.decode()
    assert "Only an owner of" in page
    assert "<fieldset disabled>" in page
    assert "Save settings" not in page
    assert client.post(url, SETTINGS).status_code == 403
    assert _stored(application) == before


def test_another_applications_settings_are_a_404(client):
    _member(client, Membership.Role.OWNER)
    other = ApplicationFactory()
    url = reverse("segments:app_settings", args=[other.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, SETTINGS).status_code == 404
    assert _stored(other)[1:] == (None, None)


def test_the_sidebar_links_the_settings_page(client):
    application, url = _member(client, Membership.Role.VIEWER)
    page = client.get(reverse("segments:install", args=[application.pk])).content.decode()
    assert f'href="{url}"' in page
    assert f'<a href="{url}" aria-current="page">Settings</a>' in client.get(url).content.decode()


# --- Theme --------------------------------------------------------------------------------

THEME = {
    "primary": "#0b5fff",
    "on_primary": "#ffffff",
    "background": "#ffffff",
    "text": "#1f2330",
    "font": "Inter, system-ui, sans-serif",
    "radius": "4",
    "launcher": "left",
}


def _theme_url(application):
    return reverse("segments:app_settings_theme", args=[application.pk])


def test_an_owner_saves_a_theme_and_the_serve_sends_it_at_once(client):
    application, url = _member(client, Membership.Role.OWNER)
    delivery = _stored(application)
    assert targeting_for(application).theme_json is None  # the default sends nothing
    response = client.post(_theme_url(application), THEME)
    assert response.status_code == 302 and response["Location"] == url
    application.refresh_from_db()
    assert application.theme == {
        "primary": "#0b5fff",
        "font": "Inter, system-ui, sans-serif",
        "radius": 4,
        "launcher": "left",
    }
    assert json.loads(targeting_for(application).theme_json) == application.theme
    page = client.get(url).content.decode()
    assert "Theme saved." in page
    assert 'type="color" name="primary" value="#0b5fff"' in page
    assert _stored(application) == delivery  # the delivery form beside it is untouched


def test_a_theme_under_aa_contrast_is_an_inline_error_and_nothing_is_written(client):
    application, _ = _member(client, Membership.Role.OWNER)
    response = client.post(_theme_url(application), {**THEME, "primary": "#ffd400"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_on_primary_error"' in page
    assert "contrast of 1.43:1" in page
    assert 'value="#ffd400"' in page  # what they sent stays in the form
    application.refresh_from_db()
    assert application.theme == {}


@pytest.mark.parametrize(
    ("field", "value"), [("primary", "blue"), ("font", "x; } *{display:none"), ("radius", "99")]
)
def test_malformed_theme_values_are_inline_errors(client, field, value):
    application, _ = _member(client, Membership.Role.OWNER)
    response = client.post(_theme_url(application), {**THEME, field: value})
    assert response.status_code == 400
    assert f'id="id_{field}_error"' in response.content.decode()
    application.refresh_from_db()
    assert application.theme == {}


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.EDITOR])
def test_only_an_owner_changes_the_theme(client, role):
    application, url = _member(client, role)
    assert "Save theme" not in client.get(url).content.decode()
    assert client.post(_theme_url(application), THEME).status_code == 403
    application.refresh_from_db()
    assert application.theme == {}


def test_another_applications_theme_is_a_404(client):
    _member(client, Membership.Role.OWNER)
    other = ApplicationFactory()
    assert client.post(_theme_url(other), THEME).status_code == 404
    other.refresh_from_db()
    assert other.theme == {}


def test_a_stored_theme_that_fails_its_checks_sends_nothing():
    application = ApplicationFactory()
    Application.objects.filter(pk=application.pk).update(theme={"primary": "red; x"})
    assert targeting_for(application).theme_json is None


def test_an_owner_sets_the_application_wide_holdout_and_the_serve_uses_it(client):
    application, url = _member(client, Membership.Role.OWNER)
    targeting_for(application)
    assert client.post(url, {**SETTINGS, "holdout_percent": "10"}).status_code == 302
    application.refresh_from_db()
    assert application.holdout_percent == 10
    assert targeting_for(application).holdout_percent == 10
    assert 'name="holdout_percent" value="10"' in client.get(url).content.decode()


@pytest.mark.parametrize(("value", "message"), [("51", "less than or equal to 50"), ("-1", "0")])
def test_a_holdout_outside_0_to_50_is_an_inline_error(client, value, message):
    application, url = _member(client, Membership.Role.OWNER)
    response = client.post(url, {**SETTINGS, "holdout_percent": value})
    assert response.status_code == 400
    assert 'id="id_holdout_percent_error"' in response.content.decode()
    application.refresh_from_db()
    assert application.holdout_percent == 0


def test_an_editor_cannot_set_the_holdout(client):
    application, url = _member(client, Membership.Role.EDITOR)
    assert client.post(url, {**SETTINGS, "holdout_percent": "20"}).status_code == 403
    application.refresh_from_db()
    assert application.holdout_percent == 0
