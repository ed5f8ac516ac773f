"""The snippet's theme (segments/themes.py): cleaning, and WCAG 2 contrast."""

import pytest
from django.core.exceptions import ValidationError

from segments import themes


@pytest.mark.parametrize(
    ("first", "second", "ratio"),
    [
        # Worked values of WCAG 2's formula: the extremes, and the greys that sit either side
        # of AA's 4.5:1 on white (#767676 is the lightest grey that passes; WebAIM's checker).
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#ffffff", 1.0),
        ("#767676", "#ffffff", 4.54),
        ("#777777", "#ffffff", 4.48),
        ("#ffffff", "#3451d1", 6.47),  # the built-in look: white on the primary blue
    ],
)
def test_contrast_ratio_follows_wcag_2(first, second, ratio):
    assert themes.contrast_ratio(first, second) == pytest.approx(ratio, abs=0.005)
    assert themes.contrast_ratio(second, first) == pytest.approx(ratio, abs=0.005)


def test_an_empty_theme_is_the_default_and_stores_nothing():
    assert themes.clean({}) == themes.DEFAULT
    assert themes.changes(themes.clean({})) == {}


def test_a_theme_keeps_what_differs_normalised():
    theme = themes.clean(
        {"primary": " #0B5FFF ", "font": "Inter,   system-ui,\n  sans-serif", "radius": 0}
    )
    assert themes.changes(theme) == {
        "primary": "#0b5fff",
        "font": "Inter, system-ui, sans-serif",
        "radius": 0,
    }


def _errors(data):
    with pytest.raises(ValidationError) as caught:
        themes.clean(data)
    return caught.value.message_dict


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"primary": "red"}, "primary"),
        ({"primary": "#fff"}, "primary"),  # #rrggbb only
        ({"text": "#1f2330; background: url(x)"}, "text"),
        ({"background": None}, "background"),
        ({"font": "Inter; } body { display: none"}, "font"),
        ({"font": "x" * 201}, "font"),
        ({"font": ""}, "font"),
        ({"radius": -1}, "radius"),
        ({"radius": 25}, "radius"),
        ({"radius": "8"}, "radius"),
        ({"radius": True}, "radius"),
        ({"launcher": "top"}, "launcher"),
        ({"shadow": "none"}, "shadow"),
    ],
)
def test_malformed_values_are_refused_on_their_field(data, field):
    assert field in _errors(data)


def test_text_under_aa_contrast_is_refused_naming_the_ratio():
    errors = _errors({"primary": "#ffd400"})  # white text on a bright yellow: 1.43:1
    assert "contrast of 1.43:1" in errors["on_primary"][0] and "4.5:1" in errors["on_primary"][0]
    # and yellow text (a secondary button) on white
    assert "primary" in errors
    assert themes.clean({"primary": "#6b5800", "on_primary": "#ffffff"})["primary"] == "#6b5800"


def test_a_dark_theme_passes():
    dark = {
        "background": "#1b1d24",
        "text": "#f2f3f7",
        "primary": "#8ea2ff",
        "on_primary": "#10131c",
    }
    assert themes.changes(themes.clean(dark)) == dark


def test_theme_of_ignores_unknown_stored_keys():
    assert themes.theme_of({"primary": "#000000", "junk": 1})["primary"] == "#000000"
    assert "junk" not in themes.theme_of({"junk": 1})
