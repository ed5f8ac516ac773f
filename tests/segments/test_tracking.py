"""segments/tracking.py: events checked, stored raw and counted into the user's activity
summary in one transaction; the names discovered up to the limit; raw events pruned."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection

from segments import activity, tracking
from segments.models import Application, EndUser, EventDefinition, TrackedEvent
from segments.traits import MAX_TRAITS
from tests.factories import ApplicationFactory, EndUserFactory

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW_S = NOW.timestamp()
DAY = 86400


def clean(*events, now=NOW):
    return tracking.events_clean(events=list(events), now=now)


def refusal(events, now=NOW):
    with pytest.raises(ValidationError) as error:
        tracking.events_clean(events=events, now=now)
    ((field, messages),) = error.value.message_dict.items()
    return field, messages[0]


def summary_of(app, external_id="u1"):
    return EndUser.objects.get(application=app, external_id=external_id).activity


def track(app, *events, external_id="u1", now=NOW):
    return tracking.events_track(
        application=app, external_id=external_id, events=list(events), now=now
    )


# --- events_clean ------------------------------------------------------------------------


def test_events_clean__a_name_alone__stamped_with_the_server_time__no_properties():
    (event,) = clean({"name": "project_created"})
    assert event == ("project_created", round(NOW_S * 1e6), {})
    assert event.when == NOW_S
    assert event.timestamp == NOW


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-20T11:30:00Z", NOW_S - 1800),
        ("2026-11-20T12:30:00+01:00", NOW_S - 1800),
        ("2026-11-20T11:30:00", NOW_S - 1800),  # no offset: UTC, as a date trait
        ("2026-11-20", NOW_S - 12 * 3600),  # a date alone: midnight UTC
        ("2026-11-20T11:59:59.123456789Z", NOW_S - 0.876544),  # to the microsecond
        (int(NOW_S) - 60, NOW_S - 60),  # Unix seconds
        (NOW_S - 60.5, NOW_S - 60.5),
        (int(NOW_S * 1000) - 1500, NOW_S - 1.5),  # milliseconds: above 10^11
        (NOW_S * 1000 - 1500.0, NOW_S - 1.5),
    ],
)
def test_events_clean__timestamps_are_read_as_date_traits_are(given, expected):
    (event,) = clean({"name": "a", "timestamp": given})
    assert event.when == pytest.approx(expected, abs=1e-6)


def test_events_clean__seconds_and_milliseconds_are_told_apart_at_10_to_the_11():
    # 10^11 seconds is the year 5138, 10^11 milliseconds March 1973: any time a sender means
    # is unambiguous; as a date trait's number is read (coerce.coerce_date).
    assert tracking.read_timestamp(100_000_000_000) == 100_000_000_000 * 10**6
    assert tracking.read_timestamp(100_000_000_001) == 100_000_000_001 * 10**3
    assert tracking.read_timestamp(1_763_640_000_000) == tracking.read_timestamp(1_763_640_000)


def test_events_clean__365_days_back_and_5_minutes_ahead_are_the_edges():
    oldest = NOW - timedelta(days=365)
    newest = NOW + timedelta(minutes=5)
    assert len(clean({"name": "a", "timestamp": oldest.isoformat()})) == 1
    assert len(clean({"name": "a", "timestamp": newest.isoformat()})) == 1
    too_old = (oldest - timedelta(microseconds=1)).isoformat()
    too_new = (newest + timedelta(microseconds=1)).isoformat()
    field, message = refusal([{"name": "a"}, {"name": "a", "timestamp": too_old}])
    assert field == "events[1].timestamp"
    assert "more than 365 days before the server's time" in message
    field, message = refusal([{"name": "a", "timestamp": too_new}])
    assert field == "events[0].timestamp"
    assert "more than 5 minutes after" in message


def test_events_clean__properties_are_scalars_as_traits():
    properties = {"plan": "pro", "seats": 3, "mrr": 9.5, "beta": True, "coupon": None}
    (event,) = clean({"name": "upgraded", "properties": properties})
    assert event.properties == properties


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ({"name": "a"}, "events"),
        ([], "events"),
        ([{"name": "a"}] * 101, "events"),
        (None, "events"),
        (["a"], "events[0]"),
        ([{}], "events[0].name"),
        ([{"name": None}], "events[0].name"),
        ([{"name": "a"}, {"name": "9lives"}], "events[1].name"),
        ([{"name": "has space"}], "events[0].name"),
        ([{"name": "x" * 129}], "events[0].name"),
        ([{"name": 7}], "events[0].name"),
        ([{"name": "a", "when": 1}], "events[0].when"),
        ([{"name": "a", "timestamp": "yesterday"}], "events[0].timestamp"),
        ([{"name": "a", "timestamp": "1763640000"}], "events[0].timestamp"),  # text: ISO only
        ([{"name": "a", "timestamp": True}], "events[0].timestamp"),
        ([{"name": "a", "timestamp": float("inf")}], "events[0].timestamp"),
        ([{"name": "a", "timestamp": 0}], "events[0].timestamp"),  # 1970: too old
        ([{"name": "a", "timestamp": 10**30}], "events[0].timestamp"),
        ([{"name": "a", "properties": ["x"]}], "events[0].properties"),
        ([{"name": "a", "properties": "x"}], "events[0].properties"),
        ([{"name": "a", "properties": 0}], "events[0].properties"),
        ([{"name": "a", "properties": {"9x": 1}}], "events[0].properties.9x"),
        ([{"name": "a", "properties": {"tags": ["a"]}}], "events[0].properties.tags"),
        ([{"name": "a", "properties": {"bio": "x" * 2001}}], "events[0].properties.bio"),
        ([{"name": "a", "properties": {"n": 2**64}}], "events[0].properties.n"),
        (
            [{"name": "a", "properties": {f"p{n}": n for n in range(MAX_TRAITS + 1)}}],
            "events[0].properties",
        ),
    ],
)
def test_events_clean__refuses_naming_the_field_by_its_path(events, field):
    assert refusal(events)[0] == field


def test_events_clean__messages_say_what_is_wrong():
    assert refusal([{"name": "a", "properties": {"tags": ["a"]}}])[1] == (
        "Property 'tags' is a list; property values must be text, numbers, true/false or null."
    )
    assert refusal([{"name": "a b"}])[1].startswith("events[0].name 'a b' is not an event name")
    assert "unknown field 'when'" in refusal([{"name": "a", "when": 1}])[1]


# --- events_track ------------------------------------------------------------------------


@pytest.mark.django_db
def test_events_track__stores_every_event_and_counts_it_into_the_summary():
    app = ApplicationFactory()
    user = EndUserFactory(application=app, external_id="u1", traits={"plan": "pro"})
    accepted = track(
        app,
        {"name": "project_created", "timestamp": NOW_S - 60, "properties": {"template": "kanban"}},
        {"name": "project_created", "timestamp": NOW_S - 120},
        {"name": "invited"},
    )
    assert accepted == 3
    stored = list(TrackedEvent.objects.order_by("timestamp").values_list("name", "properties"))
    assert stored == [
        ("project_created", {}),
        ("project_created", {"template": "kanban"}),
        ("invited", {}),
    ]
    assert set(TrackedEvent.objects.values_list("end_user", "application")) == {(user.pk, app.pk)}
    assert summary_of(app) == {
        "e": {
            "project_created": [2, NOW_S - 120, NOW_S - 60, [NOW_S - 60, NOW_S - 120]],
            "invited": [1, NOW_S, NOW_S, [NOW_S]],
        }
    }
    user.refresh_from_db()
    assert user.traits == {"plan": "pro"}
    assert user.last_seen == NOW


@pytest.mark.django_db
def test_events_track__an_unknown_user_is_created_as_identify_would():
    app = ApplicationFactory()
    track(app, {"name": "signed_up"}, external_id="new-user")
    user = EndUser.objects.get(application=app, external_id="new-user")
    assert user.traits == {}
    assert activity.entry(user.activity, "signed_up")[0] == 1


@pytest.mark.django_db
def test_events_track__the_id_is_checked_as_identify_checks_it():
    app = ApplicationFactory()
    for bad in ("", "x" * 256, "a\x00b", 7, None):
        with pytest.raises(ValidationError) as error:
            track(app, {"name": "a"}, external_id=bad)
        assert "id" in error.value.message_dict
    assert not EndUser.objects.exists()


@pytest.mark.django_db
def test_events_track__one_bad_event__nothing_stored__not_the_user__not_a_name():
    app = ApplicationFactory()
    with pytest.raises(ValidationError) as error:
        track(app, {"name": "fine"}, {"name": "fine_too"}, {"name": "bad name"})
    assert list(error.value.message_dict) == ["events[2].name"]
    assert not EndUser.objects.exists()
    assert not TrackedEvent.objects.exists()
    assert not EventDefinition.objects.exists()


@pytest.mark.django_db
def test_events_track__new_names_are_discovered__existing_definitions_kept_as_they_are():
    app = ApplicationFactory()
    EventDefinition.objects.create(application=app, name="invited", description="Sent a mail")
    track(app, {"name": "invited"}, {"name": "project_created"}, {"name": "project_created"})
    definitions = EventDefinition.objects.filter(application=app).values_list(
        "name", "auto_discovered", "description"
    )
    assert sorted(definitions) == [
        ("invited", False, "Sent a mail"),
        ("project_created", True, ""),
    ]


@pytest.mark.django_db
def test_events_track__a_new_name_past_the_limit__refused_naming_the_event__nothing_stored(
    settings,
):
    settings.CALLOUT_MAX_EVENT_NAMES = 2
    app = ApplicationFactory()
    track(app, {"name": "one"})
    with pytest.raises(ValidationError) as error:
        track(app, {"name": "one"}, {"name": "two"}, {"name": "two"}, {"name": "three"})
    ((field, (message,)),) = error.value.message_dict.items()
    assert field == "events[3].name"
    assert "'three' is new, and an application can have at most 2 event names" in message
    assert sorted(EventDefinition.objects.values_list("name", flat=True)) == ["one"]
    assert TrackedEvent.objects.count() == 1
    # Known names always work; a new one that fits still does.
    assert track(app, {"name": "one"}, {"name": "two"}) == 2
    with pytest.raises(ValidationError):
        track(app, {"name": "three"})
    assert track(app, {"name": "one"}, {"name": "two"}) == 2


@pytest.mark.django_db
def test_events_track__a_constant_number_of_queries_whatever_the_number_of_events(
    django_assert_num_queries,
):
    """The names known, the user locked, the events in one INSERT, the summary in one UPDATE,
    the day's counts in one upsert (and, in a test's transaction, the savepoint and its
    release)."""
    app = ApplicationFactory()
    track(app, {"name": "a"}, {"name": "b"})  # the user and the names exist from here on
    with django_assert_num_queries(7):
        track(app, {"name": "a"})
    with django_assert_num_queries(7):
        track(app, *[{"name": "a" if n % 2 else "b"} for n in range(100)])
    # A new user: + identify's upsert and the lock again; a new name: + the application's lock,
    # the count and the insert of the definitions.
    with django_assert_num_queries(12):
        track(app, {"name": "c"}, external_id="u2")


@pytest.mark.django_db
def test_events_track__the_summary_is_the_one_rebuilt_from_the_raw_rows():
    """Out of order, in several calls, with equal times: the incremental summary is what
    ``activity.summarise`` makes of the stored rows."""
    app = ApplicationFactory()
    times = [NOW_S - 5 * DAY, NOW_S - 60.25, NOW_S - 3 * DAY, NOW_S - 60.25, NOW_S - 10 * DAY]
    for chunk in (times[:2], times[2:]):
        track(app, *[{"name": "a", "timestamp": t} for t in chunk], {"name": "b"})
    rows = TrackedEvent.objects.values_list("name", "timestamp")
    rebuilt = activity.summarise(
        [(name, when.timestamp()) for name, when in rows], kept=app.events_kept
    )
    assert summary_of(app) == rebuilt
    assert activity.entry(summary_of(app), "a")[:3] == [5, NOW_S - 10 * DAY, NOW_S - 60.25]


@pytest.mark.django_db
def test_events_track__keeps_the_applications_events_kept_latest_times():
    app = ApplicationFactory()
    Application.objects.filter(pk=app.pk).update(events_kept=2)
    app.refresh_from_db()
    track(app, *[{"name": "a", "timestamp": NOW_S - n} for n in range(5)])
    assert activity.entry(summary_of(app), "a") == [5, NOW_S - 4, NOW_S, [NOW_S, NOW_S - 1]]


@pytest.mark.django_db
def test_events_track__an_application_read_before_events_kept_was_raised__counts_with_the_new():
    """A rule needing more times was saved since the caller read the application: the summary
    is counted with the database's events_kept, never cut back to the old one."""
    app = ApplicationFactory()
    stale = Application.objects.get(pk=app.pk)
    Application.objects.filter(pk=app.pk).update(events_kept=stale.events_kept + 3)
    track(stale, *[{"name": "a", "timestamp": NOW_S - n} for n in range(10)])
    assert len(activity.entry(summary_of(app), "a")[activity.RECENT]) == stale.events_kept + 3


