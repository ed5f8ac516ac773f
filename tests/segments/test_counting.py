"""Bounded member counts for the live preview, on whichever database the suite runs on."""

import time

import pytest
from django.db import OperationalError, connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from segments import counting
from segments.counting import MemberCount, count_members
from segments.models import EndUser
from tests.factories import ApplicationFactory, EndUserFactory

pytestmark = pytest.mark.django_db

SLEEP_S = 0.02  # each user costs this much to test in the slow queryset below


@pytest.fixture
def slow_users(monkeypatch):
    """30 users whose membership test sleeps 20 ms each: a full count takes about 600 ms."""
    application = ApplicationFactory()
    EndUser.objects.bulk_create(
        EndUser(application=application, external_id=f"u{i}", traits={}) for i in range(30)
    )
    if connection.vendor == "sqlite":
        # 30 rows are few virtual machine instructions: check the deadline at every one.
        monkeypatch.setattr(counting, "SQLITE_CHECK_EVERY", 1)
        connection.ensure_connection()
        connection.connection.create_function(
            "test_slow_true", 1, lambda _: time.sleep(SLEEP_S) or 1
        )
        predicate = "test_slow_true(segments_enduser.id) = 1"
    else:
        # Correlated with the row, so it runs per row rather than once as an InitPlan.
        predicate = f"(SELECT true FROM pg_sleep({SLEEP_S} + 0 * segments_enduser.id))"
    return EndUser.objects.filter(application=application).filter(_raw_q(predicate))


def _raw_q(predicate):
    return Q(RawSQL(predicate, [], output_field=BooleanField()))


def test_count_members__fast_query__exact_count():
    application = ApplicationFactory()
    for _ in range(3):
        EndUserFactory(application=application)
    result = count_members(EndUser.objects.filter(application=application), timeout_ms=5000)
    assert result == MemberCount(3, exact=True)
    assert result.label == "3 users"


def test_count_members__more_than_limit_and_full_count_too_slow__says_more_than(slow_users):
    started = time.monotonic()
    result = count_members(slow_users, timeout_ms=300, limit=2)
    elapsed = time.monotonic() - started
    assert result == MemberCount(2, exact=False)
    assert result.label == "more than 2 users"
    assert elapsed < 0.6  # the deadline held: it did not wait for the 600 ms count


def test_count_members__not_even_the_bounded_count_in_time__counting(slow_users):
    result = count_members(slow_users, timeout_ms=100, limit=1000)
    assert result == MemberCount(None, exact=False)
    assert not result.known
    assert result.label == "counting…"


def test_count_members__enough_time__exact_even_when_slow(slow_users):
    assert count_members(slow_users, timeout_ms=10_000, limit=5) == MemberCount(30, exact=True)


def test_count_members__below_limit__bounded_count_is_exact(slow_users):
    assert count_members(slow_users, timeout_ms=10_000, limit=100) == MemberCount(30, True)


def test_count_members__inside_a_transaction__leaves_it_usable_and_its_timeout_unchanged(
    slow_users,
):
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = '12s'")
        count_members(slow_users, timeout_ms=100, limit=1000)  # times out
        count_members(EndUser.objects.all(), timeout_ms=5000)  # completes
        assert EndUser.objects.count() >= 30  # the transaction still works
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW statement_timeout")
                assert cursor.fetchone()[0] == "12s"


def test_count_members__other_database_errors__propagate():
    broken = EndUser.objects.filter(_raw_q("no_such_column = 1"))
    with pytest.raises(OperationalError if connection.vendor == "sqlite" else Exception):
        count_members(broken, timeout_ms=1000)


def test_member_count_label__singular_and_thousands():
    assert MemberCount(1, True).label == "1 user"
    assert MemberCount(1234567, True).label == "1,234,567 users"
    assert MemberCount(10_000, False).label == "more than 10,000 users"
