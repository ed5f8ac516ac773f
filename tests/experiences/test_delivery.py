"""Delivery (experiences/delivery.py): one modal per page, banners per edge, one tooltip per
element, the caps per day and per session, and the reasons "preview as a user" shows."""

import json
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from experiences.delivery import DAY, slot_of
from experiences.serving import decide, explain_serve, serve
from experiences.targeting import targeting_for
from segments.activity import SESSION_GAP, record_experience, session_start, started_since
from segments.models import Membership
from tests.factories import (
    ApplicationFactory,
    EndUserFactory,
    MembershipFactory,
    PublishedExperienceFactory,
    segment_with_rules,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()
HOUR = 3600
TOUR = {"steps": [{"type": "modal", "title": "Welcome"}]}
CHECKLIST = {"title": "Set up", "items": [{"id": "a", "label": "A", "complete_on": "click"}]}


@pytest.fixture
def app():
    return ApplicationFactory(max_banners_per_edge=2)


@pytest.fixture
def free(app):
    return segment_with_rules(app, "Free", ("plan", "string", "equals", "free"))


def make(app, segment, name, kind="banner", content=None, priority=0, **fields):
    return PublishedExperienceFactory(
        application=app,
        name=name,
        kind=kind,
        content=content if content is not None else {"text": name},
        priority=priority,
        segments=[segment],
        **fields,
    )


def shown(*pairs):
    """An activity summary where each (experience, seconds before NOW) was shown, in order."""
    activity: dict = {}
    for experience, ago in sorted(pairs, key=lambda pair: -pair[1]):
        record_experience(activity, experience.pk, "shown", NOW - ago)
    return activity


def both(app, activity=None, url="/"):
    """(the names served, {name: reason}) at NOW, from a serve and from an explanation, which
    must agree."""
    targeting = targeting_for(app)
    common = {
        "end_user_id": None,
        "traits": {"plan": "free"},
        "url": url,
        "now": NOW,
        "activity": activity or {},
        "company": {},
    }
    served = decide(targeting, explain=False, **common)
    decisions = decide(targeting, explain=True, **common)
    assert served == [d.experience for d in decisions if d.served]
    return [e.name for e in served], {d.experience.name: d.reason for d in decisions}


@pytest.mark.django_db
def test_the_highest_priority_tour_runs_and_the_next_waits_for_a_page_without_it(app, free):
    make(app, free, "Welcome tour", "tour", TOUR, priority=5)
    make(app, free, "Reports tour", "tour", TOUR, priority=1)
    make(app, free, "Banner", priority=3)
    served, reasons = both(app)
    assert served == ["Welcome tour", "Banner"]
    assert reasons["Reports tour"] == (
        "held back: a higher-priority tour runs on this page (Welcome tour)"
    )
    # Once the first is done (completed: frequency once), the next runs.
    welcome = app.experiences.get(name="Welcome tour")
    done = record_experience(shown((welcome, 60)), welcome.pk, "completed", NOW - 30)
    assert both(app, done)[0] == ["Banner", "Reports tour"]


@pytest.mark.django_db
def test_a_checklist_that_opens_by_itself_is_modal_and_waits_for_a_higher_tour(app, free):
    make(app, free, "Setup", "checklist", CHECKLIST, priority=1)
    make(app, free, "Tour", "tour", TOUR, priority=2)
    served, reasons = both(app)
    assert served == ["Tour"]
    assert reasons["Setup"] == "held back: a higher-priority tour runs on this page (Tour)"


def test_what_takes_a_place_on_the_page():
    assert slot_of("tour", TOUR) == ("modal",)
    assert slot_of("checklist", CHECKLIST) == ("modal",)
    assert slot_of("banner", {"text": "x"}) == ("banner", "top")
    assert slot_of("banner", {"text": "x", "position": "bottom"}) == ("banner", "bottom")
    assert slot_of("tooltip", {"selector": " #save "}) == ("tooltip", "#save")
    assert slot_of("tooltip", "not content") is None


@pytest.mark.django_db
def test_banners_stack_per_edge_up_to_the_setting_in_priority_order(app, free):
    for n in range(4):
        make(app, free, f"Top {n}", priority=10 - n)
    make(app, free, "Bottom", content={"text": "b", "position": "bottom"}, priority=0)
    served, reasons = both(app)
    assert served == ["Top 0", "Top 1", "Bottom"]
    assert reasons["Top 2"] == reasons["Top 3"] == "held back: 2 banners already at the top"
    app.max_banners_per_edge = 3
    app.save()
    served, reasons = both(app)
    assert served == ["Top 0", "Top 1", "Top 2", "Bottom"]
    assert reasons["Top 3"] == "held back: 3 banners already at the top"


@pytest.mark.django_db
def test_tooltips_on_the_same_element_do_not_overlap(app, free):
    make(app, free, "Save tip", "tooltip", {"selector": "#save", "body": "a"}, priority=2)
    make(app, free, "Save again", "tooltip", {"selector": "#save ", "body": "b"}, priority=1)
    make(app, free, "Other tip", "tooltip", {"selector": "#other", "body": "c"}, priority=0)
    served, reasons = both(app)
    assert served == ["Save tip", "Other tip"]
    assert reasons["Save again"] == "held back: another tooltip on the same element"


@pytest.mark.django_db
def test_no_cap_by_default(app, free):
    experiences = [
        make(app, free, f"Tip {n}", "tooltip", {"selector": f"#t{n}", "body": "x"})
        for n in range(5)
    ]
    assert app.cap_per_day is None and app.cap_per_session is None
    assert len(both(app, shown(*[(e, HOUR) for e in experiences]))[0]) == 5


@pytest.mark.django_db
def test_the_daily_cap_holds_back_new_experiences_and_keeps_those_started_today(app, free):
    _, _, c, d = (
        make(app, free, name, "tooltip", {"selector": f"#{name}", "body": "x"}, priority=p)
        for name, p in (("A", 4), ("B", 3), ("C", 2), ("D", 1))
    )
    app.cap_per_day = 2
    app.save()
    # Nothing started yet: the two highest start, the rest wait.
    served, reasons = both(app)
    assert served == ["A", "B"]
    assert reasons["C"] == reasons["D"] == "held back: daily cap reached (2)"
    # C and D started in the last 24 hours: they go on; A and B are new today, held back.
    served, reasons = both(app, shown((c, 2 * HOUR), (d, 23 * HOUR)))
    assert served == ["C", "D"]
    assert reasons["A"] == "held back: daily cap reached (2)"
    # One started yesterday no longer counts.
    served, _ = both(app, shown((c, 2 * HOUR), (d, DAY + 60)))
    assert served == ["A", "C"]


@pytest.mark.django_db
def test_the_session_cap_counts_the_current_session_only(app, free):
    *_, c = (
        make(app, free, name, "tooltip", {"selector": f"#{name}", "body": "x"}, priority=p)
        for name, p in (("A", 3), ("B", 2), ("C", 1))
    )
    app.cap_per_session = 1
    app.save()
    served, reasons = both(app)
    assert served == ["A"]
    assert reasons["B"] == "held back: session cap reached (1)"
    # C was shown 10 minutes ago: this session has one already.
    served, reasons = both(app, shown((c, 600)))
    assert served == ["C"]
    assert reasons["A"] == "held back: session cap reached (1)"
    # An hour without anything shown: a new session.
    served, _ = both(app, shown((c, HOUR)))
    assert served == ["A"]


@pytest.mark.django_db
def test_a_place_held_back_by_a_cap_goes_to_the_next(app, free):
    make(app, free, "New tour", "tour", TOUR, priority=2)
    started = make(app, free, "Started tour", "tour", TOUR, priority=1)
    app.cap_per_day = 1
    app.save()
    served, reasons = both(app, shown((started, HOUR)))
    assert served == ["Started tour"]
    assert reasons["New tour"] == "held back: daily cap reached (1)"


@pytest.mark.django_db
def test_preview_and_the_user_page_explain_what_was_held_back(app, free):
    make(app, free, "First", priority=3)
    make(app, free, "Second", priority=2)
    make(app, free, "Third", priority=1)
    user = EndUserFactory(application=app, traits={"plan": "free"})
    decisions = {d.experience.name: d for d in explain_serve(app, user, "/", now=NOW)}
    assert decisions["First"].served and decisions["Second"].served
    assert not decisions["Third"].served
    assert decisions["Third"].reason == "held back: 2 banners already at the top"
    assert decisions["Third"].matched_segment == "Free"
    assert [e.name for e in serve(app, user, "/", now=NOW)] == ["First", "Second"]


@pytest.mark.django_db
def test_a_serve_with_a_cap_on_stays_one_query(client, app, free, django_assert_num_queries):
    for n in range(3):
        make(app, free, f"Banner {n}", priority=n)
    app.cap_per_day = 1
    app.cap_per_session = 1
    app.save()
    EndUserFactory(application=app, external_id="u1", traits={"plan": "free"})
    params = {"key": app.public_key, "id": "u1", "url": "/"}
    client.get("/api/v1/experiences", params)  # warms the cache
    with django_assert_num_queries(1):
        response = client.get("/api/v1/experiences", params)
    assert [e["name"] for e in response.json()["experiences"]] == ["Banner 2"]


@pytest.mark.django_db
def test_shown_events_keep_the_latest_time_and_the_session_to_the_minute(
    client, app, free, django_assert_num_queries
):
    banner = make(app, free, "Banner")
    user = EndUserFactory(application=app, external_id="u1", traits={"plan": "free"})
    body = {"key": app.public_key, "id": "u1", "experience": banner.pk, "type": "shown"}
    send = lambda: client.post(  # noqa: E731
        "/api/v1/events", data=json.dumps(body), content_type="text/plain"
    )
    assert send().status_code == 201
    user.refresh_from_db()
    states = user.activity["x"][str(banner.pk)]
    assert states["last_shown"] == states["shown"]
    assert user.activity["s"] == [states["shown"], states["shown"]]
    with django_assert_num_queries(2):  # within the minute: the lookup and the insert
        assert send().status_code == 201
    # Stored two minutes back: the next shown moves the latest time and the session on.
    user.activity["x"][str(banner.pk)]["last_shown"] -= 120
    user.activity["s"] = [states["shown"] - 120, states["shown"] - 120]
    user.save(update_fields=["activity"])
    assert send().status_code == 201
    user.refresh_from_db()
    assert user.activity["x"][str(banner.pk)]["last_shown"] > states["shown"] - 120
    assert user.activity["s"][0] == states["shown"] - 120
    assert user.activity["s"][1] > states["shown"] - 120


def test_a_gap_of_more_than_30_minutes_starts_a_new_session():
    activity: dict = {}
    record_experience(activity, 1, "shown", 1000.0)
    record_experience(activity, 2, "shown", 1000.0 + SESSION_GAP)
    assert session_start(activity, 1000.0 + SESSION_GAP) == 1000.0
    record_experience(activity, 3, "shown", 1001.0 + 2 * SESSION_GAP)
    assert session_start(activity, 1001.0 + 2 * SESSION_GAP) == 1001.0 + 2 * SESSION_GAP
    assert session_start(activity, 1002.0 + 3 * SESSION_GAP) is None
    assert started_since(activity, 1000.0 + SESSION_GAP) == {2, 3}
    # Dismissed and completed neither start an experience nor move the session.
    record_experience(activity, 1, "dismissed", 9000.0)
    assert started_since(activity, 5000.0) == set()


@pytest.mark.django_db
def test_the_user_page_and_preview_as_a_user_say_what_was_held_back_and_why(client, app, free):
    make(app, free, "Welcome tour", "tour", TOUR, priority=2)
    checklist = make(app, free, "Setup", "checklist", CHECKLIST, priority=1)
    user = EndUserFactory(application=app, external_id="u7", traits={"plan": "free"})
    member = MembershipFactory(application=app, role=Membership.Role.VIEWER)
    client.force_login(member.user)
    why = "held back: a higher-priority tour runs on this page (Welcome tour)"
    user_page = reverse("segments:user_detail", args=[app.pk, user.pk])
    page = client.get(user_page, {"url": "/dashboard"}).content.decode()
    assert f"<strong>Setup</strong>: not shown — {why}" in page
    detail = reverse("experiences:detail", args=[app.pk, checklist.pk])
    page = client.get(detail, {"user": "u7", "url": "/dashboard"}).content.decode()
    assert f"<strong>Not served</strong> to u7 on <code>/dashboard</code>: {why}." in page
