import pytest
from django.core.exceptions import ValidationError

from experiences import actions
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def application():
    return ApplicationFactory(languages=["en", "pt", "fr"])


def create(application, **overrides):
    fields = {
        "application": application,
        "name": "Upgrade banner",
        "kind": "banner",
        "content": {"text": "Upgrade now"},
    }
    return actions.experience_create(**(fields | overrides))


def test_an_application_writes_in_english_by_default():
    assert ApplicationFactory().languages == ["en"]


def test_create__keeps_the_translations_stripped(application):
    experience = create(application, translations={"pt": {"text": " Atualize já "}})
    experience.refresh_from_db()
    assert experience.translations == {"pt": {"text": "Atualize já"}}


def test_create__refuses_a_path_the_content_does_not_have_and_writes_nothing(application):
    with pytest.raises(ValidationError) as error:
        create(application, translations={"pt": {"button_label": "Ir"}})
    assert "translations.pt.button_label" in error.value.message_dict
    assert not application.experiences.exists()


def test_create__refuses_a_language_the_application_does_not_enable(application):
    with pytest.raises(ValidationError) as error:
        create(application, translations={"de": {"text": "Jetzt"}})
    assert "translations.de" in error.value.message_dict


def test_create__refuses_a_translation_that_is_not_text(application):
    with pytest.raises(ValidationError) as error:
        create(application, translations={"pt": {"text": ["x"]}})
    assert "translations.pt.text" in error.value.message_dict


def test_update__checks_translations_against_the_stored_content(application):
    experience = create(application)
    actions.experience_update(experience=experience, translations={"fr": {"text": "Vite"}})
    experience.refresh_from_db()
    assert experience.translations == {"fr": {"text": "Vite"}}
    with pytest.raises(ValidationError):
        actions.experience_update(experience=experience, translations={"fr": {"title": "x"}})


def test_update__records_a_version_with_the_translations(application):
    experience = create(application)
    actions.experience_update(experience=experience, translations={"pt": {"text": "Já"}})
    latest = experience.versions.order_by("-number").first()
    assert latest.definition["translations"] == {"pt": {"text": "Já"}}


def test_update_without_translations_keeps_them(application):
    experience = create(application, translations={"pt": {"text": "Já"}})
    actions.experience_update(experience=experience, name="Renamed")
    experience.refresh_from_db()
    assert experience.translations == {"pt": {"text": "Já"}}
