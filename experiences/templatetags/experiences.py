"""Experiences in plain words for the screens ("Free Admins OR Enterprise", "/dashboard")."""

from typing import Any

from django import template

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
