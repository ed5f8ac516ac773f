import pytest
from django.core.exceptions import ValidationError

from segments import actions
from segments.models import AuditEntry
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def test_setting_the_languages_keeps_them_in_order_and_records_it():
    application = ApplicationFactory()
    actions.application_set_languages(application=application, languages=["pt-BR", "en"])
    application.refresh_from_db()
    assert application.languages == ["pt-BR", "en"]
    assert AuditEntry.objects.filter(application=application, action="settings.changed").exists()


def test_a_bad_tag_is_a_field_error_and_nothing_is_written():
    application = ApplicationFactory()
    with pytest.raises(ValidationError) as error:
        actions.application_set_languages(application=application, languages=["en", "not a tag"])
    assert "languages" in error.value.message_dict
    application.refresh_from_db()
    assert application.languages == ["en"]
