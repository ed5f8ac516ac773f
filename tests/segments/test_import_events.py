"""import_events: /track's checks per line, line-numbered rejects, users created, summaries
counted once, idempotent re-runs with event_id.

Runs on whichever database the suite uses (COPY and INSERT ... ON CONFLICT on PostgreSQL, the
ORM on SQLite); small batch sizes push lines through several batches."""

import io
import json
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments import activity, tracking
from segments.import_events import Window, clean_line, events_import, quick_row, read_jsonl
from segments.importing import Reject
from segments.models import Application, EndUser, EventDay, EventDefinition, TrackedEvent
from segments.rollup import rollup_rebuild
from tests.factories import ApplicationFactory, EndUserFactory

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)
NOW_S = NOW.timestamp()
DAY = 86400


def jsonl(*lines):
    return "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)


def run(app, *lines, batch_size=2, window=None, writers=None):
    rows = read_jsonl(io.StringIO(jsonl(*lines)), window or Window.at(NOW))
    return events_import(application=app, rows=rows, batch_size=batch_size, writers=writers)


def summary_of(app, external_id):
    return EndUser.objects.get(application=app, external_id=external_id).activity


def rebuilt(app, external_id):
    """The summary ``activity.summarise`` makes of the user's stored rows."""
    rows = TrackedEvent.objects.filter(
        application=app, end_user__external_id=external_id
    ).values_list("name", "timestamp")
    return activity.summarise(
        [(name, when.timestamp()) for name, when in rows], kept=app.events_kept
    )


@pytest.fixture
def app():
    return ApplicationFactory()


def test_import__stores_each_event__creates_users__counts_into_summaries(app):
    EndUserFactory(application=app, external_id="u1", traits={"plan": "pro"})
    result = run(
        app,
        {"id": "u1", "name": "project_created", "timestamp": NOW_S - 3 * DAY},
        {"id": "u1", "name": "project_created", "timestamp": NOW_S},
        {"id": "u2", "name": "invited", "timestamp": NOW_S - 60, "properties": {"to": "x@y.z"}},
        {"id": 7, "name": "invited", "timestamp": int(NOW_S * 1000)},
    )
    assert (result.rows, result.imported, result.duplicates, result.users_created) == (4, 4, 0, 2)
    assert result.rejected == []
    assert summary_of(app, "u1") == {
        "e": {"project_created": [2, NOW_S - 3 * DAY, NOW_S, [NOW_S, NOW_S - 3 * DAY]]}
    }
    assert EndUser.objects.get(application=app, external_id="u1").traits == {"plan": "pro"}
    assert EndUser.objects.get(application=app, external_id="7").traits == {}
    assert TrackedEvent.objects.get(name="invited", end_user__external_id="u2").properties == {
        "to": "x@y.z"
    }
    for external_id in ("u1", "u2", "7"):
        assert summary_of(app, external_id) == rebuilt(app, external_id)
    assert set(EventDefinition.objects.values_list("name", "auto_discovered")) == {
        ("project_created", True),
        ("invited", True),
    }


def test_import__rerun_with_event_ids__skips_them__counts_nothing_twice(app):
    lines = [
        {"id": f"u{n % 3}", "name": "a", "timestamp": NOW_S - n, "event_id": f"e{n}"}
        for n in range(10)
    ]
    first = run(app, *lines)
    before = {f"u{n}": summary_of(app, f"u{n}") for n in range(3)}
    again = run(app, *lines, batch_size=4)
    assert (first.imported, first.duplicates) == (10, 0)
    assert (again.imported, again.duplicates, again.users_created) == (0, 10, 0)
    assert TrackedEvent.objects.count() == 10
    assert {f"u{n}": summary_of(app, f"u{n}") for n in range(3)} == before
    # An interrupted import re-run with more lines: only the new ones count.
    more = run(app, *lines, {"id": "u0", "name": "a", "timestamp": NOW_S, "event_id": "e10"})
    assert (more.imported, more.duplicates) == (1, 10)
    assert activity.entry(summary_of(app, "u0"), "a")[activity.COUNT] == 5
    assert summary_of(app, "u0") == rebuilt(app, "u0")


def test_import__a_repeated_event_id_within_the_file__the_first_is_stored(app):
    result = run(
        app,
        {"id": "u1", "name": "a", "timestamp": NOW_S - 5, "event_id": "same"},
        {"id": "u1", "name": "b", "timestamp": NOW_S - 4, "event_id": "same"},
        {"id": "u1", "name": "c", "timestamp": NOW_S - 3, "event_id": 42},
        {"id": "u1", "name": "c", "timestamp": NOW_S - 3, "event_id": "42"},
        batch_size=10,
    )
    assert (result.imported, result.duplicates) == (2, 2)
    assert sorted(TrackedEvent.objects.values_list("name", "event_id")) == [
        ("a", "same"),
        ("c", "42"),
    ]
    assert summary_of(app, "u1") == rebuilt(app, "u1")


