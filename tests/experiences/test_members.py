"""The serve's company counts: the users of one company in each counted segment, exact, in one
query made only when a rule first reads it."""

import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from experiences.members import CompanyCounts, CountQuery
from experiences.targeting import targeting_for
from segments import actions
from segments.models import trees_of
from segments.selectors import company_members, counted_segments
from tests.factories import (
    ApplicationFactory,
    CompanyFactory,
    EndUserFactory,
    TraitDefinitionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    application = ApplicationFactory()
    TraitDefinitionFactory(application=application, key="role")
    acme, other = CompanyFactory(application=application), CompanyFactory(application=application)
    for role, company in [("admin", acme), ("admin", acme), ("member", acme), ("admin", other),
                          ("admin", None)]:  # fmt: skip
        EndUserFactory(application=application, traits={"role": role}, company=company)
    admins = actions.segment_create(
        application=application,
        name="Admins",
        rules=[{"trait": "role", "operator": "equals", "value": "admin"}],
    )
    teams = actions.segment_create(
        application=application,
        name="Teams",
        definition={
            "match": "all",
            "rules": [
                {"company_users": {"segment": admins.pk}, "operator": "at_least", "value": 2}
            ],
        },
    )
    return application, acme, other, admins, teams


def test_only_the_segments_a_count_names_are_counted(app):
    application, _, _, admins, _ = app
    assert counted_segments(trees_of(application.pk).values()) == {admins.pk}


def test_the_users_of_one_company_are_counted_per_segment_in_one_query(app):
    application, acme, other, admins, teams = app
    trees = trees_of(application.pk)
    with CaptureQueriesContext(connection) as queries:
        counts = company_members(application.pk, acme.pk, {admins.pk, teams.pk}, trees=trees)
    assert len(queries) == 1
    # Teams: each of acme's 3 users is in a company with 2 admins.
    assert counts == {admins.pk: 2, teams.pk: 3}
    assert company_members(application.pk, other.pk, {admins.pk}, trees=trees) == {admins.pk: 1}


def _count_query(application, segment_ids):
    return CountQuery(
        application_id=application.pk,
        trees=trees_of(application.pk),
        segment_ids=frozenset(segment_ids),
    )


def test_the_counts_are_read_on_first_use_and_once(app):
    application, acme, _, admins, _ = app
    counts = CompanyCounts(
        company_id=acme.pk, query=_count_query(application, {admins.pk}), now=time.time()
    )
    with CaptureQueriesContext(connection) as queries:
        assert counts.get(admins.pk, 0) == 2
        assert counts.get(admins.pk, 0) == 2
        assert counts.get(12345, 0) == 0
    assert len(queries) == 1


def test_a_count_query_without_date_rules_is_compiled_once_and_counts_todays_users(app):
    application, _, other, admins, _ = app
    query = _count_query(application, {admins.pk})
    now = time.time()
    first = query.at(now)
    assert query.at(now + 10 * 86400) is first
    EndUserFactory(application=application, traits={"role": "admin"}, company=other)
    assert CompanyCounts(company_id=other.pk, query=query, now=now)[admins.pk] == 2


def test_a_count_query_with_a_date_rule_is_compiled_for_each_time(app):
    application, acme, _, _, _ = app
    TraitDefinitionFactory(application=application, key="signupDate", type="date")
    EndUserFactory(application=application, traits={"signupDate": "2026-11-01"}, company=acme)
    recent = actions.segment_create(
        application=application,
        name="Recent",
        rules=[{"trait": "signupDate", "operator": "within_last_days", "value": 10}],
    )
    query = _count_query(application, {recent.pk})
    november = datetime(2026, 11, 5, tzinfo=UTC).timestamp()
    december = datetime(2026, 12, 5, tzinfo=UTC).timestamp()
    assert query.at(november) != query.at(december)
    assert CompanyCounts(company_id=acme.pk, query=query, now=november)[recent.pk] == 1
    assert CompanyCounts(company_id=acme.pk, query=query, now=december)[recent.pk] == 0


def test_a_company_without_users_counts_zero(app):
    application, _, _, admins, _ = app
    empty = CompanyFactory(application=application)
    assert company_members(application.pk, empty.pk, {admins.pk}) == {admins.pk: 0}


def test_a_user_without_a_company_reads_no_count(app):
    application, _, _, admins, _ = app
    targeting = targeting_for(application)
    with CaptureQueriesContext(connection) as queries:
        assert targeting.members(None, time.time()).get(admins.pk, 0) == 0
    assert len(queries) == 0
