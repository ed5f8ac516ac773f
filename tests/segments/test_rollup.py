"""Daily event counts written with the events equal the ones recomputed from the raw history;
a day's shards are summed on read and folded into one row once the day is past."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from segments.models import EventDay
from segments.rollup import (
    SHARDS,
    Rollup,
    day_counts,
    rollup_add,
    rollup_fold,
    rollup_rebuild,
    user_shard,
)
from tests.factories import ApplicationFactory, EndUserFactory, TrackedEventFactory

pytestmark = pytest.mark.django_db

DAY1 = datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)


def rows(application):
    """(name, day, events, new users, last time) per name and day: the shards summed."""
    return sorted(day_counts(application))


def shards(application):
    return sorted(
        EventDay.objects.filter(application=application).values_list("name", "day", "shard")
    )


def add(application, name, when, shard, events=1, new_users=0):
    rollup = Rollup()
    for n in range(events):
        rollup.add(name, when.timestamp(), new_user=n < new_users)
    rollup_add(application_id=application.pk, rollup=rollup, shard=shard)


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


MIDNIGHT = datetime(2026, 11, 21, tzinfo=UTC).timestamp()


@given(
    known=st.sets(st.sampled_from("abc")),
    events=st.lists(
        st.tuples(
            st.sampled_from("abc"),
            # Around midnight: whole microseconds (what /track stores) and any float.
            st.integers(-3, 3).map(lambda n: MIDNIGHT + n / 1e6)
            | st.floats(MIDNIGHT - 2 * 86_400, MIDNIGHT + 86_400)
            | st.floats(MIDNIGHT - 1e-5, MIDNIGHT + 1e-5),
        ),
        max_size=12,
    ),
)
def test_add_user__each_event_on_its_utc_day__a_new_name_counts_the_user_once(known, events):
    rollup = Rollup()
    rollup.add_user(known, events)
    expected: dict = {}
    firsts = {n: min(w for m, w in events if m == n) for n, _ in events if n not in known}
    for name, when in events:
        day = datetime.fromtimestamp(when, UTC).date()
        counts = expected.setdefault((name, day), [0, 0, float("-inf")])
        counts[0] += 1
        counts[2] = max(counts[2], when)
        if firsts.get(name) == when:
            counts[1] += 1
            del firsts[name]
    assert {k: [d.events, d.new_users, d.last_at] for k, d in rollup.days.items()} == expected


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


def test_each_user_adds_to_their_shard__a_day_is_the_sum_of_its_shards():
    app = ApplicationFactory()
    users = [EndUserFactory(application=app) for _ in range(3)]
    for user in users:
        TrackedEventFactory(end_user=user, name="a", timestamp=DAY1)
    TrackedEventFactory(end_user=users[0], name="a", timestamp=DAY1 - timedelta(hours=1))
    assert {shard for _, _, shard in shards(app)} == {user_shard(u.pk) for u in users}
    assert len(shards(app)) == 3  # consecutive ids: three shards
    assert rows(app) == [("a", DAY1.date(), 4, 3, DAY1)]
    assert {user_shard(n) for n in range(10 * SHARDS)} == set(range(1, SHARDS + 1))


def test_a_day_without_events_has_no_last_time__one_with_events_the_latest_of_its_shards():
    app = ApplicationFactory()
    day2 = DAY1 + timedelta(days=1)
    for when in (DAY1, day2 - timedelta(hours=3)):  # a rebuild's first time, its event pruned
        EventDay.objects.create(
            application=app, name="a", day=when.date(), events=0, new_users=1, last_at=when
        )
    add(app, "a", day2 - timedelta(hours=5), shard=4)
    add(app, "a", day2 - timedelta(hours=6), shard=9, events=2, new_users=1)
    assert rows(app) == [
        ("a", DAY1.date(), 0, 1, None),
        ("a", day2.date(), 3, 2, day2 - timedelta(hours=5)),
    ]


def test_rollup_fold__sums_the_shards_of_the_days_before_into_shard_0__the_sums_unchanged():
    app, other = ApplicationFactory(), ApplicationFactory()
    day0, day1, day2 = (DAY1 - timedelta(days=n) for n in (0, 1, 2))
    for when, shard, events in [
        (day2, 0, 2),
        (day2, 3, 1),
        (day2 - timedelta(hours=1), 7, 4),
        (day1, 3, 5),
        (day0, 3, 1),
        (day0, 5, 1),
    ]:
        add(app, "a", when, shard, events=events, new_users=1)
        add(app, "b", when, shard)
    add(other, "a", day2, 3, events=7)
    before, other_before = rows(app), rows(other)

    # Every application's: 2 names x 3 sharded rows, and one; 3 a batch.
    assert rollup_fold(before=day0.date(), batch_size=3) == 7
    assert rows(app) == before
    assert rows(other) == other_before == [("a", day2.date(), 7, 0, day2)]
    assert shards(other) == [("a", day2.date(), 0)]
    kept = [(name, day.day, shard) for name, day, shard in shards(app)]
    assert kept == [
        ("a", 18, 0),
        ("a", 19, 0),
        ("a", 20, 3),
        ("a", 20, 5),
        ("b", 18, 0),
        ("b", 19, 0),
        ("b", 20, 3),
        ("b", 20, 5),
    ]
    assert rollup_fold(before=day0.date()) == 0

    add(app, "a", day1, shard=11)  # a late event of a folded day: its shard again, then folded
    assert rollup_fold(before=day0.date()) == 1
    assert rows(app)[1] == ("a", day1.date(), 6, 1, day1)
