"""Engage > Companies (list, a company's page) and the company side of the user page."""

import re

import pytest
from django.urls import reverse

from segments import actions, selectors
from segments.models import Company, EndUser, Membership
from tests.factories import (
    ApplicationFactory,
    CompanyFactory,
    EndUserFactory,
    TraitDefinitionFactory,
    saved_segment,
)

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
def companies(app):
    """acme (enterprise, 50 seats): u00-u03, the pro users, two of them admins; globex (free,
    3 seats): u04-u05, one admin; u06-u09 belong to no company."""
    TraitDefinitionFactory(application=app, scope="company", key="plan", type="string")
    TraitDefinitionFactory(application=app, scope="company", key="seats", type="number")
    acme = CompanyFactory(
        application=app, external_id="acme", traits={"plan": "enterprise", "seats": 50}
    )
    globex = CompanyFactory(
        application=app, external_id="globex", traits={"plan": "free", "seats": 3}
    )
    users = {u.external_id: u for u in app.end_users.all()}
    for uid in ("u00", "u01", "u02", "u03"):
        EndUser.objects.filter(pk=users[uid].pk).update(company=acme)
    for uid in ("u04", "u05"):
        EndUser.objects.filter(pk=users[uid].pk).update(company=globex)
    return {"acme": acme, "globex": globex}


def company_segments(app):
    admins = saved_segment(app, "Admins", [("role", "equals", "admin")])
    enterprise = actions.segment_create(
        application=app,
        name="Enterprise accounts",
        definition={
            "match": "all",
            "rules": [{"company_trait": "plan", "operator": "equals", "value": "enterprise"}],
        },
    )
    teams = actions.segment_create(
        application=app,
        name="Teams with two admins",
        definition={
            "match": "all",
            "rules": [
                {"company_users": {"segment": admins.pk}, "operator": "at_least", "value": 2}
            ],
        },
    )
    return admins, enterprise, teams


# --- The list ----------------------------------------------------------------------------


def test_list__companies_with_traits_and_user_counts(client, app, companies):
    CompanyFactory(application=ApplicationFactory(), external_id="initech")  # not this app's

    page = text(client.get(url("companies", app)))

    assert "2 companies in" in page
    assert "acme plan enterprise seats 50 4" in page
    assert "globex plan free seats 3 2" in page
    assert "initech" not in page


def test_list__search_trait_and_segment_filters_swap_only_the_results(client, app, companies):
    pro = saved_segment(app, "Pro", [("plan", "equals", "pro")])
    admins = saved_segment(app, "Admins", [("role", "equals", "admin")])
    results = {**HTMX, "HX-Target": "results"}

    def shown(**query):
        response = client.get(url("companies", app), query, headers=results)
        body = response.content.decode()
        assert "<html" not in body
        return {name for name in ("acme", "globex") if f">{name}</a>" in body}

    assert shown(q="ACM") == {"acme"}
    assert shown(trait="plan", value="free") == {"globex"}
    assert shown(trait="seats", value="50") == {"acme"}
    assert shown(trait="seats") == {"acme", "globex"}
    assert shown(segment=pro.pk) == {"acme"}
    assert shown(segment=admins.pk) == {"acme", "globex"}
    full = client.get(url("companies", app), {"q": "acm"}).content.decode()
    assert "<html" in full and 'value="acm"' in full and 'hx-push-url="true"' in full


def test_list__the_trait_filter_offers_company_traits_only(client, app, companies):
    TraitDefinitionFactory(application=app, scope="company", key="region")
    page = client.get(url("companies", app)).content.decode()
    offered = re.findall(
        r'<option value="(\w+)"', page.split('name="trait"')[1].split("</select>")[0]
    )
    assert offered == ["plan", "region", "seats"]  # not the users' role or teamSize


def test_list__a_value_that_does_not_fit_the_trait_is_an_error_not_every_company(
    client, app, companies
):
    response = client.get(
        url("companies", app),
        {"trait": "seats", "value": "lots"},
        headers={**HTMX, "HX-Target": "results"},
    )
    body = text(response)
    assert "seats needs a number, not 'lots'." in body
    assert "No company matches." in body


