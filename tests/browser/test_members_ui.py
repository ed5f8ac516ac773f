"""Setup > Members in Debian's Chromium (headless), by accessible names: an owner adds a member,
changes a role in its row, meets the last-owner rule, removes the member, and invites a new
person, who logs in, opens the link and joins."""

import re

import pytest
from playwright.sync_api import Page, expect

from segments.models import Membership
from tests.factories import MembershipFactory, UserFactory

from .test_segments_ui import PASSWORD, log_in, nav

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(live_server):
    owner = MembershipFactory(
        application__name="Acme App", user__username="pm", role=Membership.Role.OWNER
    )
    UserFactory(username="ed")
    return owner.application


def test_an_owner_manages_members_and_an_invitee_joins(page: Page, live_server, acme, browser):
    log_in(page, live_server)
    nav(page, "Members").click()
    expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()

    add = page.get_by_role("form", name="Add a member")
    add.get_by_label("Username or e-mail").fill("ed")
    add.get_by_label("Role").select_option(label="Viewer")
    add.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_contain_text("ed is now a member (viewer).")
    members = page.get_by_role("table", name="Members of Acme App")
    expect(members.get_by_role("row")).to_have_count(3)  # a header, pm, ed

    # Change ed's role in the row (htmx swaps the row only).
    members.get_by_label("Role of ed", exact=True).select_option(label="Editor")
    members.get_by_role("button", name="Save role of ed").click()
    expect(members.get_by_role("row", name=re.compile(r"^ed\b"))).to_have_class("flash")
    assert Membership.objects.get(user__username="ed").role == "editor"

    # The last owner stays an owner: an inline error in the row.
    members.get_by_label("Role of pm", exact=True).select_option(label="Viewer")
    members.get_by_role("button", name="Save role of pm").click()
    expect(members.get_by_role("alert")).to_have_text(
        "pm is the last owner of Acme App: make another member an owner first."
    )
    expect(members.get_by_label("Role of pm", exact=True)).to_have_attribute("aria-invalid", "true")
    assert Membership.objects.get(user__username="pm").role == "owner"

    # Remove ed, after saying yes.
    page.once("dialog", lambda dialog: dialog.accept())
    members.get_by_role("link", name="Remove ed").click()
    expect(members.get_by_role("row")).to_have_count(2)
    assert not Membership.objects.filter(user__username="ed").exists()

    # Invite someone without an account: the link is shown once.
    add = page.get_by_role("form", name="Add a member")
    add.get_by_label("Username or e-mail").fill("nina@example.com")
    add.get_by_role("button", name="Add member").click()
    link = page.get_by_label("Invite link").inner_text().strip()
    assert link.startswith(live_server.url + "/invite/")
    expect(
        page.get_by_role("button", name="Revoke the invite for nina@example.com")
    ).to_be_visible()

    # An administrator made Nina's account; she opens the link, logs in, comes back, joins.
    UserFactory(username="nina", email="nina@example.com")
    nina = browser.new_context().new_page()
    nina.goto(link)
    nina.get_by_label("Username").fill("nina")
    nina.get_by_label("Password").fill(PASSWORD)
    nina.get_by_role("button", name="Log in").click()
    expect(nina.get_by_role("heading", name="Join Acme App")).to_be_visible()
    nina.get_by_role("button", name="Join Acme App").click()
    expect(nina.get_by_role("heading", name="Segments", exact=True)).to_be_visible()
    expect(nina.get_by_role("status")).to_contain_text("Welcome to Acme App: you are an editor.")

    # The link works once.
    nina.goto(link)
    expect(nina.get_by_role("alert").filter(has_text="already used")).to_be_visible()
    nina.context.close()
