import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from experiences.models import Experience
from segments.models import EndUser
from tests.factories import (
    ChecklistFactory,
    EndUserFactory,
    EventFactory,
    ExperienceFactory,
    MembershipFactory,
    RuleFactory,
    SegmentFactory,
    TourFactory,
    TraitDefinitionFactory,
)

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Managers are created per test; the production hasher costs about a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fresh_targeting():
    """The API caches compiled targeting; ids repeat after a rolled-back test."""
    from experiences import targeting

    cache.clear()
    targeting.clear_local()
    yield
    cache.clear()
    targeting.clear_local()


@pytest.fixture
def member(client):
    membership = MembershipFactory()
    client.force_login(membership.user)
    return membership


@pytest.fixture
def app(member):
    return member.application


def url(name, app, *args):
    return reverse(f"experiences:{name}", args=[app.pk, *args])


def free_segment(app, name="Free"):
    segment = SegmentFactory(application=app, name=name)
    trait = TraitDefinitionFactory(application=app, key="plan")
    RuleFactory(segment=segment, trait=trait, operator="equals", value="free")
    return segment


def targeting(app, **overrides):
    return {
        "name": "Upgrade",
        "segments": [app.everyone.pk],
        "url_include": "/dashboard",
        "url_exclude": "",
        "frequency": "once",
        "priority": "0",
    } | overrides


# --- Scoping -----------------------------------------------------------------------------


def test_another_applications_experience_is_a_404_everywhere(client, app):
    other = ExperienceFactory()
    for name in ("detail", "edit", "results_csv"):
        assert client.get(url(name, app, other.pk)).status_code == 404
    for name in ("publish", "unpublish", "delete"):
        assert client.post(url(name, app, other.pk)).status_code == 404
    # History and Restore (tests/experiences/test_versions.py).
    assert client.get(url("history", app, other.pk)).status_code == 404
    assert client.get(url("restore", app, other.pk, 1)).status_code == 404
    assert client.post(url("restore", app, other.pk, 1)).status_code == 404
    # ... and through its own application's URL, which this manager is no member of.
    assert client.get(url("detail", other.application, other.pk)).status_code == 404
    assert Experience.objects.filter(pk=other.pk).exists()


def test_another_applications_segment_cannot_be_chosen(client, app):
    foreign = SegmentFactory()
    response = client.post(
        url("create", app, "banner"),
        targeting(app, segments=[foreign.pk]) | {"content-text": "Hi"},
    )
    assert response.status_code == 200
    assert not Experience.objects.exists()
    form = response.context["editor"].targeting
    assert "segments" in form.errors


def test_an_unknown_kind_is_a_404(client, app):
    assert client.get(url("create", app, "popup")).status_code == 404


# --- List --------------------------------------------------------------------------------


def test_list__shows_audience_where_reach_and_event_counts(client, app):
    free = free_segment(app, "Free Admins")
    enterprise = SegmentFactory(application=app, name="Enterprise")
    RuleFactory(
        segment=enterprise,
        trait=TraitDefinitionFactory(application=app, key="plan"),
        operator="equals",
        value="enterprise",
    )
    for plan in ("free", "free", "enterprise", "pro"):
        EndUserFactory(application=app, traits={"plan": plan})
    experience = ExperienceFactory(application=app, url_include=["/dashboard"])
    experience.segments.set([free, enterprise])
    for type_ in ("shown", "shown", "completed", "dismissed"):
        EventFactory(experience=experience, type=type_)
    page = client.get(url("list", app))
    row = page.context["experiences"][0]
    assert (row.reach, row.shown_count, row.completed_count, row.dismissed_count) == (3, 2, 1, 1)
    html = page.content.decode()
    assert "Enterprise OR Free Admins" in html and "/dashboard" in html


