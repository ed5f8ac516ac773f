"""Engage > Segments > Events in Debian's Chromium (headless): the 30-day chart drawn with the
right numbers, and a description edited in place."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from segments.models import EventDefinition
from tests.factories import (
    EndUserFactory,
    EventDefinitionFactory,
    MembershipFactory,
    TrackedEventFactory,
)

from .test_segments_ui import log_in, nav

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(live_server):
    """project_created: 4 today, 8 two days ago, 1 ten days ago (by 3 users); invited: none."""
    membership = MembershipFactory(application__name="Acme App", user__username="pm")
    application = membership.application
    EventDefinitionFactory(application=application, name="project_created", auto_discovered=True)
    EventDefinitionFactory(application=application, name="invited")
    users = [EndUserFactory(application=application) for _ in range(3)]
    today = timezone.now().astimezone(UTC).date()
    midnight = datetime.combine(today, time.min, tzinfo=UTC)
    for days_ago, count in [(0, 4), (2, 8), (10, 1)]:
        for n in range(count):
            TrackedEventFactory(
                application=application,
                end_user=users[n % 3],
                name="project_created",
                timestamp=midnight - timedelta(days=days_ago) + timedelta(seconds=n),
            )
    return application, today


def test_the_chart_draws_each_days_count_and_says_it_in_words(page: Page, live_server, acme):
    _, today = acme
    log_in(page, live_server)
    nav(page, "Events").click()
    expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()

    row = page.locator("#events-table tbody.event", has_text="project_created")
    expect(row.locator("[data-stat=users]")).to_have_text("3")
    expect(row.locator("[data-stat=total]")).to_have_text("13")
    peak_day = (today - timedelta(days=2)).isoformat()
    summary = row.get_by_role("figure")
    expect(summary).to_have_accessible_name(
        f"30 days: 13 events, peak 8 on {peak_day} (for project_created, by UTC day up to today)"
    )

    chart = row.locator("svg.daily-bars")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box["width"] == 30 * 7 - 2 and box["height"] == 33
    bars = chart.locator("rect.chart-bar")
    expect(bars).to_have_count(3)
    drawn = {
        bar.get_attribute("data-day"): (int(bar.get_attribute("data-count")), bar.bounding_box())
        for bar in bars.all()
    }
    assert {day: count for day, (count, _) in drawn.items()} == {
        today.isoformat(): 4,
        peak_day: 8,
        (today - timedelta(days=10)).isoformat(): 1,
    }
    heights = {day: round(b["height"]) for day, (_, b) in drawn.items()}
    assert heights == {
        today.isoformat(): 16,
        peak_day: 32,
        (today - timedelta(days=10)).isoformat(): 4,
    }
    # Bars stand on the baseline, left to right oldest to newest, today the rightmost.
    bottoms = {round(b["y"] + b["height"]) for _, b in drawn.values()}
    assert bottoms == {round(box["y"] + 32)}
    assert drawn[today.isoformat()][1]["x"] > drawn[peak_day][1]["x"]
    assert round(drawn[today.isoformat()][1]["x"] + 5) == round(box["x"] + box["width"])
    # The bars are coloured by the stylesheet (no style attribute under the CSP).
    fill = bars.first.evaluate("bar => getComputedStyle(bar).fill")
    assert fill not in ("", "none", "rgb(0, 0, 0)")

    # The same numbers in a table, one click away (no hover needed).
    table = row.get_by_role("table")
    expect(table).to_be_hidden()
    row.get_by_text("By day").click()
    expect(table).to_be_visible()
    expect(table.get_by_role("row")).to_have_count(31)  # a header and 30 days
    expect(table.get_by_role("row").nth(1)).to_have_text(f"{today:%a} {today.isoformat()}4")
    expect(table.get_by_role("row").nth(3)).to_contain_text("8")

    empty = page.locator("#events-table tbody.event", has_text="invited")
    expect(empty.locator(".chart-summary")).to_have_text(re.compile(r"^30 days: 0 events \("))
    expect(empty.locator("rect.chart-bar")).to_have_count(0)
    expect(empty).to_contain_text("Added by hand")


def test_a_product_manager_describes_adds_and_deletes_event_names_in_place(
    page: Page, live_server, acme
):
    application, _ = acme
    log_in(page, live_server)
    nav(page, "Events").click()

    page.get_by_role("link", name="Edit project_created").click()
    editor = page.get_by_role("form", name="Edit event project_created")
    description = editor.get_by_label("Description")
    expect(description).to_be_focused()  # swapped in and set up by htmx
    description.fill("A user created a project")
    editor.get_by_role("button", name="Save event").click()
    row = page.locator("#events-table tbody.event", has_text="project_created")
    expect(row).to_contain_text("A user created a project")
    expect(row.locator("svg.daily-bars rect.chart-bar")).to_have_count(3)  # the row, whole
    saved = EventDefinition.objects.get(application=application, name="project_created")
    assert saved.description == "A user created a project"

    # Cancel leaves the description as it was.
    page.get_by_role("link", name="Edit project_created").click()
    editor = page.get_by_role("form", name="Edit event project_created")
    editor.get_by_label("Description").fill("Something else")
    editor.get_by_role("link", name="Cancel").click()
    expect(row).to_contain_text("A user created a project")

    # A name added by hand appears as a new row; a bad name is refused at the field.
    form = page.get_by_role("form", name="Add an event")
    form.get_by_label("Name").fill("invited teammate")
    form.get_by_role("button", name="Add event").click()
    expect(page.locator("#new-name-error")).to_contain_text("An event name is 1 to 128 letters")
    form.get_by_label("Name").fill("checklist_done")
    form.get_by_label("Description").fill("Finished the checklist")
    form.get_by_role("button", name="Add event").click()
    expect(page.get_by_role("status")).to_have_text("Event “checklist_done” added.")
    added = page.locator("#events-table tbody.event", has_text="checklist_done")
    expect(added).to_contain_text("Finished the checklist")
    expect(added.locator(".chart-summary")).to_have_text(re.compile(r"^30 days: 0 events \("))

    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm
    added.get_by_role("button", name="Delete checklist_done").click()
    expect(added).to_have_count(0)
    assert not application.event_definitions.filter(name="checklist_done").exists()
