"""The editor's schedule in a real browser set to Paris time: stored UTC times are shown in the
browser's zone, which the form posts with the times typed, so that UTC is stored."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from experiences.models import Experience
from tests.factories import ExperienceFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "timezone_id": "Europe/Paris"}


@pytest.fixture
def sale(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    membership = MembershipFactory(user=UserFactory(username="pm"), application__name="Acme")
    experience = ExperienceFactory(
        application=membership.application,
        name="Winter sale",
        content={"text": "Winter sale", "position": "top", "style": "info"},
        starts_at=datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
    )
    experience.segments.set([membership.application.everyone])
    return experience


def test_the_editor_shows_and_reads_times_in_the_browsers_time_zone(page: Page, live_server, sale):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("pm")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(
        f"{live_server.url}{reverse('experiences:edit', args=[sale.application_id, sale.pk])}"
    )

    # Stored 09:00 UTC is 10:00 in Paris in December; the page says which zone it shows.
    expect(page.get_by_label("Start")).to_have_value("2026-12-04T10:00")
    expect(page.locator("[data-time-zone-label]")).to_have_text("Europe/Paris")
    page.get_by_label("End").fill("2026-12-06T19:00")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Winter sale")).to_be_visible()

    sale = Experience.objects.get(pk=sale.pk)
    assert sale.starts_at == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # unchanged
    assert sale.ends_at == datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    # The experience's page shows the schedule in the zone the editor posted.
    expect(page.get_by_text("from 2026-12-04 10:00 until 2026-12-06 19:00")).to_be_visible()