def test_import__lines_without_event_id_are_stored_again_on_a_rerun(app):
    line = {"id": "u1", "name": "a", "timestamp": NOW_S}
    run(app, line)
    run(app, line)
    assert TrackedEvent.objects.count() == 2
    assert activity.entry(summary_of(app, "u1"), "a")[activity.COUNT] == 2


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("{", "not JSON"),
        ("[1]", "expected an object"),
        ({"name": "a", "timestamp": NOW_S}, "id must be text"),
        ({"id": "", "name": "a", "timestamp": NOW_S}, "id must be text"),
        ({"id": "u1", "timestamp": NOW_S}, "name is required"),
        ({"id": "u1", "name": "no good", "timestamp": NOW_S}, "is not an event name"),
        ({"id": "u1", "name": "a"}, "timestamp is required"),
        ({"id": "u1", "name": "a", "timestamp": "last week"}, "timestamp must be ISO 8601"),
        ({"id": "u1", "name": "a", "timestamp": NOW_S + 3600}, "more than 5 minutes after"),
        ({"id": "u1", "name": "a", "timestamp": NOW_S - 401 * DAY}, "more than 400 days"),
        ({"id": "u1", "name": "a", "timestamp": NOW_S, "properties": [1]}, "properties must be"),
        (
            {"id": "u1", "name": "a", "timestamp": NOW_S, "properties": {"x": {}}},
            "'x' is an object",
        ),
        ({"id": "u1", "name": "a", "timestamp": NOW_S, "event_id": ""}, "event_id must be"),
        ({"id": "u1", "name": "a", "timestamp": NOW_S, "event_id": "x" * 129}, "event_id must be"),
        ({"id": "u1", "name": "a", "timestamp": NOW_S, "extra": 1}, "unknown field 'extra'"),
        ('{"id": "\\ud800", "name": "a", "timestamp": 1}', "id must be text"),
    ],
)
def test_import__a_bad_line_is_rejected_with_its_number_and_why__the_others_go_in(
    app, line, fragment
):
    good = {"id": "u1", "name": "ok", "timestamp": NOW_S}
    result = run(app, good, line, good)
    assert result.imported == 2
    ((number, _, reason),) = result.rejected
    assert number == 2
    assert fragment in reason


def test_import__history_back_to_the_retention_is_accepted__older_refused(app, settings):
    settings.CALLOUT_EVENT_RETENTION_DAYS = 400
    window = Window.at(NOW)
    assert isinstance(
        clean_line(1, {"id": "u", "name": "a", "timestamp": NOW_S - 399 * DAY}, window), tuple
    )
    old = clean_line(1, {"id": "u", "name": "a", "timestamp": NOW_S - 401 * DAY}, window)
    assert isinstance(old, Reject)
    assert "the retention of raw events" in old.reason


def test_import__blank_lines_are_skipped__line_numbers_count_them(app):
    result = run(app, {"id": "u1", "name": "a", "timestamp": NOW_S}, "", "  ", "nope")
    assert result.rejected[0].line == 4
    assert result.rows == 2


def test_import__new_names_past_the_limit__their_lines_rejected(app, settings):
    settings.CALLOUT_MAX_EVENT_NAMES = 2
    EventDefinition.objects.create(application=app, name="known")
    result = run(
        app,
        *[
            {"id": "u1", "name": name, "timestamp": NOW_S}
            for name in ("known", "new", "newer", "known", "newer")
        ],
        batch_size=10,
    )
    assert result.imported == 3
    assert [(r.line, "'newer' is new" in r.reason) for r in result.rejected] == [
        (3, True),
        (5, True),
    ]
    assert sorted(EventDefinition.objects.values_list("name", flat=True)) == ["known", "new"]


def test_import__summaries_match_track_and_the_rebuild__random_order_and_batches(app):
    """Out of order, spread over batches and users, with equal times: each summary is the one
    ``activity.summarise`` makes of the stored rows."""
    rng = random.Random(7)
    lines = [
        {
            "id": f"u{rng.randrange(5)}",
            "name": rng.choice(["a", "b", "c"]),
            "timestamp": NOW_S - rng.choice([0, 1, 1, 60.5, DAY, 30 * DAY]),
        }
        for _ in range(200)
    ]
    run(app, *lines, batch_size=17)
    tracking.events_track(
        application=app, external_id="u1", events=[{"name": "a"}], now=NOW + timedelta(seconds=1)
    )
    for n in range(5):
        assert summary_of(app, f"u{n}") == rebuilt(app, f"u{n}")


