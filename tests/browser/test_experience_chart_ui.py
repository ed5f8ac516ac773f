"""An experience's page in Debian's Chromium (headless): the shown / completed / dismissed
charts of the last 30 days, their numbers in words and in their tables."""

from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from experiences.models import Event
from tests.factories import EventFactory, ExperienceFactory, MembershipFactory

from .test_segments_ui import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_experience_page_charts_each_days_events(page: Page, live_server):
    membership = MembershipFactory(application__name="Acme App", user__username="pm")
    experience = ExperienceFactory(application=membership.application, name="Welcome")
    now = timezone.now()
    for type_, days_ago in [("shown", 0), ("shown", 0), ("shown", 3), ("completed", 0)]:
        made = EventFactory(experience=experience, type=type_)
        Event.objects.filter(pk=made.pk).update(created_at=now - timedelta(days=days_ago))
    today = now.astimezone(UTC).date()

    log_in(page, live_server)
    page.goto(
        live_server.url
        + reverse("experiences:detail", args=[membership.application.pk, experience.pk])
    )
    shown = page.get_by_role("figure", name="30 days: 3 shown", exact=False)
    expect(shown).to_have_accessible_name(
        f"30 days: 3 shown, peak 2 on {today.isoformat()} (for shown, by UTC day up to today)"
    )
    shown.get_by_text("By day").click()
    table = shown.get_by_role("table")
    expect(table.get_by_role("row")).to_have_count(31)
    expect(table.get_by_role("row").nth(1)).to_have_text(f"{today:%a} {today.isoformat()}2")
    expect(table.get_by_role("row").nth(4)).to_contain_text("1")
    expect(page.get_by_role("figure", name="30 days: 1 completed", exact=False)).to_be_visible()
    dismissed = page.get_by_role("figure", name="30 days: 0 dismissed", exact=False)
    expect(dismissed.get_by_role("table")).to_have_count(0)