def test_list__filters_by_kind_status_and_segment(client, app):
    segment = SegmentFactory(application=app, name="Pro")
    tour = TourFactory(application=app, name="Tour", status="published")
    tour.segments.add(segment)
    ExperienceFactory(application=app, name="Banner")
    ChecklistFactory(application=app, name="Checklist", status="published")

    def names(**params):
        return [e.name for e in client.get(url("list", app), params).context["experiences"]]

    assert names(kind="tour") == ["Tour"]
    assert names(status="published") == ["Checklist", "Tour"]
    assert names(segment=segment.pk) == ["Tour"]
    assert names(name="ban") == ["Banner"]


def test_list__a_foreign_segment_filter_is_an_error_not_a_leak(client, app):
    ExperienceFactory(application=app)
    response = client.get(url("list", app), {"segment": SegmentFactory().pk})
    assert response.context["experiences"] == []
    assert "Select a valid choice" in response.content.decode()


def test_list__htmx_swaps_only_the_results(client, app):
    ExperienceFactory(application=app, name="Hello banner")
    html = client.get(url("list", app), {"kind": "banner"}, **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="results">')
    assert "Hello banner" in html and "<html" not in html


def test_list__query_count_does_not_grow_with_rows(client, app):
    segment = free_segment(app)

    def make(n):
        for _ in range(n):
            experience = TourFactory(application=app)
            experience.segments.set([segment, app.everyone])
            EventFactory(experience=experience)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url("list", app)).status_code == 200
        return len(queries)

    make(2)
    few = count()
    make(8)
    assert count() == few
    # session, user, application, switcher; paginator count, page with its event counts;
    # segments, rules with their traits, groups, segment conditions, event, experience and
    # company count rules (prefetched); reach (one aggregate for the whole page); the segment
    # filter's choices.
    assert few == 15


# --- Editor ------------------------------------------------------------------------------


def test_new_experience__starts_with_no_segment_ticked(client, app):
    response = client.get(url("create", app, "banner"))
    assert response.context["editor"].targeting["segments"].value() == []
    choices = response.content.decode().split('class="segment-choices"')[1].split("</fieldset>")[0]
    assert 'name="segments"' in choices and " checked" not in choices


def test_publish__an_experience_with_no_segment_warns_first(client, app):
    EndUserFactory(application=app)
    experience = ExperienceFactory(application=app)
    response = client.post(url("publish", app, experience.pk))
    assert "Nobody is in this audience today" in response.content.decode()
    experience.refresh_from_db()
    assert experience.status == "draft"


def test_create_banner__saves_a_draft_with_canonical_content(client, app):
    response = client.post(
        url("create", app, "banner"),
        targeting(app)
        | {
            "content-text": "Upgrade now",
            "content-button_label": "Upgrade",
            "content-button_url": "/billing",
            "content-position": "bottom",
            "content-style": "warning",
        },
    )
    experience = Experience.objects.get()
    assert response.url == url("detail", app, experience.pk)
    assert experience.status == "draft" and experience.kind == "banner"
    assert experience.content == {
        "text": "Upgrade now",
        "button_label": "Upgrade",
        "button_url": "/billing",
        "position": "bottom",
        "style": "warning",
    }
    assert experience.url_include == ["/dashboard"]


def test_create_banner__errors_are_shown_next_to_their_fields(client, app):
    response = client.post(
        url("create", app, "banner"),
        targeting(app, url_include="dashboard", name="")
        | {"content-text": "", "content-button_label": "Go"},
    )
    editor = response.context["editor"]
    assert editor.content_form.errors == {
        "text": ["Give the banner some text."],
        "button_url": ["A button needs a link."],
    }
    assert set(editor.targeting.errors) == {"name", "url_include"}
    assert 'aria-invalid="true"' in response.content.decode()


