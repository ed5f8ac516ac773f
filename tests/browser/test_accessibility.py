"""Every Engage page, and the admin's segment page, checked by axe-core (tests/browser/axe.py)
in Debian's Chromium: no violation of WCAG 2.0 / 2.1 A and AA or of axe's best practices."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Page, expect

from segments import actions
from segments.management.commands.seed_demo import PASSWORD, USERNAME
from segments.models import Application, Membership

from .axe import Audit, assert_accessible, require_axe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

require_axe(module=True)  # else: one line saying how to install it, and the module skipped


@pytest.fixture
def browser_context_args(browser_context_args):
    """axe is injected as an inline script, which Engage's Content-Security-Policy refuses."""
    return {**browser_context_args, "bypass_csp": True}


@pytest.fixture
def demo(live_server, settings):
    """The demo (seed_demo: "Acme App", its traits, segments, events and experiences; its
    manager, an owner and a superuser), with fewer users, and two companies."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", users=30, stdout=io.StringIO())
    application = Application.objects.get(name="Acme App")
    for n, (company, plan) in enumerate([("acme", "enterprise"), ("globex", "free")] * 2):
        actions.end_user_identify(
            application=application,
            external_id=f"user-{n + 1:04d}",
            company={"id": company, "traits": {"plan": plan}},
        )
    return application


def log_in(page: Page, live_server) -> None:
    page.goto(live_server.url + "/login/")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Segments", exact=True)).to_be_visible()


def visit(page: Page, live_server, path: str) -> Page:
    response = page.goto(live_server.url + path)
    assert response.status == 200, path
    page.wait_for_load_state("networkidle")
    return page


def test_the_check_fails_on_a_page_with_a_violation_naming_it(page: Page):
    page.set_content(
        '<!doctype html><html lang="en"><head><title>t</title></head>'
        '<body><main><img src="data:,"></main></body></html>'
    )
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_accessible(page, "a page with an image without text")
    assert "image-alt (critical): Images must have alternative text: img" in str(failed.value)


def test_the_segment_pages_have_no_accessibility_violation(page: Page, live_server, demo):
    app_id = demo.pk
    free = demo.segments.get(name="Free Plan Users")
    audit = Audit()
    log_in(page, live_server)
    audit.check(page, "segment list")

    visit(page, live_server, reverse("segments:create", args=[app_id]))
    rule1 = page.get_by_role("group", name="Rule 1")
    rule1.get_by_label("Trait").select_option("plan")
    rule1.get_by_label("Value").fill("free")
    expect(page.locator("#preview-count")).not_to_contain_text("Matches 30 of")
    page.wait_for_load_state("networkidle")
    audit.check(page, "Create Segment with a rule")
    page.get_by_role("button", name="Save segment").click()  # without a name: refused
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    page.wait_for_load_state("networkidle")
    audit.check(page, "Create Segment refused, with its errors")

    # Edit: a change of audience shows "If you save"; saving shows the saved message.
    visit(page, live_server, reverse("segments:edit", args=[app_id, free.pk]))
    page.get_by_role("group", name="Rule 1").get_by_label("Value").fill("pro")
    expect(page.locator("#impact .leave")).not_to_have_text("−0 users leave")  # refreshed
    page.wait_for_load_state("networkidle")
    audit.check(page, "Edit Segment with its impact")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("status")).to_be_visible()
    audit.check(page, "segment page, with the saved message")

    # An edit conflict: someone saves while the form is open (version 3 over the form's 2).
    visit(page, live_server, reverse("segments:edit", args=[app_id, free.pk]))
    actions.segment_update(segment=demo.segments.get(pk=free.pk), description="Meanwhile")
    page.get_by_role("group", name="Rule 1").get_by_label("Value").fill("enterprise")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("button", name="Save anyway")).to_be_visible()
    page.wait_for_load_state("networkidle")
    audit.check(page, "Edit Segment with an edit conflict")

    # History (three versions now: seed_demo's, the edit, the save meanwhile) and Restore.
    visit(page, live_server, reverse("segments:history", args=[app_id, free.pk]))
    expect(
        page.get_by_role("list", name="What changed from version 2 to version 3")
    ).to_be_visible()
    audit.check(page, "segment history, with a diff")
    visit(page, live_server, reverse("segments:restore", args=[app_id, free.pk, 1]))
    expect(page.locator("#impact")).to_be_visible()
    audit.check(page, "restore a segment version, with its impact")

    visit(page, live_server, reverse("segments:delete", args=[app_id, free.pk]))
    audit.check(page, "delete segment")
    everyone = reverse("segments:edit", args=[app_id, demo.everyone.pk])
    assert page.goto(live_server.url + everyone).status == 403
    audit.check(page, "Everyone's edit URL: built in, cannot be edited")
    audit.assert_clean()


def test_the_traits_events_users_and_companies_pages_have_no_accessibility_violation(
    page: Page, live_server, demo
):
    app_id = demo.pk
    user = demo.end_users.get(external_id="user-0001")
    company = demo.companies.get(external_id="acme")
    audit = Audit()
    log_in(page, live_server)
    for where, path in [
        ("user traits", reverse("segments:traits", args=[app_id])),
        ("company traits", reverse("segments:traits_company", args=[app_id])),
        ("events", reverse("segments:events", args=[app_id])),
        ("users", reverse("segments:users", args=[app_id])),
        ("a user's page", reverse("segments:user_detail", args=[app_id, user.pk])),
        ("companies", reverse("segments:companies", args=[app_id])),
        ("a company's page", reverse("segments:company_detail", args=[app_id, company.pk])),
    ]:
        audit.check(visit(page, live_server, path), where)

    # A trait added inline says so; a write refused to a viewer says why in the alert region.
    visit(page, live_server, reverse("segments:traits", args=[app_id]))
    form = page.get_by_role("form", name="Add a trait")
    form.get_by_label("Key").fill("teamName")
    form.get_by_role("button", name="Add trait").click()
    expect(page.get_by_role("status")).to_have_text("Trait “teamName” added.")
    audit.check(page, "user traits, one just added")
    Membership.objects.filter(application=demo).update(role=Membership.Role.VIEWER)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete teamName").click()
    expect(page.locator("#alerts")).to_contain_text("You are a viewer of Acme App")
    audit.check(page, "user traits, a delete refused to a viewer")
    audit.assert_clean()


def test_the_experience_pages_have_no_accessibility_violation(page: Page, live_server, demo):
    app_id = demo.pk
    audit = Audit()
    log_in(page, live_server)
    pages = [("experiences", reverse("experiences:list", args=[app_id]))]
    for kind in ("banner", "tooltip", "tour", "checklist"):
        pages.append((f"new {kind}", reverse("experiences:create", args=[app_id, kind])))
    seen = set()
    for experience in demo.experiences.order_by("pk"):
        if experience.kind in seen:
            continue
        seen.add(experience.kind)
        pages.append(
            (f"{experience.kind} editor", reverse("experiences:edit", args=[app_id, experience.pk]))
        )
        pages.append(
            (f"{experience.kind} page", reverse("experiences:detail", args=[app_id, experience.pk]))
        )
    # History and Restore of the last (the demo's have versions: created, then published).
    pages.append(
        ("experience history", reverse("experiences:history", args=[app_id, experience.pk]))
    )
    pages.append(
        (
            "restore an experience version",
            reverse("experiences:restore", args=[app_id, experience.pk, 1]),
        )
    )
    assert len(seen) >= 2  # the demo has several kinds
    for where, path in pages:
        audit.check(visit(page, live_server, path), where)
    # A refused save: the error summary at the top, the errors by their fields.
    visit(page, live_server, reverse("experiences:create", args=[app_id, "banner"]))
    page.get_by_label("Show on").fill("dashboard")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    page.wait_for_load_state("networkidle")
    audit.check(page, "new banner refused, with its error summary")
    audit.assert_clean()


def test_the_setup_pages_have_no_accessibility_violation(page: Page, live_server, demo):
    audit = Audit()
    log_in(page, live_server)
    audit.check(visit(page, live_server, reverse("segments:install", args=[demo.pk])), "Install")
    tokens = reverse("manage_settings:tokens", args=[demo.pk])
    audit.check(visit(page, live_server, tokens), "API tokens")
    members = reverse("segments:members", args=[demo.pk])
    audit.check(visit(page, live_server, members), "Members")
    settings = reverse("segments:app_settings", args=[demo.pk])
    audit.check(visit(page, live_server, settings), "Settings")
    log = reverse("segments:audit", args=[demo.pk])
    audit.check(visit(page, live_server, log), "Audit log")
    audit.check(visit(page, live_server, log + "?since=not-a-date"), "Audit log, a bad date")
    audit.assert_clean()


def test_the_admins_segment_page_has_no_accessibility_violation(page: Page, live_server, demo):
    free = demo.segments.get(name="Free Plan Users")
    log_in(page, live_server)
    visit(page, live_server, f"/admin/segments/segment/{free.pk}/change/")
    assert_accessible(page, "the admin's segment page")
