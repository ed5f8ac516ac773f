"""Delivery in the browser: banners at one edge stack, each visible, in priority order, and the
page moves down by their total height (the bug: two top banners sat on top of each other, the
first hidden, and two spacers left an empty band)."""

import pytest
from playwright.sync_api import expect

from tests.factories import PublishedExperienceFactory

from .test_snippet import FREE_ADMIN, banner, settle

pytestmark = pytest.mark.browser


# Where the host page's content starts, less the page's own top margin.
NAV_TOP = (
    "() => document.querySelector('nav').getBoundingClientRect().top"
    " - parseFloat(getComputedStyle(document.body).marginTop)"
)


def region(page, name):
    return page.get_by_role("region", name=name)


@pytest.fixture
def two_more_banners(acme):
    app, _ = acme
    admins = app.segments.get(name="Admins")
    notice = PublishedExperienceFactory(
        application=app,
        name="Admin notice",
        kind="banner",
        content={"text": "Billing moves to the Team page on Monday.", "style": "warning"},
        url_include=["/dashboard"],
        segments=[admins],
        priority=5,
    )
    held = PublishedExperienceFactory(
        application=app,
        name="Held banner",
        kind="banner",
        content={"text": "A third banner at the top: the server holds it back."},
        url_include=["/dashboard"],
        segments=[admins],
        priority=-5,
    )
    footer = PublishedExperienceFactory(
        application=app,
        name="Footer banner",
        kind="banner",
        content={"text": "At the bottom.", "position": "bottom"},
        url_include=["/dashboard"],
        segments=[admins],
    )
    assert app.max_banners_per_edge == 2  # the default
    return notice, held, footer


def test_two_top_banners_stack_both_visible_and_the_page_moves_down_by_both(
    acme, two_more_banners, open_as
):
    page = open_as(FREE_ADMIN, "/dashboard")
    notice, upgrade = region(page, "Admin notice"), banner(page)
    expect(notice).to_be_visible()
    expect(upgrade).to_be_visible()
    settle(page)
    expect(region(page, "Held banner")).to_have_count(0)  # two at the top already
    expect(region(page, "Footer banner")).to_be_visible()

    first, second = notice.bounding_box(), upgrade.bounding_box()
    assert first["y"] == 0  # the higher priority nearest the edge
    assert first["height"] > 0 and second["height"] > 0
    assert second["y"] >= first["y"] + first["height"] - 0.5  # no overlap: both fully visible
    stack = second["y"] + second["height"]
    # One spacer as tall as the stack: the page starts right below it (after its own margin),
    # no empty band.
    expect(page.locator("callout-spacer")).to_have_count(2)  # the top one and the bottom one
    assert abs(page.evaluate(NAV_TOP) - stack) <= 1, (page.evaluate(NAV_TOP), stack)
    # Nothing of the host page is covered: right below the stack is the page's own.
    middle = first["x"] + first["width"] / 2
    under = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).tagName", [middle, stack + 1]
    )
    assert under != "CALLOUT-ROOT"

    # Closing the top one moves the other up, and the page with it.
    notice.get_by_role("button", name="Close").click()
    expect(notice).to_have_count(0)
    height = upgrade.bounding_box()["height"]
    page.wait_for_function(f"() => Math.abs(({NAV_TOP})() - {height}) <= 1")
    assert upgrade.bounding_box()["y"] == 0
    assert page.errors == []


def test_the_last_banner_closed_leaves_no_spacer(acme, open_as):
    page = open_as(FREE_ADMIN, "/dashboard")
    expect(banner(page)).to_be_visible()
    expect(page.locator("callout-spacer")).to_have_count(1)
    banner(page).get_by_role("button", name="Close").click()
    expect(banner(page)).to_have_count(0)
    expect(page.locator("callout-spacer")).to_have_count(0)
    assert page.evaluate(NAV_TOP) == 0
