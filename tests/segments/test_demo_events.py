"""segments/demo_events.py: seed_demo's events agree with the users' activity summaries."""

import pytest

from segments.demo_events import EVENTS, seed_events
from segments.models import TrackedEvent
from tests.factories import ApplicationFactory, EndUserFactory

pytestmark = pytest.mark.django_db


def test_seed_events__raw_events_and_activity_summaries_tell_the_same_story():
    application = ApplicationFactory()
    users = [EndUserFactory(application=application) for _ in range(40)]

    count = seed_events(application)

    assert count == TrackedEvent.objects.filter(application=application).count() > 0
    names = set(application.event_definitions.values_list("name", flat=True))
    assert names == {name for name, *_ in EVENTS}
    assert not application.event_definitions.get(name="checklist_completed").auto_discovered
    for user in users:
        user.refresh_from_db()
        raw = TrackedEvent.objects.filter(end_user=user)
        summary = user.activity.get("e", {})
        assert {name: entry[0] for name, entry in summary.items()} == {
            name: raw.filter(name=name).count() for name in set(raw.values_list("name", flat=True))
        }
