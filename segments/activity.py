"""What a user did and saw, summarised on the user's row (``EndUser.activity``): what the
behavioural rules read, in both engines, so that a serve reads it with the user in its one
query and its cost does not grow with the length of the user's history.

Plain data, no database import. The summary is a JSON object::

    {"e": {EVENT NAME: [count, first, last, [recent, ...]]},
     "x": {"EXPERIENCE ID": {"shown": time, "dismissed": time, "completed": time,
                             "last_shown": time}},
     "s": [session start, session last]}

Times are Unix seconds (floats). ``count`` is every event of that name the user ever did,
``first`` and ``last`` the earliest and latest times, ``recent`` the ``kept`` latest times,
newest first. ``kept`` is per application (``Application.events_kept``): one more than the
largest count any of its rules uses, so that a rolling window's count is exact up to the
largest count a rule compares it with (docs/scale.md). ``x`` has each experience the user was
shown, dismissed or completed, with the first time of each, and ``last_shown`` the latest time
it was shown (kept to within ``SHOWN_SLACK`` seconds); ``s`` the user's current session of shown
experiences: when it started and the latest shown time in it (a gap of more than
``SESSION_GAP`` seconds between two shown experiences starts a new session). What delivery's
caps count (``started_since``, ``session_start``; docs/experiences.md, Delivery).

The raw events stay in their own table (``TrackedEvent``), for charts and for rebuilding
``recent`` when a rule needs more of it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from typing import Any

EVENTS, EXPERIENCES = "e", "x"
COUNT, FIRST, LAST, RECENT = 0, 1, 2, 3
DEFAULT_KEPT = 4  # "at least 3 times" is exact without a rebuild
MAX_KEPT = 1001  # one more than the largest count a rule may use
EXPERIENCE_STATES = ("shown", "dismissed", "completed")
SESSION = "s"
# {"EXPERIENCE ID": [eligible at, converted at or None]}: the user's exposures to measured
# experiences (experiences.models.Exposure), so that a serve writes one only the first time,
# and a page goal's conversion only once. Lost in a rebuild: the next serve writes it again
# (the rows' constraint keeps that harmless).
EXPOSURES = "g"
LAST_SHOWN = "last_shown"
SESSION_GAP = 30 * 60  # seconds without a shown experience that end a session
SHOWN_SLACK = 60  # seconds: a shown event this close to the stored latest one changes nothing


def record_events(
    activity: dict[str, Any], events: Iterable[tuple[str, float]], kept: int
) -> dict[str, Any]:
    """``activity`` with ``events`` ((name, time), in any order) counted in; changed in place
    and returned. Arrival order does not matter: ``recent`` stays the latest ``kept`` times."""
    summaries = activity.setdefault(EVENTS, {})
    checked: set[str] = set()  # names whose entry is well formed: checked once, or made here
    for name, when in events:
        entry = summaries.get(name)
        if name not in checked:
            checked.add(name)
            if not _well_formed(entry):
                summaries[name] = [1, when, when, [when]]
                continue
        entry[COUNT] += 1
        entry[FIRST] = min(entry[FIRST], when)
        entry[LAST] = max(entry[LAST], when)
        entry[RECENT] = insert_recent(entry[RECENT], when, kept)
    return activity


def insert_recent(recent: list[float], when: float, kept: int) -> list[float]:
    """``recent`` (newest first) with ``when`` in its place, at most ``kept`` long."""
    # bisect on the negated times keeps newest first; equal times sit side by side.
    position = bisect.bisect_left([-t for t in recent], -when)
    out = [*recent[:position], when, *recent[position:]]
    return out[:kept]


def record_experience(
    activity: dict[str, Any], experience_id: int, state: str, when: float
) -> dict[str, Any]:
    """``activity`` with the experience's ``state`` (shown, dismissed, completed) at ``when``
    (the first time is kept); changed in place and returned."""
    if state not in EXPERIENCE_STATES:
        return activity
    states = activity.setdefault(EXPERIENCES, {}).setdefault(str(experience_id), {})
    if state not in states or when < states[state]:
        states[state] = when
    if state == "shown":
        if not _number(states.get(LAST_SHOWN)) or when > states[LAST_SHOWN]:
            states[LAST_SHOWN] = when
        _record_session(activity, when)
    return activity


def _record_session(activity: dict[str, Any], when: float) -> None:
    session = activity.get(SESSION)
    if not _is_session(session):
        activity[SESSION] = [when, when]
        return
    start, last = session
    if when > last + SESSION_GAP:
        activity[SESSION] = [when, when]  # a new session
    elif when > last:
        activity[SESSION] = [start, when]
    elif start - SESSION_GAP <= when < start:
        activity[SESSION] = [when, last]  # late news of the session's beginning
    # else: older than the session; it belonged to one before


def shown_is_stale(activity: Any, experience_id: int, when: float) -> bool:
    """Whether a ``shown`` at ``when`` would change the summary by more than ``SHOWN_SLACK``
    seconds: the events API writes it then, else records only the event (one INSERT)."""
    states = experience_states(activity, experience_id)
    last = states.get(LAST_SHOWN, states.get("shown"))
    session = activity.get(SESSION) if isinstance(activity, Mapping) else None
    return (
        not _number(last)
        or when - last > SHOWN_SLACK
        or not _is_session(session)
        or when - session[1] > SHOWN_SLACK
    )


def exposure_of(activity: Any, experience_id: int) -> list[Any] | None:
    """[eligible at, converted at or None] of a measured experience, or None: not yet."""
    exposures = activity.get(EXPOSURES) if isinstance(activity, Mapping) else None
    found = exposures.get(str(experience_id)) if isinstance(exposures, Mapping) else None
    return found if isinstance(found, list) and len(found) == 2 and _number(found[0]) else None


def record_exposure(
    activity: dict[str, Any], experience_id: int, when: float, converted: float | None = None
) -> dict[str, Any]:
    """``activity`` with the exposure (the first eligible time kept) and a conversion (the
    first kept); changed in place and returned."""
    exposures = activity.get(EXPOSURES)
    if not isinstance(exposures, dict):
        exposures = activity[EXPOSURES] = {}
    found = exposure_of(activity, experience_id) or [when, None]
    if converted is not None and found[1] is None:
        found[1] = converted
    exposures[str(experience_id)] = [min(found[0], when), found[1]]
    return activity


def _is_session(session: Any) -> bool:
    return (
        isinstance(session, list)
        and len(session) == 2
        and _number(session[0])
        and _number(session[1])
    )


def started_since(activity: Any, since: float) -> set[int]:
    """The experiences shown at or after ``since`` (their latest shown time; a summary from
    before ``last_shown`` was kept has the first)."""
    experiences = activity.get(EXPERIENCES) if isinstance(activity, Mapping) else None
    out: set[int] = set()
    for key, states in (experiences or {}).items():
        if isinstance(states, Mapping) and key.isdigit():
            last = states.get(LAST_SHOWN, states.get("shown"))
            if _number(last) and last >= since:
                out.add(int(key))
    return out


def session_start(activity: Any, now: float) -> float | None:
    """When the user's current session started, or None: no shown experience in the last
    ``SESSION_GAP`` seconds (the next one starts a new session)."""
    session = activity.get(SESSION) if isinstance(activity, Mapping) else None
    if not _is_session(session) or now - session[1] > SESSION_GAP:
        return None
    return session[0]


def summarise(
    events: Iterable[tuple[str, float]],
    experiences: Iterable[tuple[int, str, float]] = (),
    kept: int = DEFAULT_KEPT,
) -> dict[str, Any]:
    """A summary built from raw history: what a rebuild stores, and what tests compare the
    incremental one with."""
    activity: dict[str, Any] = {}
    record_events(activity, events, kept)
    # In time order: a session is a run of shown experiences without a long gap.
    for experience_id, state, when in sorted(experiences, key=lambda e: e[2]):
        record_experience(activity, experience_id, state, when)
    return activity


def entry(activity: Any, name: str) -> list[Any] | None:
    """The summary of event ``name``, or None (never done, or a summary not as written)."""
    summaries = activity.get(EVENTS) if isinstance(activity, Mapping) else None
    found = summaries.get(name) if isinstance(summaries, Mapping) else None
    return found if _well_formed(found) else None


def event_names(activity: Any) -> set[str]:
    """The event names a summary has counted."""
    summaries = activity.get(EVENTS) if isinstance(activity, Mapping) else None
    return set(summaries) if isinstance(summaries, Mapping) else set()


def experience_states(activity: Any, experience_id: int) -> Mapping[str, float]:
    experiences = activity.get(EXPERIENCES) if isinstance(activity, Mapping) else None
    found = experiences.get(str(experience_id)) if isinstance(experiences, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def history(activity: Any) -> dict[int, set[str]]:
    """The dismissed / completed states per experience: what frequency reads."""
    experiences = activity.get(EXPERIENCES) if isinstance(activity, Mapping) else None
    out: dict[int, set[str]] = {}
    for key, states in (experiences or {}).items():
        if isinstance(states, Mapping) and key.isdigit():
            outcome = {s for s in ("dismissed", "completed") if s in states}
            if outcome:
                out[int(key)] = outcome
    return out


def count_between(recent: list[float], low: float, high: float) -> int:
    """How many of ``recent`` fall in ``[low, high]``."""
    return sum(1 for t in recent if low <= t <= high)


def at_least_within(entry: list[Any] | None, n: int, low: float, now: float) -> bool:
    """Whether an event's summary has at least ``n`` times in ``[low, now]``. ``recent`` is
    newest first, so n times at or after ``low`` need the n-th latest time at or after it:
    without it, false (most users, at one read); with it and no time ahead of ``now`` (the
    common case), true; else by counting. What the generated code and SQL compute; the
    reference counts."""
    if n <= 0:
        return True
    if not entry:
        return False
    recent = entry[RECENT]
    if len(recent) < n or recent[n - 1] < low:
        return False
    return recent[0] <= now or count_between(recent, low, now) >= n


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def _well_formed(found: Any) -> bool:
    return (
        isinstance(found, list)
        and len(found) == 4
        and type(found[COUNT]) is int
        and _number(found[FIRST])
        and _number(found[LAST])
        and isinstance(found[RECENT], list)
    )
