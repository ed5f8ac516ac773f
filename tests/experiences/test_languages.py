import pytest

from experiences.languages import (
    best_match,
    check_translations,
    clean_languages,
    clean_translations,
    localised,
    text_fields,
    untranslated,
)

TOUR_CONTENT = {
    "steps": [
        {"type": "modal", "title": "Welcome", "body": "Hello"},
        {"type": "tooltip", "selector": "#x", "title": "Here"},
    ]
}


def test_a_banner_translates_its_text_and_button_label():
    content = {"text": "Hi", "button_label": "Go", "button_url": "/x"}
    assert text_fields("banner", content) == ["text", "button_label"]


def test_only_the_texts_the_content_has_are_listed():
    assert text_fields("banner", {"text": "Hi"}) == ["text"]


def test_tour_paths_are_grouped_by_step():
    assert text_fields("tour", TOUR_CONTENT) == ["steps.0.title", "steps.0.body", "steps.1.title"]


def test_checklist_paths_are_its_title_then_each_item_label():
    content = {"title": "Start", "items": [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}]}
    assert text_fields("checklist", content) == ["title", "items.0.label", "items.1.label"]


def test_localised_content_takes_the_language_texts_and_falls_back_per_field():
    translations = {"pt": {"steps.0.title": "Bem-vindo"}}
    result = localised(TOUR_CONTENT, translations, "pt")
    assert result["steps"][0]["title"] == "Bem-vindo"
    assert result["steps"][0]["body"] == "Hello"
    assert TOUR_CONTENT["steps"][0]["title"] == "Welcome"  # not changed in place


def test_localised_content_ignores_paths_the_content_no_longer_has():
    result = localised(TOUR_CONTENT, {"pt": {"steps.5.title": "x"}}, "pt")
    assert result == TOUR_CONTENT


def test_the_default_language_or_none_gives_the_content_unchanged():
    assert localised(TOUR_CONTENT, {"pt": {"steps.0.title": "x"}}, None) is TOUR_CONTENT


def test_best_match_falls_back_from_region_to_language_ignoring_case():
    assert best_match(["en", "pt"], "pt-BR") == "pt"
    assert best_match(["en", "pt-BR"], ["PT-br"]) == "pt-BR"
    assert best_match(["en", "fr"], ["de-AT", "fr-CA"]) == "fr"


def test_best_match_is_none_when_nothing_matches():
    assert best_match(["en", "pt"], ["de"]) is None
    assert best_match(["en"], None) is None


def test_best_match_skips_a_single_letter_subtag():
    assert best_match(["zh-Hant"], "zh-Hant-x-private") == "zh-Hant"


def test_untranslated_lists_the_texts_a_language_lacks():
    assert untranslated("tour", TOUR_CONTENT, {"pt": {"steps.0.title": "x"}}, "pt") == [
        "steps.0.body",
        "steps.1.title",
    ]


def test_translations_must_use_known_paths_strings_and_other_enabled_languages():
    errors = check_translations(
        "tour",
        TOUR_CONTENT,
        {"pt": {"steps.9.title": "x", "steps.0.body": 3}, "de": {}},
        ["en", "pt"],
    )
    assert set(errors) == {
        "translations.pt.steps.9.title",
        "translations.pt.steps.0.body",
        "translations.de",
    }


def test_the_default_language_is_not_a_translation():
    assert "translations.en" in check_translations("tour", TOUR_CONTENT, {"en": {}}, ["en", "pt"])


def test_valid_translations_have_no_errors():
    assert (
        check_translations("tour", TOUR_CONTENT, {"pt": {"steps.0.title": "x"}}, ["en", "pt"]) == {}
    )


def test_clean_translations_strips_and_drops_empty_texts_and_languages():
    assert clean_translations({"pt": {"title": " Oi ", "body": " "}, "fr": {"title": ""}}) == {
        "pt": {"title": "Oi"}
    }


def test_languages_are_bcp47_tags_each_once():
    assert clean_languages([" en ", "pt-BR", "zh-Hant", "es-419"]) == [
        "en",
        "pt-BR",
        "zh-Hant",
        "es-419",
    ]
    for bad in ([], "en", ["en", "EN"], ["english!"], ["e"], [3]):
        with pytest.raises(ValueError):
            clean_languages(bad)
