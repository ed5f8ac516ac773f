"""Why an event, experience or company condition holds for one user, in words, with the
user's actual counts and times, or their company's trait value and count: what the user
page, the segment's "why" and "Preview as a user" show next to the condition ("did
project_created at least 3 times in the last 7 days" — "4 times in the last 7 days (last on
2026-11-30 14:02 UTC)"; 'at least 3 users of the company in segment "Completed setup"' —
'Acme has 2 users in "Completed setup" (needs at least 3)'). Plain data, no database import.

The numbers come from the same summary the rules read (``segments/activity.py``), through
the rules' own reading of it (``EventCondition.read``), so the words never disagree with the
verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .accounts import CompanyTraitCondition, CompanyUsersCondition
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
from .coerce import BOOLEAN, COERCE, DATE, NUMBER, STRING

# As the user page says a user trait that does not fit its type (selectors.TYPE_NOUN).
_TYPE_NOUNS = {STRING: "text", NUMBER: "a number", BOOLEAN: "true or false", DATE: "a date"}


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


@dataclass(frozen=True)
class CompanyFacts:
    """A user's company as its conditions read it: what to call it (``label``), its traits,
    and how many of its users are in each segment its conditions count ({segment id: n})."""

    label: str
    traits: Mapping[str, Any] = field(default_factory=dict)
    members: Mapping[int, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls, external_id: str, traits: Mapping[str, Any] | None, members: Mapping[int, int]
    ) -> CompanyFacts:
        """Called by its "name" trait when it has one ("Acme"), else by its id."""
        traits = traits or {}
        name = traits.get("name")
        label = name.strip() if isinstance(name, str) and name.strip() else external_id
        return cls(label, traits, members)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def company_trait_reason(node: CompanyTraitCondition, company: CompanyFacts | None) -> str:
    """The company's actual value of the trait the rule reads: 'Acme's plan is "trial"',
    "Acme's seats is not set", "no company (every company trait is missing)"."""
    if company is None:
        return "no company (every company trait is missing)"
    condition = node.condition
    raw = company.traits.get(condition.trait)
    actual = "not set" if raw is None else _shown(raw)
    if raw is not None and COERCE[condition.type](raw) is None:
        actual += f" (not {_TYPE_NOUNS[condition.type]})"
    return f"{company.label}'s {condition.trait} is {actual}"


def company_users_reason(
    node: CompanyUsersCondition, company: CompanyFacts | None, names: Mapping[Any, str]
) -> str:
    """How many of the company's users are in the counted segment, beside what the rule
    needs: 'Acme has 2 users in "Completed setup" (needs at least 3)'; a user without a
    company counts 0."""
    name = names.get(node.segment)
    where = f'"{name}"' if name else "a segment that is gone"
    op = node.op
    needs = f"{op.label if op else node.operator} {node.value}"
    if company is None:
        return f"no company, so 0 users in {where} (needs {needs})"
    count = company.members.get(node.segment, 0)
    users = "user" if count == 1 else "users"
    return f"{company.label} has {count} {users} in {where} (needs {needs})"
