"""A product manager's walk through Engage, in Debian's Chromium (headless)."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import EndUserFactory, MembershipFactory, TraitDefinitionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # UserFactory's


@pytest.fixture
def acme(live_server):
    """Plan and role traits, ten users: 4 pro (2 admins), 6 free (1 admin)."""
    membership = MembershipFactory(application__name="Acme App", user__username="pm")
    application = membership.application
    TraitDefinitionFactory(application=application, key="plan", label="Plan")
    TraitDefinitionFactory(application=application, key="role", label="Role")
    people = [("pro", "admin")] * 2 + [("pro", "member")] * 2 + [("Free", "admin")]
    people += [("free", "member")] * 5
    for n, (plan, role) in enumerate(people):
        traits = {"plan": plan, "role": role}
        EndUserFactory(application=application, external_id=f"user-{n:02d}", traits=traits)
    return application


def log_in(page: Page, live_server) -> None:
    page.goto(live_server.url + "/")
    page.get_by_label("Username").fill("pm")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Segments", exact=True)).to_be_visible()


def nav(page: Page, name: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def test_a_product_manager_creates_a_segment_with_a_live_preview(page: Page, live_server, acme):
    log_in(page, live_server)
    page.get_by_role("link", name="Create Segment").click()
    count = page.locator("#preview-count")
    expect(count).to_have_text("Matches 10 of 10 users")

    # Rule 1: plan equals pro. Choosing the trait re-shapes the row (operators for text).
    rule1 = page.get_by_role("group", name="Rule 1")
    rule1.get_by_label("Trait").select_option("plan")
    expect(rule1.get_by_label("Operator")).to_have_value("equals")
    expect(rule1.get_by_label("Match case")).to_be_visible()
    rule1.get_by_label("Value").fill("pro")
    expect(count).to_have_text("Matches 4 of 10 users")

    # Rule 2 narrows the audience; the funnel shows where.
    page.get_by_role("button", name="Add rule").click()
    rule2 = page.get_by_role("group", name="Rule 2")
    expect(rule2.get_by_label("Trait")).to_be_focused()
    rule2.get_by_label("Trait").select_option("role")
    rule2.get_by_label("Value").fill("admin")
    expect(count).to_have_text("Matches 2 of 10 users")
    funnel = page.get_by_role("list", name="Users remaining after each rule")
    expect(funnel).to_contain_text('Rule 1: plan equals "pro"4')
    expect(funnel).to_contain_text('Rule 2: role equals "admin"2')

    # Saving without a name: refused, the error sits at the Name field, nothing is lost.
    page.get_by_role("button", name="Save segment").click()
    name = page.get_by_label("Name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name-error")).to_have_text("Give the segment a name.")
    expect(page.get_by_role("group", name="Rule 2").get_by_label("Value")).to_have_value("admin")

    name.fill("Pro Plan Admins")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Pro Plan Admins")).to_be_visible()
    expect(page.locator("#member-count")).to_have_text("2")
    expect(page.get_by_text('plan equals "pro"')).to_be_visible()

    # Found in the list by search; the URL keeps the filter.
    nav(page, "Segments").click()
    page.get_by_label("Search").fill("pro plan")
    results = page.locator("#results")
    expect(results).not_to_contain_text("Everyone")
    expect(results.get_by_role("link", name="Pro Plan Admins")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]q=pro(%20|\+)plan"))
    page.reload()  # bookmarkable
    expect(page.get_by_label("Search")).to_have_value("pro plan")
    expect(results).not_to_contain_text("Everyone")


def test_a_product_manager_adds_a_trait_inline_and_reads_a_users_explanation(
    page: Page, live_server, acme
):
    from segments import actions

    actions.segment_create(
        application=acme,
        name="Free Admins",
        rules=[
            {"trait": "role", "operator": "equals", "value": "admin"},
            {"trait": "plan", "operator": "equals", "value": "free", "case_sensitive": True},
        ],
    )
    log_in(page, live_server)
    nav(page, "Traits").click()

    form = page.get_by_role("form", name="Add a trait")
    form.get_by_label("Key").fill("teamSize")
    form.get_by_label("Label").fill("Team size")
    form.get_by_label("Type").select_option(label="Number")
    form.get_by_role("button", name="Add trait").click()
    expect(page.get_by_role("status")).to_have_text("Trait “teamSize” added.")
    row = page.locator("#traits-table tbody", has_text="teamSize")
    expect(row).to_contain_text("Number")
    expect(form.get_by_label("Key")).to_have_value("")

    # Edit in place: the row becomes a form and back.
    page.get_by_role("link", name="Edit teamSize").click()
    editor = page.get_by_role("form", name="Edit trait teamSize")
    expect(editor.get_by_label("Label")).to_be_focused()  # swapped in and set up by htmx
    editor.get_by_label("Description").fill("Seats in the team")
    editor.get_by_role("button", name="Save trait").click()
    expect(row).to_contain_text("Seats in the team")

    # Changing the type of a trait that rules use names the segments before anything is saved.
    page.get_by_role("link", name="Edit plan").click()
    editor = page.get_by_role("form", name="Edit trait plan")
    expect(editor.get_by_label("Label")).to_be_focused()
    editor.get_by_label("Type").select_option(label="True / false")
    expect(editor.get_by_role("alert")).to_contain_text(
        'Free Admins: “plan equals "free" (match case)” would match nobody'
    )
    expect(editor.get_by_role("button", name="Change type and save")).to_be_visible()
    editor.get_by_role("link", name="Cancel").click()
    expect(page.locator("#traits-table tbody", has_text="plan")).to_contain_text("Text")

    # The user whose plan is "Free" is not a free admin: match case is on.
    nav(page, "Users").click()
    page.get_by_role("link", name="user-04").click()
    verdict = page.locator(".verdict", has_text="Free Admins")
    expect(verdict).to_contain_text(
        'rule 2 failed: plan is "Free", expected equals "free" with match case on'
    )
    expect(verdict).to_contain_text("not in this segment")


def test_a_manager_made_viewer_while_the_page_is_open_is_told_why_a_delete_is_refused(
    page: Page, live_server, acme
):
    from segments.models import Membership

    log_in(page, live_server)
    nav(page, "Traits").click()
    delete = page.get_by_role("button", name="Delete plan")
    expect(delete).to_be_visible()
    Membership.objects.filter(application=acme).update(role=Membership.Role.VIEWER)
    page.once("dialog", lambda dialog: dialog.accept())  # hx-confirm
    delete.click()
    alert = page.locator("#alerts")
    expect(alert).to_have_text(
        "You are a viewer of Acme App: only an editor or an owner can do this."
    )
    expect(page.locator("#traits-table tbody", has_text="plan")).to_be_visible()
    assert acme.trait_definitions.filter(key="plan").exists()
    # Reloaded, the page no longer offers what a viewer cannot do.
    page.reload()
    expect(page.get_by_role("button", name="Delete plan")).to_have_count(0)
    expect(page.get_by_role("form", name="Add a trait")).to_have_count(0)


@pytest.mark.parametrize("debug", [False, True], ids=["production", "demo server (DEBUG=1)"])
def test_inline_errors_and_refusals_stay_in_place_in_both_modes(
    page: Page, live_server, acme, settings, debug
):
    """With DEBUG=1, django-htmx's debug script replaced the whole page with the bare answer
    to any 400, 403 or 404: the inline errors' own status (base.html no longer loads it)."""
    from segments import actions
    from segments.models import Membership

    settings.DEBUG = debug
    actions.segment_create(
        application=acme,
        name="Admins",
        rules=[{"trait": "role", "operator": "equals", "value": "admin"}],
    )
    log_in(page, live_server)
    nav(page, "Traits").click()

    form = page.get_by_role("form", name="Add a trait")
    form.get_by_label("Key").fill("9lives")
    form.get_by_role("button", name="Add trait").click()
    expect(page.locator("#new-key-error")).to_contain_text("letter")
    expect(form.get_by_label("Key")).to_have_attribute("aria-invalid", "true")
    expect(nav(page, "Traits")).to_be_visible()  # the page around the form is still there

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete role").click()
    row = page.locator("#traits-table tbody", has_text="role")
    expect(row.get_by_role("alert")).to_contain_text("is used by the rules of")
    expect(nav(page, "Traits")).to_be_visible()

    # A server error: said in the alert region, not swapped in, not silent.
    page.route(re.compile(r".*/traits/new/$"), lambda route: route.fulfill(status=500, body="x"))
    form.get_by_label("Key").fill("lives")
    form.get_by_role("button", name="Add trait").click()
    expect(page.locator("#alerts")).to_have_text(
        "The server could not do this (error 500). Reload the page and try again."
    )
    expect(form.get_by_label("Key")).to_have_value("lives")

    Membership.objects.filter(application=acme).update(role=Membership.Role.VIEWER)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete plan").click()
    expect(page.locator("#alerts")).to_contain_text("You are a viewer of Acme App")
    expect(nav(page, "Traits")).to_be_visible()


