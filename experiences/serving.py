"""The one decision path: which experiences a user sees on a URL (``serve``, the snippet's
hot path) and why each is or is not served (``explain_serve``, for previews and the user page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal, overload

from segments import activity as summaries
from segments.coerce import now_seconds
from segments.models import Application, EndUser

from .delivery import DAY, deliver
from .holdout import APPLICATION_WIDE, held_out
from .lookup import activity_for, company_traits_of
from .models import Event, Experience, Exposure
from .pages import ParsedUrl, UrlPattern, parse_url
from .targeting import URL_MEMO_MAX, Chooser, CompiledExperience, Targeting, targeting_for


@dataclass(frozen=True)
class Decision:
    """Why one experience is or is not served to one user on one URL.

    ``matched_pattern`` is the include pattern that matched, or for an excluded URL the exclude
    pattern that excluded it; None when the experience has no include pattern (every page).
    """

    experience: CompiledExperience
    served: bool
    reason: str
    matched_segment: str | None = None
    matched_pattern: str | None = None


@dataclass
class Measures:
    """What a serve found to record for goals and holdouts (``actions.exposures_record``):
    the measured experiences this user is eligible for for the first time, with the group,
    and the experiences whose page goal this URL reaches within an open conversion window.
    Empty (the common case, and always when nothing is measured): nothing to write."""

    exposures: list[tuple[int, str]] = field(default_factory=list)
    conversions: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.exposures or self.conversions)


def holdout_reason(
    targeting: Targeting, experience: CompiledExperience, end_user_id: int | None
) -> str | None:
    """Why the user is held out of the experience (None: not held out). Only a measured
    experience and a stored user can be: see experiences/holdout.py."""
    if end_user_id is None:
        return None
    application_id = targeting.application.pk
    if held_out(application_id, APPLICATION_WIDE, end_user_id, targeting.holdout_percent):
        return f"held out: in the application-wide holdout ({targeting.holdout_percent}%)"
    if held_out(application_id, experience.id, end_user_id, experience.holdout_percent):
        return f"held out: in its holdout group ({experience.holdout_percent}%)"
    return None


def _with_holdouts(
    targeting: Targeting,
    candidates: list[CompiledExperience],
    activity: Mapping[str, Any],
    when: float,
    end_user_id: int | None,
    measures: Measures | None,
) -> tuple[list[CompiledExperience], dict[int, str]]:
    """``deliver`` with the holdouts: an experience is held out of what the user would have
    been served (delivery included), and delivery runs again without it, so that another may
    take its place. (served, {id: why not served}). ``measures``: the first exposures found."""
    would, held = deliver(candidates, targeting.delivery, activity, when)
    out: dict[int, str] = {}
    for experience in would:
        if targeting.measured(experience):
            reason = holdout_reason(targeting, experience, end_user_id)
            if reason is not None:
                out[experience.id] = reason
    served = would
    if out:
        served, held = deliver(
            [e for e in candidates if e.id not in out], targeting.delivery, activity, when
        )
    if measures is not None:
        for experience in {e.id: e for e in [*would, *served]}.values():
            if targeting.measured(experience) and not summaries.exposure_of(
                activity, experience.id
            ):
                group = Exposure.Group.HOLDOUT if experience.id in out else Exposure.Group.TREATMENT
                measures.exposures.append((experience.id, group))
    return served, held | out


def _page_conversions(
    targeting: Targeting, url: str, activity: Mapping[str, Any], when: float
) -> list[int]:
    """The experiences whose page goal this URL reaches within the user's open window."""
    out: list[int] = []
    page = None
    for experience in targeting.page_goals:
        exposure = summaries.exposure_of(activity, experience.id)
        if exposure is None or exposure[1] is not None:
            continue
        if not exposure[0] <= when <= exposure[0] + experience.window_days * DAY:
            continue
        page = page or parse_url(url)
        if experience.goal_page is not None and experience.goal_page.matches(page):
            out.append(experience.id)
    return out


# A frequency in the explanations' words (the user page, an experience's preview).
FREQUENCY_WORDS = {
    Experience.Frequency.ONCE: "shown once, until dismissed or completed",
    Experience.Frequency.UNTIL_COMPLETED: "shown until completed",
    Experience.Frequency.EVERY_TIME: "shown every time",
}
STATUS_WORDS = {Experience.Status.DRAFT: "still a draft"}


def _frequency_block(frequency: str, history: set[str]) -> str | None:
    completed = Event.Type.COMPLETED in history
    if frequency == Experience.Frequency.EVERY_TIME:
        return None
    if completed:
        return f"already completed ({FREQUENCY_WORDS.get(frequency, frequency)})"
    if frequency == Experience.Frequency.ONCE and Event.Type.DISMISSED in history:
        return f"already dismissed ({FREQUENCY_WORDS[frequency]})"
    return None


