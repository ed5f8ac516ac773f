"""Setup > Audit log in Debian's Chromium (headless), by accessible names: an owner finds what
a colleague changed by filtering on them, and exports the selection as CSV."""

import pytest
from playwright.sync_api import Page, expect

from callout.actor import Actor, acting
from segments import actions
from segments.models import Membership
from tests.factories import MembershipFactory, UserFactory

from .test_segments_ui import log_in, nav

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(live_server):
    owner = MembershipFactory(
        application__name="Acme App", user__username="pm", role=Membership.Role.OWNER
    )
    application = owner.application
    lee = MembershipFactory(application=application, user=UserFactory(username="lee"))
    with acting(Actor(via="engage", user=lee.user)):
        actions.trait_definition_create(application=application, key="plan")
    with acting(Actor(via="engage", user=owner.user)):
        actions.trait_definition_create(application=application, key="teamSize", type="number")
    return application


def test_an_owner_filters_the_audit_log_by_person_and_exports_it(page: Page, live_server, acme):
    log_in(page, live_server)
    nav(page, "Audit log").click()
    expect(page.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
    table = page.get_by_role("table")
    expect(table.get_by_role("row", name="Created the trait “teamSize”")).to_be_visible()

    filters = page.get_by_role("search", name="Filter the audit log")
    filters.get_by_label("Who").select_option(label="lee")

    expect(table.get_by_role("row", name="Created the trait “teamSize”")).to_have_count(0)
    row = table.get_by_role("row", name="Created the trait “plan”")
    expect(row).to_be_visible()
    expect(row.get_by_role("cell", name="lee", exact=True)).to_be_visible()
    assert "who=lee" in page.url  # back and reload keep the filter

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = download.value.path().read_text(encoding="utf-8")
    assert "Created the trait “plan”" in text and "teamSize" not in text