def test_list__another_applications_segment_is_not_a_choice(client, app, companies):
    theirs = saved_segment(ApplicationFactory(), "Theirs", [])
    response = client.get(url("companies", app), {"segment": theirs.pk})
    assert "Select a valid choice" in response.content.decode()
    assert ">acme</a>" in response.content.decode()  # an invalid filter narrows nothing


def test_list__query_count_does_not_grow_with_companies(
    client, app, companies, django_assert_num_queries
):
    # session, user, application, switcher, total, page count, page (user counts inline),
    # trait choices, segment choices
    with django_assert_num_queries(9):
        client.get(url("companies", app))
    for n in range(40):
        company = CompanyFactory(application=app, traits={"plan": "free", "n": n})
        EndUserFactory(application=app, company=company)
    with django_assert_num_queries(9):
        response = client.get(url("companies", app))
    assert "Page 1 of 2" in text(response)


def test_list__empty_says_where_companies_come_from(client, app):
    assert "No company yet." in text(client.get(url("companies", app)))


# --- A company's page --------------------------------------------------------------------


def test_detail__traits_users_per_segment_and_each_users_segments_and_why(client, app, companies):
    company_segments(app)

    page = text(client.get(url("company_detail", app, companies["acme"].pk)))

    assert "4 users" in page
    assert "plan enterprise Text" in page and "seats 50 Number" in page
    # Users per segment: the company's users only.
    assert "Admins 2 of 4" in page and "Enterprise accounts 4 of 4" in page
    assert "Everyone 4 of 4" in page
    # Each user's segments, then why.
    u00 = page[page.index("u00") : page.index("u01")]
    assert "Everyone Admins Enterprise accounts Teams with two admins Why" in u00
    assert (
        'company rule 1 passed: the company\'s plan is "enterprise", '
        'expected equals "enterprise" ignoring case'
    ) in u00
    assert (
        'company condition 1: at least 2 users of the company in segment "Admins" — '
        'passed: 2 users of the company are in segment "Admins"'
    ) in u00
    assert "u04" not in page  # globex's


def test_detail__another_company_reads_its_own_traits_and_counts(client, app, companies):
    company_segments(app)

    page = text(client.get(url("company_detail", app, companies["globex"].pk)))

    assert "Admins 1 of 2" in page and "Teams with two admins 0 of 2" in page
    assert 'company rule 1 failed: the company\'s plan is "free"' in page
    assert 'failed: 1 user of the company is in segment "Admins"' in page


def test_detail__users_search_swaps_only_the_users(client, app, companies):
    response = client.get(
        url("company_detail", app, companies["acme"].pk),
        {"q": "u02"},
        headers={**HTMX, "HX-Target": "members"},
    )
    body = response.content.decode()
    assert "<html" not in body and "Company traits" not in body
    assert ">u02</a>" in body and ">u00</a>" not in body


def test_detail__users_are_paginated(client, app, companies):
    for n in range(30):
        EndUserFactory(application=app, external_id=f"z{n:02d}", company=companies["globex"])
    page = text(client.get(url("company_detail", app, companies["globex"].pk)))
    assert "32 users" in page and "Page 1 of 2" in page
    second = text(client.get(url("company_detail", app, companies["globex"].pk), {"page": 2}))
    assert "z29" in second and "u04" not in second


def test_detail__query_count_does_not_grow_with_users_or_segments(
    client, app, companies, django_assert_num_queries
):
    company_segments(app)
    # session, user, application, switcher, company, segments (+ experience counts) and their
    # 6 kinds of node, users per segment (one aggregate), segment names, page count, page,
    # trait choices, company trait definitions
    with django_assert_num_queries(18):
        client.get(url("company_detail", app, companies["acme"].pk))
    for n in range(20):
        EndUserFactory(application=app, company=companies["acme"], traits={"role": "admin"})
        actions.segment_create(
            application=app,
            name=f"Big {n}",
            definition={
                "match": "any",
                "rules": [{"company_trait": "seats", "operator": "greater_than", "value": n}],
            },
        )
    with django_assert_num_queries(18):
        response = client.get(url("company_detail", app, companies["acme"].pk))
    assert "Big 19 24 of 24" in text(response) and "Admins 22 of 24" in text(response)


