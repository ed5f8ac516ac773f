"""The experience editor in a real browser: a three-step tour built, targeted and published
through the UI, then served by the JSON API to a matching user and not to another."""

import json
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from experiences.models import Experience
from tests.factories import (
    EndUserFactory,
    ExperienceFactory,
    MembershipFactory,
    RuleFactory,
    SegmentFactory,
    TraitDefinitionFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


@pytest.fixture
def acme(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    membership = MembershipFactory(user=UserFactory(username="pm"), application__name="Acme")
    application = membership.application
    plan = TraitDefinitionFactory(application=application, key="plan")
    free = SegmentFactory(application=application, name="Free Plan Users")
    RuleFactory(segment=free, trait=plan, operator="equals", value="free")
    EndUserFactory(application=application, external_id="u-free", traits={"plan": "free"})
    EndUserFactory(application=application, external_id="u-pro", traits={"plan": "pro"})
    return application


def log_in(page: Page, live_server) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("pm")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def step(page: Page, n: int):
    return page.get_by_role("listitem", name=f"Step {n}", exact=True)


def build_and_publish_tour(page: Page, live_server, application) -> Experience:
    log_in(page, live_server)
    page.goto(f"{live_server.url}{reverse('experiences:list', args=[application.pk])}")
    page.get_by_text("New experience").click()
    page.get_by_role("link", name="Tour").click()
    expect(page.get_by_role("heading", name="New tour")).to_be_visible()

    page.get_by_label("Name").fill("Dashboard tour")
    step(page, 1).get_by_label("Title").fill("Welcome")
    step(page, 1).get_by_label("Body").fill("A quick look around.")
    page.get_by_role("button", name="+ Add step").click()
    expect(step(page, 2)).to_be_visible()
    step(page, 2).get_by_label("Type").select_option("tooltip")
    step(page, 2).get_by_label("Target element (CSS selector)").fill("#new-project")
    step(page, 2).get_by_label("Placement").select_option("right")
    step(page, 2).get_by_label("Title").fill("Projects")
    page.get_by_role("button", name="+ Add step").click()
    step(page, 3).get_by_label("Type").select_option("modal")
    step(page, 3).get_by_label("Title").fill("All set")
    # Reorder in place: the last step up, then back down; what was typed travels with it.
    page.get_by_role("button", name="Move step 3 up").click()
    expect(step(page, 2).get_by_label("Title")).to_have_value("All set")
    page.get_by_role("button", name="Move step 2 down").click()
    expect(step(page, 3).get_by_label("Title")).to_have_value("All set")
    expect(step(page, 2).get_by_label("Target element (CSS selector)")).to_have_value(
        "#new-project"
    )

    # Who: nothing ticked at first (nobody would see it); then the OR with the reach.
    expect(page.get_by_label("Everyone")).not_to_be_checked()
    expect(page.locator(".audience")).to_contain_text("No segment chosen")
    page.get_by_label("Free Plan Users").check()
    expect(page.locator(".audience")).to_contain_text("Free Plan Users: 1 user today")
    page.get_by_label("Show on").fill("/dashboard")

    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name="Dashboard tour")).to_be_visible()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("is published")).to_be_visible()
    return Experience.objects.get(name="Dashboard tour")


def test_build_target_and_publish_a_three_step_tour(page: Page, live_server, acme):
    tour = build_and_publish_tour(page, live_server, acme)
    assert tour.status == "published"
    assert [s.name for s in tour.segments.all()] == ["Free Plan Users"]
    assert tour.url_include == ["/dashboard"]
    assert tour.content == {
        "steps": [
            {"type": "modal", "title": "Welcome", "body": "A quick look around."},
            {
                "type": "tooltip",
                "selector": "#new-project",
                "title": "Projects",
                "placement": "right",
            },
            {"type": "modal", "title": "All set"},
        ]
    }


def api_url() -> str:
    return reverse("api:experiences")


def test_a_published_tour_is_served_through_the_json_api_to_a_matching_user_only(
    page: Page, live_server, acme
):
    path = api_url()
    tour = build_and_publish_tour(page, live_server, acme)

    def served(user_id: str, url: str = "/dashboard") -> list[dict]:
        query = urlencode({"key": acme.public_key, "id": user_id, "url": url})
        with urlopen(f"{live_server.url}{path}?{query}") as response:
            return json.load(response)["experiences"]

    (experience,) = served("u-free")
    assert experience["id"] == tour.pk and experience["kind"] == "tour"
    assert [s["title"] for s in experience["content"]["steps"]] == [
        "Welcome",
        "Projects",
        "All set",
    ]
    assert served("u-pro") == []
    assert served("u-free", "/settings") == []


WIDE = {"width": 1366, "height": 768}  # the common laptop window


