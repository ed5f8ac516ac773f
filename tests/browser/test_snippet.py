"""The snippet in headless Chromium (callout.min.js, as the embed loads it), embedded in a host
page on another origin than the API."""

import pytest
from playwright.sync_api import expect

from experiences.models import Event
from tests.factories import PublishedExperienceFactory

from .conftest import wait_until

pytestmark = pytest.mark.browser

FREE = {"id": "free-1", "traits": {"plan": "free", "role": "member"}}
FREE_ADMIN = {"id": "free-admin", "traits": {"plan": "free", "role": "admin"}}
ENTERPRISE = {"id": "ent-1", "traits": {"plan": "enterprise", "role": "member"}}
ADMIN = {"id": "admin-1", "traits": {"plan": "pro", "role": "admin"}}
BETA = {"id": "beta-1", "traits": {"plan": "pro", "role": "member", "beta": True}}


def banner(page):
    return page.get_by_role("region", name="Upgrade banner")


def tooltip(page):
    return page.get_by_role("dialog", name="Admins only")


def events(experience, type_=None):
    found = Event.objects.filter(experience=experience)
    return list(found.filter(type=type_) if type_ else found)


def settle(page):
    """Let the snippet's requests finish, so that 'not visible' is not just 'not yet'."""
    page.wait_for_load_state("networkidle")


def test_free_user_sees_the_upgrade_banner_on_dashboard_not_on_settings(acme, open_as):
    _, experiences = acme
    page = open_as(FREE, "/dashboard")
    expect(banner(page)).to_be_visible()
    expect(banner(page)).to_contain_text("You're on the free plan.")
    expect(banner(page).get_by_role("link", name="Upgrade")).to_have_attribute(
        "href", page.url.split("/dashboard")[0] + "/billing"
    )
    assert wait_until(lambda: events(experiences["banner"], "shown"))
    page.goto(page.url.replace("/dashboard", "/settings"))
    settle(page)
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    expect(banner(page)).to_have_count(0)
    assert page.errors == []


def test_enterprise_user_does_not_see_the_upgrade_banner(acme, open_as):
    page = open_as(ENTERPRISE, "/dashboard")
    settle(page)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(banner(page)).to_have_count(0)


def test_admin_tooltip__only_on_settings__only_for_admins__waits_for_its_element(acme, open_as):
    page = open_as(ADMIN, "/settings")
    # #settings-save appears 300 ms after the page: the tooltip waits for it.
    expect(tooltip(page)).to_be_visible()
    expect(tooltip(page)).to_contain_text("Changes apply to your whole team.")
    save = page.locator("#settings-save").bounding_box()
    card = tooltip(page).bounding_box()
    assert card["y"] >= save["y"] + save["height"]  # placement bottom: below the button
    page.goto(page.url.replace("/settings", "/dashboard"))
    settle(page)
    expect(tooltip(page)).to_have_count(0)


def test_admin_tooltip__not_for_a_member(acme, open_as):
    page = open_as(FREE, "/settings")
    page.locator("#settings-save").wait_for()
    settle(page)
    expect(tooltip(page)).to_have_count(0)


