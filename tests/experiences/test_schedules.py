"""Schedules: an experience served from its start until its end (experiences/schedules.py, the
action's checks, decide's explanation, and the targeting's window that moves on by itself)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from experiences import actions, serving
from experiences.models import Experience, TargetingVersion
from experiences.schedules import manager_zone, schedule_words, zone_named
from experiences.serving import explain_serve, serve
from experiences.targeting import NEVER, targeting_for
from segments.models import EndUser
from tests.factories import ApplicationFactory, PublishedExperienceFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
END = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
BANNER = {"text": "Winter sale", "position": "top", "style": "info"}


@pytest.fixture
def app():
    return ApplicationFactory()


def scheduled(app, name="Winter sale", **extra):
    fields = {"starts_at": START, "ends_at": END} | extra
    return PublishedExperienceFactory(application=app, name=name, segments=[app.everyone], **fields)


def visitor(app):
    """An unsaved user (no history): a decision about them reads nothing from the database."""
    return EndUser(application=app, external_id="u1", traits={})


def served_ids(app_or_targeting, when, url="/dashboard"):
    """What ``serve`` (the hot path) answers at ``when``, by id."""
    app = getattr(app_or_targeting, "application", app_or_targeting)
    return [e.id for e in serve(app_or_targeting, visitor(app), url, now=when)]


def reason_of(app, experience, when):
    decisions = explain_serve(app, visitor(app), "/dashboard", now=when)
    return next(d for d in decisions if d.experience.id == experience.pk)


# --- The action ----------------------------------------------------------------------------


def test_create__stores_the_schedule_as_the_same_moments_in_utc(app):
    experience = actions.experience_create(
        application=app,
        name="Sale",
        kind="banner",
        content=BANNER,
        starts_at=datetime(2026, 12, 4, 10, 0, tzinfo=PARIS),
        ends_at=END,
    )
    experience.refresh_from_db()
    assert experience.starts_at == START and experience.starts_at.utcoffset() == timedelta(0)
    assert experience.ends_at == END


@pytest.mark.parametrize("ends_at", [START, START - timedelta(minutes=1)])
def test_create__an_end_not_after_the_start_is_an_error_on_ends_at__nothing_saved(app, ends_at):
    with pytest.raises(ValidationError) as raised:
        actions.experience_create(
            application=app,
            name="Sale",
            kind="banner",
            content=BANNER,
            starts_at=START,
            ends_at=ends_at,
        )
    assert raised.value.message_dict == {"ends_at": ["The end must be after the start."]}
    assert not Experience.objects.filter(application=app).exists()


@pytest.mark.parametrize("value", [datetime(2026, 12, 4, 9, 0), "2026-12-04T09:00:00Z", 1764838800])
def test_create__a_start_must_be_a_datetime_with_its_time_zone(app, value):
    with pytest.raises(ValidationError) as raised:
        actions.experience_create(
            application=app, name="Sale", kind="banner", content=BANNER, starts_at=value
        )
    assert raised.value.message_dict == {"starts_at": ["A date and time with its time zone."]}


def test_create__schedule_errors_come_with_the_others(app):
    with pytest.raises(ValidationError) as raised:
        actions.experience_create(
            application=app, name="", kind="banner", content=BANNER, starts_at=END, ends_at=START
        )
    assert set(raised.value.message_dict) == {"name", "ends_at"}


def test_update__an_end_is_checked_against_the_stored_start(app):
    experience = scheduled(app)
    with pytest.raises(ValidationError) as raised:
        actions.experience_update(experience=experience, ends_at=START - timedelta(days=1))
    assert raised.value.message_dict == {"ends_at": ["The end must be after the start."]}
    experience.refresh_from_db()
    assert experience.ends_at == END


def test_update__leaving_the_schedule_out_keeps_it__none_removes_it(app):
    experience = scheduled(app)
    actions.experience_update(experience=experience, priority=3)
    experience.refresh_from_db()
    assert (experience.starts_at, experience.ends_at) == (START, END)

    actions.experience_update(experience=experience, starts_at=None)
    experience.refresh_from_db()
    assert (experience.starts_at, experience.ends_at) == (None, END)


def test_the_database_refuses_an_end_before_the_start_whatever_the_path(app):
    experience = scheduled(app)
    with pytest.raises(IntegrityError), transaction.atomic():
        Experience.objects.filter(pk=experience.pk).update(ends_at=START - timedelta(hours=1))


# --- Words and time zones --------------------------------------------------------------------

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "starts_at, ends_at, words",
    [
        (NOW + timedelta(days=3, hours=2), None, "starts in 3 days"),
        (NOW + timedelta(days=3), NOW + timedelta(days=9), "starts in 3 days"),
        (NOW + timedelta(seconds=20), None, "starts in less than a minute"),
        (NOW - timedelta(days=1), NOW + timedelta(hours=2, minutes=10), "ends in 2 hours"),
        (None, NOW + timedelta(minutes=5), "ends in 5 minutes"),
        (NOW - timedelta(days=2), NOW - timedelta(days=1), "ended"),
        (None, NOW, "ended"),
        (NOW - timedelta(days=1), None, ""),
        (None, None, ""),
    ],
)
def test_schedule_words_say_where_a_schedule_stands(starts_at, ends_at, words):
    assert schedule_words(starts_at, ends_at, NOW) == words


@pytest.mark.parametrize(
    "name, key",
    [
        ("Europe/Paris", "Europe/Paris"),
        ("", "UTC"),
        (None, "UTC"),
        ("Mars/Olympus", None),
        ("../../etc/passwd", None),
        ("/etc/passwd", None),
        ("x" * 200, None),
        (3, None),
    ],
)
def test_zone_named_knows_iana_zones_only(name, key):
    zone = zone_named(name)
    assert (zone.key if zone else None) == key


def test_manager_zone__posted__else_remembered__else_utc():
    assert manager_zone({"time_zone": "Asia/Tokyo"}, "Europe/Paris").key == "Europe/Paris"
    assert manager_zone({"time_zone": "Asia/Tokyo"}, "Nowhere/Else").key == "Asia/Tokyo"
    assert manager_zone({}, None).key == "UTC"
    assert manager_zone(None).key == "UTC"


# --- The decision -------------------------------------------------------------------------


def test_before_its_start__not_served__explained_with_its_start(app):
    experience = scheduled(app)
    before = START - timedelta(hours=1)

    decision = reason_of(app, experience, before)

    assert not decision.served
    assert decision.reason == "scheduled: starts 2026-12-04 09:00 UTC"
    assert served_ids(app, before) == []


def test_inside_its_window__served(app):
    experience = scheduled(app)
    for when in (START, START + timedelta(days=1), END - timedelta(seconds=1)):
        decision = reason_of(app, experience, when)
        assert decision.served, decision.reason
        assert served_ids(app, when) == [experience.pk]


def test_from_its_end__not_served__explained_with_its_end(app):
    experience = scheduled(app)
    for when in (END, END + timedelta(days=30)):
        decision = reason_of(app, experience, when)
        assert not decision.served
        assert decision.reason == "ended 2026-12-06 18:00 UTC"
        assert served_ids(app, when) == []


def test_the_explanation_names_seconds_when_the_schedule_has_them(app):
    experience = scheduled(app, starts_at=START + timedelta(seconds=30))
    assert reason_of(app, experience, START).reason == "scheduled: starts 2026-12-04 09:00:30 UTC"


def test_a_draft_is_explained_by_its_status_before_its_schedule(app):
    experience = scheduled(app, status=Experience.Status.DRAFT)
    assert reason_of(app, experience, START - timedelta(days=1)).reason == "still a draft"


def test_a_start_alone_or_an_end_alone_bounds_one_side(app):
    opens = scheduled(app, name="Opens", ends_at=None)
    closes = scheduled(app, name="Closes", starts_at=None)
    assert served_ids(app, START - timedelta(days=1)) == [closes.pk]
    assert sorted(served_ids(app, START)) == sorted([opens.pk, closes.pk])
    assert served_ids(app, END) == [opens.pk]


# --- The compiled targeting: when it next changes -------------------------------------------


def test_changes_at_is_the_next_start_or_end_of_a_servable_experience(app):
    scheduled(app, name="Sale")
    later = START + timedelta(days=1)
    scheduled(app, name="Follow-up", starts_at=later, ends_at=None)
    # A draft's schedule and an experience without an audience change nothing a serve reads.
    scheduled(
        app, name="Draft", status=Experience.Status.DRAFT, starts_at=START - timedelta(days=1)
    )
    nobody = scheduled(app, name="Nobody", starts_at=START - timedelta(hours=2))
    nobody.segments.set([])
    targeting = targeting_for(app)

    assert targeting.schedule_changes == (START.timestamp(), later.timestamp(), END.timestamp())
    assert targeting.next_change(START.timestamp() - 1) == START.timestamp()
    assert targeting.next_change(START.timestamp()) == later.timestamp()
    assert targeting.next_change(END.timestamp()) == NEVER

    targeting.window_at(START.timestamp() - 3600)
    assert targeting.changes_at == START.timestamp()
    targeting.window_at(later.timestamp())
    assert targeting.changes_at == END.timestamp()


def test_without_schedules_the_targeting_never_changes_by_itself(app):
    PublishedExperienceFactory(application=app, segments=[app.everyone])
    targeting = targeting_for(app)
    assert targeting.schedule_changes == () and targeting.changes_at == NEVER


def test_a_serve_after_the_start_serves_it_without_an_edit_or_a_query(
    app, django_assert_num_queries
):
    experience = scheduled(app)
    targeting = targeting_for(app)
    version = TargetingVersion.objects.get(application=app).version
    before, after = START.timestamp() - 60, START.timestamp() + 1
    assert served_ids(targeting, before) == []
    memo = targeting.window.url_memo
    assert "/dashboard" in memo  # this URL's check is remembered: with nothing to serve

    with django_assert_num_queries(0):
        assert served_ids(targeting, after) == [experience.pk]
        assert served_ids(targeting, after + 60) == [experience.pk]  # from the new memo
    assert targeting.window.url_memo is not memo
    assert targeting.changes_at == END.timestamp()
    assert targeting_for(app) is targeting  # not recompiled: the same version
    assert TargetingVersion.objects.get(application=app).version == version

    with django_assert_num_queries(0):
        assert served_ids(targeting, END.timestamp()) == []


def test_a_serve_at_an_earlier_moment_than_the_last_is_answered_for_its_own_moment(app):
    """Previews and tests decide at any moment: the window moves back as well as on."""
    experience = scheduled(app)
    targeting = targeting_for(app)
    assert served_ids(targeting, START.timestamp() + 1) == [experience.pk]
    assert served_ids(targeting, START.timestamp() - 1) == []
    assert served_ids(targeting, END.timestamp() + 1) == []
    assert served_ids(targeting, START.timestamp()) == [experience.pk]


def test_the_api_serves_it_from_its_start_with_one_query_and_no_edit(
    client, app, monkeypatch, django_assert_num_queries
):
    """The snippet's GET /experiences at the real clock, moved past the start."""
    experience = scheduled(app, url_include=["/dashboard"])
    EndUser.objects.create(application=app, external_id="u1", traits={})
    clock = [START.timestamp() - 5]
    real = serving.now_seconds
    monkeypatch.setattr(
        serving, "now_seconds", lambda now=None: clock[0] if now is None else real(now)
    )
    params = {"key": app.public_key, "id": "u1", "url": "https://app.example.com/dashboard"}

    assert client.get("/api/v1/experiences", params).json()["experiences"] == []
    clock[0] = START.timestamp() + 5
    with django_assert_num_queries(1):
        answer = client.get("/api/v1/experiences", params).json()
    assert [e["id"] for e in answer["experiences"]] == [experience.pk]
    clock[0] = END.timestamp()
    assert client.get("/api/v1/experiences", params).json()["experiences"] == []
