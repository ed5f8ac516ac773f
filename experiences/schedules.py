"""Schedules as the product manager sees them: the time zone their times are entered and shown
in, and the list's words for where an experience stands ("starts in 3 days", "ended").

Stored times are UTC (``Experience.starts_at`` / ``ends_at``); the serve reads them compiled
(``experiences/targeting.py``: ``CompiledExperience.on_schedule``, ``Targeting.window``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.timesince import timeuntil

# Where the editor remembers the manager's time zone (the browser's, which the editor posts),
# for the pages that show a schedule before JavaScript can.
SESSION_KEY = "time_zone"
DEFAULT_ZONE = "UTC"


def zone_named(name: object) -> ZoneInfo | None:
    """The IANA time zone ``name`` (``Europe/Paris``); None when there is no such zone. An
    empty name (no JavaScript filled it) is UTC."""
    if name is None or name == "":
        return ZoneInfo(DEFAULT_ZONE)
    if not isinstance(name, str) or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, a path, not a zone file
        return None


def manager_zone(session: Mapping[str, Any] | None, posted: Any = None) -> ZoneInfo:
    """The zone a page shows times in: the one posted with the form, else the last one the
    editor received (the browser's), else UTC."""
    for name in (posted, session.get(SESSION_KEY) if session is not None else None):
        if name:
            zone = zone_named(name)
            if zone is not None:
                return zone
    return ZoneInfo(DEFAULT_ZONE)


def _until(moment: datetime, now: datetime) -> str:
    if (moment - now).total_seconds() < 60:
        return "less than a minute"
    return timeuntil(moment, now, depth=1).replace("\xa0", " ")


def schedule_words(
    starts_at: datetime | None, ends_at: datetime | None, now: datetime | None = None
) -> str:
    """Where a schedule stands at ``now``: "starts in 3 days", "ends in 2 hours", "ended", or
    "" when it has no say (no schedule, or started with no end)."""
    now = now or datetime.now(UTC)
    if starts_at is not None and now < starts_at:
        return f"starts in {_until(starts_at, now)}"
    if ends_at is not None:
        return "ended" if now >= ends_at else f"ends in {_until(ends_at, now)}"
    return ""
