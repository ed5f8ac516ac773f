"""Company trait definitions: their actions, and the Traits page's Company traits tab (the
same counts, samples, type warnings and inline editing as user traits, read from companies)."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from segments import actions, selectors
from segments.models import Membership, TraitDefinition
from tests.factories import CompanyFactory, TraitDefinitionFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def url(name, app, *args):
    return reverse(f"segments:{name}", args=[app.pk, *args])


def text(response):
    html = response.content.decode()
    html = re.sub(r"<[^>]+>", " ", html)
    html = re.sub(r"\s+", " ", html).replace("&quot;", '"').replace("&#x27;", "'")
    return re.sub(r" ([,.:;])", r"\1", html)


@pytest.fixture
def company_traits(app):
    """Company traits plan (text) and seats (number) on three companies, one of whose seats
    is not a number; the users' plan trait stays a user trait."""
    plan = TraitDefinitionFactory(application=app, scope="company", key="plan", type="string")
    seats = TraitDefinitionFactory(application=app, scope="company", key="seats", type="number")
    CompanyFactory(application=app, external_id="acme", traits={"plan": "enterprise", "seats": 50})
    CompanyFactory(application=app, external_id="globex", traits={"plan": "free", "seats": "lots"})
    CompanyFactory(application=app, external_id="initech", traits={"plan": "free"})
    return {"plan": plan, "seats": seats}


def company_rule(app, name, key="plan", value="enterprise"):
    return actions.segment_create(
        application=app,
        name=name,
        definition={
            "match": "all",
            "rules": [{"company_trait": key, "operator": "equals", "value": value}],
        },
    )


# --- Actions -----------------------------------------------------------------------------


def test_create__a_company_trait_may_share_a_user_traits_key(app):
    trait = actions.trait_definition_create(
        application=app, scope="company", key="plan", type="string", label="Plan"
    )
    assert trait.scope == "company"
    assert app.trait_definitions.filter(key="plan").count() == 2


def test_create__a_company_key_taken_is_refused_on_the_key(app, company_traits):
    with pytest.raises(ValidationError) as error:
        actions.trait_definition_create(application=app, scope="company", key="plan")
    assert error.value.message_dict == {"key": ['A company trait "plan" already exists.']}


def test_create__an_unknown_scope_is_refused(app):
    with pytest.raises(ValidationError) as error:
        actions.trait_definition_create(application=app, scope="team", key="x")
    assert "scope" in error.value.message_dict
    assert not app.trait_definitions.filter(key="x").exists()


def test_create__each_scope_has_its_own_limit(app, settings):
    settings.CALLOUT_MAX_TRAIT_DEFINITIONS = 3  # the app has 3 user traits already
    with pytest.raises(ValidationError) as error:
        actions.trait_definition_create(application=app, key="fourth")
    assert "at most 3 traits" in error.value.message_dict["key"][0]
    for key in ("a", "b", "c"):
        actions.trait_definition_create(application=app, scope="company", key=key)
    with pytest.raises(ValidationError) as error:
        actions.trait_definition_create(application=app, scope="company", key="d")
    assert "at most 3 company traits" in error.value.message_dict["key"][0]


def test_delete__a_company_trait_that_rules_use_is_refused_naming_them(app, company_traits):
    company_rule(app, "Enterprise")
    with pytest.raises(ValidationError) as error:
        actions.trait_definition_delete(trait=company_traits["plan"])
    assert error.value.messages == ['Company trait "plan" is used by the rules of "Enterprise".']


def test_stats__a_company_trait_counts_companies_a_user_trait_users(app, company_traits):
    user_plan = app.trait_definitions.users().get(key="plan")
    traits = [user_plan, company_traits["plan"], company_traits["seats"]]

    stats = selectors.trait_stats(app, traits)

    assert stats[user_plan.pk].users == 10  # the fixture's users
    assert set(stats[user_plan.pk].samples) <= {"pro", "free"}
    assert stats[company_traits["plan"].pk].users == 3
    assert set(stats[company_traits["plan"].pk].samples) == {"enterprise", "free"}
    seats = stats[company_traits["seats"].pk]
    assert (seats.users, seats.misfits) == (2, 1)


def test_type_change_effects__name_company_rules_as_such(app, company_traits):
    company_rule(app, "Enterprise")
    effects = selectors.type_change_effects(company_traits["plan"], "number")
    assert [(e.segment.name, e.broken) for e in effects] == [
        ("Enterprise", ['company plan equals "enterprise"'])
    ]


# --- The Traits page's tabs --------------------------------------------------------------


def test_tabs__each_lists_its_scope_with_counts_of_both(client, app, company_traits):
    users_tab = text(client.get(url("traits", app)))
    companies_tab = text(client.get(url("traits_company", app)))

    assert "User traits 3 Company traits 2" in users_tab
    assert "plan — Text 10" in users_tab and "seats" not in users_tab
    assert "Companies" in companies_tab and "plan — Text 3" in companies_tab
    assert "role" not in companies_tab and "teamSize" not in companies_tab
    seen = r"(?:.*? ago|just now)"  # when the trait was last seen
    sample = re.search(rf"plan — Text 3 {seen} (.*?) Defined", companies_tab).group(1).split()
    assert set(sample) == {"enterprise", "free"}


