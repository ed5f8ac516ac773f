"""Engage > Events (segments/views/events.py, segments/event_stats.py, segments/events.py):
every event name with its counts and a 30-day chart, descriptions edited inline, names added
and deleted by hand, within the application and the member's role."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models.query import QuerySet
from django.urls import reverse
from django.utils import timezone

from segments import actions, events
from segments.event_stats import event_stats
from segments.models import EventDefinition, Membership, TrackedEvent
from tests.factories import (
    ApplicationFactory,
    EndUserFactory,
    EventDefinitionFactory,
    MembershipFactory,
    TrackedEventFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def url(name, app, *args):
    return reverse(f"segments:{name}", args=[app.pk, *args])


def rows(response):
    """Each event's row as {name: {"users", "total", "last-seen", "summary", "bars", ...}}."""
    html = response.content.decode()
    found = {}
    # A row's tbody holds the chart's table with its own tbody: cut at the next row instead.
    for body in re.split(r'(?=<tbody id="event-\d+")', html)[1:]:
        name = re.search(r'<code class="key">([^<]+)</code>', body).group(1)
        stats = dict(re.findall(r'data-stat="([a-z-]+)">(.*?)</td>', body, re.S))
        summary = re.search(r'class="chart-summary[^"]*"[^>]*>([^<]*)', body)
        bars = re.findall(r'data-day="([\d-]+)" data-count="(\d+)"', body)
        table = re.findall(r"<tr><td>\w{3} ([\d-]+)</td><td class=\"num\">(\d+)</td></tr>", body)
        found[name] = {
            **{k: re.sub(r"<[^>]+>", "", v).strip() for k, v in stats.items()},
            "summary": summary.group(1).strip() if summary else None,
            "bars": {day: int(count) for day, count in bars},
            "table": {day: int(count) for day, count in table},
            "html": body,
        }
    return found


def at(day, hour=12):
    return datetime.combine(day, time(hour), tzinfo=UTC)


@pytest.fixture
def member(client):
    membership = MembershipFactory(role=Membership.Role.EDITOR)
    client.force_login(membership.user)
    return membership


@pytest.fixture
def app(member):
    return member.application


def track(application, user, name, when):
    return TrackedEventFactory(application=application, end_user=user, name=name, timestamp=when)


def event_segment(application, segment_name, event_name):
    return actions.segment_create(
        application=application,
        name=segment_name,
        definition={
            "match": "all",
            "rules": [{"event": event_name, "operator": "at_least", "value": 1}],
        },
    )


# --- The list: counts, last seen, chart ------------------------------------------------------


def test_list__each_name_with_users_total_last_seen_and_origin(client, app):
    today = timezone.now().astimezone(UTC).date()
    ann, bob, cyd = (EndUserFactory(application=app) for _ in range(3))
    EventDefinitionFactory(
        application=app, name="project_created", description="A new project", auto_discovered=True
    )
    EventDefinitionFactory(application=app, name="invited")
    for user, days_ago in [(ann, 0), (ann, 2), (ann, 2), (bob, 40), (cyd, 1)]:
        track(app, user, "project_created", at(today - timedelta(days=days_ago), 0))

    found = rows(client.get(url("events", app)))

    assert list(found) == ["invited", "project_created"]
    created = found["project_created"]
    assert (created["users"], created["total"]) == ("3", "5")
    assert created["last-seen"].endswith("ago")
    assert "A new project" in created["html"] and "Auto-discovered" in created["html"]
    invited = found["invited"]
    assert (invited["users"], invited["total"], invited["last-seen"]) == ("0", "0", "never")
    assert "Added by hand" in invited["html"]
    assert invited["summary"] == "30 days: 0 events" and invited["bars"] == {}