def test_create_banner__a_failed_save_lists_every_problem_at_the_top_linked_to_its_field(
    client, app
):
    response = client.post(
        url("create", app, "banner"),
        targeting(app, url_include="dashboard", name="") | {"content-text": ""},
    )
    html = response.content.decode()
    summary = html.split('id="error-summary"')[1].split("</div>")[0]
    assert 'id="error-summary" role="alert"' in html
    assert "There is a problem" in summary
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    assert [target for target, _text in links] == ["id_name", "id_url_include", "id_content-text"]
    assert links[0][1] == "Name: Give the experience a name."
    assert links[1][1].startswith("Show on: ")
    # The summary takes the focus on arrival, not the Name field.
    assert "autofocus" in summary.split(">")[0]
    assert 'name="name"' in html and "autofocus" not in html.split('name="name"')[1].split(">")[0]


def test_create_tour__a_step_error_is_in_the_summary_once_named_by_its_step(client, app):
    steps = [dict(STEPS[0]), {"type": "tooltip", "selector": "", "title": "Two"}]
    summary = response_summary(client.post(url("create", app, "tour"), tour_data(app, steps)))
    assert summary == [
        ("id_steps-1-selector", "Step 2: give the step a CSS selector (#save, .nav a).")
    ]


def test_editor__a_new_form_and_a_step_added_show_no_summary(client, app):
    assert "error-summary" not in client.get(url("create", app, "tour")).content.decode()
    response = client.post(url("create", app, "tour"), tour_data(app, STEPS, op="add", name=""))
    assert "error-summary" not in response.content.decode()


def response_summary(response):
    html = response.content.decode()
    summary = html.split('id="error-summary"')[1].split("</div>")[0]
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)


def test_create_banner__an_over_long_name_is_refused_for_its_length_and_shown_whole(client, app):
    name = "n" * 5000
    response = client.post(
        url("create", app, "banner"),
        targeting(app, name=name) | {"content-text": "Hi", "content-button_label": ""},
    )

    assert response.context["editor"].targeting.errors["name"] == [
        "Ensure this value has at most 100 characters (it has 5000)."
    ]
    tag = re.search(r'<input[^>]*name="name"[^>]*>', response.content.decode()).group()
    assert f'value="{name}"' in tag and "maxlength" not in tag


def tour_data(app, steps, **extra):
    data = targeting(app, name="Tour") | {
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": "0",
    }
    for i, step in enumerate(steps):
        for field, value in step.items():
            data[f"steps-{i}-{field}"] = value
    return data | extra


STEPS = [
    {"type": "modal", "title": "One"},
    {"type": "tooltip", "selector": "#two", "title": "Two", "placement": "right"},
    {"type": "modal", "title": "Three"},
]


