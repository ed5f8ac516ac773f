"""An experience's shown / completed / dismissed per UTC day (experiences/daily.py) and the
charts on its page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from experiences.daily import daily_events
from experiences.models import Event
from tests.factories import EventFactory, ExperienceFactory, MembershipFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def event(experience, type_, at):
    made = EventFactory(experience=experience, type=type_)
    Event.objects.filter(pk=made.pk).update(created_at=at)
    return made


def counts(charts):
    return {c.type: {b.day: b.count for b in c.chart.bars if b.count} for c in charts}


def test_events_are_counted_by_utc_day_and_type_in_one_query():
    experience = ExperienceFactory()
    today, yesterday = NOW.date(), NOW.date() - timedelta(days=1)
    event(experience, Event.Type.SHOWN, NOW)
    event(experience, Event.Type.SHOWN, NOW - timedelta(hours=1))
    event(experience, Event.Type.SHOWN, datetime(2026, 11, 29, 23, 59, tzinfo=UTC))
    event(experience, Event.Type.COMPLETED, NOW)
    event(experience, Event.Type.DISMISSED, datetime(2026, 11, 29, 0, 0, tzinfo=UTC))
    event(experience, Event.Type.STEP, NOW)  # not charted
    event(experience, Event.Type.SHOWN, NOW - timedelta(days=30))  # before the window
    event(ExperienceFactory(application=experience.application), Event.Type.SHOWN, NOW)
    with CaptureQueriesContext(connection) as queries:
        charts = daily_events(experience, now=NOW)
    assert len(queries) == 1
    assert [c.type for c in charts] == ["shown", "completed", "dismissed"]
    assert counts(charts) == {
        "shown": {today: 2, yesterday: 1},
        "completed": {today: 1},
        "dismissed": {yesterday: 1},
    }
    assert all(len(c.chart.bars) == 30 and c.chart.last_day == today for c in charts)


def test_a_quiet_experience_has_three_empty_charts():
    charts = daily_events(ExperienceFactory(), now=NOW)
    assert [c.chart.total for c in charts] == [0, 0, 0]


def test_the_page_shows_each_chart_with_its_table(client):
    membership = MembershipFactory(role="viewer")
    client.force_login(membership.user)
    experience = ExperienceFactory(application=membership.application)
    for _ in range(3):
        EventFactory(experience=experience, type=Event.Type.SHOWN)
    EventFactory(experience=experience, type=Event.Type.COMPLETED)
    url = reverse("experiences:detail", args=[membership.application.pk, experience.pk])
    page = client.get(url).content.decode()
    assert 'id="experience-chart-shown-summary">30 days: 3 shown, peak 3 on' in page
    assert 'id="experience-chart-completed-summary">30 days: 1 completed, peak 1 on' in page
    assert 'id="experience-chart-dismissed-summary">30 days: 0 dismissed' in page
    assert page.count('class="plain chart-table"') == 2  # a table for each chart with data