def test_detail__another_applications_company_is_404(client, app, companies):
    theirs = CompanyFactory(application=ApplicationFactory(), external_id="theirs")
    assert client.get(url("company_detail", app, theirs.pk)).status_code == 404
    assert client.get(url("company_detail", app, 999999)).status_code == 404


def test_companies_pages_are_read_only_for_every_role(client, app, companies, member):
    member.role = Membership.Role.VIEWER
    member.save()
    assert client.get(url("companies", app)).status_code == 200
    assert client.get(url("company_detail", app, companies["acme"].pk)).status_code == 200
    assert client.post(url("companies", app)).status_code == 405
    assert Company.objects.filter(application=app).count() == 2


# --- The user page -----------------------------------------------------------------------


def test_user_page__explains_company_rules_with_the_users_company(client, app, companies):
    company_segments(app)
    user = app.end_users.get(external_id="u01")

    page = text(client.get(url("user_detail", app, user.pk)))

    assert "Company: acme" in page
    assert "Company traits Of acme" in page and "seats 50 Number" in page
    assert "✓ Enterprise accounts: in this segment" in page
    assert "✓ Teams with two admins: in this segment" in page
    assert 'passed: 2 users of the company are in segment "Admins"' in page


def test_user_page__without_a_company_company_rules_read_nothing(client, app, companies):
    company_segments(app)
    user = app.end_users.get(external_id="u09")

    page = text(client.get(url("user_detail", app, user.pk)))

    assert "Company: none" in page and "Company traits" not in page
    assert "✗ Enterprise accounts: not in this segment" in page
    assert (
        'company rule 1 failed: no company: plan is not set, expected equals "enterprise"' in page
    )
    assert "company condition 1: at least 2 users" in page and "failed: no company: 0 users" in page


def test_user_page__company_counts_cost_one_query(
    client, app, companies, django_assert_num_queries
):
    company_segments(app)
    user = app.end_users.get(external_id="u01")
    # session, user, application, switcher, end user with company, trait definitions,
    # segments and their 6 kinds of node, segment names, the company's counts
    with django_assert_num_queries(15):
        client.get(url("user_detail", app, user.pk))


def test_users_list__shows_each_users_company(client, app, companies, django_assert_num_queries):
    page = text(client.get(url("users", app)))
    assert "u00 acme" in page and "u04 globex" in page and "u09 —" in page


# --- company_members ---------------------------------------------------------------------


def test_company_members__counts_the_companys_users_per_segment_in_one_query(
    app, companies, django_assert_num_queries
):
    admins, enterprise, teams = company_segments(app)
    trees = {s.pk: s.tree for s in selectors.segments_with_rules(app)}
    ids = [admins.pk, enterprise.pk, teams.pk, 999999]

    with django_assert_num_queries(1):
        acme = selectors.company_members(app.pk, companies["acme"].pk, ids, trees=trees)
    globex = selectors.company_members(app.pk, companies["globex"].pk, ids)

    assert acme == {admins.pk: 2, enterprise.pk: 4, teams.pk: 4, 999999: 0}
    assert globex == {admins.pk: 1, enterprise.pk: 0, teams.pk: 0, 999999: 0}
    assert selectors.company_members(app.pk, None, ids) == dict.fromkeys(ids, 0)


def test_company_members__agrees_with_the_segments_own_sql_count(app, companies):
    admins, enterprise, teams = company_segments(app)
    for company in companies.values():
        counted = selectors.company_members(
            app.pk, company.pk, [admins.pk, enterprise.pk, teams.pk]
        )
        for segment in (admins, enterprise, teams):
            members = segment.members().filter(company=company).count()
            assert counted[segment.pk] == members, (company, segment)


# --- Navigation --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["companies", "company_detail"])
def test_the_sidebar_marks_companies(client, app, companies, name):
    args = [companies["acme"].pk] if name == "company_detail" else []
    page = client.get(url(name, app, *args)).content.decode()
    assert re.findall(r'aria-current="page">([^<]+)</a>', page) == ["Companies"]