@pytest.mark.parametrize(
    "op, titles",
    [
        ("add", ["One", "Two", "Three", ""]),
        ("remove:1", ["One", "Three"]),
        ("up:2", ["One", "Three", "Two"]),
        ("down:0", ["Two", "One", "Three"]),
        ("up:0", ["One", "Two", "Three"]),  # already first: unchanged
    ],
)
def test_tour_steps__add_remove_reorder_in_place_without_saving(client, app, op, titles):
    response = client.post(url("create", app, "tour"), tour_data(app, STEPS, op=op), **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="rows"')
    rows = response.context["editor"].rows
    assert [form.initial.get("title", "") for form in rows.forms] == titles
    assert f'name="steps-TOTAL_FORMS" value="{len(titles)}"' in html
    assert not Experience.objects.exists()


def test_tour_steps__work_without_javascript_too(client, app):
    response = client.post(url("create", app, "tour"), tour_data(app, STEPS, op="remove:0"))
    assert "<html" in response.content.decode()
    assert len(response.context["editor"].rows.forms) == 2


def test_tour_steps__an_added_step_has_the_focus_on_its_first_field(client, app):
    response = client.post(url("create", app, "tour"), tour_data(app, STEPS, op="add"), **HTMX)
    html = response.content.decode()
    assert html.count("autofocus") == 1
    assert re.search(r'<select name="steps-3-type"[^>]*autofocus', html)


def test_create_tour__saves_the_steps_in_order(client, app):
    response = client.post(url("create", app, "tour"), tour_data(app, STEPS))
    assert response.status_code == 302
    assert Experience.objects.get().content == {
        "steps": [
            {"type": "modal", "title": "One"},
            {"type": "tooltip", "selector": "#two", "title": "Two", "placement": "right"},
            {"type": "modal", "title": "Three"},
        ]
    }


def test_create_tour__a_step_error_sits_on_that_step(client, app):
    steps = [dict(STEPS[0]), {"type": "tooltip", "selector": "", "title": "Two"}]
    response = client.post(url("create", app, "tour"), tour_data(app, steps))
    rows = response.context["editor"].rows
    assert rows.forms[1].errors == {
        "selector": ["Step 2: give the step a CSS selector (#save, .nav a)."]
    }
    assert not rows.forms[0].errors


def test_create_tour__without_steps_says_so(client, app):
    response = client.post(url("create", app, "tour"), tour_data(app, []))
    assert response.context["editor"].rows.list_errors == ["Add at least one step."]


def checklist_data(app, items, **extra):
    data = targeting(app, name="Setup") | {
        "content-title": "Get set up",
        "items-TOTAL_FORMS": str(len(items)),
        "items-INITIAL_FORMS": "0",
    }
    for i, item in enumerate(items):
        for field, value in item.items():
            data[f"items-{i}-{field}"] = value
    return data | extra


def test_create_checklist__new_items_get_ids_from_their_labels(client, app):
    items = [
        {"label": "Invite a teammate", "url": "/team", "complete_on": "click"},
        {"label": "Invite a teammate", "complete_on": "event", "event": "invited"},
        {"id": "kept", "label": "Renamed", "complete_on": "click"},
    ]
    client.post(url("create", app, "checklist"), checklist_data(app, items))
    content = Experience.objects.get().content
    assert [item["id"] for item in content["items"]] == [
        "invite-a-teammate",
        "invite-a-teammate-2",
        "kept",
    ]


def test_edit__shows_the_stored_content_and_saves_changes(client, app):
    tour = TourFactory(application=app, name="Old")
    tour.segments.add(app.everyone)
    page = client.get(url("edit", app, tour.pk))
    assert len(page.context["editor"].rows.forms) == 2
    response = client.post(url("edit", app, tour.pk), tour_data(app, STEPS[:1], name="New"))
    assert response.status_code == 302
    tour.refresh_from_db()
    assert tour.name == "New" and tour.content == {"steps": [{"type": "modal", "title": "One"}]}


# --- Schedules (experiences/schedules.py) -------------------------------------------------

SALE_CONTENT = {"text": "Winter sale", "position": "top", "style": "info"}
SALE = {f"content-{key}": value for key, value in SALE_CONTENT.items()}


def test_schedule__times_typed_in_the_browsers_zone_are_stored_in_utc(client, app):
    response = client.post(
        url("create", app, "banner"),
        targeting(app, starts_at="2026-12-04T10:00", ends_at="2026-12-06T19:00")
        | {"time_zone": "Europe/Paris"}
        | SALE,
    )
    assert response.status_code == 302
    experience = Experience.objects.get()
    assert experience.starts_at == datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert experience.ends_at == datetime(2026, 12, 6, 18, 0, tzinfo=UTC)


def test_schedule__without_javascript_the_times_are_utc(client, app):
    html = client.get(url("create", app, "banner")).content.decode()
    assert 'name="time_zone" value="UTC"' in html and 'type="datetime-local"' in html
    client.post(
        url("create", app, "banner"),
        targeting(app, starts_at="2026-12-04T10:00") | {"time_zone": "UTC"} | SALE,
    )
    assert Experience.objects.get().starts_at == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def test_schedule__the_editor_shows_stored_times_in_the_managers_zone(client, app):
    experience = ExperienceFactory(
        application=app,
        content=SALE_CONTENT,
        starts_at=datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 6, 18, 0, 30, tzinfo=UTC),
    )
    html = client.get(url("edit", app, experience.pk)).content.decode()
    assert 'value="2026-12-04T09:00"' in html  # UTC until the browser says otherwise
    assert 'data-utc="2026-12-04T09:00:00+00:00"' in html  # what the browser converts from
    assert 'value="2026-12-06T18:00:30"' in html  # seconds kept when stored with them

    # Once the editor has posted the browser's zone, pages show times in it.
    data = targeting(app, starts_at="2026-12-04T10:00", ends_at="") | SALE
    client.post(url("edit", app, experience.pk), data | {"time_zone": "Europe/Paris"})
    html = client.get(url("edit", app, experience.pk)).content.decode()
    assert 'value="2026-12-04T10:00"' in html and 'value="Europe/Paris"' in html
    assert "<strong data-time-zone-label>Europe/Paris</strong>" in html
    detail = client.get(url("detail", app, experience.pk)).content.decode()
    assert "from 2026-12-04 10:00" in detail and "Europe/Paris" in detail