def test_list__the_chart_counts_utc_days_today_included_zeros_for_empty_days(client, app):
    today = timezone.now().astimezone(UTC).date()
    user = EndUserFactory(application=app)
    EventDefinitionFactory(application=app, name="signup")
    times = [at(today, 0)] * 3 + [at(today - timedelta(days=5), 23)] * 7
    times += [at(today - timedelta(days=29), 0)]  # the first day of the window, at midnight
    times += [at(today - timedelta(days=30), 23)]  # the day before the window: counted, not drawn
    for when in times:
        track(app, user, "signup", when)

    row = rows(client.get(url("events", app)))["signup"]

    assert row["total"] == "12"
    five_days_ago = (today - timedelta(days=5)).isoformat()
    assert row["summary"] == f"30 days: 11 events, peak 7 on {five_days_ago}"
    expected = {today.isoformat(): 3, five_days_ago: 7, (today - timedelta(days=29)).isoformat(): 1}
    assert row["bars"] == expected
    # The table beside the chart: every one of the 30 days, newest first, zeros included.
    assert len(row["table"]) == 30
    assert next(iter(row["table"])) == today.isoformat()
    assert {day: n for day, n in row["table"].items() if n} == expected
    # The tallest bar fills the chart (32 units), the others in proportion.
    assert f'height="32" data-day="{five_days_ago}"' in row["html"]
    assert f'height="14" data-day="{today.isoformat()}"' in row["html"]  # 3/7 of 32
    assert f'height="5" data-day="{(today - timedelta(days=29)).isoformat()}"' in row["html"]


def test_stats__a_day_is_a_utc_calendar_day_and_tomorrow_is_left_out():
    application = ApplicationFactory()
    user = EndUserFactory(application=application)
    now = datetime(2026, 11, 28, 0, 30, tzinfo=UTC)
    for when in [
        datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC),  # yesterday
        datetime(2026, 11, 28, 0, 0, tzinfo=UTC),  # today, midnight
        datetime(2026, 10, 30, 0, 0, tzinfo=UTC),  # the window's first day (29 days ago)
        datetime(2026, 10, 29, 23, 59, 59, tzinfo=UTC),  # before it
        datetime(2026, 11, 29, 0, 1, tzinfo=UTC),  # tomorrow (a clock ahead)
    ]:
        track(application, user, "login", when)

    stats = event_stats(application, ["login", "never_sent"], now=now)

    login = stats["login"]
    assert (login.total, login.users) == (5, 1)
    assert login.last_seen == datetime(2026, 11, 29, 0, 1, tzinfo=UTC)
    counts = {bar.day.isoformat(): bar.count for bar in login.chart.bars if bar.count}
    assert counts == {"2026-11-27": 1, "2026-11-28": 1, "2026-10-30": 1}
    assert login.chart.first_day.isoformat() == "2026-10-30"
    assert login.chart.last_day.isoformat() == "2026-11-28"
    empty = stats["never_sent"]
    assert (empty.total, empty.users, empty.last_seen, empty.chart.total) == (0, 0, None, 0)


def test_list__query_count_does_not_grow_with_names(client, app, django_assert_num_queries):
    user = EndUserFactory(application=app)
    EventDefinitionFactory(application=app, name="first")
    track(app, user, "first", timezone.now())
    # session, user, membership, switcher, definitions, totals by name, counts by name and day
    with django_assert_num_queries(7):
        client.get(url("events", app))
    for n in range(24):
        EventDefinitionFactory(application=app, name=f"extra_{n:02d}")
        for _ in range(2):
            track(app, EndUserFactory(application=app), f"extra_{n:02d}", timezone.now())
    with django_assert_num_queries(7):
        found = rows(client.get(url("events", app)))
    assert len(found) == 25 and found["extra_23"]["total"] == "2"


def test_list__a_hundred_names_a_page(client, app):
    EventDefinition.objects.bulk_create(
        EventDefinition(application=app, name=f"e{n:03d}") for n in range(101)
    )
    first = client.get(url("events", app))
    assert len(rows(first)) == 100 and "Page 1 of 2 · 101 in all" in first.content.decode()
    assert list(rows(client.get(url("events", app), {"page": 2}))) == ["e100"]


# --- Tenancy -----------------------------------------------------------------------------------


def test_tenancy__another_applications_names_and_events_never_appear(client, app):
    other = ApplicationFactory()
    EventDefinitionFactory(application=app, name="shared_name")
    EventDefinitionFactory(application=other, name="shared_name")
    EventDefinitionFactory(application=other, name="their_secret")
    for _ in range(4):
        track(other, EndUserFactory(application=other), "shared_name", timezone.now())
    track(app, EndUserFactory(application=app), "shared_name", timezone.now())

    page = client.get(url("events", app))

    assert "their_secret" not in page.content.decode()
    found = rows(page)
    assert list(found) == ["shared_name"]
    assert (found["shared_name"]["users"], found["shared_name"]["total"]) == ("1", "1")