def _url_decision(experience: CompiledExperience, page: ParsedUrl) -> tuple[str | None, str | None]:
    """(the pattern that decided, the reason it is not served or None)."""
    path = page.path or "/"
    for pattern in experience.exclude:
        if isinstance(pattern, UrlPattern) and pattern.matches(page):
            return pattern.source, f"excluded by {pattern.source}"
    if not experience.include:
        return None, None
    for pattern in experience.include:
        if isinstance(pattern, UrlPattern) and pattern.matches(page):
            return pattern.source, None
    return None, f"URL {path} matches no include pattern"


_Row = tuple[CompiledExperience, str | None, str | None]  # experience, pattern, URL reason


def _url_rows(targeting: Targeting, url: str) -> list[_Row]:
    """The URL's verdict on every experience, for an explanation."""
    page = parse_url(url)
    return [(e, *_url_decision(e, page)) for e in targeting.experiences]


def _url_chooser(targeting: Targeting, url: str, when: float) -> Chooser:
    """The audience check of the servable experiences on schedule at ``when`` that this URL
    lets through, remembered per URL in the targeting's current window (a window of its
    schedules: a new one, with a new memo, from the moment one starts or ends); URLs that let
    the same experiences through share one."""
    window = targeting.window
    if not window.opens_at <= when < window.changes_at:  # the one check a serve pays
        window = targeting.window_at(when)
    memo = window.url_memo
    chooser = memo.get(url)
    if chooser is None:
        page = parse_url(url)
        passed = tuple(e for e in window.servable if _url_decision(e, page)[1] is None)
        chooser = targeting.chooser(passed)
        if len(memo) >= URL_MEMO_MAX:
            memo.clear()
        memo[url] = chooser
    return chooser


@overload
def decide(
    targeting: Targeting,
    *,
    end_user_id: int | None,
    traits: Mapping[str, Any],
    url: str,
    now: datetime | float | None = None,
    explain: Literal[True] = True,
    activity: Mapping[str, Any] | None = None,
    company: Mapping[str, Any] | None = None,
    company_id: int | None = None,
    measures: Measures | None = None,
) -> list[Decision]: ...


@overload
def decide(
    targeting: Targeting,
    *,
    end_user_id: int | None,
    traits: Mapping[str, Any],
    url: str,
    now: datetime | float | None = None,
    explain: Literal[False],
    activity: Mapping[str, Any] | None = None,
    company: Mapping[str, Any] | None = None,
    company_id: int | None = None,
    measures: Measures | None = None,
) -> list[CompiledExperience]: ...


def decide(
    targeting: Targeting,
    *,
    end_user_id: int | None,
    traits: Mapping[str, Any],
    url: str,
    now: datetime | float | None = None,
    explain: bool = True,
    activity: Mapping[str, Any] | None = None,
    company: Mapping[str, Any] | None = None,
    company_id: int | None = None,
    measures: Measures | None = None,
) -> list[Decision] | list[CompiledExperience]:
    """The one decision path: status, schedule, segments, audience, URL, frequency (one
    query, for the experiences that passed the rest, when one of them counts past events), then
    delivery (``experiences/delivery.py``: one modal, banners per edge, one tooltip per element,
    the caps; from the same activity summary, no query of its own).

    ``explain=True``: a ``Decision`` for every experience, with the first reason in that order
    (delivery's start "held back: ").
    ``explain=False`` (a serve, ``_serve``): the served experiences only, and each is checked
    only as far as it must be: unpublished, audience-less and off-schedule ones are skipped
    outright (the targeting's window of schedules, moved on when one starts or ends), the URL
    (cheap and remembered per URL) goes first, then the audience, then frequency; no
    ``Decision`` and no reason text is built. Both answer the same experiences
    (tests/experiences/test_targeting).

    ``activity``: the user's activity summary (segments/activity.py: what event and experience
    rules read, and frequency's history) when the caller already has it (``lookup`` reads it in
    the serve's one query); else it is read here when needed. ``company``: the traits of the
    user's company ({} without one), likewise (``lookup`` reads them with the user); else read
    here when a rule needs them. ``company_id``: the user's company (None: none), whose users
    ``company_users`` rules count when one is first checked (``experiences/members.py``).

    Holdouts (``experiences/holdout.py``) come last: of what the user would have been served,
    a measured experience the user is held out of is not, and delivery runs again without it.
    ``measures`` (a serve that records, ``experiences/api.py``): filled with the first
    exposures and the page goals reached (``Measures``); nothing when nothing is measured.
    """
    when = now_seconds(now)
    if activity is None:
        activity = _Lazy(activity_for, end_user_id)
    if company is None:
        company = _Lazy(company_traits_of, end_user_id)
    members = targeting.members(company_id, when)
    if not explain:
        return _serve(
            targeting, traits, url, when, activity, company, members, end_user_id, measures
        )
    in_segment: dict[int, bool] | None = None  # every segment's answer, on the first need
    staged: list[tuple[CompiledExperience, str | None, str | None, str | None]] = []
    for experience, pattern, url_reason in _url_rows(targeting, url):
        segment_name = None
        for segment_id in experience.segment_ids:
            if in_segment is None:
                in_segment = targeting.in_segments(traits, when, activity, company, members)
            if in_segment.get(segment_id):  # absent: a segment deleted since
                segment_name = targeting.segments[segment_id].name
                break
        if not experience.published:
            reason = STATUS_WORDS.get(experience.status, experience.status)
        elif not experience.on_schedule(when):
            reason = experience.schedule_reason(when)
        elif not experience.segment_ids:
            reason = "has no segments"
        elif segment_name is None:
            reason = "not in any of its segments"
        else:
            reason = url_reason
        staged.append((experience, reason, segment_name, pattern))
    history = summaries.history(activity)
    reasons: dict[int, str | None] = {}
    for experience, reason, _, _ in staged:
        if reason is None:
            reason = _frequency_block(experience.frequency, history.get(experience.id, _NONE))
        reasons[experience.id] = reason
    candidates = [e for e, _, _, _ in staged if reasons[e.id] is None]
    if targeting.measuring:
        _, held = _with_holdouts(targeting, candidates, activity, when, end_user_id, None)
    else:
        _, held = deliver(candidates, targeting.delivery, activity, when)
    reasons.update(held)
    decisions = []
    for experience, _, segment_name, pattern in staged:
        reason = reasons[experience.id]
        served = reason is None
        if served:
            where = f"URL matches {pattern}" if pattern else "every page"
            frequency = FREQUENCY_WORDS.get(experience.frequency, experience.frequency)
            reason = f"in segment {segment_name}; {where}; {frequency}"
        decisions.append(Decision(experience, served, reason, segment_name, pattern))
    return decisions


