"""The product docs' example experiences, for seed_demo (idempotent: existing names are kept)."""

from __future__ import annotations

import random
from typing import Any

from segments import actions as segment_actions
from segments.models import Application

from . import actions
from .models import Event
from .selectors import audience

ADMINS = ("Admins", "Every admin, whatever the plan.", [("role", "equals", "admin")])

# name, kind, segment names (None: Everyone), include patterns, frequency, content
EXPERIENCES: list[tuple[str, str, list[str] | None, list[str], str, dict[str, Any]]] = [
    (
        "Upgrade banner",
        "banner",
        ["Free Plan Users"],
        ["/dashboard"],
        "once",
        {
            "text": "You're on the free plan. Upgrade for unlimited projects.",
            "button_label": "Upgrade",
            "button_url": "/billing",
            "position": "top",
            "style": "info",
        },
    ),
    (
        "Admin settings tooltip",
        "tooltip",
        ["Admins"],
        ["/settings"],
        "once",
        {
            "selector": "#settings-save",
            "title": "Admins only",
            "body": "Changes apply to your whole team.",
            "placement": "bottom",
        },
    ),
    (
        "Onboarding tour",
        "tour",
        ["New Signups"],
        ["/dashboard"],
        "until_completed",
        {
            "steps": [
                {"type": "modal", "title": "Welcome!", "body": "Let's take a quick look around."},
                {
                    "type": "tooltip",
                    "selector": "#new-project",
                    "title": "Projects",
                    "body": "Start here.",
                    "placement": "right",
                },
                {"type": "modal", "title": "All set", "body": "Enjoy!"},
            ]
        },
    ),
    (
        "Setup checklist",
        "checklist",
        None,
        [],
        "until_completed",
        {
            "title": "Get set up",
            "items": [
                {
                    "id": "invite",
                    "label": "Invite a teammate",
                    "url": "/team",
                    "complete_on": "click",
                },
                {
                    "id": "project",
                    "label": "Create a project",
                    "complete_on": "event",
                    "event": "project_created",
                },
            ],
        },
    ),
]


def seed_experiences(application: Application, rng: random.Random | None = None) -> int:
    """Create (through the actions) and publish the demo experiences that do not exist yet,
    with a few events each so that the list has numbers. Returns how many were created."""
    rng = rng or random.Random(2026)
    segments = {s.name: s for s in application.segments.all()}
    if ADMINS[0] not in segments:
        name, description, rules = ADMINS
        segments[name] = segment_actions.segment_create(
            application=application,
            name=name,
            description=description,
            rules=[{"trait": t, "operator": op, "value": v} for t, op, v in rules],
        )
    existing = set(application.experiences.values_list("name", flat=True))
    created = 0
    for name, kind, segment_names, include, frequency, content in EXPERIENCES:
        if name in existing:
            continue
        experience = actions.experience_create(
            application=application,
            name=name,
            kind=kind,
            content=content,
            segments=None if segment_names is None else [segments[n] for n in segment_names],
            url_include=include,
            frequency=frequency,
        )
        actions.experience_publish(experience=experience, allow_empty_audience=True)
        _demo_events(experience, rng)
        created += 1
    return created


def _demo_events(experience: Any, rng: random.Random) -> None:
    events = []
    for user_id in audience(experience).order_by("pk").values_list("pk", flat=True)[:400]:
        if rng.random() < 0.6:
            continue
        events.append(Event(type=Event.Type.SHOWN, end_user_id=user_id))
        outcome = rng.random()
        if outcome < 0.35:
            events.append(Event(type=Event.Type.COMPLETED, end_user_id=user_id))
        elif outcome < 0.6:
            events.append(Event(type=Event.Type.DISMISSED, end_user_id=user_id))
    for event in events:
        event.application_id = experience.application_id
        event.experience = experience
    Event.objects.bulk_create(events)
