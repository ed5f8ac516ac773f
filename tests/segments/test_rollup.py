"""Daily event counts written with the events equal the ones recomputed from the raw history."""

from datetime import UTC, date, datetime, timedelta

import pytest

from segments.models import EventDay
from segments.rollup import Rollup, rollup_add, rollup_rebuild
from tests.factories import ApplicationFactory, EndUserFactory, TrackedEventFactory

pytestmark = pytest.mark.django_db

DAY1 = datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)


def rows(application):
    return sorted(
        EventDay.objects.filter(application=application).values_list(
            "name", "day", "events", "new_users", "last_at"
        )
    )


def test_a_user_is_new_to_a_name_once__on_the_day_of_their_first_event():
    rollup = Rollup()
    t = DAY1.timestamp()
    rollup.add_user(set(), [("a", t + 2), ("a", t), ("b", t + 2), ("a", t)])
    assert {k: (d.events, d.new_users) for k, d in rollup.days.items()} == {
        ("a", date(2026, 11, 20)): (2, 1),
        ("a", date(2026, 11, 21)): (1, 0),
        ("b", date(2026, 11, 21)): (1, 1),
    }
    again = Rollup()
    again.add_user({"a"}, [("a", t + 5)])
    assert [(d.events, d.new_users) for d in again.days.values()] == [(1, 0)]


def test_rollup_add_adds_to_the_days_rows():
    app = ApplicationFactory()
    for _ in range(2):
        rollup = Rollup()
        rollup.add("a", DAY1.timestamp(), new_user=True)
        rollup_add(application_id=app.pk, rollup=rollup)
    assert rows(app) == [("a", date(2026, 11, 20), 2, 2, DAY1)]


def test_the_counts_written_with_the_events_equal_a_rebuild_from_the_raw_history():
    app = ApplicationFactory()
    users = [EndUserFactory(application=app) for _ in range(3)]
    for n, user in enumerate(users):
        for k in range(n + 2):
            TrackedEventFactory(
                end_user=user,
                name="ab"[k % 2],
                timestamp=DAY1 - timedelta(hours=7 * k + n),
            )
    written = rows(app)
    assert rollup_rebuild(application=app) == len(written)
    assert rows(app) == written
    assert sum(r[3] for r in written if r[0] == "a") == 3  # three users did "a"
    assert sum(r[2] for r in written) == 2 + 3 + 4
