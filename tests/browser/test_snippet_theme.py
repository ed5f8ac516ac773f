"""The application's theme in the browser, on the host app's foreign origin: the snippet
draws with it inside its Shadow DOM, and without one with its built-in look."""

import pytest
from playwright.sync_api import expect

from segments import actions
from tests.factories import PublishedExperienceFactory

from .test_snippet import FREE, banner

pytestmark = pytest.mark.browser

THEME = {
    "primary": "#8ea2ff",
    "on_primary": "#10131c",
    "background": "#1b1d24",
    "text": "#f2f3f7",
    "font": "Courier New, monospace",
    "radius": 0,
    "launcher": "left",
}


def _style(locator, prop):
    return locator.evaluate(f"(node) => getComputedStyle(node).{prop}")


def test_banners_and_checklists_take_the_theme_and_the_default_comes_back(acme, open_as):
    app, _ = acme
    PublishedExperienceFactory(
        application=app,
        name="Get set up",
        kind="checklist",
        content={"title": "Get set up", "items": [{"id": "a", "label": "Invite a teammate"}]},
        segments=[app.everyone],
    )
    actions.application_set_theme(application=app, theme=THEME)
    page = open_as(FREE, "/dashboard")
    upgrade = banner(page)
    expect(upgrade).to_be_visible()
    assert _style(upgrade, "backgroundColor") == "rgb(142, 162, 255)"
    assert _style(upgrade, "color") == "rgb(16, 19, 28)"
    panel = page.get_by_role("complementary", name="Get set up")
    expect(panel).to_be_visible()
    assert _style(panel, "backgroundColor") == "rgb(27, 29, 36)"
    assert _style(panel, "color") == "rgb(242, 243, 247)"
    assert _style(panel, "borderTopLeftRadius") == "2px"  # the radius, +2 for the panel
    assert "Courier New" in _style(panel, "fontFamily")
    box = panel.bounding_box()
    assert box["x"] == 16  # the launcher at the bottom left
    # The host page is untouched: its own text keeps its font and colour.
    assert "Courier" not in page.evaluate("getComputedStyle(document.body).fontFamily")

    actions.application_set_theme(application=app, theme={})
    page.reload()
    upgrade = banner(page)
    expect(upgrade).to_be_visible()
    assert _style(upgrade, "backgroundColor") == "rgb(52, 81, 209)"  # the built-in #3451d1
    panel = page.get_by_role("complementary", name="Get set up")
    expect(panel).to_be_visible()
    assert _style(panel, "backgroundColor") == "rgb(255, 255, 255)"
    assert panel.bounding_box()["x"] > 16  # back at the bottom right
