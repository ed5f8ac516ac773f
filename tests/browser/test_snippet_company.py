"""callout.js's identify with a company, in headless Chromium: the company and the user's
membership stored, and a company trait rule deciding what the page shows."""

import pytest
from playwright.sync_api import expect

from segments import actions
from segments.models import EndUser, TraitDefinition
from tests.factories import PublishedExperienceFactory

from .conftest import wait_until

pytestmark = pytest.mark.browser

ENTERPRISE_MEMBER = {
    "id": "member-1",
    "traits": {"plan": "pro", "role": "member"},
    "company": {"id": "initech", "traits": {"tier": "enterprise", "seats": 250}},
}


def company_of(app, user_id):
    user = EndUser.objects.filter(application=app, external_id=user_id).first()
    return user and user.company and (user.company.external_id, user.company.traits)


def test_identify_with_a_company__stored__its_traits_decide__later_calls_keep_it(acme, open_as):
    app, _ = acme
    actions.trait_definition_create(
        application=app, key="tier", type="string", scope=TraitDefinition.Scope.COMPANY
    )
    segment = actions.segment_create(
        application=app,
        name="Enterprise accounts",
        definition={
            "match": "all",
            "rules": [{"company_trait": "tier", "operator": "equals", "value": "enterprise"}],
        },
    )
    PublishedExperienceFactory(
        application=app,
        name="Account banner",
        kind="banner",
        content={"text": "Your account manager is Ana."},
        url_include=["/settings"],
        segments=[segment],
    )
    page = open_as(ENTERPRISE_MEMBER, "/settings")
    expect(page.get_by_role("region", name="Account banner")).to_be_visible()
    expected = ("initech", {"tier": "enterprise", "seats": 250})
    assert wait_until(lambda: company_of(app, "member-1") == expected)
    assert page.warnings == [] and page.errors == []

    # A later identify without company (the same user on another page load) keeps it.
    without = {key: value for key, value in ENTERPRISE_MEMBER.items() if key != "company"}
    page = open_as(without, "/settings")
    expect(page.get_by_role("region", name="Account banner")).to_be_visible()
    assert company_of(app, "member-1") == expected