@pytest.mark.parametrize(
    ("name", "method", "data"),
    [
        ("event_row", "get", {}),
        ("event_edit", "get", {}),
        ("event_edit", "post", {"description": "Hijacked"}),
        ("event_delete", "post", {}),
    ],
)
def test_tenancy__another_applications_name_cannot_be_read_edited_or_deleted(
    client, app, name, method, data
):
    theirs = EventDefinitionFactory(application=ApplicationFactory(), name="theirs")
    # Their event's id under my application's URL: not found, as under theirs.
    response = getattr(client, method)(url(name, app, theirs.pk), data, headers=HTMX)
    assert response.status_code == 404
    response = getattr(client, method)(url(name, theirs.application, theirs.pk), data)
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.description == ""


# --- Roles ---------------------------------------------------------------------------------


def test_roles__a_viewer_reads_the_page_but_cannot_add_edit_or_delete(client, app, member):
    member.role = Membership.Role.VIEWER
    member.save()
    event = EventDefinitionFactory(application=app, name="signup", description="Before")
    page = client.get(url("events", app)).content.decode()
    assert "signup" in page
    assert "Add an event" not in page and "Edit signup" not in page and "Delete signup" not in page

    attempts = [
        client.post(url("event_create", app), {"name": "new_one"}),
        client.post(url("event_edit", app, event.pk), {"description": "After"}, headers=HTMX),
        client.post(url("event_delete", app, event.pk)),
    ]

    assert [response.status_code for response in attempts] == [403, 403, 403]
    assert list(app.event_definitions.values_list("name", "description")) == [("signup", "Before")]


def test_roles__the_editor_form_opened_by_a_viewer_offers_no_save(client, app, member):
    member.role = Membership.Role.VIEWER
    member.save()
    event = EventDefinitionFactory(application=app, name="signup")
    form = client.get(url("event_edit", app, event.pk), headers=HTMX).content.decode()
    assert "Save event" not in form and "Only an editor or an owner can change an event." in form


# --- Describe, add, delete -----------------------------------------------------------------


def test_edit__the_description_inline_returns_the_row(client, app):
    event = EventDefinitionFactory(application=app, name="signup")
    form = client.get(url("event_edit", app, event.pk), headers=HTMX).content.decode()
    assert form.strip().startswith(f'<tbody id="event-{event.pk}" class="event editing">')
    assert 'aria-label="Edit event signup"' in form and 'name="description"' in form

    response = client.post(
        url("event_edit", app, event.pk), {"description": "  Finished signing up "}, headers=HTMX
    )

    assert response.status_code == 200
    row = response.content.decode().strip()
    assert row.startswith(f'<tbody id="event-{event.pk}" class="event">')
    assert "Finished signing up" in row and "<form" in row  # the row's delete form
    event.refresh_from_db()
    assert event.description == "Finished signing up"


def test_edit__without_htmx_the_page_opens_the_row_and_saving_redirects(client, app):
    event = EventDefinitionFactory(application=app, name="signup")
    page = client.get(url("event_edit", app, event.pk)).content.decode()
    assert "<html" in page and f'id="id_description-{event.pk}"' in page
    response = client.post(url("event_edit", app, event.pk), {"description": "Done"})
    assert response.status_code == 302 and response.url == url("events", app)


def test_edit__a_description_too_long_is_an_inline_error(client, app):
    event = EventDefinitionFactory(application=app, name="signup", description="Kept")
    response = client.post(
        url("event_edit", app, event.pk), {"description": "x" * 2001}, headers=HTMX
    )
    assert response.status_code == 400
    assert "Keep the description under 2,000 characters." in response.content.decode()
    event.refresh_from_db()
    assert event.description == "Kept"


