"""An application's theme: the colours, font, corner radius and checklist launcher side the
snippet draws its experiences with (docs/experiences.md, "Themes").

Pure: the defaults, the cleaning of what an owner sends, and WCAG 2 contrast. Colours are
``#rrggbb`` only and a font family is names and punctuation only, so what reaches the snippet
(and from there a customer's page, as CSS custom properties) is never more than a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

DEFAULT_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
# What the snippet draws with when nothing is set: its built-in look (static/callout.js).
DEFAULT: dict[str, Any] = {
    "primary": "#3451d1",  # buttons, the info banner, progress
    "on_primary": "#ffffff",  # text on the primary colour
    "background": "#ffffff",  # cards and the checklist
    "text": "#1f2330",  # text on the background
    "font": DEFAULT_FONT,
    "radius": 8,  # corners of cards and the checklist, in CSS pixels
    "launcher": "right",  # the checklist's corner: right or left, at the bottom
}
FIELDS = tuple(DEFAULT)
MAX_RADIUS = 24
MAX_FONT = 200
LAUNCHER_SIDES = ("right", "left")
# WCAG 2.x success criterion 1.4.3 (AA): 4.5:1 for normal text (the snippet's is 14-16 px).
AA_NORMAL_TEXT = 4.5
# The pairs the snippet puts text on: (text, background, what a product manager reads).
PAIRS = (
    ("on_primary", "primary", "Text on the primary colour"),
    ("text", "background", "Text on the background"),
    ("primary", "background", "Primary-coloured text (secondary buttons) on the background"),
)

_COLOUR = re.compile(r"#[0-9a-f]{6}")
# Family names, quoted or not, separated by commas: no ; { } ( ) \ / < > that could end the
# value in a style sheet.
_FONT = re.compile(r"[A-Za-z0-9 ,'\"_-]+")


def relative_luminance(colour: str) -> float:
    """WCAG 2's relative luminance of ``#rrggbb``."""

    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2's contrast ratio of two ``#rrggbb`` colours, from 1 (none) to 21."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _colour(value: Any, field: str, errors: dict[str, list[str]]) -> str | None:
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None or not _COLOUR.fullmatch(text):
        errors[field] = ["Give a colour as #rrggbb, for example #3451d1."]
        return None
    return text


def clean(data: Mapping[str, Any]) -> dict[str, Any]:
    """The whole theme from ``data`` (missing fields take the defaults), or a
    ``ValidationError`` per field: a malformed value, or a colour pair under AA contrast
    (the error on the pair's first field, naming the ratio)."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: [f"Unknown theme field {unknown[0]!r}."]})
    theme = {**DEFAULT, **data}
    errors: dict[str, list[str]] = {}
    for field in ("primary", "on_primary", "background", "text"):
        theme[field] = _colour(theme[field], field, errors)
    font = theme["font"]
    font = " ".join(font.split()) if isinstance(font, str) else ""
    if not font or len(font) > MAX_FONT or not _FONT.fullmatch(font):
        errors["font"] = [
            f"Give font family names separated by commas (up to {MAX_FONT} characters; "
            "letters, digits, spaces, quotes and hyphens)."
        ]
    theme["font"] = font
    radius = theme["radius"]
    if isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius <= MAX_RADIUS:
        errors["radius"] = [f"Give a whole number of pixels from 0 to {MAX_RADIUS}."]
    if theme["launcher"] not in LAUNCHER_SIDES:
        errors["launcher"] = ["The launcher sits at the bottom right or the bottom left."]
    for text, background, words in PAIRS:
        if theme[text] and theme[background] and text not in errors:
            ratio = contrast_ratio(theme[text], theme[background])
            if ratio < AA_NORMAL_TEXT:
                errors[text] = [
                    f"{words} has a contrast of {ratio:.2f}:1; WCAG AA asks for at least "
                    f"{AA_NORMAL_TEXT}:1. Choose a darker or lighter colour."
                ]
    if errors:
        raise ValidationError(errors)
    return theme


def theme_of(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The stored theme over the defaults (a stored theme holds only what differs)."""
    return {**DEFAULT, **{k: v for k, v in (stored or {}).items() if k in DEFAULT}}


def changes(theme: Mapping[str, Any]) -> dict[str, Any]:
    """What differs from the defaults: what is stored, and what the snippet is sent."""
    return {k: v for k, v in theme.items() if k in DEFAULT and DEFAULT[k] != v}
