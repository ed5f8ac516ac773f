"""Callout.track in headless Chromium: events queued and sent in batches, by sendBeacon as the
page goes away (nothing lost to a navigation), and true on the next serve."""

import pytest
from playwright.sync_api import expect

from segments import actions, activity
from segments.models import EndUser, TrackedEvent
from tests.factories import PublishedExperienceFactory

from .conftest import wait_until
from .test_snippet import ENTERPRISE, FREE, banner, settle

pytestmark = pytest.mark.browser


def stored(app, external_id):
    return list(
        TrackedEvent.objects.filter(application=app, end_user__external_id=external_id)
        .order_by("pk")
        .values_list("name", "properties")
    )


def test_events_tracked_just_before_leaving_the_page_are_stored(acme, open_as, host_app):
    app, _ = acme
    page = open_as(FREE, "/dashboard")
    settle(page)
    calls = []
    page.on("request", lambda r: calls.append(r.url) if r.url.endswith("/api/v1/track") else None)
    page.evaluate(
        """() => {
            Callout.track("project_created", {template: "kanban", public: false});
            Callout.track("invited");
        }"""
    )
    assert calls == []  # queued: they would go together within a second
    page.goto(host_app.url + "/settings")  # away at once: sendBeacon as the page is hidden
    expected = [("project_created", {"template": "kanban", "public": False}), ("invited", {})]
    assert wait_until(lambda: stored(app, FREE["id"]) == expected, timeout=15), (
        stored(app, FREE["id"]),
        page.warnings,
    )
    summary = EndUser.objects.get(application=app, external_id=FREE["id"]).activity
    assert activity.entry(summary, "project_created")[activity.COUNT] == 1
    assert page.errors == []


def test_events_go_in_batches_of_at_most_100__a_bad_one_is_dropped_with_a_warning(acme, open_as):
    app, _ = acme
    page = open_as(FREE, "/dashboard")
    settle(page)
    calls = []
    page.on("request", lambda r: calls.append(r) if r.url.endswith("/api/v1/track") else None)
    page.evaluate(
        """() => {
            for (let n = 0; n < 150; n++) Callout.track("step_done", {n: n});
            Callout.track("not a name");
            Callout.track("ok", {nested: {no: 1}});
        }"""
    )
    assert wait_until(lambda: len(stored(app, FREE["id"])) == 150)
    assert [p["n"] for _, p in stored(app, FREE["id"])] == list(range(150))
    page.wait_for_timeout(300)  # Playwright reports requests while it runs: let it catch up
    assert sorted(len(r.post_data_json["events"]) for r in calls) == [50, 100]
    assert all(r.headers["content-type"].startswith("text/plain") for r in calls)
    assert any('Callout.track("not a name")' in w for w in page.warnings)
    assert any('property "nested"' in w for w in page.warnings)
    assert page.errors == []


@pytest.mark.xfail(
    strict=True,
    reason="the serve reads the user's activity summary once the lead's serve change lands "
    "(experiences/lookup.py); the segment's SQL already sees the event",
)
def test_a_tracked_event_shows_an_experience_targeted_on_it_on_the_next_page(acme, open_as):
    app, _ = acme
    made_a_project = actions.segment_create(
        application=app,
        name="Made a project",
        definition={
            "match": "all",
            "rules": [{"event": "project_created", "operator": "at_least", "value": 1}],
        },
    )
    PublishedExperienceFactory(
        application=app,
        name="Upgrade banner",
        kind="banner",
        content={"text": "Projects are better with a team: upgrade."},
        url_include=["/dashboard"],
        segments=[made_a_project],
    )
    page = open_as(ENTERPRISE, "/dashboard")
    settle(page)
    expect(banner(page)).to_have_count(0)
    page.evaluate("Callout.track('project_created')")
    assert wait_until(lambda: stored(app, ENTERPRISE["id"]))
    assert made_a_project.members().filter(external_id=ENTERPRISE["id"]).exists()
    page.reload()
    expect(banner(page)).to_be_visible()
    expect(banner(page)).to_contain_text("Projects are better with a team")
