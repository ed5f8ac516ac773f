"""Reads about experiences: the audience (users of any of its segments), list counts, and a
user's history as it stood at a given time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from segments import tree
from segments.activity import EXPERIENCE_STATES, summarise
from segments.models import (
    Application,
    EndUser,
    Segment,
    TrackedEvent,
    tree_prefetches,
    trees_of,
)
from segments.selectors import AnyOf, count_users, group_q

from .models import Event, Experience


def audience_q(segments: Iterable[Segment], application_id: int, now: Any = None) -> Q:
    """Segments OR'd, each its tree; no segment matches nobody (not everyone). References and
    company counts read the application's other segments."""
    group = AnyOf.segments(segments)
    trees = trees_of(application_id) if any(tree.references_of(g) for g in group.groups) else {}
    return group_q(group, now, trees.get, application_id)


def audience(experience: Experience, now: Any = None) -> QuerySet[EndUser]:
    """The users it reaches: one query over the end users."""
    segments = experience.segments.prefetch_related(*tree_prefetches())
    return EndUser.objects.filter(application_id=experience.application_id).filter(
        audience_q(segments, experience.application_id, now)
    )


def reach_by_experience(experiences: Sequence[Experience], now: Any = None) -> dict[int, int]:
    """How many users each experience reaches, for a whole page in ONE query
    (``count_users``). Expects segments prefetched with ``rules__trait``."""
    if not experiences:
        return {}
    groups = {e.pk: AnyOf.segments(e.segments.all()) for e in experiences}
    return count_users(experiences[0].application_id, groups, now)


def audience_reach(application: Application, segments: Iterable[Segment]) -> int:
    """How many users are in any of ``segments`` today (the editor's audience sentence)."""
    return count_users(application, {"reach": AnyOf.segments(segments)})["reach"]


def experiences_for_list(application_id: int) -> QuerySet[Experience]:
    """The application's experiences with their event counts (one GROUP BY, no per-row
    query) and segments prefetched with their rules, ready for ``reach_by_experience``."""
    return (
        Experience.objects.filter(application_id=application_id)
        .annotate(
            shown_count=Count("events", filter=Q(events__type=Event.Type.SHOWN)),
            completed_count=Count("events", filter=Q(events__type=Event.Type.COMPLETED)),
            dismissed_count=Count("events", filter=Q(events__type=Event.Type.DISMISSED)),
        )
        .prefetch_related(*tree_prefetches("segments__"))
        # Meta.ordering does not apply to an aggregating query: say it again.
        .order_by("-priority", "name", "pk")
    )


@dataclass(frozen=True)
class History:
    """What one user did (``events``: (name, time)) and saw (``experiences``: (experience id,
    state, time)) up to a moment, from the raw rows; times are Unix seconds."""

    events: list[tuple[str, float]]
    experiences: list[tuple[int, str, float]]

    def summary(self, kept: int) -> dict[str, Any]:
        """The activity summary the rules read (segments/activity.py), as it stood then."""
        return summarise(self.events, self.experiences, kept)

    def times(self, name: str) -> list[float]:
        return [when for event, when in self.events if event == name]


def history_as_of(
    end_user: EndUser,
    now: datetime,
    *,
    events: Iterable[str] | None = None,
    experiences: Iterable[int] | None = None,
) -> History:
    """The user's raw history up to ``now`` included (two queries): tracked events and the
    snippet's experience events. ``events`` / ``experiences``: only those names / ids (None:
    all), so that a dry run reads what its rules read. Raw events pruned by retention are gone,
    so an "ever" count here leaves them out where the stored summary still counts them."""
    tracked = TrackedEvent.objects.filter(end_user=end_user, timestamp__lte=now)
    seen = Event.objects.filter(end_user=end_user, created_at__lte=now, type__in=EXPERIENCE_STATES)
    if events is not None:
        tracked = tracked.filter(name__in=list(events))
    if experiences is not None:
        seen = seen.filter(experience_id__in=list(experiences))
    return History(
        [(name, when.timestamp()) for name, when in tracked.values_list("name", "timestamp")],
        [
            (experience, state, when.timestamp())
            for experience, state, when in seen.values_list("experience_id", "type", "created_at")
        ],
    )