@pytest.mark.django_db
def test_events_track__raw_time_and_summary_time_agree_to_the_microsecond():
    app = ApplicationFactory()
    track(app, {"name": "a", "timestamp": NOW_S - 0.1234567})
    stored = TrackedEvent.objects.get(name="a").timestamp
    assert activity.entry(summary_of(app), "a")[activity.FIRST] == stored.timestamp()


@pytest.mark.django_db
def test_events_track__another_applications_user_of_the_same_id_is_untouched():
    app, other = ApplicationFactory(), ApplicationFactory()
    EndUserFactory(application=other, external_id="u1")
    track(app, {"name": "a"})
    assert summary_of(other) == {}
    assert activity.entry(summary_of(app), "a")[0] == 1


@pytest.mark.django_db(transaction=True)
def test_events_track__parallel_calls_for_one_user_lose_no_count():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race exists on PostgreSQL")
    from django.db import connections

    app = ApplicationFactory()
    threads_count, rounds = 6, 5
    barrier = threading.Barrier(threads_count)
    failures = []

    def worker(n):
        try:
            barrier.wait()
            for _ in range(rounds):
                track(app, {"name": f"e{n}"}, {"name": "shared"}, external_id="same", now=None)
        except Exception as error:  # pragma: no cover - reported below
            failures.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    summary = summary_of(app, "same")
    assert activity.entry(summary, "shared")[0] == threads_count * rounds
    assert all(activity.entry(summary, f"e{n}")[0] == rounds for n in range(threads_count))
    assert TrackedEvent.objects.count() == 2 * threads_count * rounds


