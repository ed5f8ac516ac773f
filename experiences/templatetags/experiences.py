"""Experiences in plain words for the screens ("Free Admins OR Enterprise", "/dashboard")."""

from typing import Any

from django import template

from ..schedules import schedule_words as words

register = template.Library()


@register.filter
def audience_words(segments: Any) -> str:
    """Segment names OR'd (pass ``experience.segments.all``: prefetched, no query)."""
    names = [segment.name for segment in segments]
    return " OR ".join(names) if names else "Nobody"


@register.filter
def where_words(experience: Any) -> str:
    include = ", ".join(experience.url_include) or "Every page"
    if experience.url_exclude:
        return f"{include} except {', '.join(experience.url_exclude)}"
    return include


@register.filter
def schedule_words(experience: Any) -> str:
    """The list's words: "starts in 3 days", "ends in 2 hours", "ended", or "" (none)."""
    return words(experience.starts_at, experience.ends_at)
