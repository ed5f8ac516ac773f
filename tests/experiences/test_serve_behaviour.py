"""Serving on what users did and saw: an event or an experience state changes the very next
serve, which stays one query (the user's activity summary comes with the user's row)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from segments import actions
from segments.activity import record_events
from segments.models import EndUser, TrackedEvent
from tests.factories import ApplicationFactory, EndUserFactory, PublishedExperienceFactory

pytestmark = pytest.mark.django_db

EXPERIENCES, EVENTS = "/api/v1/experiences", "/api/v1/events"


def did(user: EndUser, name: str, ago: timedelta = timedelta(0)) -> None:
    """A raw event and its place in the summary, as tracking writes them."""
    when = timezone.now() - ago
    TrackedEvent.objects.create(
        application=user.application, end_user=user, name=name, timestamp=when
    )
    user.refresh_from_db()
    user.activity = record_events(
        user.activity, [(name, when.timestamp())], user.application.events_kept
    )
    user.save(update_fields=["activity"])


def served(client, app, user_id="u1"):
    response = client.get(EXPERIENCES, {"key": app.public_key, "id": user_id, "url": "/"})
    assert response.status_code == 200, response.content
    return [e["name"] for e in response.json()["experiences"]]


def segment(app, name, *rules, match="all"):
    return actions.segment_create(
        application=app, name=name, definition={"match": match, "rules": list(rules)}
    )


def test_an_event_changes_the_very_next_serve__in_one_query(client, django_assert_num_queries):
    app = ApplicationFactory()
    no_project = segment(
        app, "No project yet", {"event": "project_created", "operator": "exactly", "value": 0}
    )
    PublishedExperienceFactory(application=app, name="Project tour", segments=[no_project])
    user = EndUserFactory(application=app, external_id="u1")
    assert served(client, app) == ["Project tour"]
    did(user, "project_created")
    with django_assert_num_queries(1):
        assert served(client, app) == []


def test_a_windowed_count_counts_only_the_window(client):
    app = ApplicationFactory()
    active = segment(
        app,
        "Active",
        {"event": "report_viewed", "operator": "at_least", "value": 2, "within_days": 7},
    )
    PublishedExperienceFactory(application=app, name="Power tips", segments=[active])
    user = EndUserFactory(application=app, external_id="u1")
    did(user, "report_viewed", timedelta(days=8))
    did(user, "report_viewed", timedelta(days=1))
    assert served(client, app) == []
    did(user, "report_viewed")
    assert served(client, app) == ["Power tips"]


def test_completing_a_tour_hides_the_banner_for_those_who_completed_it(client):
    app = ApplicationFactory()
    tour = PublishedExperienceFactory(application=app, name="Upgrade tour", kind="tour")
    not_done = segment(
        app,
        "Has not completed the upgrade tour",
        {"match": "any", "rules": [{"experience": tour.pk, "state": "completed"}]},
        match="none",
    )
    banner = PublishedExperienceFactory(
        application=app, name="Upgrade banner", segments=[not_done], frequency="every_time"
    )
    tour.segments.set([app.everyone])
    EndUserFactory(application=app, external_id="u1")
    assert "Upgrade banner" in served(client, app)
    body = {"key": app.public_key, "id": "u1", "experience": tour.pk, "type": "completed"}
    response = client.post(EVENTS, data=json.dumps(body), content_type="text/plain")
    assert response.status_code == 201
    assert "Upgrade banner" not in served(client, app)
    assert banner.pk  # still there for everyone else