def test_import__times_are_stored_to_the_microsecond(app):
    run(
        app,
        {"id": "u1", "name": "a", "timestamp": "2026-01-01T00:00:00.123456Z"},
        window=Window(0, 2**62, 400),
    )
    stored = TrackedEvent.objects.get().timestamp
    assert stored == datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert activity.entry(summary_of(app, "u1"), "a")[activity.FIRST] == stored.timestamp()


def test_import__properties_with_tabs_backslashes_quotes_and_unicode_round_trip(app):
    properties = {"text": 'tab\there\\back "quoted"\nline', "emoji": "日本 ✓"}
    run(
        app,
        {
            "id": "u\t1",
            "name": "a",
            "timestamp": NOW_S,
            "properties": properties,
            "event_id": "a\\b\tc",
        },
    )
    event = TrackedEvent.objects.get()
    assert (event.properties, event.event_id, event.end_user.external_id) == (
        properties,
        "a\\b\tc",
        "u\t1",
    )


# --- The command -------------------------------------------------------------------------


def test_command__imports__reports__writes_rejects__idempotent(app, tmp_path, capsys):
    path = tmp_path / "events.jsonl"
    path.write_text(
        jsonl(
            {"id": "u1", "name": "a", "timestamp": NOW_S, "event_id": "1"},
            {"id": "u1", "name": "bad name", "timestamp": NOW_S, "event_id": "2"},
            {"id": "u2", "name": "b", "timestamp": NOW_S, "event_id": "3"},
        )
    )
    call_command("import_events", str(path), "--app", app.public_key, "--no-progress")
    out, err = capsys.readouterr()
    assert "3 lines" in out
    assert "2 events imported, 0 already there (event_id), 2 users created, 1 rejected" in out
    assert "line 2 (u1): name 'bad name' is not an event name" in err
    rejects = (tmp_path / "events.jsonl.rejects.csv").read_text().splitlines()
    assert rejects[0] == "line,id,reason"
    assert rejects[1].startswith("2,u1,")
    call_command("import_events", str(path), "--app", str(app.pk), "--no-progress")
    assert (
        "0 events imported, 2 already there (event_id), 0 users created" in capsys.readouterr().out
    )
    assert TrackedEvent.objects.count() == 2


