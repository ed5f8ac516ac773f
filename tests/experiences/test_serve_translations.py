"""The serve sends an experience's translations with its content (docs/api.md)."""

import pytest

from experiences import actions
from segments import actions as segments_actions
from tests.factories import ApplicationFactory, EndUserFactory, PublishedExperienceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    application = ApplicationFactory(languages=["en", "pt"])
    everyone = application.segments.get(is_builtin=True)
    PublishedExperienceFactory(
        application=application,
        name="Welcome",
        kind="banner",
        content={"text": "Hi"},
        segments=[everyone],
    )
    EndUserFactory(application=application, external_id="u1")
    return application


def _serve(client, app):
    response = client.get("/api/v1/experiences", {"key": app.public_key, "id": "u1", "url": "/"})
    assert response.status_code == 200
    return response.json()["experiences"]


def test_an_untranslated_experience_is_sent_as_before(client, app):
    [served] = _serve(client, app)
    assert "translations" not in served
    assert "language" not in served


def test_translations_go_with_the_content_and_the_default_language(client, app):
    experience = app.experiences.get()
    actions.experience_update(experience=experience, translations={"pt": {"text": "Olá"}})
    [served] = _serve(client, app)
    assert served["content"] == {"text": "Hi"}
    assert served["translations"] == {"pt": {"text": "Olá"}}
    assert served["language"] == "en"


def test_a_language_no_longer_enabled_is_not_served(client, app):
    experience = app.experiences.get()
    actions.experience_update(experience=experience, translations={"pt": {"text": "Olá"}})
    segments_actions.application_set_languages(application=app, languages=["fr", "en"])
    [served] = _serve(client, app)
    assert "translations" not in served
    experience.refresh_from_db()
    assert experience.translations == {"pt": {"text": "Olá"}}  # kept, should pt come back
