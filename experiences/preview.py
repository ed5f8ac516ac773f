"""The URL tester and "Preview as a user": why an experience would (not) be shown.

The matcher and the serve decision belong to the JSON API (``experiences/pages.py``:
``url_matches(pattern, url)``; ``experiences/serving.py``: ``explain_serve(application,
end_user, url, now=None)``);
this module imports them in this one place and explains around them. The breakdown (which
segment, which pattern, which events) is computed here for the screen; the verdict on being
served is always the API's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count

from segments.models import EndUser, tree_prefetches
from segments.selectors import explain_user

from .content import check_url_pattern
from .models import Event, Experience
from .pages import url_matches
from .serving import explain_serve


@dataclass
class PatternResult:
    pattern: str
    problem: str | None = None  # invalid syntax: never matches
    matches: bool | None = None  # None: no URL typed yet


@dataclass
class UrlTest:
    url: str
    include: list[PatternResult] = field(default_factory=list)
    exclude: list[PatternResult] = field(default_factory=list)
    shows: bool | None = None
    reason: str = ""


def _results(patterns: list[str], url: str) -> list[PatternResult]:
    results = []
    for pattern in patterns:
        problem = check_url_pattern(pattern)
        matches = None
        if problem is None and url:
            try:
                matches = bool(url_matches(pattern, url))
            except ValueError as error:  # the matcher's PatternError: it never matches
                problem = str(error)
        results.append(PatternResult(pattern, problem, matches))
    return results


def try_url(url: str, include: list[str], exclude: list[str]) -> UrlTest:
    """Which patterns match ``url`` and whether the page qualifies (before audience and
    frequency): no include pattern means every page; exclude wins."""
    result = UrlTest(url, _results(include, url), _results(exclude, url))
    if not url:
        return result
    excluded = next((r.pattern for r in result.exclude if r.matches), None)
    included = next((r.pattern for r in result.include if r.matches), None)
    if excluded:
        result.shows, result.reason = False, f"excluded by {excluded}"
    elif not include:
        result.shows, result.reason = True, "no include pattern: every page"
    elif included:
        result.shows, result.reason = True, f"matches {included}"
    else:
        result.shows, result.reason = False, "no include pattern matches"
    return result


@dataclass
class Preview:
    end_user: EndUser
    url: str
    segments: list[tuple[Any, bool]]  # (segment, whether the user is in it)
    url_test: UrlTest
    events: dict[str, int]
    decision: Any = None  # the API's Decision for this experience, when available
    draft: bool = False


def preview(experience: Experience, end_user: EndUser, url: str) -> Preview:
    """Whether ``experience`` would be served to ``end_user`` on ``url``, and why."""
    segments = experience.segments.prefetch_related(*tree_prefetches())
    events = dict(
        Event.objects.filter(experience=experience, end_user=end_user)
        .values_list("type")
        .annotate(n=Count("pk"))
        .values_list("type", "n")
    )
    segments = list(segments)
    # Why, node by node (groups, segment and company conditions included), under each segment.
    verdicts = explain_user(end_user, segments)
    for verdict in verdicts:
        verdict.segment.why = verdict.rules
    decisions = explain_serve(experience.application, end_user, url)
    decision = next((d for d in decisions if d.experience.id == experience.pk), None)
    return Preview(
        end_user=end_user,
        url=url,
        segments=[(verdict.segment, verdict.matched) for verdict in verdicts],
        url_test=try_url(url, experience.url_include, experience.url_exclude),
        events=events,
        decision=decision,
        draft=experience.status != Experience.Status.PUBLISHED,
    )
