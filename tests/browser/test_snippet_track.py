"""Callout.track in headless Chromium: events queued and sent in batches, by sendBeacon as the
page goes away (nothing lost to a navigation), and true on the next serve."""

import pytest
from playwright.sync_api import expect

from segments import actions, activity
from segments.models import EndUser, TrackedEvent
from tests.factories import PublishedExperienceFactory

from .conftest import wait_until
from .test_snippet import ENTERPRISE, FREE, settle

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
        name="Team banner",
        kind="banner",
        content={"text": "Projects are better with a team: invite yours."},
        url_include=["/dashboard"],
        segments=[made_a_project],
    )
    page = open_as(ENTERPRISE, "/dashboard")
    settle(page)
    team_banner = page.get_by_role("region", name="Team banner")
    expect(team_banner).to_have_count(0)
    page.evaluate("Callout.track('project_created')")
    # Sent within a second. (Had the page been left at once, the beacon and the next page's
    # first request would race: the event counts from the serve after it is stored.)
    assert wait_until(lambda: stored(app, ENTERPRISE["id"]))
    page.reload()
    expect(team_banner).to_be_visible()
    expect(team_banner).to_contain_text("Projects are better with a team")
    assert made_a_project.members().filter(external_id=ENTERPRISE["id"]).exists()
    assert page.errors == []
