"""The SQL engine on the same worked examples as the evaluator, on the test database."""

import pytest
from django.db import connection

from segments import coerce, pgsql
from segments.evaluator import Condition
from segments.models import EndUser
from segments.sql import conditions_q
from tests.factories import ApplicationFactory, EndUserFactory

from .cases import CASES, MISSING, NOW, case_id

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def stored_users(django_db_setup, django_db_blocker):
    """One user per distinct stored value, shared by every case in this module."""
    with django_db_blocker.unblock():
        application = ApplicationFactory()
        users = {}
        for case in CASES:
            stored = case[3]
            key = "missing" if stored is MISSING else repr(stored)
            if key not in users:
                traits = {} if stored is MISSING else {"t": stored}
                users[key] = EndUserFactory(application=application, traits=traits).pk
        yield application, users
        application.delete()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_operator_examples_in_sql(case, stored_users):
    application, users = stored_users
    trait_type, operator, value, stored, expected = case
    key = "missing" if stored is MISSING else repr(stored)
    q = conditions_q([Condition("t", trait_type, operator, value)], NOW)
    matched = EndUser.objects.filter(application=application, pk=users[key]).filter(q).exists()
    assert matched is expected


def test_no_rules__match_every_user(stored_users):
    application, users = stored_users
    everyone = EndUser.objects.filter(application=application).filter(conditions_q([], NOW))
    assert everyone.count() == len(users)


def test_the_postgresql_functions_use_the_coercions_patterns():
    assert f"~ '{coerce.NUMERIC_PATTERN}'" in pgsql.FUNCTIONS
    assert f"~ '{coerce.ISO_PATTERN}'" in pgsql.FUNCTIONS


def test_the_database_runs_the_current_postgresql_functions():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite runs the Python coercions themselves")
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'callout_date'")
        (source,) = cursor.fetchone()
    assert coerce.ISO_PATTERN in source


@pytest.mark.parametrize(
    "text", ["", "PRO", "Pro-Plan_2.0 %~", "ÜBER", "Straße", "İSTANBUL", "ΣΑΣ", "ǅ", "Abé", "ẞ"]
)
def test_callout_fold__ascii_in_c_and_the_rest_in_icu__is_python_lower(text):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite runs the Python coercions themselves")
    with connection.cursor() as cursor:
        cursor.execute("SELECT callout_fold(%s)", [text])
        assert cursor.fetchone()[0] == coerce.fold(text)


def test_rule_whose_value_no_longer_fits_its_retyped_trait__matches_nobody_in_sql(stored_users):
    application, _ = stored_users
    for operator in ("equals", "not_equals"):
        q = conditions_q([Condition("t", "number", operator, "free")], NOW)
        assert not EndUser.objects.filter(application=application).filter(q).exists()


@pytest.mark.parametrize(
    "condition",
    [
        Condition("t", "string", "equals", 0),
        Condition("t", "string", "in", [1]),
        Condition("t", "string", "in", "free, pro"),
        Condition("t", "string", "starts_with", 2.5, case_sensitive=True),
        Condition("t", "date", "before", " 2026-11-20 "),
    ],
    ids=Condition.describe,
)
def test_stored_value_no_save_path_produces__matches_nobody_in_sql(condition, stored_users):
    application, _ = stored_users
    q = conditions_q([condition], NOW)
    assert not EndUser.objects.filter(application=application).filter(q).exists()
