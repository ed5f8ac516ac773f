"""Reads about experiences: the audience (users of any of its segments) and list counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import Count, Q, QuerySet

from segments.models import EndUser, Segment
from segments.sql import MATCH_NONE, conditions_q

from .models import Event, Experience


def audience_q(segments: Iterable[Segment], now: Any = None) -> Q:
    """Segments OR'd, each its rules AND'd; no segment matches nobody (not everyone)."""
    q = MATCH_NONE
    for segment in segments:
        q |= conditions_q(segment.conditions, now)
    return q


def audience(experience: Experience, now: Any = None) -> QuerySet[EndUser]:
    """The users it reaches: one query over the end users."""
    segments = experience.segments.prefetch_related("rules__trait")
    return EndUser.objects.filter(application_id=experience.application_id).filter(
        audience_q(segments, now)
    )


def reach_by_experience(experiences: Sequence[Experience], now: Any = None) -> dict[int, int]:
    """How many users each experience reaches, for a whole page in ONE query: a conditional
    count per experience over the application's users. Expects segments prefetched with
    ``rules__trait``."""
    if not experiences:
        return {}
    counts = {
        f"reach_{e.pk}": Count("pk", filter=audience_q(e.segments.all(), now)) for e in experiences
    }
    totals = EndUser.objects.filter(application_id=experiences[0].application_id).aggregate(
        **counts
    )
    return {e.pk: totals[f"reach_{e.pk}"] for e in experiences}


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
        .prefetch_related("segments__rules__trait")
        # Meta.ordering does not apply to an aggregating query: say it again.
        .order_by("-priority", "name", "pk")
    )
