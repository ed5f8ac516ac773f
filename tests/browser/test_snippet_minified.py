"""The minified snippet (static/callout.min.js, built by scripts/build-snippet) is what the embed
loads: a whole flow on it, its default host, never throwing into the host page; and the readable
static/callout.js is still served and runs the same. (The other test_snippet*.py files drive the
embed too, so they also run on the minified file.)"""

import pytest
from playwright.sync_api import expect

from experiences.models import Event
from tests.factories import PublishedExperienceFactory

from .conftest import DOCS_KEY, wait_until

pytestmark = pytest.mark.browser

FREE = {"id": "free-1", "traits": {"plan": "free", "role": "member"}}


def banner(page):
    return page.get_by_role("region", name="Upgrade banner")


def events(experience, type_):
    return list(Event.objects.filter(experience=experience, type=type_))


def scripts_loaded(page) -> list[str]:
    """The paths of the Callout scripts that the page requests, from now on."""
    loaded = []
    page.on(
        "request",
        lambda r: loaded.append(r.url.split("/static/", 1)[1]) if "/static/" in r.url else None,
    )
    return loaded


def test_the_embed_loads_callout_min_js__identify_serve_render_navigate_dismiss(
    acme, open_as, page
):
    _, experiences = acme
    loaded = scripts_loaded(page)
    open_as(FREE, "/dashboard")
    expect(banner(page)).to_be_visible()
    assert loaded == ["callout.min.js"]
    assert wait_until(lambda: events(experiences["banner"], "shown"))
    page.get_by_role("link", name="Settings").click()  # pushState: re-evaluated, not shown
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    expect(banner(page)).to_have_count(0)
    page.go_back()
    expect(banner(page)).to_be_visible()
    banner(page).get_by_role("button", name="Close").click()
    expect(banner(page)).to_have_count(0)
    assert wait_until(lambda: events(experiences["banner"], "dismissed"))
    assert page.errors == [] and page.warnings == []


def test_init_without_host_calls_the_api_where_callout_min_js_was_loaded_from(
    acme, open_as, host_app
):
    host_app.config = {**host_app.config, "init": f'Callout.init({{key: "{DOCS_KEY}"}});'}
    page = open_as(FREE, "/dashboard")
    expect(banner(page)).to_be_visible()
    assert page.errors == [] and page.warnings == []


def test_the_readable_callout_js_is_still_served_and_runs_the_same(acme, open_as, host_app, page):
    _, experiences = acme
    host_app.config = {**host_app.config, "snippet": "/static/callout.js"}
    loaded = scripts_loaded(page)
    open_as(FREE, "/dashboard")
    expect(banner(page)).to_be_visible()
    assert loaded == ["callout.js"]
    banner(page).get_by_role("button", name="Close").click()
    assert wait_until(lambda: events(experiences["banner"], "dismissed"))
    assert page.errors == []


def test_the_minified_snippet_never_throws_into_the_host_page(acme, open_as):
    app, _ = acme
    PublishedExperienceFactory(
        application=app,
        name="Broken tooltip",
        kind="tooltip",
        content={"selector": "#new-project[", "title": "Broken", "body": "Bad selector."},
        url_include=["/dashboard"],
        segments=[app.everyone],
    )
    page = open_as(FREE, "/dashboard")
    expect(banner(page)).to_be_visible()  # the other experience still shows
    # Calls a host page might get wrong return quietly; each problem is a console warning.
    returned = page.evaluate(
        "() => { Callout.identify(null); Callout.track({}); Callout.page(1, 2); return 'ok'; }"
    )
    assert returned == "ok"
    page.locator("#counter").click()
    expect(page.locator("#counter")).to_have_text("clicked 1")
    assert '"#new-project[" is not a valid CSS selector.' in " ".join(page.warnings)
    assert any(w.startswith("Callout: Callout.identify needs") for w in page.warnings)
    assert any(w.startswith("Callout: Callout.track(") for w in page.warnings)
    assert page.errors == []
