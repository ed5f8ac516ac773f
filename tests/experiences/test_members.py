"""The serve's company counts: the users of one company in each counted segment, exact, in one
query made only when a rule first reads it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from experiences.members import CompanyCounts
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


def test_the_counts_are_read_on_first_use_and_once(app):
    application, acme, _, admins, _ = app
    counts = CompanyCounts(
        application_id=application.pk,
        company_id=acme.pk,
        trees=trees_of(application.pk),
        segment_ids=frozenset({admins.pk}),
    )
    with CaptureQueriesContext(connection) as queries:
        assert counts.get(admins.pk, 0) == 2
        assert counts.get(admins.pk, 0) == 2
        assert counts.get(12345, 0) == 0
    assert len(queries) == 1


def test_without_a_company_nothing_is_read_and_every_count_is_zero(app):
    application, _, _, admins, _ = app
    counts = CompanyCounts(
        application_id=application.pk,
        company_id=None,
        trees=trees_of(application.pk),
        segment_ids=frozenset({admins.pk}),
    )
    with CaptureQueriesContext(connection) as queries:
        assert counts.get(admins.pk, 0) == 0
    assert len(queries) == 0
