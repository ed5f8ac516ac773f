"""A segment's versions: one for every save, whatever the path (Engage, the admin, the
management API, an import or a command), recorded by the actions in the save's transaction.

``record`` is the one call ``segments/actions.py`` makes; ``snapshot`` is what a version keeps
and ``restore_fields`` what ``segment_update`` takes to put it back.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Max

from callout import actor

from . import tree
from .models import Segment, SegmentVersion


class StaleVersion(ValidationError):
    """The save was made on ``expected``, but ``latest`` was saved since (an edit conflict):
    nothing was written."""

    def __init__(self, expected: int, latest: int):
        super().__init__(
            f"This was changed since you opened it (version {expected}; now {latest}).",
            code="stale",
        )
        self.expected, self.latest = expected, latest


def snapshot(segment: Segment) -> dict[str, Any]:
    """The whole definition a version keeps, as the management API shows it."""
    # Read from the rows just written, and cached nowhere: the caller's object must not keep
    # a tree that a later save elsewhere makes stale.
    stored = Segment.tree.func(segment)  # type: ignore[attr-defined]
    return {
        "name": segment.name,
        "description": segment.description,
        "definition": tree.as_json(stored),
    }


def latest_number(segment: Segment) -> int:
    """The number of the segment's latest version (0: none yet)."""
    return segment.versions.aggregate(n=Max("number"))["n"] or 0


def check_current(segment: Segment, expected: int | None) -> None:
    """Refuse a save made on version ``expected`` when a newer one exists (None: no check).
    Call it under the lock the save takes, so two saves of one version cannot both pass."""
    if expected is None:
        return
    latest = latest_number(segment)
    if latest > expected:
        raise StaleVersion(expected, latest)


def record(segment: Segment) -> SegmentVersion:
    """A new version of the segment as saved, by the current actor. Inside the save's
    transaction, after the application's row is locked (``actions._lock``): saves of one
    segment take turns, so max + 1 is free (the unique constraint holds it regardless)."""
    who = actor.current()
    return SegmentVersion.objects.create(
        segment=segment,
        number=latest_number(segment) + 1,
        via=who.via,
        actor_name=who.name,
        user=who.person,
        definition=snapshot(segment),
    )


def restore_fields(version: SegmentVersion) -> dict[str, Any]:
    """``segment_update``'s arguments that put ``version`` back."""
    kept = version.definition
    return {
        "name": kept.get("name", ""),
        "description": kept.get("description", ""),
        "definition": kept.get("definition", {"match": "all", "rules": []}),
    }


def names_of(application: Any) -> dict[Any, str]:
    """What the words of a rule name: segments by id, experiences by ("experience", id)."""
    names: dict[Any, str] = dict(application.segments.values_list("pk", "name"))
    for pk, name in application.experiences.values_list("pk", "name"):
        names[("experience", pk)] = name
    return names


def trait_types_of(application: Any) -> dict[str, dict[str, str]]:
    """``diff``'s ``trait_types`` and ``company_types`` for the application."""
    definitions = application.trait_definitions
    return {
        "trait_types": dict(definitions.users().values_list("key", "type")),
        "company_types": dict(definitions.companies().values_list("key", "type")),
    }


def changes_between(segment: Segment, old: int, new: int) -> list[str]:
    """What changed from version ``old`` to version ``new`` of the segment, in words."""
    from .diff import diff

    found = {v.number: v for v in segment.versions.filter(number__in=[old, new])}
    if new not in found:
        return []
    if old not in found:
        return [f"Saved as version {new} (the version you opened was not recorded)."]
    application = segment.application
    return diff(
        found[old].definition,
        found[new].definition,
        names=names_of(application),
        **trait_types_of(application),
    )


def conflict(segment: Segment, stale: StaleVersion) -> dict[str, Any]:
    """What an edit form shows when its save was refused as stale: who saved since, and what
    changed between the version the form was opened at and the latest."""
    latest = segment.versions.filter(number=stale.latest).first()
    return {
        "expected": stale.expected,
        "latest": stale.latest,
        "who": latest.actor_name if latest is not None else "Someone",
        "changes": changes_between(segment, stale.expected, stale.latest),
    }


def compared(versions: Any, params: Any) -> tuple[list[Any], Any, Any]:
    """A History page's versions, newest first, without their definitions (a long history
    stays light; the two compared read theirs when used), and the two it compares: ``new``
    and ``old`` from the query (version numbers), by default the latest against the one
    before. Segments' and experiences' alike (``versions``: the object's related manager)."""
    history = list(versions.select_related("user").defer("definition"))
    by_number = {version.number: version for version in history}

    def number(name: str) -> int:
        value = params.get(name)
        return int(value) if isinstance(value, str) and value.isdigit() else 0

    new = by_number.get(number("new")) or (history[0] if history else None)
    old = by_number.get(number("old"))
    if old is None and new is not None:
        old = by_number.get(new.number - 1)
    return history, old, new