def test_a_tour_stepped_through_to_done_records_completed_and_does_not_come_back(acme, open_as):
    _, experiences = acme
    page = open_as(BETA, "/dashboard")
    step = page.get_by_role("dialog", name="Welcome!")
    expect(step).to_be_visible()
    expect(step).to_have_attribute("aria-modal", "true")
    expect(step).to_contain_text("1 of 3")
    expect(step.get_by_role("button", name="Back")).to_have_count(0)
    # Focus moved into the modal.
    assert page.evaluate("document.activeElement.tagName") == "CALLOUT-ROOT"
    page.keyboard.press("Enter")  # Next has the focus

    step = page.get_by_role("dialog", name="Projects")
    expect(step).to_contain_text("2 of 3")
    target = page.locator("#new-project").bounding_box()
    assert step.bounding_box()["x"] >= target["x"] + target["width"]  # placement right
    step.get_by_role("button", name="Back").click()
    expect(page.get_by_role("dialog", name="Welcome!")).to_contain_text("1 of 3")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("dialog", name="Projects").get_by_role("button", name="Next").click()

    step = page.get_by_role("dialog", name="All set")
    expect(step).to_contain_text("3 of 3")
    step.get_by_role("button", name="Done").click()
    expect(step).to_have_count(0)

    tour = experiences["tour"]
    assert wait_until(lambda: events(tour, "completed"))
    assert [e.step for e in reversed(events(tour, "step"))] == [1, 0, 1, 2]
    assert len(events(tour, "shown")) == 1
    page.reload()
    settle(page)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_esc_closes_a_tour_and_records_dismissed(acme, open_as):
    _, experiences = acme
    page = open_as(BETA, "/dashboard")
    expect(page.get_by_role("dialog", name="Welcome!")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert wait_until(lambda: events(experiences["tour"], "dismissed"))


def test_dismissing_a_once_banner_hides_it_for_good(acme, open_as):
    _, experiences = acme
    page = open_as(FREE, "/dashboard")
    expect(banner(page)).to_be_visible()
    banner(page).get_by_role("button", name="Close").click()
    expect(banner(page)).to_have_count(0)
    assert wait_until(lambda: events(experiences["banner"], "dismissed"))
    page.reload()
    settle(page)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(banner(page)).to_have_count(0)


def test_single_page_navigation_with_push_state_re_evaluates(acme, open_as):
    page = open_as(FREE_ADMIN, "/dashboard")
    expect(banner(page)).to_be_visible()
    page.get_by_role("link", name="Settings").click()  # history.pushState, no page load
    expect(tooltip(page)).to_be_visible()
    expect(banner(page)).to_have_count(0)
    page.go_back()  # popstate
    expect(banner(page)).to_be_visible()
    expect(tooltip(page)).to_have_count(0)


def test_a_broken_key_logs_a_warning_and_leaves_the_host_page_working(acme, open_as, host_app):
    host_app.config = {**host_app.config, "key": "pk_broken"}
    page = open_as(FREE, "/dashboard")
    settle(page)
    assert "Callout: No application has this public key." in page.warnings
    counter = page.locator("#counter")
    counter.click()
    expect(counter).to_have_text("clicked 1")
    expect(banner(page)).to_have_count(0)
    assert page.errors == []


def test_an_unreachable_api_logs_a_warning_and_throws_nothing(acme, open_as, host_app):
    host_app.config = {**host_app.config, "api_host": "http://127.0.0.1:9"}
    page = open_as(FREE, "/dashboard")
    settle(page)
    assert any(w.startswith("Callout: cannot reach") for w in page.warnings)
    page.locator("#counter").click()
    expect(page.locator("#counter")).to_have_text("clicked 1")
    assert page.errors == []


def test_shadow_dom__host_css_does_not_reach_in__ours_does_not_leak_out(acme, open_as):
    page = open_as(FREE, "/dashboard")
    close = banner(page).get_by_role("button", name="Close")
    expect(close).to_be_visible()  # despite .c-banner { display: none !important } on the host
    assert close.evaluate("b => getComputedStyle(b).backgroundColor") != "rgb(0, 128, 0)"
    assert banner(page).evaluate("b => getComputedStyle(b).fontFamily") != "Georgia, serif"
    host_element = page.locator("#host-c-btn")
    assert host_element.evaluate("e => getComputedStyle(e).borderTopWidth") == "0px"
    assert host_element.evaluate("e => getComputedStyle(e).color") == "rgb(200, 0, 0)"


def test_a_checklist_shows_progress_and_completes(acme, open_as):
    app, _ = acme
    checklist = PublishedExperienceFactory(
        application=app,
        name="Get set up",
        kind="checklist",
        content={
            "title": "Get set up",
            "items": [
                {"id": "invite", "label": "Invite a teammate", "complete_on": "click"},
                {
                    "id": "project",
                    "label": "Create a project",
                    "complete_on": "event",
                    "event": "project_created",
                },
            ],
        },
        segments=[app.everyone],
    )
    page = open_as(ENTERPRISE, "/dashboard")
    panel = page.get_by_role("complementary", name="Get set up")
    expect(panel).to_contain_text("0 of 2")
    invite = panel.get_by_role("checkbox", name="Invite a teammate")
    expect(invite).to_have_attribute("aria-checked", "false")
    invite.click()
    expect(panel).to_contain_text("1 of 2")
    expect(invite).to_have_attribute("aria-checked", "true")
    page.reload()  # progress survives a page load
    panel = page.get_by_role("complementary", name="Get set up")
    expect(panel).to_contain_text("1 of 2")
    page.evaluate("Callout.track('project_created')")
    expect(panel).to_contain_text("2 of 2")
    assert wait_until(lambda: events(checklist, "completed"))
    expect(panel).to_have_count(0)
