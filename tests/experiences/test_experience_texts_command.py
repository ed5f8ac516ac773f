import json

import pytest
from django.core.management import CommandError, call_command

from experiences import actions
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tour():
    application = ApplicationFactory(languages=["en", "pt"])
    return actions.experience_create(
        application=application,
        name="Welcome tour",
        kind="tour",
        content={"steps": [{"type": "modal", "title": "Welcome", "body": "Hello"}]},
        translations={"pt": {"steps.0.title": "Bem-vindo"}},
    )


def export(experience, language, capsys):
    call_command("experience_texts", "export", str(experience.pk), language)
    return json.loads(capsys.readouterr().out)


def test_exporting_the_default_language_gives_the_texts_to_translate(tour, capsys):
    assert export(tour, "en", capsys) == {
        "en": {"steps.0.title": "Welcome", "steps.0.body": "Hello"}
    }


def test_an_export_round_trips_exactly(tour, capsys, tmp_path):
    exported = export(tour, "pt", capsys)
    assert exported == {"pt": {"steps.0.title": "Bem-vindo", "steps.0.body": ""}}
    exported["pt"]["steps.0.body"] = "Olá"
    file = tmp_path / "pt.json"
    file.write_text(json.dumps(exported), encoding="utf-8")
    call_command("experience_texts", "import", str(tour.pk), str(file))
    assert "Imported pt" in capsys.readouterr().out
    tour.refresh_from_db()
    assert tour.translations == {"pt": {"steps.0.title": "Bem-vindo", "steps.0.body": "Olá"}}
    assert export(tour, "pt", capsys) == exported
    assert tour.versions.order_by("-number").first().via == "import"


def test_an_unknown_path_is_refused_and_nothing_is_written(tour, tmp_path):
    file = tmp_path / "pt.json"
    file.write_text(json.dumps({"pt": {"steps.3.title": "x", "steps.0.body": "Olá"}}))
    with pytest.raises(CommandError, match=r"steps\.3\.title"):
        call_command("experience_texts", "import", str(tour.pk), str(file))
    tour.refresh_from_db()
    assert tour.translations == {"pt": {"steps.0.title": "Bem-vindo"}}


def test_a_language_the_application_does_not_enable_is_refused(tour):
    with pytest.raises(CommandError, match="not enabled"):
        call_command("experience_texts", "export", str(tour.pk), "de")
