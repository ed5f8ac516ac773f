"""An experience's versions: one for every save (create, edit, publish, unpublish), whatever
the path, recorded by ``experiences/actions.py`` in the save's transaction. As
``segments/versions.py``, for experiences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Max

from callout import actor
from segments.versions import StaleVersion

from .models import Experience, ExperienceVersion

__all__ = [
    "StaleVersion",
    "changes_between",
    "check_current",
    "conflict",
    "latest_number",
    "record",
    "restore_fields",
]


# Goals and holdouts (docs/experiences.md): part of the definition since versions began.
MEASURE_FIELDS = (
    "goal_kind",
    "goal_event",
    "goal_url",
    "conversion_window_days",
    "holdout_percent",
)


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def snapshot(experience: Experience) -> dict[str, Any]:
    """The whole definition a version keeps, as the management API shows it."""
    return {
        "name": experience.name,
        "kind": experience.kind,
        "status": experience.status,
        "content": experience.content,
        # Only when there are some, so versions from before languages read the same.
        **({"translations": experience.translations} if experience.translations else {}),
        "segments": sorted(experience.segments.values_list("pk", flat=True)),
        "url_include": list(experience.url_include or []),
        "url_exclude": list(experience.url_exclude or []),
        "frequency": experience.frequency,
        "priority": experience.priority,
        "starts_at": _moment(experience.starts_at),
        "ends_at": _moment(experience.ends_at),
        **{field: getattr(experience, field) for field in MEASURE_FIELDS},
    }


def _lock(experience: Experience) -> None:
    # Saves of one experience take turns from here to commit: the check and the number hold.
    Experience.objects.select_for_update().filter(pk=experience.pk).exists()


def latest_number(experience: Experience) -> int:
    return experience.versions.aggregate(n=Max("number"))["n"] or 0


def check_current(experience: Experience, expected: int | None) -> None:
    """Refuse a save made on version ``expected`` when a newer one exists (None: no check)."""
    if expected is None:
        return
    _lock(experience)
    latest = latest_number(experience)
    if latest > expected:
        raise StaleVersion(expected, latest)


def record(experience: Experience) -> ExperienceVersion:
    """A new version of the experience as saved, by the current actor."""
    _lock(experience)
    who = actor.current()
    return ExperienceVersion.objects.create(
        experience=experience,
        number=latest_number(experience) + 1,
        via=who.via,
        actor_name=who.name,
        user=who.person,
        definition=snapshot(experience),
    )


def restore_fields(version: ExperienceVersion) -> dict[str, Any]:
    """``experience_update``'s arguments that put ``version`` back. Not the status: whether
    it is served stays a decision of its own (Publish / Unpublish)."""
    kept = version.definition

    def moment(field: str) -> datetime | None:
        value = kept.get(field)
        return None if value is None else datetime.fromisoformat(value)

    return {
        "name": kept["name"],
        "content": kept["content"],
        "translations": kept.get("translations", {}),
        "segments": kept["segments"],
        "url_include": kept["url_include"],
        "url_exclude": kept["url_exclude"],
        "frequency": kept["frequency"],
        "priority": kept["priority"],
        "starts_at": moment("starts_at"),
        "ends_at": moment("ends_at"),
        # A version from before goals and holdouts keeps the current ones.
        **{field: kept[field] for field in MEASURE_FIELDS if field in kept},
    }


def segment_names(experience: Experience) -> dict[int, str]:
    return dict(experience.application.segments.values_list("pk", "name"))


def changes_between(experience: Experience, old: int, new: int) -> list[str]:
    """What changed from version ``old`` to version ``new``, in words."""
    from .diff import diff

    found = {v.number: v for v in experience.versions.filter(number__in=[old, new])}
    if new not in found:
        return []
    if old not in found:
        return [f"Saved as version {new} (the version you opened was not recorded)."]
    return diff(found[old].definition, found[new].definition, names=segment_names(experience))


def conflict(experience: Experience, stale: StaleVersion) -> dict[str, Any]:
    """What the editor shows when its save was refused as stale (see segments/versions.py)."""
    latest = experience.versions.filter(number=stale.latest).first()
    return {
        "expected": stale.expected,
        "latest": stale.latest,
        "who": latest.actor_name if latest is not None else "Someone",
        "changes": changes_between(experience, stale.expected, stale.latest),
    }