def test_the_experiences_table_keeps_a_row_to_two_lines_at_1366px(page: Page, live_server, acme):
    # A row as the demo has them: two segments, two patterns.
    admins = SegmentFactory(application=acme, name="Admins")
    tour = ExperienceFactory(
        application=acme,
        name="Welcome tour",
        frequency="once",
        url_include=["/dashboard", "/projects/*"],
    )
    tour.segments.set([acme.segments.get(name="Free Plan Users"), admins])
    page.set_viewport_size(WIDE)
    log_in(page, live_server)
    page.goto(f"{live_server.url}{reverse('experiences:list', args=[acme.pk])}")
    cells = page.get_by_role("row").filter(has_text="Welcome tour").get_by_role("cell")
    frequency = cells.nth(5)
    # The short word shows; the whole label is still read out.
    expect(frequency).to_have_text("Once (until dismissed or completed)", use_inner_text=False)
    line = frequency.evaluate("c => parseFloat(getComputedStyle(c).lineHeight)")
    text_height = (
        "c => { const r = document.createRange(); r.selectNodeContents(c);"
        " return r.getBoundingClientRect().height; }"
    )
    assert frequency.evaluate(text_height) <= line + 1  # one line
    for n in range(cells.count()):
        assert cells.nth(n).evaluate(text_height) <= 2 * line + 1, n


@pytest.fixture
def no_javascript(browser, live_server):
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def test_without_javascript__enter_in_test_a_url_does_not_save_the_editor(
    no_javascript, live_server, acme
):
    page = no_javascript
    log_in(page, live_server)
    page.goto(f"{live_server.url}{reverse('experiences:create', args=[acme.pk, 'banner'])}")
    page.get_by_label("Name").fill("Upgrade banner")
    page.get_by_label("Text").fill("Upgrade now")
    # The segment search needs JavaScript: without, no box, and every segment listed.
    expect(page.get_by_role("searchbox", name="Search segments")).to_have_count(0)
    page.get_by_label("Test a URL").fill("/dashboard")
    page.get_by_label("Test a URL").press("Enter")
    page.wait_for_timeout(500)  # a submission would have navigated by now
    expect(page.get_by_role("heading", name="New banner")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Upgrade banner")
    assert not Experience.objects.exists()
    # Enter in the editor's own fields still saves it.
    page.get_by_label("Name").press("Enter")
    expect(page.get_by_role("heading", name="Upgrade banner")).to_be_visible()


def test_a_refused_save_focuses_a_summary_at_the_top_whose_links_reach_the_fields(
    page: Page, live_server, acme
):
    log_in(page, live_server)
    page.goto(f"{live_server.url}{reverse('experiences:create', args=[acme.pk, 'banner'])}")
    page.get_by_label("Name").fill("Upgrade banner")
    page.get_by_label("Text").fill("Upgrade now")
    page.get_by_label("Show on").fill("dashboard")  # not a pattern: no leading /
    page.get_by_role("button", name="Save draft").click()

    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    summary.get_by_role("link", name="Show on:").click()
    expect(page.get_by_label("Show on")).to_be_focused()
    assert not Experience.objects.exists()


def test_keyboard_focus_follows_steps_and_items_as_they_are_added_moved_and_removed(
    page: Page, live_server, acme
):
    log_in(page, live_server)
    page.goto(f"{live_server.url}{reverse('experiences:create', args=[acme.pk, 'tour'])}")
    page.get_by_role("button", name="+ Add step").click()
    expect(step(page, 2).get_by_label("Type")).to_be_focused()  # the new step's first field
    step(page, 2).get_by_label("Title").fill("Second")
    page.get_by_role("button", name="Move step 2 up").click()
    expect(step(page, 1).get_by_label("Title")).to_have_value("Second")
    # Now first, its up button is disabled: focus on its other one.
    expect(page.get_by_role("button", name="Move step 1 down")).to_be_focused()
    page.get_by_role("button", name="Move step 1 down").click()
    expect(page.get_by_role("button", name="Move step 2 up")).to_be_focused()
    page.get_by_role("button", name="Remove step 2").click()
    expect(page.get_by_role("button", name="+ Add step")).to_be_focused()

    page.goto(f"{live_server.url}{reverse('experiences:create', args=[acme.pk, 'checklist'])}")
    page.get_by_role("button", name="+ Add item").click()
    expect(page.get_by_role("listitem", name="Item 2").get_by_label("Label")).to_be_focused()


def test_search_segments_hides_the_others_but_keeps_a_ticked_one_in_view(
    page: Page, live_server, acme
):
    for name in ("Admins", "Free trial ending", "Enterprise"):
        SegmentFactory(application=acme, name=name)
    log_in(page, live_server)
    page.goto(f"{live_server.url}{reverse('experiences:create', args=[acme.pk, 'banner'])}")
    choices = page.get_by_role("group", name="Segments")
    choices.get_by_label("Enterprise").check()

    search = page.get_by_role("searchbox", name="Search segments")
    search.fill("free")
    expect(choices.get_by_label("Free Plan Users")).to_be_visible()
    expect(choices.get_by_label("Free trial ending")).to_be_visible()
    expect(choices.get_by_label("Admins")).to_be_hidden()
    expect(choices.get_by_label("Everyone")).to_be_hidden()
    expect(choices.get_by_label("Enterprise")).to_be_visible()  # ticked: still chosen
    expect(page.get_by_text("3 of 5 segments shown")).to_be_visible()
    search.press("Enter")  # does not save the editor
    expect(page.get_by_role("heading", name="New banner")).to_be_visible()

    search.fill("")
    expect(choices.get_by_label("Admins")).to_be_visible()
    choices.get_by_label("Free Plan Users").check()
    page.get_by_label("Name").fill("Upgrade")
    page.get_by_label("Text").fill("Upgrade now")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name="Upgrade")).to_be_visible()
    chosen = Experience.objects.get().segments.order_by("name")
    assert [s.name for s in chosen] == ["Enterprise", "Free Plan Users"]