@pytest.mark.django_db
def test_deleting_an_application_or_a_user_deletes_their_events():
    """TrackedEvent.application has no constraint in the database: Django's cascade does it."""
    from segments.models import EventDay

    app, other = ApplicationFactory(), ApplicationFactory()
    for application in (app, other):
        track(application, {"name": "a"}, {"name": "b"}, external_id="u1")
        track(application, {"name": "a"}, external_id="u2")
    EndUser.objects.get(application=other, external_id="u2").delete()
    assert TrackedEvent.objects.filter(application=other).count() == 2
    app.delete()
    assert not TrackedEvent.objects.filter(application_id=app.pk).exists()
    assert not EventDay.objects.filter(application_id=app.pk).exists()
    assert set(TrackedEvent.objects.values_list("application_id", "end_user__external_id")) == {
        (other.pk, "u1")
    }


# --- Retention ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_events_prune__deletes_the_raw_events_older_than_the_cutoff_in_batches__summaries_stay():
    app = ApplicationFactory()
    track(app, *[{"name": "a", "timestamp": NOW_S - d * DAY} for d in (1, 100, 200, 300, 364)])
    before = summary_of(app)
    batches = []
    deleted = tracking.events_prune(
        before=NOW - timedelta(days=150), batch_size=2, on_batch=batches.append
    )
    assert deleted == 3
    assert batches == [2, 3]
    assert sorted(round((NOW - e.timestamp).days) for e in TrackedEvent.objects.all()) == [1, 100]
    assert summary_of(app) == before