def test_command__an_unknown_application__refused(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("")
    with pytest.raises(CommandError, match="No application"):
        call_command("import_events", str(path), "--app", "nope", "--no-progress")


def test_import__a_summary_changed_meanwhile_is_read_again_and_nothing_is_lost(app):
    """PostgreSQL reads the batch's users unlocked and writes each summary only if the row is
    still the version it read: a /track (or a rebuild, or events_kept raised) committed in
    between makes it read those rows again, locked, and count again."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing changes in between")
    EndUserFactory(application=app, external_id="u1")
    EndUserFactory(application=app, external_id="u2")
    changed = []

    def meanwhile(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "xmin::text" in sql and not changed:
            changed.append(sql)
            # Another writer's work, as it would look once committed: u1's summary and the
            # application's events_kept both change after the users were read.
            EndUser.objects.filter(application=app, external_id="u1").update(
                activity={"e": {"other": [1, NOW_S, NOW_S, [NOW_S]]}}
            )
            Application.objects.filter(pk=app.pk).update(events_kept=app.events_kept + 2)
        return result

    lines = [{"id": u, "name": "a", "timestamp": NOW_S - n} for n in range(8) for u in ("u1", "u2")]
    with connection.execute_wrapper(meanwhile):
        result = run(app, *lines, batch_size=100)
    assert result.imported == 16
    kept = app.events_kept + 2
    u1 = summary_of(app, "u1")
    assert u1["e"]["other"] == [1, NOW_S, NOW_S, [NOW_S]]
    assert u1["e"]["a"] == [8, NOW_S - 7, NOW_S, [NOW_S - n for n in range(kept)]]
    assert summary_of(app, "u2")["e"]["a"][activity.RECENT] == [NOW_S - n for n in range(kept)]


# --- The quick reading of common lines must be clean_line's, exactly ----------------------

WINDOW = Window(round((NOW_S - 400 * DAY) * 1e6), round((NOW_S + 300) * 1e6), 400)

texts = st.one_of(
    st.sampled_from(["u1", "user-42", "x" * 128, "x" * 129, "x" * 255, "x" * 256, "", "a\x00b"]),
    st.sampled_from(["caf\u00e9", "\ud800", "tab\there", "日本"]),
    st.text(max_size=6),
    st.integers(-5, 5),
    st.none(),
    st.booleans(),
)
times = st.one_of(
    st.floats(NOW_S - 500 * DAY, NOW_S + 900),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(int(NOW_S - 500 * DAY), int(NOW_S + 900)),
    st.integers().map(lambda n: n * 1000),
    st.sampled_from(["2026-01-01", "2026-01-01T00:00:00.123456Z", "yesterday", ""]),
    st.none(),
    st.booleans(),
)
properties = st.one_of(
    st.none(),
    st.just({}),
    st.dictionaries(st.sampled_from(["plan", "n", "bad key", ""]), st.one_of(texts, times)),
    st.sampled_from([[1], "x", 0, False]),
)
lines = st.fixed_dictionaries(
    {},
    optional={
        "id": texts,
        "name": st.one_of(texts, st.sampled_from(["page_viewed", "a.b-c", "9lives", "x" * 129])),
        "timestamp": times,
        "properties": properties,
        "event_id": texts,
        "extra": st.just(1),
    },
)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(lines, st.lists(st.integers()), st.text()), st.booleans())
def test_quick_row__takes_a_line_exactly_as_clean_line_or_leaves_it(data, named):
    names = {"page_viewed"} if named else set()
    quick = quick_row(7, data, WINDOW, names)
    if quick is not None:
        assert quick == clean_line(7, data, WINDOW)
        assert type(quick.properties) is dict


def test_read_jsonl__common_lines_and_odd_ones_read_as_clean_line_reads_them():
    rows = [
        {"id": "u1", "name": "a", "timestamp": NOW_S, "event_id": "e1"},
        {"id": 7, "name": "a", "timestamp": NOW_S},  # a number as the id: clean_line's
        {"id": "u1", "name": "a", "timestamp": "2026-01-01T00:00:00Z", "properties": {"p": 1}},
        {"id": "u1", "name": "a", "timestamp": NOW_S, "properties": []},
        {"id": "caf\u00e9", "name": "a", "timestamp": NOW_S},
        {"id": "u1", "name": "bad name", "timestamp": NOW_S},
    ]
    read = list(read_jsonl(io.StringIO(jsonl(*rows)), WINDOW))
    assert read == [clean_line(n, row, WINDOW) for n, row in enumerate(rows, start=1)]


# --- PostgreSQL: concurrent writers -------------------------------------------------------


def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time")


@pytest.mark.django_db(transaction=True)
def test_import__a_track_committed_while_the_batch_waits_for_the_user__both_counted():
    """The summaries' UPDATE waits for a /track holding the user's row; then that row is a
    version the batch did not read: it is read again, locked, and counted again."""
    postgresql_only()
    app = ApplicationFactory()
    EventDefinition.objects.create(application=app, name="a")  # no name discovery: no app lock
    EndUserFactory(application=app, external_id="u1")
    holding, release = threading.Event(), threading.Event()

    def track() -> None:
        try:
            with transaction.atomic():
                tracking.events_track(
                    application=app, external_id="u1", events=[{"name": "a", "timestamp": NOW_S}]
                )
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    def release_once_waiting(execute, sql, params, many, context):
        if sql.lstrip().startswith("UPDATE") and "callout_import_summaries" in sql:
            threading.Timer(0.5, release.set).start()  # the UPDATE is waiting by then
        return execute(sql, params, many, context)

    other = threading.Thread(target=track)
    other.start()
    assert holding.wait(30)
    lines = [
        {"id": "u1", "name": "a", "timestamp": NOW_S - n, "event_id": f"e{n}"} for n in range(3)
    ]
    with connection.execute_wrapper(release_once_waiting):  # this connection's: one writer
        result = run(app, *lines, batch_size=100, writers=1)
    other.join()
    assert (result.imported, result.duplicates) == (3, 0)
    assert activity.entry(summary_of(app, "u1"), "a")[activity.COUNT] == 4
    assert summary_of(app, "u1") == rebuilt(app, "u1")


@pytest.mark.django_db(transaction=True)
def test_import__an_event_id_stored_meanwhile_by_another_import__the_batch_runs_again():
    """Two imports of the same events at once: the one that stores an event_id second finds
    the constraint broken, rolls its batch back and runs it again, skipping that event: no
    event is stored or counted twice."""
    postgresql_only()
    app = ApplicationFactory()
    # Committed: the other import must not wait for this one's new users or name.
    EventDefinition.objects.create(application=app, name="a")
    for n in range(4):
        EndUserFactory(application=app, external_id=f"u{n}")
    lines = [
        {"id": f"u{n}", "name": "a", "timestamp": NOW_S - n, "event_id": f"e{n}"} for n in range(4)
    ]
    done = []

    def other_import() -> None:
        try:
            done.append(run(app, lines[2], batch_size=100, writers=1))
        finally:
            connections.close_all()

    def meanwhile(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "json_array_elements_text" in sql and "event_id" in sql and not done:
            thread = threading.Thread(target=other_import)  # its own connection: committed
            thread.start()
            thread.join()
        return result

    with connection.execute_wrapper(meanwhile):  # this connection's: one writer
        result = run(app, *lines, batch_size=100, writers=1)
    assert (done[0].imported, result.imported, result.duplicates) == (1, 3, 1)
    assert TrackedEvent.objects.filter(application=app).count() == 4
    for n in range(4):
        assert activity.entry(summary_of(app, f"u{n}"), "a")[activity.COUNT] == 1
    counted = {
        (d.name, d.day): (d.events, d.new_users) for d in EventDay.objects.filter(application=app)
    }
    rollup_rebuild(application=app)
    assert counted == {
        (d.name, d.day): (d.events, d.new_users) for d in EventDay.objects.filter(application=app)
    }


def test_deleting_a_user_or_an_application_deletes_their_events(app):
    """The events' foreign keys are not checked by the database (import_events): Django's
    cascade deletes them."""
    run(
        app,
        {"id": "u1", "name": "a", "timestamp": NOW_S},
        {"id": "u2", "name": "a", "timestamp": NOW_S},
    )
    EndUser.objects.get(application=app, external_id="u1").delete()
    assert list(TrackedEvent.objects.values_list("end_user__external_id", flat=True)) == ["u2"]
    app.delete()
    assert not TrackedEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_import__writers_in_parallel__the_same_as_one_writer():
    """Outside a transaction, PostgreSQL writes each batch with several connections, each a
    share of the users: the events, summaries, daily counts, duplicates and rejects are those
    one writer makes, and a repeated event_id keeps its first line even across shares."""
    postgresql_only()
    rng = random.Random(3)
    lines = [
        {
            "id": f"u{rng.randrange(12)}",
            "name": rng.choice(["a", "b", "c"]),
            "timestamp": NOW_S - rng.choice([0, 1, 60.5, DAY, 30 * DAY]),
            "event_id": f"e{rng.randrange(150)}",
        }
        for _ in range(200)
    ]
    lines[5] = "not json"
    outcomes = []
    for writers in (1, 3):
        app = ApplicationFactory()
        rows = read_jsonl(io.StringIO(jsonl(*lines)), Window.at(NOW))
        result = events_import(application=app, rows=rows, batch_size=37, writers=writers)
        stored = sorted(
            TrackedEvent.objects.filter(application=app).values_list(
                "event_id", "end_user__external_id", "name", "timestamp"
            )
        )
        summaries = {u.external_id: u.activity for u in EndUser.objects.filter(application=app)}
        for external_id, summary in summaries.items():
            assert summary == rebuilt(app, external_id)
        # (Not rollup_rebuild's: with times out of order, a user is counted new on the day of
        # the first time the import saw, not of the earliest; as with one writer.)
        days = {(d.name, d.day): (d.events, d.new_users) for d in app.event_days.all()}
        outcomes.append(
            (
                (result.rows, result.imported, result.duplicates, result.users_created),
                sorted(result.rejected),
                stored,
                summaries,
                days,
            )
        )
    distinct = len({line["event_id"] for line in lines if isinstance(line, dict)})
    assert outcomes[0][0] == (200, distinct, 199 - distinct, 12)
    assert outcomes[0] == outcomes[1]


@pytest.mark.django_db(transaction=True)
def test_import__writers_in_parallel__new_names_up_to_the_limit_as_one_writer(settings):
    postgresql_only()
    settings.CALLOUT_MAX_EVENT_NAMES = 3
    app = ApplicationFactory()
    names = ["a", "b", "c", "d", "a", "d"]
    lines = [{"id": f"u{n}", "name": name, "timestamp": NOW_S} for n, name in enumerate(names)]
    result = run(app, *lines, batch_size=100, writers=3)
    assert result.imported == 4
    assert [(r.line, "'d' is new" in r.reason) for r in sorted(result.rejected)] == [
        (4, True),
        (6, True),
    ]
    assert sorted(app.event_definitions.values_list("name", flat=True)) == ["a", "b", "c"]