def test_back_after_a_live_search_shows_the_urls_filters_in_their_fields(
    page: Page, live_server, acme
):
    """htmx's history snapshot kept the page's markup, not what was typed: Back showed the
    list filtered by the URL with empty Search and Trait fields."""
    from segments import actions

    actions.segment_create(
        application=acme,
        name="Admins",
        rules=[{"trait": "role", "operator": "equals", "value": "admin"}],
    )
    log_in(page, live_server)
    results = page.locator("#results")

    # Segments: a search, then a trait filter; Back to the search alone.
    page.get_by_label("Search").fill("adm")
    expect(page).to_have_url(re.compile(r"[?&]q=adm"))
    expect(results).not_to_contain_text("Everyone")
    page.get_by_label("Trait used by a rule").select_option("plan")
    expect(page).to_have_url(re.compile(r"[?&]trait=plan"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"\?q=adm&trait=$"))
    expect(page.get_by_label("Search")).to_have_value("adm")
    expect(page.get_by_label("Trait used by a rule")).to_have_value("")
    expect(results.get_by_role("link", name="Admins")).to_be_visible()
    page.go_forward()
    expect(page.get_by_label("Trait used by a rule")).to_have_value("plan")
    # Away to a segment's page and Back.
    page.go_back()
    results.get_by_role("link", name="Admins").click()
    expect(page.get_by_role("heading", name="Admins")).to_be_visible()
    page.go_back()
    expect(page.get_by_label("Search")).to_have_value("adm")

    # Users: the id search and the trait filter.
    nav(page, "Users").click()
    page.get_by_label("User id").fill("user-0")
    expect(page).to_have_url(re.compile(r"[?&]q=user-0"))
    page.get_by_label("Trait", exact=True).select_option("plan")
    expect(page).to_have_url(re.compile(r"[?&]trait=plan"))
    page.get_by_label("Value").fill("pro")
    expect(page).to_have_url(re.compile(r"[?&]value=pro"))
    page.go_back()
    expect(page.get_by_label("User id")).to_have_value("user-0")
    expect(page.get_by_label("Trait", exact=True)).to_have_value("plan")
    expect(page.get_by_label("Value")).to_have_value("")

    # Experiences: the name search.
    nav(page, "Experiences").click()
    page.get_by_label("Name").fill("tour")
    expect(page).to_have_url(re.compile(r"[?&]name=tour"))
    page.get_by_label("Kind").select_option("banner")
    expect(page).to_have_url(re.compile(r"[?&]kind=banner"))
    page.go_back()
    expect(page.get_by_label("Name")).to_have_value("tour")
    expect(page.get_by_label("Kind")).to_have_value("")


def test_back_to_a_live_search_reloaded_from_the_browsers_cache_is_the_whole_page(
    playwright, live_server, acme
):
    """Without the back/forward cache (a browser may not use it), Back reloads the page's URL
    from the HTTP cache, where htmx's request had left the results region alone."""
    from tests.conftest import CHROMIUM, CHROMIUM_ARGS

    no_bfcache = [*CHROMIUM_ARGS, "--disable-features=BackForwardCache"]
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=no_bfcache)
    try:
        page = browser.new_page()
        log_in(page, live_server)
        page.get_by_label("Search").fill("every")
        expect(page).to_have_url(re.compile(r"[?&]q=every"))
        page.locator("#results").get_by_role("link", name="Everyone").click()
        expect(page.get_by_role("heading", name="Everyone")).to_be_visible()
        page.go_back()
        expect(nav(page, "Segments")).to_be_visible()
        expect(page.get_by_label("Search")).to_have_value("every")
    finally:
        browser.close()