@pytest.mark.django_db
def test_events_prune__every_application_and_name__only_what_is_older():
    apps = [ApplicationFactory() for _ in range(3)]
    for n, app in enumerate(apps):
        for name in ("a", "b", "c")[: n + 1]:
            track(app, *[{"name": name, "timestamp": NOW_S - d * DAY} for d in (1, 200, 300)])
    track(apps[0], {"name": "z", "timestamp": NOW_S - DAY}, external_id="u2")  # nothing old
    batches = []
    deleted = tracking.events_prune(
        before=NOW - timedelta(days=150), batch_size=3, on_batch=batches.append
    )
    assert deleted == 2 * (1 + 2 + 3)
    assert batches == [2, 4, 6, 8, 10, 12]  # one batch per name: 2 old events each
    kept = TrackedEvent.objects.values_list("application_id", "name", "timestamp")
    assert sorted((a, name) for a, name, _ in kept) == sorted(
        [(apps[0].pk, "a"), (apps[0].pk, "z")]
        + [(apps[1].pk, name) for name in "ab"]
        + [(apps[2].pk, name) for name in "abc"]
    )
    assert {round((NOW - when).days) for _, _, when in kept} == {1}


@pytest.mark.django_db
def test_prune_events_command__uses_the_retention_setting(settings, capsys):
    settings.CALLOUT_EVENT_RETENTION_DAYS = 30
    app = ApplicationFactory()
    now = datetime.now(UTC)
    track(app, {"name": "a", "timestamp": (now - timedelta(days=31)).isoformat()}, now=now)
    track(app, {"name": "a", "timestamp": (now - timedelta(days=29)).isoformat()}, now=now)
    call_command("prune_events", "--no-progress")
    assert TrackedEvent.objects.count() == 1
    assert "Deleted 1 event older than 30 days" in capsys.readouterr().out
    call_command("prune_events", "--days", "1", "--no-progress")
    assert not TrackedEvent.objects.exists()


