"""The segment builder in Debian's Chromium: groups, segment conditions and the keyboard, by
accessible names."""

import time

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from segments import actions
from segments.views import segments as views
from tests.browser.test_segments_ui import log_in
from tests.factories import EndUserFactory, MembershipFactory, TraitDefinitionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def teams(live_server):
    """Seven users: plan, role, team size and whether they work for us."""
    membership = MembershipFactory(application__name="Acme App", user__username="pm")
    application = membership.application
    TraitDefinitionFactory(application=application, key="plan", label="Plan")
    TraitDefinitionFactory(application=application, key="role", label="Role")
    TraitDefinitionFactory(application=application, key="teamSize", type="number")
    TraitDefinitionFactory(application=application, key="employee", type="boolean")
    people = [
        ("free", "admin", 5, False),  # in: a free admin
        ("free", "admin", 5, True),  # out: an employee
        ("pro", "member", 60, False),  # in: a big team
        ("pro", "member", 60, True),  # out: an employee
        ("free", "member", 10, False),
        ("pro", "admin", 10, False),
        ("free", "admin", 100, False),  # in: both
    ]
    for n, (plan, role, size, staff) in enumerate(people):
        traits = {"plan": plan, "role": role, "teamSize": size, "employee": staff}
        EndUserFactory(application=application, external_id=f"user-{n:02d}", traits=traits)
    return application


def fill_rule(rule, trait: str, operator: str, value: str | None = None) -> None:
    """A trait and an operator each re-shape the row (an htmx swap): each swap is waited for,
    so that a value typed is not swapped away."""
    settled = rule.page.locator(".htmx-request")
    rule.get_by_label("Trait").select_option(trait)
    expect(rule.get_by_label("Operator")).to_be_enabled()
    expect(settled).to_have_count(0)
    if rule.get_by_label("Operator").input_value() != operator:
        rule.get_by_label("Operator").select_option(operator)
        expect(rule.get_by_label("Operator")).to_have_value(operator)
        expect(settled).to_have_count(0)
    if value is not None:
        rule.get_by_label("Value").fill(value)


def test_free_admins_or_big_teams_but_not_employees(page: Page, live_server, teams):
    log_in(page, live_server)
    page.get_by_role("link", name="Create Segment").click()
    page.get_by_label("Name").fill("Free admins or big teams, not staff")
    expect(page.get_by_label("Users must match")).to_have_value("all")
    page.get_by_role("button", name="Remove rule 1").click()
    expect(page.get_by_role("group", name="Rule 1")).to_have_count(0)

    # Group 1 (any): big teams, or group 1.2 (all) of free admins.
    page.get_by_role("button", name="Add group", exact=True).last.click()
    group1 = page.get_by_role("group", name="Group 1", exact=True)
    expect(group1.get_by_label("Match", exact=True).first).to_be_focused()
    group1.get_by_label("Match", exact=True).first.select_option("any")
    group1.get_by_role("button", name="Add group", exact=True).last.click()
    group12 = page.get_by_role("group", name="Group 1.2", exact=True)
    group12.get_by_role("button", name="Add rule", exact=True).click()
    # Group 2 (none): employees.
    page.get_by_role("button", name="Add group", exact=True).last.click()
    group2 = page.get_by_role("group", name="Group 2", exact=True)
    group2.get_by_label("Match", exact=True).select_option("none")

    fill_rule(
        page.get_by_role("group", name="Rule 1.1", exact=True), "teamSize", "greater_than", "50"
    )
    fill_rule(page.get_by_role("group", name="Rule 1.2.1", exact=True), "plan", "equals", "free")
    fill_rule(page.get_by_role("group", name="Rule 1.2.2", exact=True), "role", "equals", "admin")
    fill_rule(page.get_by_role("group", name="Rule 2.1", exact=True), "employee", "is_true")

    expect(page.locator("#preview-count")).to_have_text("Matches 3 of 7 users")
    counts = page.get_by_role("list", name="Users let through by each node")
    expect(counts).to_contain_text("Group 2 (none)")

    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Free admins or big teams, not staff")).to_be_visible()
    expect(page.locator("#member-count")).to_have_text("3")