def test_schedule__an_empty_field_removes_the_start(client, app):
    experience = ExperienceFactory(
        application=app, content=SALE_CONTENT, starts_at=datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    )
    data = targeting(app, starts_at="", ends_at="") | {"time_zone": "UTC"} | SALE
    assert client.post(url("edit", app, experience.pk), data).status_code == 302
    experience.refresh_from_db()
    assert experience.starts_at is None and experience.ends_at is None


def test_schedule__an_end_before_the_start_is_an_error_next_to_the_end(client, app):
    data = targeting(app, starts_at="2026-12-04T10:00", ends_at="2026-12-04T09:00") | SALE
    response = client.post(url("create", app, "banner"), data | {"time_zone": "Europe/Paris"})
    assert response.status_code == 200
    assert response.context["editor"].targeting.errors == {
        "ends_at": ["The end must be after the start."]
    }
    html = response.content.decode()
    assert 'value="2026-12-04T10:00"' in html  # as typed, in the zone it was typed in
    assert not Experience.objects.exists()


@pytest.mark.parametrize("typed", ["2026-03-29T02:30", "2026-10-25T02:30"])
def test_schedule__a_time_the_clocks_skip_or_repeat_is_an_error(client, app, typed):
    """In Paris 2:30 does not exist on 29 March 2026 (2:00 becomes 3:00) and happens twice on
    25 October (3:00 becomes 2:00): which moment was meant cannot be known."""
    data = targeting(app, starts_at=typed) | {"time_zone": "Europe/Paris"} | SALE
    response = client.post(url("create", app, "banner"), data)
    errors = response.context["editor"].targeting.errors
    assert list(errors) == ["starts_at"] and "Europe/Paris" in errors["starts_at"][0]
    assert not Experience.objects.exists()


def test_schedule__an_unknown_time_zone_is_an_error_and_nothing_is_saved(client, app):
    data = targeting(app, starts_at="2026-12-04T10:00") | {"time_zone": "Mars/Olympus"} | SALE
    response = client.post(url("create", app, "banner"), data)
    assert response.context["editor"].targeting.errors == {
        "time_zone": ["Unknown time zone: the times were read as UTC."]
    }
    assert not Experience.objects.exists()


def test_list__says_when_a_schedule_starts_or_ends(client, app):
    now = timezone.now()
    ExperienceFactory(application=app, name="Soon", starts_at=now + timedelta(days=3, hours=1))
    ExperienceFactory(
        application=app,
        name="Running",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(hours=2, minutes=30),
    )
    ExperienceFactory(application=app, name="Over", ends_at=now - timedelta(minutes=1))
    ExperienceFactory(application=app, name="Always")
    html = client.get(url("list", app)).content.decode()
    rows = {row.split("</a>")[0].rsplit(">", 1)[-1]: row for row in html.split("<tr>")[2:]}
    assert '<span class="muted schedule-words">starts in 3 days</span>' in rows["Soon"]
    assert '<span class="muted schedule-words">ends in 2 hours</span>' in rows["Running"]
    assert '<span class="muted schedule-words">ended</span>' in rows["Over"]
    assert "schedule-words" not in rows["Always"]


# --- Targeting helpers -------------------------------------------------------------------


