"""A rule with a larger windowed count than the summaries keep raises ``events_kept`` and
rebuilds the recent times from the raw events, in the save: the next answer is exact."""

from datetime import timedelta

import pytest
from django.utils import timezone

from segments import actions
from segments.activity import DEFAULT_KEPT, RECENT, record_events
from segments.models import EndUser, TrackedEvent
from segments.rebuild import counts_needed
from tests.factories import ApplicationFactory, EndUserFactory

pytestmark = pytest.mark.django_db


def track(user: EndUser, name: str, times) -> None:
    events = [(name, t.timestamp()) for t in times]
    TrackedEvent.objects.bulk_create(
        TrackedEvent(application=user.application, end_user=user, name=name, timestamp=t)
        for t in times
    )
    user.activity = record_events(user.activity, events, user.application.events_kept)
    user.save(update_fields=["activity"])


def test_counts_needed__the_largest_windowed_count_per_event_name():
    definition = {
        "match": "any",
        "rules": [
            {"event": "a", "operator": "at_least", "value": 3, "within_days": 7},
            {
                "match": "none",
                "rules": [{"event": "a", "operator": "exactly", "value": 9, "within_days": 1}],
            },
            {"event": "b", "operator": "at_least", "value": 50},  # ever: the count is kept
            {"event": "c", "operator": "last_within_last_days", "value": 30},
        ],
    }
    assert counts_needed(definition) == {"a": 9}


def test_a_larger_count_rebuilds_the_recent_times_and_the_rule_is_exact_at_once():
    app = ApplicationFactory()
    user = EndUserFactory(application=app)
    now = timezone.now()
    track(user, "report_viewed", [now - timedelta(hours=h) for h in range(6)])
    track(user, "other", [now])
    user.refresh_from_db()
    assert len(user.activity["e"]["report_viewed"][RECENT]) == DEFAULT_KEPT
    segment = actions.segment_create(
        application=app,
        name="Heavy readers",
        definition={
            "match": "all",
            "rules": [
                {"event": "report_viewed", "operator": "at_least", "value": 6, "within_days": 1}
            ],
        },
    )
    app.refresh_from_db()
    assert app.events_kept == 7
    user.refresh_from_db()
    assert (
        user.activity["e"]["report_viewed"][RECENT]
        == sorted((now - timedelta(hours=h)).timestamp() for h in range(6))[::-1]
    )
    assert user.activity["e"]["report_viewed"][0] == 6
    assert list(segment.members()) == [user]


def test_a_smaller_count_changes_nothing():
    app = ApplicationFactory()
    rule = {"event": "x", "operator": "at_least", "value": 2, "within_days": 3}
    actions.segment_create(application=app, name="S", definition={"match": "all", "rules": [rule]})
    app.refresh_from_db()
    assert app.events_kept == DEFAULT_KEPT
