"""What changed between two versions of an experience, in words a product manager reads::

    Name: "Welcome" → "Welcome tour"
    Segment "Free admins" added to the audience
    URL pattern changed in "Show on": /dashboard → /home
    Step 2 title: "Invite" → "Invite your team"

Pure: two version definitions (``experiences/versions.py``'s snapshot) in, lines out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any

FREQUENCY = {
    "once": "Once (until dismissed or completed)",
    "until_completed": "Until completed",
    "every_time": "Every time",
}
PATTERNS = {"url_include": "Show on", "url_exclude": "Never on"}
ROWS = {"steps": "Step", "items": "Item"}


def diff(
    old: Mapping[str, Any], new: Mapping[str, Any], *, names: Mapping[int, str] | None = None
) -> list[str]:
    """The changes from ``old`` to ``new``, one line each (none: the same). ``names``: the
    segments' names by id (a segment not named is said as deleted)."""
    lines: list[str] = []
    if old.get("name") != new.get("name"):
        lines.append(f'Name: "{old.get("name")}" → "{new.get("name")}"')
    if old.get("status") != new.get("status"):
        lines.append(f"Status: {old.get('status')} → {new.get('status')}")
    lines += _segments(old.get("segments") or [], new.get("segments") or [], names or {})
    for field, label in PATTERNS.items():
        lines += _patterns(old.get(field) or [], new.get(field) or [], label)
    if old.get("frequency") != new.get("frequency"):
        before, after = old.get("frequency"), new.get("frequency")
        lines.append(f"How often: {FREQUENCY.get(before, before)} → {FREQUENCY.get(after, after)}")
    if old.get("priority") != new.get("priority"):
        lines.append(f"Priority: {old.get('priority')} → {new.get('priority')}")
    for field, label in (("starts_at", "Start"), ("ends_at", "End")):
        if old.get(field) != new.get(field):
            lines.append(f"{label}: {_moment(old.get(field))} → {_moment(new.get(field))}")
    for field, label in MEASURES.items():
        if field in old and field in new and old[field] != new[field]:
            lines.append(f"{label}: {_measure(old[field])} → {_measure(new[field])}")
    lines += _content(old.get("content") or {}, new.get("content") or {})
    lines += _translations(old.get("translations") or {}, new.get("translations") or {})
    return lines


def _translations(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """One line per language whose texts changed (docs/experiences.md, "Languages")."""
    lines = []
    for tag in sorted(set(old) | set(new)):
        before, after = old.get(tag) or {}, new.get(tag) or {}
        if before == after:
            continue
        changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        lines.append(f"Translation ({tag}): {', '.join(changed)}")
    return lines


# Goals and holdouts, in the editor's words (a version from before them has none: no line).
MEASURES = {
    "goal_kind": "Goal",
    "goal_event": "Goal event",
    "goal_url": "Goal page",
    "conversion_window_days": "Conversion window (days)",
    "holdout_percent": "Holdout (%)",
}


def _measure(value: Any) -> str:
    return "none" if value in (None, "") else str(value)


def _moment(value: Any) -> str:
    if not value:
        return "none"
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return str(value)


def _segment(pk: Any, names: Mapping[int, str]) -> str:
    name = names.get(pk)
    return f'Segment "{name}"' if name else f"A deleted segment (id {pk})"


def _segments(old: list[Any], new: list[Any], names: Mapping[int, str]) -> list[str]:
    lines = [f"{_segment(pk, names)} added to the audience" for pk in new if pk not in old]
    lines += [f"{_segment(pk, names)} removed from the audience" for pk in old if pk not in new]
    return lines


def _patterns(old: list[str], new: list[str], label: str) -> list[str]:
    lines = []
    matcher = SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(paired):
            lines.append(f'URL pattern changed in "{label}": {old[i1 + k]} → {new[j1 + k]}')
        lines += [f'URL pattern removed from "{label}": {p}' for p in old[i1 + paired : i2]]
        lines += [f'URL pattern added to "{label}": {p}' for p in new[j1 + paired : j2]]
    return lines


def _said(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    return f'"{value}"' if isinstance(value, str) else json.dumps(value)


def _field(key: str) -> str:
    return key.replace("_", " ")


def _content(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    lines = []
    for key in [*old, *(k for k in new if k not in old)]:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key in ROWS:
            lines += _rows(before or [], after or [], ROWS[key])
        else:
            lines.append(f"{_field(key).capitalize()}: {_said(before)} → {_said(after)}")
    return lines


def _row_name(row: Any) -> str:
    if isinstance(row, Mapping):
        return _said(row.get("title") or row.get("label") or "")
    return _said(row)


def _rows(old: list[Any], new: list[Any], noun: str) -> list[str]:
    """Steps or items, paired by their content, so a step inserted reads as one added."""
    keys = (
        [json.dumps(r, sort_keys=True) for r in old],
        [json.dumps(r, sort_keys=True) for r in new],
    )
    lines = []
    matcher = SequenceMatcher(a=keys[0], b=keys[1], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(paired):
            a, b = old[i1 + k], new[j1 + k]
            if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
                lines.append(f"{noun} {j1 + k + 1}: {_said(a)} → {_said(b)}")
                continue
            for field in [*a, *(f for f in b if f not in a)]:
                if a.get(field) != b.get(field):
                    lines.append(
                        f"{noun} {j1 + k + 1} {_field(field)}: "
                        f"{_said(a.get(field))} → {_said(b.get(field))}"
                    )
        for i in range(i1 + paired, i2):
            lines.append(f"{noun} {i + 1} removed: {_row_name(old[i])}")
        for j in range(j1 + paired, j2):
            lines.append(f"{noun} {j + 1} added: {_row_name(new[j])}")
    return lines


def outline(version: Mapping[str, Any], names: Mapping[int, str] | None = None) -> list[str]:
    """A version in lines, for the History's side-by-side view."""
    names = names or {}
    segments = [_segment(pk, names).removeprefix("Segment ") for pk in version.get("segments", [])]
    lines = [
        f'Name: "{version.get("name")}"',
        f"Status: {version.get('status')}",
        f"Audience: {', '.join(segments) if segments else 'nobody'}",
    ]
    for field, label in PATTERNS.items():
        patterns = version.get(field) or []
        empty = "(every page)" if field == "url_include" else "(none)"
        lines.append(f"{label}: {', '.join(patterns) if patterns else empty}")
    frequency = version.get("frequency")
    lines.append(f"How often: {FREQUENCY.get(frequency, frequency)}")
    lines.append(f"Priority: {version.get('priority')}")
    lines.append(
        f"Start: {_moment(version.get('starts_at'))}; end: {_moment(version.get('ends_at'))}"
    )
    lines += [f"{label}: {_measure(version[f])}" for f, label in MEASURES.items() if f in version]
    content = version.get("content") or {}
    for key, value in content.items():
        if key in ROWS and isinstance(value, list):
            for number, row in enumerate(value, start=1):
                lines.append(f"{ROWS[key]} {number}: {_row_name(row)}")
        else:
            lines.append(f"{_field(key).capitalize()}: {_said(value)}")
    return lines
