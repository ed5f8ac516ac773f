"""Engage > Companies in Debian's Chromium (headless): the list filtered live, and a company's
page with each user's segments and, on demand, why."""

import re

import pytest
from playwright.sync_api import Page, expect

from segments import actions
from tests.factories import (
    CompanyFactory,
    EndUserFactory,
    MembershipFactory,
    TraitDefinitionFactory,
    saved_segment,
)

from .test_segments_ui import log_in, nav

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(live_server):
    """acme (enterprise): three users, two of them admins; globex (free): one admin; a segment
    of teams with two admins or more."""
    membership = MembershipFactory(application__name="Acme App", user__username="pm")
    application = membership.application
    TraitDefinitionFactory(application=application, key="role")
    TraitDefinitionFactory(application=application, scope="company", key="plan")
    acme = CompanyFactory(
        application=application, external_id="acme", traits={"plan": "enterprise"}
    )
    globex = CompanyFactory(application=application, external_id="globex", traits={"plan": "free"})
    for uid, company, role in [
        ("ann", acme, "admin"),
        ("bob", acme, "admin"),
        ("cat", acme, "member"),
        ("dan", globex, "admin"),
    ]:
        EndUserFactory(
            application=application, external_id=uid, company=company, traits={"role": role}
        )
    admins = saved_segment(application, "Admins", [("role", "equals", "admin")])
    actions.segment_create(
        application=application,
        name="Teams with two admins",
        definition={
            "match": "all",
            "rules": [
                {"company_users": {"segment": admins.pk}, "operator": "at_least", "value": 2}
            ],
        },
    )
    return application


def test_a_product_manager_finds_a_company_and_sees_why_its_users_are_in_segments(
    page: Page, live_server, acme
):
    log_in(page, live_server)
    nav(page, "Companies").click()
    expect(page.get_by_role("heading", name="Companies", exact=True)).to_be_visible()
    expect(nav(page, "Companies")).to_have_attribute("aria-current", "page")
    table = page.locator("#results table")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr", has_text="acme").locator("td.num")).to_have_text("3")

    # Live search: only the results swap, and the URL keeps the query.
    page.get_by_label("Company id").fill("glo")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("globex")
    expect(page).to_have_url(re.compile(r"[?&]q=glo"))
    page.get_by_label("Company id").fill("")
    expect(page.locator("#results table tbody tr")).to_have_count(2)

    # A trait filter on the companies' own traits.
    page.get_by_label("Trait").select_option("plan")
    page.get_by_label("Value").fill("enterprise")
    expect(page.locator("#results table tbody tr")).to_have_count(1)
    page.locator("#results").get_by_role("link", name="acme").click()

    expect(page.get_by_role("heading", name="acme", exact=True)).to_be_visible()
    per_segment = page.get_by_role("table", name="Users of acme per segment")
    expect(per_segment.get_by_role("row", name=re.compile("^Admins"))).to_contain_text("2 of 3")
    ann = page.locator("table.company-users tbody tr", has_text="ann")
    expect(ann.locator(".segments-in")).to_contain_text("Teams with two admins")
    why = ann.get_by_text("company condition 1: at least 2 users of the company")
    expect(why).to_be_hidden()
    ann.locator("summary", has_text="Why").click()
    expect(why).to_be_visible()
    expect(why).to_contain_text('passed: acme has 2 users in "Admins" (needs at least 2)')