@pytest.mark.django_db
def test_prune_events_command__folds_the_daily_counts_before_yesterday_into_one_row(capsys):
    from segments.models import EventDay
    from segments.rollup import day_counts, user_shard

    app = ApplicationFactory()
    now = datetime.now(UTC)
    for user in ("u1", "u2"):
        for days in (0, 1, 2, 3):
            when = (now - timedelta(days=days)).isoformat()
            track(app, {"name": "a", "timestamp": when}, external_id=user, now=now)
    users = EndUser.objects.filter(application=app).order_by("pk")
    assert {user_shard(user.pk) for user in users} == set(
        EventDay.objects.values_list("shard", flat=True)
    )
    counts = sorted(day_counts(app))
    call_command("prune_events", "--no-progress")
    assert "Folded 4 daily count rows of the days before" in capsys.readouterr().out
    assert sorted(day_counts(app)) == counts
    today = now.date()
    shards = EventDay.objects.values_list("day", "shard")
    assert sorted((today - day).days for day, shard in shards if shard == 0) == [2, 3]
    assert sorted((today - day).days for day, shard in shards if shard) == [0, 0, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_events_track__on_sqlite__waits_for_another_writer_rather_than_failing():
    """A deferred SQLite transaction that has read cannot wait to write ("database is
    locked"): ``writing`` begins IMMEDIATE, so a track waits for the writer in its way."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database")
    from django.db import connections

    app = ApplicationFactory()
    track(app, {"name": "a"}, now=None)  # the user and the name exist
    writing, failures = threading.Event(), []

    def other_writer():
        try:
            with tracking.writing():
                # The lock taken: the track, started now, finds it held.
                EndUser.objects.filter(application=app).update(traits={"plan": "pro"})
                writing.set()
                threading.Event().wait(0.5)  # holds the write lock a while
        finally:
            connections.close_all()

    def tracker():
        try:
            assert writing.wait(10)
            track(app, {"name": "a"}, now=None)
        except Exception as error:  # pragma: no cover - reported below
            failures.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=other_writer), threading.Thread(target=tracker)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert activity.entry(summary_of(app), "a")[activity.COUNT] == 2