def test_audience_sentence__states_the_or_and_the_reach(client, app):
    free = free_segment(app, "Free Admins")
    EndUserFactory(application=app, traits={"plan": "free"})
    EndUserFactory(application=app, traits={"plan": "pro"})
    html = client.get(
        url("audience", app), {"segments": [free.pk, app.everyone.pk]}, **HTMX
    ).content.decode()
    assert "<strong>Everyone OR Free Admins</strong>: 2 users today" in html
    html = client.get(url("audience", app), {"segments": [SegmentFactory().pk]}).content.decode()
    assert "nobody will see it" in html


def test_url_tester__flags_invalid_patterns(client, app):
    html = client.get(
        url("url_test", app),
        {"test_url": "/dashboard", "url_include": "/dashboard\n/docs/a**", "url_exclude": ""},
        **HTMX,
    ).content.decode()
    assert "must be a whole segment" in html


# --- Publish, unpublish, delete, preview ---------------------------------------------------


def test_publish__an_empty_audience_warns_first(client, app):
    experience = ExperienceFactory(application=app)
    experience.segments.add(free_segment(app))
    EndUserFactory(application=app, traits={"plan": "pro"})
    response = client.post(url("publish", app, experience.pk))
    assert response.status_code == 200
    assert "Nobody is in this audience today" in response.content.decode()
    experience.refresh_from_db()
    assert experience.status == "draft"
    response = client.post(url("publish", app, experience.pk), {"allow_empty": "1"})
    assert response.status_code == 302
    experience.refresh_from_db()
    assert experience.status == "published"


def test_publish_then_unpublish(client, app):
    experience = ExperienceFactory(application=app)
    experience.segments.add(app.everyone)
    EndUserFactory(application=app)
    client.post(url("publish", app, experience.pk))
    assert Experience.objects.get().status == "published"
    client.post(url("unpublish", app, experience.pk))
    assert Experience.objects.get().status == "draft"


def test_publish__says_from_when_a_scheduled_experience_is_served(client, app):
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    soon = ExperienceFactory(application=app, name="Soon", starts_at=start)
    over = ExperienceFactory(application=app, name="Over", ends_at=timezone.now())
    for experience in (soon, over):
        experience.segments.add(app.everyone)
    EndUserFactory(application=app)
    session = client.session
    session["time_zone"] = "Asia/Tokyo"
    session.save()

    html = client.post(url("publish", app, soon.pk), follow=True).content.decode()
    local = start.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")
    assert f"&quot;Soon&quot; is published: it is served from {local} (Asia/Tokyo)." in html
    html = client.post(url("publish", app, over.pk), follow=True).content.decode()
    assert "but its schedule has ended: it is not served." in html


def test_publish__invalid_stored_content_is_refused_with_the_reason(client, app):
    experience = ExperienceFactory(application=app, content={"text": ""})
    response = client.post(url("publish", app, experience.pk), follow=True)
    assert "Give the banner some text." in response.content.decode()
    assert Experience.objects.get().status == "draft"


def test_publish_and_delete_need_post(client, app):
    experience = ExperienceFactory(application=app)
    assert client.get(url("publish", app, experience.pk)).status_code == 405
    assert client.get(url("delete", app, experience.pk)).status_code == 405


def test_delete(client, app):
    experience = ExperienceFactory(application=app)
    response = client.post(url("delete", app, experience.pk))
    assert response.url == url("list", app)
    assert not Experience.objects.exists()


def test_delete__used_by_segment_rules__409_inline_naming_them_and_nothing_deleted(client, app):
    from segments import actions as segment_actions

    experience = ExperienceFactory(application=app, name="Welcome tour")
    segment = segment_actions.segment_create(
        application=app,
        name="Finished the tour",
        definition={"match": "all", "rules": [{"experience": experience.pk, "state": "completed"}]},
    )

    response = client.post(url("delete", app, experience.pk))

    html = response.content.decode()
    assert response.status_code == 409
    assert '<details class="card danger-zone" id="delete" open>' in html
    assert "cannot be deleted while 1 segment has rules on it" in html
    link = reverse("segments:detail", args=[app.pk, segment.pk])
    assert f'<a href="{link}"><strong>Finished the tour</strong></a>' in html
    assert Experience.objects.filter(pk=experience.pk).exists()


