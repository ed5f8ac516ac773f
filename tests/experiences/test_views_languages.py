import pytest
from django.urls import reverse

from experiences import actions
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(client):
    membership = MembershipFactory()
    client.force_login(membership.user)
    return membership.application


def detail(client, app, experience):
    url = reverse("experiences:detail", args=[app.pk, experience.pk])
    return client.get(url).content.decode()


def banner(app):
    return actions.experience_create(
        application=app,
        name="Upgrade",
        kind="banner",
        content={"text": "Upgrade now", "button_label": "Go", "button_url": "/billing"},
    )


def test_the_page_says_which_texts_each_language_lacks(client, app):
    app.languages = ["en", "pt"]
    app.save(update_fields=["languages"])
    experience = banner(app)
    actions.experience_update(experience=experience, translations={"pt": {"text": "Já"}})
    html = detail(client, app, experience)
    assert 'id="h-languages"' in html
    assert "1 of 2 texts translated" in html
    assert "shown in the default language: button_label" in html


def test_an_application_in_one_language_shows_no_languages(client, app):
    assert 'id="h-languages"' not in detail(client, app, banner(app))
