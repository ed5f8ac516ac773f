"""The experience editor's live preview in a real browser: the snippet itself draws the
content as it is typed, with the application's theme, in a frame of the editor."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from experiences.models import Experience
from segments import actions

from .test_experiences_ui import acme, log_in  # noqa: F401 (acme is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_preview_draws_a_banner_as_typed_with_the_theme(page: Page, live_server, acme):  # noqa: F811
    actions.application_set_theme(application=acme, theme={"primary": "#1e4620"})
    log_in(page, live_server)
    page.goto(f"{live_server.url}{reverse('experiences:create', args=[acme.pk, 'banner'])}")
    page.get_by_label("Name").fill("Spring sale")
    preview = page.frame_locator("iframe[title='Preview of the banner']")
    waiting = page.locator("[data-preview-problem]")
    expect(waiting).to_have_text("The preview waits for: Give the banner some text.")

    page.get_by_label("Text").fill("Half price on annual plans")
    banner = preview.get_by_role("region", name="Spring sale")
    expect(banner).to_contain_text("Half price on annual plans")
    expect(waiting).to_have_text("")
    assert banner.evaluate("(n) => getComputedStyle(n).backgroundColor") == "rgb(30, 70, 32)"

    page.get_by_label("Text").fill("Half price, this week only")  # follows the typing
    expect(banner).to_contain_text("Half price, this week only")
    page.get_by_label("Button label").fill("See plans")
    page.get_by_label("Button link").fill("/pricing")
    expect(banner.get_by_role("link", name="See plans")).to_be_visible()
    assert not Experience.objects.exists()  # nothing saved by previewing


def test_a_tour_step_on_an_element_of_the_customer_s_page_points_at_the_stand_in(
    page: Page,
    live_server,
    acme,  # noqa: F811
):
    log_in(page, live_server)
    page.goto(f"{live_server.url}{reverse('experiences:create', args=[acme.pk, 'tour'])}")
    page.get_by_label("Name").fill("Projects tour")
    first = page.get_by_role("listitem", name="Step 1", exact=True)
    first.get_by_label("Type").select_option("tooltip")
    first.get_by_label("Target element (CSS selector)").fill("#new-project")
    first.get_by_label("Title").fill("Projects")
    preview = page.frame_locator("iframe[title='Preview of the tour']")
    card = preview.get_by_role("dialog", name="Projects")
    expect(card).to_be_visible()
    anchor = preview.get_by_role("button", name="Your button")
    assert abs(card.bounding_box()["y"] - anchor.bounding_box()["y"]) < 200  # placed by it
