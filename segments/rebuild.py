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
    summary may still hold, stay behind the ones rebuilt."""
    names = list(names)
    latest = (
        TrackedEvent.objects.filter(application=application, name__in=names)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("end_user_id"), F("name")],
                order_by=[F("timestamp").desc(), F("pk").desc()],
            )
        )
        .filter(rank__lte=kept)
        .order_by("end_user_id")
        .values_list("end_user_id", "name", "timestamp")
    )
    cutoff = (timezone.now() - timedelta(days=settings.CALLOUT_EVENT_RETENTION_DAYS)).timestamp()
    rewritten = 0
    pending: dict[int, dict[str, list[float]]] = {}

    def flush() -> None:
        nonlocal rewritten
        # Locked: a /track for one of these users waits, and cannot be lost by this write.
        users = list(
            EndUser.objects.select_for_update().filter(pk__in=pending).only("pk", "activity")
        )
        for user in users:
            summary = user.activity if isinstance(user.activity, dict) else {}
            for name, times in pending[user.pk].items():
                found = activity.entry(summary, name)
                if found is None:
                    continue  # the summary never counted it: nothing to make exact
                times.sort(reverse=True)
                older = [t for t in found[activity.RECENT] if t < min(times) and t < cutoff]
                found[activity.RECENT] = (times + older)[:kept]
            user.activity = summary
        EndUser.objects.bulk_update(users, ["activity"], batch_size=BATCH)
        rewritten += len(users)
        pending.clear()

    for user_id, name, when in latest.iterator(chunk_size=BATCH):
        if user_id not in pending and len(pending) >= BATCH:
            flush()
        pending.setdefault(user_id, {}).setdefault(name, []).append(when.timestamp())
    if pending:
        flush()
    return rewritten