def test_tabs__the_current_one_is_marked(client, app):
    page = client.get(url("traits_company", app)).content.decode()
    tabs = page.split('aria-label="Trait scope"')[1].split("</nav>")[0]
    assert re.findall(r'aria-current="page">([^<]+)<', tabs) == ["Company traits "]
    sidebar = re.findall(r'aria-current="page">([^<]+)</a>', page)
    assert sidebar == ["Traits"]


def test_company_tab__warns_of_companies_whose_value_does_not_fit(client, app, company_traits):
    page = text(client.get(url("traits_company", app)))
    assert "1 company has a value that is not a number: rules on this trait" in page


def test_company_tab__query_count_does_not_grow_with_traits(
    client, app, company_traits, django_assert_num_queries
):
    # session, user, application, switcher, definitions (both tabs), stats, samples
    with django_assert_num_queries(7):
        client.get(url("traits_company", app))
    for n in range(40):
        TraitDefinitionFactory(application=app, scope="company", key=f"extra{n}", type="number")
    with django_assert_num_queries(7):
        response = client.get(url("traits_company", app))
    assert "extra39" in response.content.decode()


def test_company_tab__create_inline_makes_a_company_trait(client, app, company_traits):
    data = {"key": "region", "label": "Region", "type": "string", "description": ""}
    response = client.post(url("trait_create_company", app), data, headers=HTMX)
    assert response.status_code == 200
    assert "Company trait “region” added." in response.content.decode()
    assert app.trait_definitions.get(key="region").scope == "company"

    taken = client.post(
        url("trait_create_company", app), {"key": "plan", "type": "string"}, headers=HTMX
    )
    assert taken.status_code == 400
    assert "A company trait &quot;plan&quot; already exists." in taken.content.decode()
    # Without htmx: back to the company tab.
    plain = client.post(url("trait_create_company", app), {"key": "size", "type": "number"})
    assert plain.status_code == 302 and plain["Location"] == url("traits_company", app)


def test_company_tab__the_user_tab_creates_user_traits_still(client, app, company_traits):
    client.post(url("trait_create", app), {"key": "seats", "type": "number"}, headers=HTMX)
    assert app.trait_definitions.get(scope="user", key="seats").type == "number"
    assert app.trait_definitions.get(scope="company", key="seats").type == "number"


def test_company_tab__edit_inline_and_a_type_change_shows_the_company_rules_affected(
    client, app, company_traits
):
    company_rule(app, "Enterprise")
    trait = company_traits["plan"]

    shown = text(client.get(url("trait_edit", app, trait.pk), {"type": "number"}, headers=HTMX))
    assert 'Enterprise: “company plan equals "enterprise"” would match nobody' in shown

    data = {"label": "Plan", "type": "string", "description": "Billing plan"}
    response = client.post(url("trait_edit", app, trait.pk), data, headers=HTMX)
    assert response.status_code == 200
    trait.refresh_from_db()
    assert (trait.label, trait.description) == ("Plan", "Billing plan")
    plain = client.post(url("trait_edit", app, trait.pk), data)
    assert plain["Location"] == url("traits_company", app)
    page = client.get(url("trait_edit", app, trait.pk)).content.decode()
    assert "Company traits" in page and f'id="id_label-{trait.pk}"' in page


def test_company_tab__delete_refused_while_rules_use_it(client, app, company_traits):
    company_rule(app, "Enterprise")
    used = client.post(url("trait_delete", app, company_traits["plan"].pk), headers=HTMX)
    assert used.status_code == 400
    assert 'Company trait "plan" is used by the rules of "Enterprise".' in text(used)
    gone = client.post(url("trait_delete", app, company_traits["seats"].pk))
    assert gone["Location"] == url("traits_company", app)
    assert not TraitDefinition.objects.filter(pk=company_traits["seats"].pk).exists()


def test_company_tab__a_viewer_reads_but_cannot_write(client, app, company_traits, member):
    member.role = Membership.Role.VIEWER
    member.save()
    page = client.get(url("traits_company", app)).content.decode()
    assert "Add company trait" not in page and ">Edit<" not in page
    refused = client.post(url("trait_create_company", app), {"key": "x", "type": "string"})
    assert refused.status_code == 403
    edit = client.post(url("trait_edit", app, company_traits["plan"].pk), {"label": "Mine"})
    assert edit.status_code == 403
    assert not app.trait_definitions.filter(key="x").exists()
    company_traits["plan"].refresh_from_db()
    assert company_traits["plan"].label == ""


def test_company_tab__another_applications_trait_is_404(client, app):
    from tests.factories import ApplicationFactory

    theirs = TraitDefinitionFactory(application=ApplicationFactory(), scope="company", key="x")
    assert client.get(url("trait_edit", app, theirs.pk)).status_code == 404
    assert client.post(url("trait_delete", app, theirs.pk)).status_code == 404
    assert TraitDefinition.objects.filter(pk=theirs.pk).exists()