def test_a_segment_condition(page: Page, live_server, teams):
    actions.segment_create(
        application=teams,
        name="Admins",
        rules=[{"trait": "role", "operator": "equals", "value": "admin"}],
    )
    log_in(page, live_server)
    page.get_by_role("link", name="Create Segment").click()
    page.get_by_label("Name").fill("Free admins")
    fill_rule(page.get_by_role("group", name="Rule 1", exact=True), "plan", "equals", "free")
    page.get_by_role("button", name="Add segment condition").click()
    condition = page.get_by_role("group", name="Segment condition 2")
    condition.get_by_label("User is in segment").select_option(label="Admins")

    expect(page.locator("#preview-count")).to_have_text("Matches 3 of 7 users")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Free admins")).to_be_visible()
    expect(page.locator("#member-count")).to_have_text("3")
    # The referenced segment's page says who uses it.
    admins = teams.segments.get(name="Admins")
    page.goto(live_server.url + reverse("segments:detail", args=[teams.pk, admins.pk]))
    expect(page.get_by_role("link", name="Free admins")).to_be_visible()


def tab_to(page: Page, name: str, limit: int = 30) -> None:
    """Press Tab until the focused element's accessible name is ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        label = page.evaluate(
            "() => document.activeElement.getAttribute('aria-label')"
            " || document.activeElement.textContent.trim()"
        )
        if label == name:
            return
    raise AssertionError(f"{name!r} not reached with Tab")


def test_keyboard_only__add_and_remove_rules_and_groups(page: Page, live_server, teams):
    log_in(page, live_server)
    page.get_by_role("link", name="Create Segment").click()
    page.get_by_label("Name").focus()

    tab_to(page, "Add rule")
    page.keyboard.press("Enter")
    expect(
        page.get_by_role("group", name="Rule 2", exact=True).get_by_label("Trait")
    ).to_be_focused()

    tab_to(page, "Remove rule 2")
    page.keyboard.press("Enter")
    expect(page.get_by_role("group", name="Rule 2", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Add rule", exact=True)).to_be_focused()

    tab_to(page, "Add group")
    page.keyboard.press("Enter")
    group = page.get_by_role("group", name="Group 2", exact=True)
    expect(group.get_by_label("Match", exact=True)).to_be_focused()
    tab_to(page, "Move group 2 up")
    page.keyboard.press("Enter")
    expect(page.get_by_role("group", name="Group 1", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Move group 1 up")).to_be_focused()
    tab_to(page, "Remove group 1")
    page.keyboard.press("Enter")
    expect(page.get_by_role("group", name="Group 1", exact=True)).to_have_count(0)
    expect(page.get_by_role("group", name="Rule 1", exact=True)).to_be_visible()


def test_an_event_and_an_experience_condition__added_read_counted_and_saved(
    page: Page, live_server, teams
):
    """'Did project_created at least 2 times in the last 7 days, and has not completed the
    Welcome tour', built with the builder's buttons in a browser."""
    import time

    from segments.activity import summarise
    from segments.models import EventDefinition, Segment
    from tests.factories import ExperienceFactory

    tour = ExperienceFactory(application=teams, name="Welcome tour", kind="tour")
    EventDefinition.objects.create(application=teams, name="project_created")
    now = time.time()
    busy = [("project_created", now - hours * 3600) for hours in (2, 30)]
    # user-00 and user-02 created two projects this week; user-02 also completed the tour;
    # user-04 created one.
    for external_id, events, toured in (("user-00", busy, False), ("user-02", busy, True),
                                        ("user-04", busy[:1], False)):  # fmt: skip
        user = teams.end_users.get(external_id=external_id)
        user.activity = summarise(events, [(tour.pk, "completed", now)] if toured else [])
        user.save()

    log_in(page, live_server)
    page.get_by_role("link", name="Create Segment").click()
    page.get_by_label("Name").fill("Busy newcomers")
    page.get_by_role("button", name="Remove rule 1").click()

    page.get_by_role("button", name="Add event condition").last.click()
    event = page.get_by_role("group", name="Event condition 1", exact=True)
    expect(event.get_by_label("Event", exact=True)).to_be_focused()
    event.get_by_label("Event", exact=True).fill("project_created")
    expect(event.get_by_label("Operator")).to_have_value("at_least")
    event.get_by_label("Value").fill("2")
    event.get_by_label("In the last").fill("7")
    expect(page.locator("#preview-count")).to_have_text("Matches 2 of 7 users")
    expect(event.locator(".node-sentence")).to_have_text(
        "User did project_created at least 2 times in the last 7 days"
    )

    # A time operator: the value counts days, and there is no "in the last".
    settled = page.locator(".htmx-request")
    event.get_by_label("Operator").select_option("last_within_last_days")
    expect(event.get_by_label("In the last")).to_have_count(0)
    expect(event.locator(".suffix")).to_have_text("days")
    expect(settled).to_have_count(0)
    event.get_by_label("Operator").select_option("at_least")
    expect(event.get_by_label("In the last")).to_be_visible()
    expect(settled).to_have_count(0)
    event.get_by_label("In the last").fill("7")

    # Group 2 (none): has completed the Welcome tour.
    page.get_by_role("button", name="Add group", exact=True).last.click()
    group = page.get_by_role("group", name="Group 2", exact=True)
    group.get_by_label("Match", exact=True).select_option("none")
    group.get_by_role("button", name="Remove rule 2.1").click()
    group.get_by_role("button", name="Add experience condition").click()
    condition = page.get_by_role("group", name="Experience condition 2.1", exact=True)
    expect(condition.get_by_label("State")).to_be_focused()
    condition.get_by_label("State").select_option("completed")
    condition.get_by_label("Experience", exact=True).select_option(label="Welcome tour")
    expect(condition.locator(".node-sentence")).to_have_text('User has completed "Welcome tour"')
    expect(page.locator("#preview-count")).to_have_text("Matches 1 of 7 users")
    counts = page.get_by_role("list", name="Users let through by each node")
    expect(counts).to_contain_text("did project_created at least 2 times in the last 7 days")

    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Busy newcomers")).to_be_visible()
    expect(page.locator("#member-count")).to_have_text("1")
    assert Segment.objects.get(application=teams, name="Busy newcomers").definition == {
        "match": "all",
        "rules": [
            {"event": "project_created", "operator": "at_least", "value": 2, "within_days": 7},
            {"match": "none", "rules": [{"experience": tour.pk, "state": "completed"}]},
        ],
    }


def test_company_conditions__a_company_trait_and_a_count_of_its_users__counted_and_saved(
    page: Page, live_server, teams
):
    """'The user's company is on a trial, and at least 2 of its users are admins', built with
    Add company condition in a browser."""
    from segments.models import Company, Segment, TraitDefinition

    company = TraitDefinition.Scope.COMPANY
    TraitDefinition.objects.create(application=teams, scope=company, key="plan", type="string")
    acme = Company.objects.create(
        application=teams, external_id="acme", traits={"name": "Acme", "plan": "trial"}
    )
    solo = Company.objects.create(application=teams, external_id="solo", traits={"plan": "trial"})
    # Acme: user-00 and user-01 (admins), user-02 (member); Solo: user-05 (an admin).
    teams.end_users.filter(external_id__in=["user-00", "user-01", "user-02"]).update(company=acme)
    teams.end_users.filter(external_id="user-05").update(company=solo)
    admins = actions.segment_create(
        application=teams,
        name="Admins",
        definition={"match": "all", "rules": [
            {"trait": "role", "operator": "equals", "value": "admin"}]},
    )  # fmt: skip

    log_in(page, live_server)
    page.get_by_role("link", name="Create Segment").click()
    page.get_by_label("Name").fill("Trial teams with admins")
    page.get_by_role("button", name="Remove rule 1").click()
    settled = page.locator(".htmx-request")

    page.get_by_role("button", name="Add company condition").last.click()
    trait = page.get_by_role("group", name="Company condition 1", exact=True)
    expect(trait.get_by_label("The user's company, by")).to_be_focused()
    trait.get_by_label("Company trait").select_option("plan")
    expect(trait.get_by_label("Operator")).to_be_enabled()
    expect(settled).to_have_count(0)
    trait.get_by_label("Value").fill("trial")
    expect(trait.locator(".node-sentence")).to_have_text('User\'s company plan equals "trial"')
    expect(page.locator("#preview-count")).to_have_text("Matches 4 of 7 users")

    page.get_by_role("button", name="Add company condition").last.click()
    count = page.get_by_role("group", name="Company condition 2", exact=True)
    count.get_by_label("The user's company, by").select_option("users")
    expect(count.get_by_label("Number of users")).to_be_visible()
    expect(settled).to_have_count(0)
    expect(count.get_by_label("Operator")).to_have_value("at_least")
    count.get_by_label("Number of users").fill("2")
    count.get_by_label("Users of the company in segment").select_option(label="Admins")
    expect(count.locator(".node-sentence")).to_have_text(
        'At least 2 users of the company in segment "Admins"'
    )
    expect(page.locator("#preview-count")).to_have_text("Matches 3 of 7 users")

    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Trial teams with admins")).to_be_visible()
    expect(page.locator("#member-count")).to_have_text("3")
    assert Segment.objects.get(application=teams, name="Trial teams with admins").definition == {
        "match": "all",
        "rules": [
            {"company_trait": "plan", "operator": "equals", "value": "trial",
             "case_sensitive": False},
            {"company_users": {"segment": admins.pk}, "operator": "at_least", "value": 2},
        ],
    }  # fmt: skip


@pytest.fixture
def no_javascript(browser, live_server):
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def test_without_javascript__rules_are_added_removed_and_saved(no_javascript, live_server, teams):
    page = no_javascript
    log_in(page, live_server)
    page.get_by_role("link", name="Create Segment").click()
    page.get_by_label("Name").fill("Free plan")
    rule1 = page.get_by_role("group", name="Rule 1", exact=True)
    rule1.get_by_label("Trait").select_option("plan")
    page.get_by_role("button", name="Add rule", exact=True).click()  # re-shapes rule 1 too
    rule1.get_by_label("Operator").select_option("equals")
    rule1.get_by_label("Value").fill("free")
    page.get_by_role("button", name="Add rule", exact=True).click()
    expect(page.get_by_role("group", name="Rule 3", exact=True)).to_be_visible()

    page.get_by_role("button", name="Remove rule 3").click()
    expect(page.get_by_role("group", name="Rule 3", exact=True)).to_have_count(0)
    expect(page.get_by_role("group", name="Rule 2", exact=True)).to_be_visible()
    expect(rule1.get_by_label("Value")).to_have_value("free")
    expect(page.get_by_label("Name")).to_have_value("Free plan")

    # Rule 2 was never filled in: it does not stop the save.
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Free plan")).to_be_visible()
    assert teams.segments.get(name="Free plan").describe() == 'plan equals "free"'


def test_without_javascript__a_rule_with_match_case_is_removed_on_the_edit_page(
    no_javascript, live_server, teams
):
    """A row with Match case was wider than the form's card: its Remove button sat under the
    preview card, which took the click."""
    page = no_javascript
    rules = [
        {"trait": "role", "operator": "equals", "value": "admin"},
        {"trait": "plan", "operator": "equals", "value": "free"},
    ]
    segment = actions.segment_create(application=teams, name="Free admins", rules=rules)
    log_in(page, live_server)
    page.goto(live_server.url + reverse("segments:edit", args=[teams.pk, segment.pk]))
    page.screenshot(path="/tmp/edit_nojs.png", full_page=True)
    page.get_by_role("button", name="Remove rule 1").click(timeout=5000)
    expect(page.get_by_role("group", name="Rule 2", exact=True)).to_have_count(0)
    rule1 = page.get_by_role("group", name="Rule 1", exact=True)
    expect(rule1.get_by_label("Value")).to_have_value("free")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", name="Free admins")).to_be_visible()
    segment.refresh_from_db()
    assert segment.describe() == 'plan equals "free"'


# The text a select shows, measured in its own font, against the room inside it (its padding
# and the arrow taken off). A select's scrollWidth always equals its clientWidth in Chromium,
# whatever it cuts, so it cannot tell.
SELECT_TEXT_FITS = """select => {
    const style = getComputedStyle(select);
    const context = document.createElement("canvas").getContext("2d");
    context.font = style.font;
    const text = select.options[select.selectedIndex].text;
    const arrow = 16;
    const room = select.clientWidth - parseFloat(style.paddingLeft)
        - parseFloat(style.paddingRight) - arrow;
    return [text, Math.ceil(context.measureText(text).width), Math.floor(room)];
}"""


def test_at_1366px_the_rule_selects_show_their_whole_text(page: Page, live_server, teams):
    TraitDefinitionFactory(application=teams, key="team_size", label="Team size", type="number")
    TraitDefinitionFactory(application=teams, key="company_name", label="Company name")
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server)
    page.get_by_role("link", name="Create Segment").click()
    fill_rule(page.get_by_role("group", name="Rule 1", exact=True), "team_size", "greater_than")
    # Nested two groups deep, and a text trait with Match case: the narrowest rows.
    page.get_by_role("button", name="Add group", exact=True).last.click()
    group2 = page.get_by_role("group", name="Group 2", exact=True)
    fill_rule(page.get_by_role("group", name="Rule 2.1"), "company_name", "not_contains", "x")
    group2.get_by_role("button", name="Add group", exact=True).last.click()
    group22 = page.get_by_role("group", name="Group 2.2", exact=True)
    group22.get_by_role("button", name="Add rule", exact=True).click()
    fill_rule(page.get_by_role("group", name="Rule 2.2.1"), "team_size", "greater_than_or_equal")

    selects = page.locator(".rule-row select")
    assert selects.count() == 8  # trait and operator of four rules
    for n in range(selects.count()):
        text, width, room = selects.nth(n).evaluate(SELECT_TEXT_FITS)
        assert width <= room, f"{text!r} is {width}px in {room}px"
        # and no select runs out of its rule
        assert selects.nth(n).evaluate(
            "s => s.getBoundingClientRect().right"
            " <= s.closest('fieldset').getBoundingClientRect().right"
        )


def test_a_preview_superseded_by_a_newer_one_logs_no_error(
    page: Page, live_server, teams, monkeypatch
):
    slow = views._preview_context

    def slow_preview(*args, **kwargs):
        time.sleep(0.5)  # a preview still on its way when the next keystroke asks again
        return slow(*args, **kwargs)

    monkeypatch.setattr(views, "_preview_context", slow_preview)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server)
    page.get_by_role("link", name="Create Segment").click()
    rule = page.get_by_role("group", name="Rule 1", exact=True)
    fill_rule(rule, "plan", "equals")
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/preview" in r.url else None)
    rule.get_by_label("Value").press_sequentially("free", delay=450)
    rule.get_by_label("Value").press_sequentially("x", delay=450)
    expect(page.locator("#preview-count")).to_contain_text("Matches 0 of 7")  # "freex"
    page.wait_for_load_state("networkidle")
    assert len(asked) >= 2  # several previews were asked for while others were on their way
    assert asked[-1].endswith("value=freex")  # the newest was asked for last
    assert errors == [], sorted(set(errors))