def test_preview__explains_the_audience_for_one_user(client, app):
    experience = ExperienceFactory(application=app)
    experience.segments.add(free_segment(app, "Free Plan"))
    EndUserFactory(application=app, external_id="u-1", traits={"plan": "free"})
    response = client.get(
        url("detail", app, experience.pk), {"user": "u-1", "url": "/dashboard"}, **HTMX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="preview"')
    assert "✓ in <strong>Free Plan</strong>" in html
    assert "a draft is never served" in html


def test_preview__an_unknown_user_or_another_applications_user_is_explained(client, app):
    experience = ExperienceFactory(application=app)
    EndUserFactory(external_id="elsewhere")
    html = client.get(
        url("detail", app, experience.pk), {"user": "elsewhere", "url": "/"}, **HTMX
    ).content.decode()
    assert "No user with id &quot;elsewhere&quot;" in html


# --- With the JSON API's matcher and serve decision (experiences/serving.py) ---------------


def test_url_tester__says_which_patterns_match_and_whether_it_shows(client, app):
    def verdict(test_url, include="/dashboard\n/projects/*", exclude="/projects/secret"):
        params = {"test_url": test_url, "url_include": include, "url_exclude": exclude}
        return client.get(url("url_test", app), params, **HTMX).context["url_test"]

    result = verdict("/projects/42?tab=1")
    assert (result.shows, result.reason) == (True, "matches /projects/*")
    assert [r.matches for r in result.include] == [False, True]
    result = verdict("/projects/secret")
    assert (result.shows, result.reason) == (False, "excluded by /projects/secret")
    assert verdict("/billing").reason == "no include pattern matches"
    assert verdict("/anything", include="").reason == "no include pattern: every page"


def test_preview__served_says_which_segment_and_pattern(client, app, fresh_targeting):
    experience = ExperienceFactory(application=app, url_include=["/dashboard"], status="published")
    experience.segments.add(free_segment(app, "Free Plan"))
    EndUserFactory(application=app, external_id="u-free", traits={"plan": "free"})
    EndUserFactory(application=app, external_id="u-pro", traits={"plan": "pro"})

    def decision(user, page="/dashboard"):
        params = {"user": user, "url": page}
        return client.get(url("detail", app, experience.pk), params, **HTMX).context["preview"]

    served = decision("u-free").decision
    assert served.served and served.matched_segment == "Free Plan"
    assert served.matched_pattern == "/dashboard"
    assert not decision("u-pro").decision.served
    assert not decision("u-free", "/settings").decision.served
    EventFactory(
        experience=experience, end_user=EndUser.objects.get(external_id="u-free"), type="dismissed"
    )
    blocked = decision("u-free")
    assert not blocked.decision.served and "dismissed" in blocked.decision.reason
    assert blocked.events == {"dismissed": 1}


def test_audience_and_list_reach_are_counted_by_count_users(client, app, monkeypatch):
    """README: every count of users goes through segments/selectors.py:count_users."""
    from experiences import selectors as experience_selectors
    from segments import selectors

    calls = []

    def spy(application, groups, now=None):
        calls.append(sorted(map(str, groups)))
        return selectors.count_users(application, groups, now)

    monkeypatch.setattr(experience_selectors, "count_users", spy)
    experience = ExperienceFactory(application=app)
    experience.segments.set([app.everyone])
    response = client.get(url("audience", app), {"segments": [app.everyone.pk]}, **HTMX)
    assert response.context["audience_reach"] == app.end_users.count()
    client.get(url("list", app))
    client.get(url("detail", app, experience.pk))
    assert calls == [["reach"], [str(experience.pk)], [str(experience.pk)]]
