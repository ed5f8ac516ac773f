"""A segment's History in Debian's Chromium (headless), by accessible names: a product manager
opens the History, reads what changed in words, and restores the previous version after its
impact preview."""

import pytest
from playwright.sync_api import Page, expect

from segments import actions
from segments.models import Segment

from .test_segments_ui import acme, log_in, nav  # noqa: F401 - acme is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_product_manager_reads_the_history_and_restores_a_version(
    page: Page,
    live_server,
    acme,  # noqa: F811
):
    rule = {"trait": "plan", "operator": "equals", "value": "pro"}
    segment = actions.segment_create(application=acme, name="Paying", rules=[rule])
    actions.segment_update(segment=segment, rules=[{**rule, "value": "Free"}])

    log_in(page, live_server)
    page.get_by_role("link", name="Paying").click()
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", name="History of “Paying”")).to_be_visible()
    versions = page.get_by_role("table")
    expect(versions.get_by_role("row")).to_have_count(3)  # a header, version 2, version 1
    changes = page.get_by_role("list", name="What changed from version 1 to version 2")
    expect(changes.get_by_role("listitem")).to_have_text(
        ['rule 1: `plan equals "pro"` → `plan equals "Free"`']
    )

    page.get_by_role("link", name="Restore version 1").click()
    expect(page.get_by_role("heading", name="If you restore")).to_be_visible()
    expect(page.locator("#impact .enter")).to_contain_text("users enter")
    page.get_by_role("button", name="Restore version 1").click()

    expect(page.get_by_role("status")).to_contain_text(
        'Version 1 of "Paying" restored, as version 3.'
    )
    expect(page.get_by_role("heading", name="History of “Paying”")).to_be_visible()
    assert Segment.objects.get(pk=segment.pk).definition["rules"][0]["value"] == "pro"
    assert nav(page, "Segments").is_visible()
