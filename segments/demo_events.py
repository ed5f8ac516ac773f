"""Demo events for seed_demo: a few weeks of what the demo users did, so that the Events page
has names, counts and charts to show. Each user's activity summary is built from the same
events (``activity.summarise``, the rebuild's path), as tracking would have left it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from . import events
from .activity import summarise
from .models import Application, EndUser, EventDefinition, TrackedEvent

# name, description, auto-discovered, share of users who do it, mean times per active user
EVENTS = [
    ("project_created", "A user created a project.", True, 0.6, 4.0),
    ("teammate_invited", "A user invited someone to their team.", True, 0.25, 1.5),
    ("report_exported", "A report was exported as CSV or PDF.", True, 0.15, 3.0),
    ("integration_connected", "Slack, GitHub or Jira connected.", True, 0.08, 1.0),
    ("billing_viewed", "", True, 0.1, 1.2),
    ("checklist_completed", "Every item of the onboarding checklist done.", False, 0.0, 0.0),
]
DAYS = 45


def seed_events(application: Application, *, seed: int = 2026) -> int:
    """The demo names and events (most of them on weekdays, more lately); how many events."""
    rng = random.Random(seed)
    now = timezone.now().astimezone(UTC)
    for name, description, discovered, _share, _mean in EVENTS:
        if discovered:
            EventDefinition.objects.create(
                application=application, name=name, description=description, auto_discovered=True
            )
        else:
            events.event_definition_create(
                application=application, name=name, description=description
            )
    users = list(application.end_users.order_by("pk"))
    raw: list[TrackedEvent] = []
    for user in users:
        done: list[tuple[str, float]] = []
        for name, _description, _discovered, share, mean in EVENTS:
            if rng.random() >= share:
                continue
            for _ in range(max(1, round(rng.expovariate(1 / mean)))):
                when = _demo_time(rng, now)
                done.append((name, when.timestamp()))
                raw.append(
                    TrackedEvent(application=application, end_user=user, name=name, timestamp=when)
                )
        user.activity = summarise(done, kept=application.events_kept)
    TrackedEvent.objects.bulk_create(raw, batch_size=2000)
    EndUser.objects.bulk_update(users, ["activity"], batch_size=500)
    return len(raw)


def _demo_time(rng: random.Random, now: datetime) -> datetime:
    # Later days are likelier (a growing product); weekends are quieter.
    while True:
        days_ago = min(int(rng.triangular(0, DAYS, 0)), DAYS - 1)
        when = now - timedelta(days=days_ago, seconds=rng.randrange(86_400))
        if when <= now and (when.weekday() < 5 or rng.random() < 0.4):
            return when
