"""Languages: which texts of an experience translate, and which language a user sees.

An application enables languages (``Application.languages``, BCP 47 tags, the first the
default: the language of ``Experience.content``). An experience's ``translations`` hold, per
other language, only its translated texts keyed by field path (``text``, ``steps.0.title``,
``items.2.label``); a text without a translation falls back to the default one. Pure
functions: the actions validate with them, the serve and the commands read with them, and
static/callout.js applies the same lookup in the browser.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from .content import BANNER, CHECKLIST, TOOLTIP, TOUR

DEFAULT_LANGUAGES = ["en"]
MAX_LANGUAGES = 30
# A BCP 47 tag's shape (RFC 5646): a 2-3 letter language (or 4-8), then subtags of 1-8
# letters or digits ("pt-BR", "zh-Hant", "es-419"). Shape only: no registry lookup.
TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")

# Per kind: the translatable fields of the content, and of each step or item.
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    BANNER: ("text", "button_label"),
    TOOLTIP: ("title", "body"),
    TOUR: ("steps.N.title", "steps.N.body"),
    CHECKLIST: ("title", "items.N.label"),
}

Translations = dict[str, dict[str, str]]


def text_fields(kind: str, content: dict[str, Any]) -> list[str]:
    """The translatable paths of this content, in order; only the texts it has."""
    paths: list[str] = []
    for field in TEXT_FIELDS.get(kind, ()):
        if ".N." in field:
            listed, name = field.split(".N.")
            for index, entry in enumerate(content.get(listed) or []):
                if isinstance(entry, dict) and entry.get(name):
                    paths.append(f"{listed}.{index}.{name}")
        elif content.get(field):
            paths.append(field)
    # Grouped by entry (steps.0.title, steps.0.body, steps.1.title...) for translators.
    return sorted(paths, key=_path_order)


def _path_order(path: str) -> tuple[int, int]:
    parts = path.split(".")
    return (int(parts[1]) + 1, 0) if len(parts) == 3 else (0, 0)


def text_at(content: dict[str, Any], path: str) -> Any:
    value: Any = content
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _set(content: dict[str, Any], path: str, text: str) -> None:
    *parents, last = path.split(".")
    target: Any = content
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[last] = text


def localised(content: dict[str, Any], translations: Translations, tag: str | None) -> dict:
    """The content with ``tag``'s texts; each text it lacks stays the default one."""
    texts = (translations or {}).get(tag or "") or {}
    if not texts:
        return content
    result = copy.deepcopy(content)
    for path, text in texts.items():
        # Only a text the content has: a path left over from a removed step is ignored.
        if isinstance(text, str) and text and isinstance(text_at(result, path), str):
            _set(result, path, text)
    return result


def best_match(available: Iterable[str], wanted: Iterable[str] | str | None) -> str | None:
    """BCP 47 lookup (RFC 4647 3.4): the first wanted tag, or a shorter prefix of it, that is
    available (``pt-BR`` then ``pt``), ignoring case; None when none is."""
    by_lower = {tag.lower(): tag for tag in available}
    if isinstance(wanted, str):
        wanted = [wanted]
    for tag in wanted or []:
        parts = str(tag).strip().replace("_", "-").lower().split("-")
        while parts:
            # A single-letter subtag (an extension's singleton) never ends a prefix.
            if len(parts[-1]) > 1 or len(parts) == 1:
                candidate = "-".join(parts)
                if candidate in by_lower:
                    return by_lower[candidate]
            parts.pop()
    return None


def untranslated(
    kind: str, content: dict[str, Any], translations: Translations, tag: str
) -> list[str]:
    """The paths of the texts ``tag`` has no translation for (the editor's warnings)."""
    texts = (translations or {}).get(tag) or {}
    return [path for path in text_fields(kind, content) if not texts.get(path)]


def check_translations(
    kind: str, content: dict[str, Any], translations: Any, languages: list[str]
) -> dict[str, list[str]]:
    """Problems with ``translations``, keyed like the content's errors (``translations.pt``,
    ``translations.pt.steps.0.title``); empty when they are fine."""
    errors: dict[str, list[str]] = {}
    if not isinstance(translations, dict):
        return {"translations": ["Translations must be an object of languages."]}
    known = set(text_fields(kind, content))
    for tag, texts in translations.items():
        key = f"translations.{tag}"
        if tag not in languages[1:]:
            errors.setdefault(key, []).append(
                f'"{tag}" is not one of the application\'s other languages'
                f" ({', '.join(languages[1:]) or 'none enabled'})."
            )
            continue
        if not isinstance(texts, dict):
            errors.setdefault(key, []).append("Each language's texts must be an object.")
            continue
        for path, text in texts.items():
            if path not in known:
                errors.setdefault(f"{key}.{path}", []).append(
                    f'"{path}" is not a text of this experience.'
                )
            elif not isinstance(text, str):
                errors.setdefault(f"{key}.{path}", []).append("A translation must be text.")
    return errors


def clean_translations(translations: Translations) -> Translations:
    """Stripped texts, empty ones and empty languages dropped (a missing text falls back)."""
    cleaned: Translations = {}
    for tag, texts in (translations or {}).items():
        kept = {path: text.strip() for path, text in texts.items() if text.strip()}
        if kept:
            cleaned[tag] = kept
    return cleaned


def clean_languages(languages: Any) -> list[str]:
    """An application's languages: BCP 47 tags, the first the default, each once (ignoring
    case). ``ValueError`` with the message when they are not."""
    if not isinstance(languages, list) or not languages:
        raise ValueError("Give at least one language, the default first.")
    if len(languages) > MAX_LANGUAGES:
        raise ValueError(f"At most {MAX_LANGUAGES} languages.")
    cleaned: list[str] = []
    for tag in languages:
        tag = tag.strip() if isinstance(tag, str) else ""
        if not TAG.fullmatch(tag):
            raise ValueError(f'"{tag}" is not a BCP 47 language tag (such as en, pt-BR).')
        if tag.lower() in (t.lower() for t in cleaned):
            raise ValueError(f"{tag} is given twice.")
        cleaned.append(tag)
    return cleaned