def test_create__inline_returns_an_empty_form_and_the_new_row(client, app):
    response = client.post(
        url("event_create", app),
        {"name": "invited_teammate", "description": "Sent an invitation"},
        headers=HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Event “invited_teammate” added." in body
    assert 'hx-swap-oob="beforeend:#events-table"' in body
    assert 'id="id_new_name" name="name" value=""' in body
    event = app.event_definitions.get()
    assert (event.name, event.description, event.auto_discovered) == (
        "invited_teammate",
        "Sent an invitation",
        False,
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("9lives", "An event name is 1 to 128 letters, digits, _, - or ., starting with a letter"),
        ("has space", "An event name is 1 to 128 letters"),
        ("", "An event name is 1 to 128 letters"),
        ("x" * 129, "An event name is 1 to 128 letters"),
        ("signup", "An event named &quot;signup&quot; already exists."),
    ],
)
def test_create__a_bad_or_taken_name_is_an_inline_error(client, app, name, message):
    EventDefinitionFactory(application=app, name="signup")
    response = client.post(url("event_create", app), {"name": name}, headers=HTMX)
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert 'aria-invalid="true" aria-describedby="new-name-error"' in body
    assert app.event_definitions.count() == 1
    # Without JavaScript: the whole page, with the same error at the field.
    page = client.post(url("event_create", app), {"name": name})
    assert page.status_code == 400 and "<html" in page.content.decode()
    assert message in page.content.decode()


def test_create__names_are_case_sensitive(client, app):
    EventDefinitionFactory(application=app, name="signup")
    client.post(url("event_create", app), {"name": "Signup"})
    assert sorted(app.event_definitions.values_list("name", flat=True)) == ["Signup", "signup"]


def test_create__past_the_limit_of_names_is_refused_naming_the_event(client, app, settings):
    settings.CALLOUT_MAX_EVENT_NAMES = 2
    EventDefinitionFactory(application=app, name="one")
    EventDefinitionFactory(application=app, name="two")
    EventDefinitionFactory(application=ApplicationFactory(), name="elsewhere")  # not counted
    response = client.post(url("event_create", app), {"name": "three"}, headers=HTMX)
    assert response.status_code == 400
    assert "Event &#x27;three&#x27; is new, and an application can have at most 2 event names" in (
        response.content.decode()
    )
    assert app.event_definitions.count() == 2


def test_create__a_parallel_add_caught_by_the_constraint_is_a_field_error(app, monkeypatch):
    """Two adds of one name that both pass the check before either commits: the database's
    one_event_per_name refuses the second, as the same field error."""
    EventDefinitionFactory(application=app, name="signup")
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # the check saw nothing
    with pytest.raises(ValidationError) as refused:
        events.event_definition_create(application=app, name="signup")
    assert refused.value.message_dict == {"name": ['An event named "signup" already exists.']}
    monkeypatch.undo()
    assert app.event_definitions.count() == 1


def test_delete__a_name_no_rule_uses_goes_and_its_recorded_events_stay(client, app):
    event = EventDefinitionFactory(application=app, name="old_event")
    track(app, EndUserFactory(application=app), "old_event", timezone.now())
    event_segment(ApplicationFactory(), "Elsewhere", "old_event")  # another app's rule
    response = client.post(url("event_delete", app, event.pk), headers=HTMX)
    assert response.status_code == 200 and response.content == b""
    assert not app.event_definitions.exists()
    assert TrackedEvent.objects.filter(application=app, name="old_event").count() == 1


def test_delete__a_name_that_rules_use_is_refused_naming_the_segments(client, app):
    event = EventDefinitionFactory(application=app, name="project_created")
    event_segment(app, "Makers", "project_created")
    event_segment(app, "Active makers", "project_created")
    response = client.post(url("event_delete", app, event.pk), headers=HTMX)
    assert response.status_code == 400
    body = response.content.decode()
    assert body.strip().startswith(f'<tbody id="event-{event.pk}"')
    assert (
        "Event &quot;project_created&quot; is used by the rules of &quot;Active makers&quot;, "
        "&quot;Makers&quot;. Change or delete those segments first."
    ) in body
    assert app.event_definitions.filter(pk=event.pk).exists()
    # Without JavaScript: back to the list with the same message.
    response = client.post(url("event_delete", app, event.pk), follow=True)
    assert "is used by the rules of" in response.content.decode()
    assert app.event_definitions.filter(pk=event.pk).exists()


# --- Navigation ----------------------------------------------------------------------------


def test_nav__events_is_under_segments_and_marked_current(client, app):
    page = client.get(url("events", app)).content.decode()
    link = re.search(r'<a class="sub" href="([^"]+)"( aria-current="page")?>Events</a>', page)
    assert link.group(1) == url("events", app) and link.group(2)
    segments = re.search(r'<a href="[^"]+"( aria-current="page")?>Segments</a>', page)
    assert segments.group(1) is None
