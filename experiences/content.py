"""What an experience may contain: the content of each kind and the URL patterns.

``docs/experiences.md`` is the format; the editor writes it, the admin and the API go through
it, and the snippet renders it. ``clean_content`` returns the canonical form (text stripped,
empty optional fields dropped, defaults filled in) or raises ``ValidationError`` keyed by field:
``content.text``, ``content.steps.1.selector``, ``content.items.0.event`` (indexes are 0-based
in keys and 1-based in the messages, as for segment rules).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ValidationError

from .pages import PatternError, compile_pattern

BANNER, TOOLTIP, TOUR, CHECKLIST = "banner", "tooltip", "tour", "checklist"
KINDS = (TOUR, CHECKLIST, TOOLTIP, BANNER)

POSITIONS = ("top", "bottom")
STYLES = ("info", "success", "warning")
PLACEMENTS = ("top", "bottom", "left", "right")
STEP_TYPES = ("modal", "tooltip")
COMPLETE_ON = ("click", "event")

MAX_STEPS = 20
MAX_ITEMS = 20
MAX_PATTERNS = 50
# Length limits per text field.
LIMITS = {
    "text": 300,
    "title": 120,
    "body": 1000,
    "label": 120,
    "button_label": 40,
    "selector": 500,
    "url": 2000,
    "button_url": 2000,
    "event": 100,
    "id": 64,
}

ITEM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
EVENT_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,100}")

Errors = dict[str, list[str]]


class _Fields:
    """Reads one JSON object's fields, collecting every problem under ``prefix``."""

    def __init__(
        self, data: dict[str, Any], prefix: str, where: str, errors: Errors, allowed: Iterable[str]
    ):
        self.prefix, self.where, self.errors = prefix, where, errors
        self.data = data
        for key in self.data:
            if key not in allowed:
                self.error(key, f'"{key}" is not a field here.')

    def key(self, field: str) -> str:
        return f"{self.prefix}.{field}" if field else self.prefix

    def error(self, field: str, message: str) -> None:
        self.errors.setdefault(self.key(field), []).append(f"{self.where}{message}")

    def text(self, field: str, *, required: str = "") -> str:
        """Stripped text; "" when absent. ``required`` is the message when it is missing."""
        value = self.data.get(field)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.error(field, f"{field} must be text.")
            return ""
        value = value.strip()
        if not value and required:
            self.error(field, required)
        limit = LIMITS.get(field)
        if limit and len(value) > limit:
            self.error(field, f"keep {field.replace('_', ' ')} under {limit} characters.")
        return value

    def choice(self, field: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.data.get(field) or default
        if value not in choices:
            self.error(field, f"{field} must be one of {', '.join(choices)}.")
            return default or ""
        return value

    def url(self, field: str) -> str:
        value = self.text(field)
        if value and not _safe_url(value):
            self.error(field, "a link is a path (/billing) or an http(s):// address.")
        return value


def _safe_url(url: str) -> bool:
    # The snippet navigates to it: no javascript: or data: links.
    if any(c.isspace() for c in url):
        return False
    return (url.startswith("/") and not url.startswith("//")) or bool(re.match(r"https?://", url))


def _prune(data: dict[str, Any]) -> dict[str, Any]:
    """Optional fields left empty are omitted from the stored content."""
    return {key: value for key, value in data.items() if value != ""}


def _banner(f: _Fields) -> dict[str, Any]:
    text = f.text("text", required="give the banner some text.")
    label, url = f.text("button_label"), f.url("button_url")
    if label and not url:
        f.error("button_url", "a button needs a link.")
    if url and not label:
        f.error("button_label", "a button needs a label.")
    return _prune(
        {
            "text": text,
            "button_label": label,
            "button_url": url,
            "position": f.choice("position", POSITIONS, "top"),
            "style": f.choice("style", STYLES, "info"),
        }
    )


def _tooltip_fields(f: _Fields, what: str) -> dict[str, Any]:
    selector = f.text("selector", required=f"give the {what} a CSS selector (#save, .nav a).")
    if selector and ("\n" in selector or "<" in selector or "{" in selector):
        f.error("selector", "that is not a CSS selector (#save, .nav a).")
    title, body = f.text("title"), f.text("body")
    if not title and not body:
        f.error("body", f"give the {what} a title or a body.")
    return {
        "selector": selector,
        "title": title,
        "body": body,
        "placement": f.choice("placement", PLACEMENTS, "bottom"),
    }


def _tooltip(f: _Fields) -> dict[str, Any]:
    return _prune(_tooltip_fields(f, "tooltip"))


STEP_FIELDS = ("type", "selector", "title", "body", "placement")
ITEM_FIELDS = ("id", "label", "url", "complete_on", "event")


def _step(f: _Fields) -> dict[str, Any]:
    kind = f.choice("type", STEP_TYPES)
    if kind == "tooltip":
        return _prune({"type": kind, **_tooltip_fields(f, "step")})
    # A modal is centred: a selector or placement left over from a tooltip step is dropped.
    title, body = f.text("title"), f.text("body")
    if not title and not body:
        f.error("body", "give the step a title or a body.")
    return _prune({"type": kind, "title": title, "body": body})


def _listed(
    f: _Fields,
    field: str,
    noun: str,
    limit: int,
    allowed: tuple[str, ...],
    clean: Callable[[_Fields], dict[str, Any]],
) -> list[dict[str, Any]]:
    entries = f.data.get(field)
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        f.error(field, f"{field} must be a list.")
        return []
    if not entries:
        f.error(field, f"add at least one {noun}.")
    if len(entries) > limit:
        f.error(field, f"keep it to {limit} {noun}s.")
    cleaned = []
    for index, entry in enumerate(entries):
        where = f"{noun.capitalize()} {index + 1}: "
        if not isinstance(entry, dict):
            f.errors.setdefault(f.key(f"{field}.{index}"), []).append(f"{where}must be an object.")
            continue
        cleaned.append(clean(_Fields(entry, f.key(f"{field}.{index}"), where, f.errors, allowed)))
    return cleaned


def _tour(f: _Fields) -> dict[str, Any]:
    return {"steps": _listed(f, "steps", "step", MAX_STEPS, STEP_FIELDS, _step)}


def _item(f: _Fields) -> dict[str, Any]:
    item_id = f.text("id", required="the item needs an id.")
    if item_id and not ITEM_ID.fullmatch(item_id):
        f.error("id", "an id is 1-64 letters, digits, - or _.")
    label = f.text("label", required="give the item a label.")
    url = f.url("url")
    complete_on = f.choice("complete_on", COMPLETE_ON, "click")
    event = ""
    if complete_on == "event":
        event = f.text("event", required="name the event that completes it.")
        if event and not EVENT_NAME.fullmatch(event):
            f.error("event", "an event name is letters, digits, _ . : or - (project_created).")
    return _prune(
        {"id": item_id, "label": label, "url": url, "complete_on": complete_on, "event": event}
    )


def _checklist(f: _Fields) -> dict[str, Any]:
    title = f.text("title", required="give the checklist a title.")
    items = _listed(f, "items", "item", MAX_ITEMS, ITEM_FIELDS, _item)
    seen: set[str] = set()
    for index, item in enumerate(items):
        item_id = item.get("id")
        if item_id and item_id in seen:
            f.errors.setdefault(f"content.items.{index}.id", []).append(
                f'Item {index + 1}: the id "{item_id}" is already used by another item.'
            )
        seen.add(item_id or "")
    return {"title": title, "items": items}


KIND_FIELDS: dict[str, tuple[tuple[str, ...], Callable[[_Fields], dict[str, Any]]]] = {
    BANNER: (("text", "button_label", "button_url", "position", "style"), _banner),
    TOOLTIP: (("selector", "title", "body", "placement"), _tooltip),
    TOUR: (("steps",), _tour),
    CHECKLIST: (("title", "items"), _checklist),
}


def clean_content(kind: str, content: Any) -> dict[str, Any]:
    """The content of one ``kind`` in canonical form; raises ValidationError keyed by field."""
    if kind not in KIND_FIELDS:
        raise ValidationError({"kind": [f"Kind must be one of {', '.join(KINDS)}."]})
    if not isinstance(content, dict):
        raise ValidationError({"content": ["Content must be a JSON object."]})
    allowed, clean = KIND_FIELDS[kind]
    errors: Errors = {}
    cleaned = clean(_Fields(content, "content", "", errors, allowed))
    if errors:
        raise ValidationError(
            {key: [_sentence(m) for m in messages] for key, messages in errors.items()}
        )
    return cleaned


def _sentence(message: str) -> str:
    """Capitalise the first letter of a message ("Step 2: give ..." stays as it is)."""
    return message[:1].upper() + message[1:]


# --- URL patterns -------------------------------------------------------------------------


# The pattern language is the JSON API's (docs/api.md, "URL patterns"; the matcher is
# ``experiences/pages.py``). This is its syntax check, with messages for the editor;
# tests/experiences/test_content.py checks that both accept exactly the same patterns.
def check_url_pattern(pattern: str) -> str | None:
    """Why a pattern is invalid, in words; None when it is fine. The serve path's own compiler
    decides, so the editor accepts exactly the patterns that can be served."""
    try:
        compile_pattern(pattern.strip() if isinstance(pattern, str) else pattern)
    except PatternError as error:
        return str(error)
    return None


def clean_url_patterns(patterns: Any, field: str) -> list[str]:
    """A list of patterns (text lines are split), stripped, de-duplicated and checked."""
    if isinstance(patterns, str):
        patterns = patterns.splitlines()
    if not isinstance(patterns, list | tuple):
        raise ValidationError({field: ["URL patterns must be a list."]})
    errors: list[str] = []
    cleaned: list[str] = []
    for raw in patterns:
        if not isinstance(raw, str):
            errors.append(f"{raw!r}: a pattern is text.")
            continue
        pattern = raw.strip()
        if not pattern or pattern in cleaned:
            continue
        problem = check_url_pattern(pattern)
        if problem:
            errors.append(f"{pattern}: {problem}")
        cleaned.append(pattern)
    if len(cleaned) > MAX_PATTERNS:
        errors.append(f"Keep it to {MAX_PATTERNS} patterns.")
    if errors:
        raise ValidationError({field: errors})
    return cleaned