def _serve(
    targeting: Targeting,
    traits: Mapping[str, Any],
    url: str,
    when: float,
    activity: Mapping[str, Any],
    company: Mapping[str, Any],
    members: Mapping[int, int],
    end_user_id: int | None = None,
    measures: Measures | None = None,
) -> list[CompiledExperience]:
    """``decide`` for a serve, the hot path: the same checks in the same order, each only as
    far as it must go, and no reasons (delivery builds them only for what it holds back).
    Only servable experiences the URL lets through are looked at (remembered per URL), and
    their audience is one generated function."""
    served = _url_chooser(targeting, url, when)(traits, when, activity, company, members)
    if served and activity.get(summaries.EXPERIENCES):  # most users have seen nothing yet
        history = summaries.history(activity)
        if history:
            served = [
                e for e in served if _frequency_block(e.frequency, history.get(e.id, _NONE)) is None
            ]
    if not targeting.measuring:  # most applications: nothing more than before
        return deliver(served, targeting.delivery, activity, when)[0]
    if measures is not None and targeting.page_goals and activity.get(summaries.EXPOSURES):
        measures.conversions = _page_conversions(targeting, url, activity, when)
    return _with_holdouts(targeting, served, activity, when, end_user_id, measures)[0]


_NONE: frozenset[str] = frozenset()


class _Lazy(Mapping[str, Any]):
    """A stored user's activity summary, or their company's traits, read from the database on
    first use by ``read(end_user_id)`` (a decision that needs no rule on it and no frequency
    history costs no query)."""

    def __init__(self, read: Callable[[int | None], dict[str, Any]], end_user_id: int | None):
        self.read = read
        self.end_user_id = end_user_id

    @cached_property
    def _data(self) -> dict[str, Any]:
        return self.read(self.end_user_id)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _as_targeting(application: Application | Targeting) -> Targeting:
    if isinstance(application, Targeting):
        return application
    targeting = targeting_for(application)
    if targeting is None:
        raise Application.DoesNotExist(f"Application {application.pk} does not exist.")
    return targeting


def _company(end_user: EndUser) -> Mapping[str, Any] | None:
    """The traits of the user's company when already known (an unsaved user's for a preview, a
    company loaded with the user), else None: read when a rule needs them."""
    if EndUser.company.is_cached(end_user):
        return {} if end_user.company is None else end_user.company.traits
    if end_user.company_id is None:
        return {}
    return None if end_user.pk else end_user.company.traits


def explain_serve(
    application: Application | Targeting,
    end_user: EndUser,
    url: str,
    now: datetime | float | None = None,
) -> list[Decision]:
    """Every experience of the application, highest priority first, with why it is or is not
    served to this user on this URL (for "preview as user" and the user page). An unsaved
    end user (preview with made-up traits) has no history."""
    return decide(
        _as_targeting(application),
        end_user_id=end_user.pk,
        traits=end_user.traits or {},
        url=url,
        now=now,
        activity=None if end_user.pk else {},  # a stored user's, as stored now
        company=_company(end_user),
        company_id=end_user.company_id,
    )


def serve(
    application: Application | Targeting,
    end_user: EndUser,
    url: str,
    now: datetime | float | None = None,
) -> list[CompiledExperience]:
    """The experiences this user sees on this URL, highest priority first: ``decide`` without
    the explanations."""
    return decide(
        _as_targeting(application),
        end_user_id=end_user.pk,
        traits=end_user.traits or {},
        url=url,
        now=now,
        explain=False,
        activity=None if end_user.pk else {},  # a stored user's, as stored now
        company=_company(end_user),
        company_id=end_user.company_id,
    )
