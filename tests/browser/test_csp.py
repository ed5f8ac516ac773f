"""Content-Security-Policy (callout/settings.py SECURE_CSP): Engage and the admin work under it
with no violation, and the snippet works on a customer page that sets a strict CSP of its own."""

import json
import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from segments.models import Membership
from tests.factories import (
    EndUserFactory,
    EventDefinitionFactory,
    MembershipFactory,
    PublishedExperienceFactory,
    RuleFactory,
    SegmentFactory,
    TrackedEventFactory,
    TraitDefinitionFactory,
    UserFactory,
)

from .test_snippet import FREE, banner

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"  # UserFactory's
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || ""));
});
"""


def watch(page: Page) -> list[str]:
    """CSP refusals as the console reports them; the page's own listener adds the rest."""
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.add_init_script(WATCH)
    return refused


def violations(page: Page, refused: list[str]) -> list[str]:
    return refused + page.evaluate("window.__csp || []")


@pytest.fixture
def engage_app(live_server, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = UserFactory(username="pm", is_staff=True, is_superuser=True)
    membership = MembershipFactory(user=user, role=Membership.Role.OWNER)
    application = membership.application
    plan = TraitDefinitionFactory(application=application, key="plan")
    TraitDefinitionFactory(application=application, key="role")
    free = SegmentFactory(application=application, name="Free Plan Users")
    RuleFactory(segment=free, trait=plan, operator="equals", value="free")
    EndUserFactory(application=application, external_id="u-free", traits={"plan": "free"})
    pro = EndUserFactory(application=application, external_id="u-pro", traits={"plan": "pro"})
    EventDefinitionFactory(application=application, name="project_created")
    TrackedEventFactory(application=application, end_user=pro)  # a chart to draw
    PublishedExperienceFactory(application=application, name="Upgrade banner", segments=[free])
    return application


def test_engage_and_admin_pages_run_under_the_csp_without_a_violation(
    page: Page, live_server, engage_app
):
    acme = engage_app
    refused = watch(page)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("pm")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Segments", exact=True)).to_be_visible()

    app_id = acme.pk
    user = acme.end_users.get(external_id="u-free")
    experience = acme.experiences.get()
    pages = [
        reverse("segments:list", args=[app_id]),
        reverse("segments:detail", args=[app_id, acme.segments.get(name="Free Plan Users").pk]),
        reverse("segments:traits", args=[app_id]),
        reverse("segments:events", args=[app_id]),
        reverse("segments:users", args=[app_id]),
        reverse("segments:user_detail", args=[app_id, user.pk]),
        reverse("segments:install", args=[app_id]),
        reverse("segments:members", args=[app_id]),
        reverse("segments:member_remove", args=[app_id, acme.memberships.get().pk]),
        reverse("experiences:list", args=[app_id]),
        reverse("experiences:detail", args=[app_id, experience.pk]),
        reverse("experiences:create", args=[app_id, "banner"]),
        reverse("experiences:edit", args=[app_id, experience.pk]),
        "/admin/",
        "/admin/segments/segment/",
        f"/admin/segments/segment/{acme.segments.get(name='Free Plan Users').pk}/change/",
        "/admin/segments/eventdefinition/",
        "/admin/segments/trackedevent/",
    ]
    for path in pages:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        policy = response.headers["content-security-policy"]
        assert re.search(r"script-src 'self' 'nonce-[^']+'", policy), policy
        for forbidden in ("unsafe-inline", "unsafe-eval", "*"):
            assert forbidden not in policy
        page.wait_for_load_state("networkidle")
        assert violations(page, refused) == [], path

    # The segment form's behaviours, moved out of markup, still work: the preview's bars get
    # their widths, a rule row is removed by its button.
    page.goto(live_server.url + reverse("segments:create", args=[app_id]))
    rule1 = page.get_by_role("group", name="Rule 1")
    rule1.get_by_label("Trait").select_option("plan")
    rule1.get_by_label("Value").fill("free")
    expect(page.locator("#preview-count")).to_have_text("Matches 1 of 2 users")
    expect(page.locator(".meter [data-width]")).to_have_attribute("style", "width: 50%;")
    page.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("group", name="Rule 2")).to_be_visible()
    page.get_by_role("button", name="Remove rule 2").click()
    expect(page.get_by_role("group", name="Rule 2")).to_have_count(0)

    # Rotating keys still asks first (the question moved from onsubmit to data-confirm).
    page.goto(live_server.url + reverse("segments:install", args=[app_id]))
    key = page.locator("#public-key").text_content()
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Rotate keys").click()
    page.wait_for_load_state("networkidle")
    assert asked and "Rotate both keys?" in asked[0]
    assert page.locator("#public-key").text_content() == key
    assert violations(page, refused) == []


def test_the_snippet_works_on_a_host_page_with_a_strict_csp(page: Page, acme, host_app):
    api = host_app.config["host"]
    host_app.config |= {
        "nonce": "h0stn0nce",
        "csp": (
            f"default-src 'none'; script-src 'nonce-h0stn0nce' {api}; "
            f"style-src 'nonce-h0stn0nce'; connect-src {api}; base-uri 'none'"
        ),
    }
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    refused = watch(page)
    page.add_init_script(f"window.ACME_USER = {json.dumps(FREE)};")
    try:
        page.goto(host_app.url + "/dashboard")
        expect(banner(page)).to_be_visible()
        # The snippet's own styles applied (inside its shadow root): a bar in a fixed stack at
        # the page's edge, not text lying in the page's flow.
        assert banner(page).evaluate("node => getComputedStyle(node).display") == "flex"
        edge = "node => getComputedStyle(node.parentNode).position"
        assert banner(page).evaluate(edge) == "fixed"
        page.wait_for_load_state("networkidle")
        assert violations(page, refused) == []
        assert errors == []
    finally:
        host_app.config.pop("nonce", None)
        host_app.config.pop("csp", None)
