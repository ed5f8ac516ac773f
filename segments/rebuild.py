"""Keeping the activity summaries exact when a rule needs more of them.

A rolling-window count is exact while each user's summary keeps one more recent time per event
name than the largest count any rule compares it with (``Application.events_kept``,
segments/activity.py). A save that brings a larger count raises ``events_kept`` and rebuilds
the recent times of the event names it counts from the raw events (``TrackedEvent``), in the
save's transaction: the next serve is exact. docs/scale.md gives the cost and the limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from . import activity
from .behaviour import EventCondition
from .models import Application, EndUser, TrackedEvent

BATCH = 2000


def counts_needed(definition: Mapping[str, Any]) -> dict[str, int]:
    """{event name: the largest count a windowed rule of this (clean) definition compares it
    with}."""
    needed: dict[str, int] = {}
    stack = [definition]
    while stack:
        node = stack.pop()
        if "rules" in node:
            stack.extend(node["rules"])
        elif EventCondition.KEY in node:
            rule = EventCondition.from_json(node)
            if rule is not None and rule.valid and rule.largest_count:
                needed[rule.event] = max(needed.get(rule.event, 0), rule.largest_count)
    return needed


def events_kept_ensure(*, application: Application, definition: Mapping[str, Any]) -> list[str]:
    """Raise the application's ``events_kept`` to what ``definition`` needs, rebuilding the
    recent times of the event names concerned; the names rebuilt. Call it inside the save's
    transaction, with the application locked (``segments.actions._lock``)."""
    needed = counts_needed(definition)
    kept = max((n + 1 for n in needed.values()), default=0)
    if kept <= application.events_kept:
        return []
    kept = min(kept, activity.MAX_KEPT)
    application.events_kept = kept
    Application.objects.filter(pk=application.pk).update(events_kept=kept)
    names = sorted(needed)
    recent_rebuild(application=application, names=names, kept=kept)
    return names


def recent_rebuild(*, application: Application, names: Iterable[str], kept: int) -> int:
    """The latest ``kept`` times of each of ``names`` in every user's summary, from the raw
    events; the number of users rewritten. Times older than the raw events' retention, which the
    summary may still hold, stay behind the ones rebuilt.

    Users are taken in batches: each batch's rows are locked first, then its raw events read,
    so that a /track committing meanwhile either waits or is already in what is read."""
    names = list(names)
    raw = TrackedEvent.objects.filter(application=application, name__in=names)
    user_ids = sorted(set(raw.order_by().values_list("end_user_id", flat=True).distinct()))
    cutoff = (timezone.now() - timedelta(days=settings.CALLOUT_EVENT_RETENTION_DAYS)).timestamp()
    rewritten = 0
    for start in range(0, len(user_ids), BATCH):
        batch = user_ids[start : start + BATCH]
        users = list(
            EndUser.objects.select_for_update(no_key=True)
            .filter(pk__in=batch)
            .order_by("pk")
            .only("pk", "activity")
        )
        latest = (
            raw.filter(end_user_id__in=batch)
            .annotate(
                rank=Window(
                    RowNumber(),
                    partition_by=[F("end_user_id"), F("name")],
                    order_by=[F("timestamp").desc(), F("pk").desc()],
                )
            )
            .filter(rank__lte=kept)
            .values_list("end_user_id", "name", "timestamp")
        )
        times: dict[int, dict[str, list[float]]] = {}
        for user_id, name, when in latest:
            times.setdefault(user_id, {}).setdefault(name, []).append(when.timestamp())
        for user in users:
            summary = user.activity if isinstance(user.activity, dict) else {}
            for name, found_times in times.get(user.pk, {}).items():
                found = activity.entry(summary, name)
                if found is None:
                    continue  # the summary never counted it: nothing to make exact
                found_times.sort(reverse=True)
                oldest = found_times[-1]
                older = [t for t in found[activity.RECENT] if t < oldest and t < cutoff]
                found[activity.RECENT] = (found_times + older)[:kept]
            user.activity = summary
        EndUser.objects.bulk_update(users, ["activity"], batch_size=BATCH)
        rewritten += len(users)
    return rewritten
