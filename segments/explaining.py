"""Why an event or experience condition holds for one user, in words, with the user's actual
counts and times: what the user page, the segment's "why" and "Preview as a user" show next
to the condition ("did project_created at least 3 times in the last 7 days" — "4 times in the
last 7 days (last on 2026-11-30 14:02 UTC)"). Plain data, no database import.

The numbers come from the same summary the rules read (``segments/activity.py``), through
the rules' own reading of it (``EventCondition.read``), so the words never disagree with the
verdict.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from .activity import COUNT, FIRST, LAST, RECENT, entry, experience_states
from .behaviour import (
    COUNT_EVER,
    COUNT_WINDOW,
    DAY,
    EXPERIENCE_STATES,
    FIRST_TIME,
    EventCondition,
    ExperienceCondition,
)


def moment(seconds: float) -> str:
    """A summary's time as a product manager reads it: ``2026-11-30 14:02 UTC``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def ago(seconds: float, now: float) -> str:
    """How long before ``now``: "5 hours ago", "3.5 days ago" (one decimal, rounded down, so
    that a time just inside a window of D days never reads as more than D days ago)."""
    elapsed = now - seconds
    if elapsed < 0:
        return "in the future"
    if elapsed < DAY:
        hours = int(elapsed // 3600)
        return "less than an hour ago" if hours == 0 else f"{hours} hour{'s' * (hours != 1)} ago"
    days = math.floor(elapsed / DAY * 10) / 10
    return f"{days:.1f} days ago".replace(".0 days", " days")


def event_reason(node: EventCondition, activity: Any, now: float) -> str:
    """What the user actually did, as the rule reads it: "4 times in the last 7 days (last on
    2026-11-30 14:02 UTC)", "first on 2026-11-28 09:15 UTC, 2.2 days ago", "never did
    project_created"."""
    found = entry(activity, node.event)
    if found is None:
        return f"never did {node.event}"
    last = f"last on {moment(found[LAST])}"
    if node.op is None:
        return f"{times(found[COUNT])} ({last})"
    reads = node.reads
    if reads == COUNT_EVER:
        return f"{times(found[COUNT])} in all ({last})"
    if reads == COUNT_WINDOW:
        count = node.read(activity, now)
        window = f"in the last {node.within_days} days"
        # The summary keeps the latest few times: when all of them are inside the window and
        # there were more, the window holds at least that many (enough for the rule to be
        # exact: docs/scale.md).
        more = len(found[RECENT]) < found[COUNT] and count == len(found[RECENT])
        return f"{'at least ' if more else ''}{times(count)} {window} ({last})"
    if reads == FIRST_TIME:
        return f"first on {moment(found[FIRST])}, {ago(found[FIRST], now)}"
    return f"{last}, {ago(found[LAST], now)}"


def experience_reason(node: ExperienceCondition, activity: Any) -> str:
    """The user's history with the experience: "shown on 2026-11-28 10:00 UTC, not
    completed", "never shown"."""
    states = experience_states(activity, node.experience)
    parts = [
        f"{state} on {moment(states[state])}"
        for state in ("shown", "dismissed", "completed")
        if isinstance(states.get(state), int | float)
    ]
    wanted = EXPERIENCE_STATES.get(node.state, (node.state, ""))[0]
    if not parts:
        return "never shown"
    if wanted not in states:
        parts.append(f"not {wanted}")
    return ", ".join(parts)
