"""Reads about experiences: the audience (users of any of its segments) and list counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import Count, Q, QuerySet

from segments.models import Application, EndUser, Segment, tree_prefetches
from segments.selectors import AnyOf, count_users, group_q

from .models import Event, Experience


def audience_q(segments: Iterable[Segment], now: Any = None) -> Q:
    """Segments OR'd, each its rules AND'd; no segment matches nobody (not everyone)."""
    return group_q(AnyOf.segments(segments), now)


def audience(experience: Experience, now: Any = None) -> QuerySet[EndUser]:
    """The users it reaches: one query over the end users."""
    segments = experience.segments.prefetch_related(*tree_prefetches())
    return EndUser.objects.filter(application_id=experience.application_id).filter(
        audience_q(segments, now)
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
