"""Event and experience conditions in the segment builder (segments/builder.py, the views of
segments/views/segments.py): added with and without htmx, re-shaped by their operator, read as
sentences, errors inline, saved, counted by the live preview; and explained with the user's
actual counts and times on the user's page and in "Preview as a user"."""

import re
import time

import pytest
from django.urls import reverse

from segments import actions
from segments.activity import summarise
from segments.explaining import moment
from segments.models import EventDefinition, Membership, Segment
from tests.factories import EndUserFactory, ExperienceFactory
from tests.segments.test_builder import fields_of, index_of, press
from tests.segments.test_views import HTMX, text

pytestmark = pytest.mark.django_db

DAY = 86400.0


def url(name, app, *args):
    return reverse(f"segments:{name}", args=[app.pk, *args])


@pytest.fixture
def tour(app):
    return ExperienceFactory(application=app, name="Welcome tour", kind="tour")


@pytest.fixture
def doers(app):
    """u00 created 4 projects in the last two days; u01 one, 20 days ago; the rest none."""
    now = time.time()
    EventDefinition.objects.create(application=app, name="project_created", auto_discovered=True)
    u00, u01 = (app.end_users.get(external_id=f"u0{n}") for n in (0, 1))
    u00.activity = summarise([("project_created", now - h * 3600) for h in (1, 5, 20, 40)])
    u00.save()
    u01.activity = summarise([("project_created", now - 20 * DAY)])
    u01.save()
    return now


# --- Adding and re-shaping ---------------------------------------------------------------


def test_the_form_offers_both_add_buttons_at_the_top_and_in_every_group(client, app):
    data = {"rules": ["0"], "rules-0-kind": "group", "op": "none"}
    html = client.post(url("create", app), data).content.decode()
    for op in ("add_event:top", "add_experience:top", "add_event:0", "add_experience:0"):
        assert f'value="{op}"' in html
    assert ">Add event condition</button>" in html
    assert ">Add experience condition</button>" in html
    # With htmx, a group's button appends the new node to that group's own list.
    assert (
        'hx-target="#node-0 &gt; .node-list"' in html or 'hx-target="#node-0 > .node-list"' in html
    )


def test_add_event_condition_without_javascript__a_sentence_once_complete__saved(client, app):
    create = url("create", app)
    page = press(client, create, client.get(create), "add_event:top")

    assert page.status_code == 200 and not Segment.objects.filter(name="Creators").exists()
    node = index_of(page, "Event condition 2")
    html = page.content.decode()
    assert re.search(
        rf'<input id="id_rules-{node}-event"[^>]*list="event-names"[^>]*autofocus', html
    )
    assert "Name an event and a number to read this condition as a sentence." in text(page)

    data = fields_of(page)
    data.update(
        {
            "name": ["Creators"],
            "rules": [node],  # the empty rule 1 left out, as its Remove button would
            f"rules-{node}-event": ["project_created"],
            f"rules-{node}-operator": ["at_least"],
            f"rules-{node}-value": ["3"],
            f"rules-{node}-within_days": ["7"],
        }
    )
    shaped = client.post(create, {**data, "op": "none"})
    assert "User did project_created at least 3 times in the last 7 days" in text(shaped)

    response = client.post(create, data)
    assert response.status_code == 302, text(response)[:2000]
    segment = Segment.objects.get(application=app, name="Creators")
    assert segment.definition == {
        "match": "all",
        "rules": [
            {"event": "project_created", "operator": "at_least", "value": 3, "within_days": 7}
        ],
    }


def test_add_event_condition_by_htmx__a_fresh_index_in_its_group__and_the_preview_told(client, app):
    response = client.get(
        url("node", app),
        {"rules": ["0", "4", "5"], "add": "event", "parent": "4", "op": "add_event:4"},
        headers=HTMX,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert '<input type="hidden" name="rules" value="6">' in html
    assert '<input type="hidden" name="rules-6-kind" value="event">' in html
    assert '<input type="hidden" name="rules-6-parent" value="4">' in html
    assert 'data-noun="event condition"' in html
    assert "rules-changed" in response.headers["HX-Trigger-After-Settle"]
    # Every operator of the table, labelled from it; a count starts, with "in the last".
    operators = re.findall(r'<option value="([a-z_]+)"( selected)?>([^<]*)</option>', html)
    assert [(name, label) for name, _, label in operators] == [
        ("at_least", "at least"),
        ("at_most", "at most"),
        ("exactly", "exactly"),
        ("first_within_last_days", "for the first time within the last"),
        ("first_more_than_days_ago", "for the first time more than"),
        ("last_within_last_days", "for the last time within the last"),
        ("last_more_than_days_ago", "for the last time more than"),
    ]
    assert 'id="id_rules-6-within_days"' in html


def test_add_experience_condition_by_htmx__offers_this_applications_experiences(client, app, tour):
    ExperienceFactory(name="Someone else's tour")  # another application's
    response = client.get(url("node", app), {"rules": ["0"], "add": "experience"}, headers=HTMX)

    html = response.content.decode()
    assert '<input type="hidden" name="rules-1-kind" value="experience">' in html
    assert "rules-1-parent" not in html  # the top group
    assert f'<option value="{tour.pk}">Welcome tour</option>' in html
    assert "Someone else" not in html
    states = re.findall(r'<option value="(seen|completed|dismissed)"[^>]*>([^<]*)<', html)
    assert states == [("seen", "has seen"), ("completed", "has completed"),
                      ("dismissed", "has dismissed")]  # fmt: skip


def test_an_event_conditions_operator_reshapes_it__times_or_days__window_for_counts_only(
    client, app
):
    def node(operator, **fields):
        data = {"rules": ["3"], "rules-3-kind": "event", "rules-3-parent": "1",
                "rules-3-event": "invited_teammate", "rules-3-operator": operator,
                "rules-3-value": "5", **fields}  # fmt: skip
        return client.get(url("node", app), data, headers=HTMX)

    last = node("last_within_last_days", **{"rules-3-within_days": "9"})
    html = last.content.decode()
    assert "within_days" not in html
    assert re.search(r'id="rules-3-value-hint">days<', html)
    assert '<input type="hidden" name="rules-3-parent" value="1">' in html
    assert 'value="invited_teammate"' in html and 'value="5"' in html  # kept as typed
    assert "User did invited_teammate for the last time within the last 5 days" in text(last)

    ago = node("first_more_than_days_ago")
    assert re.search(r'id="rules-3-value-hint">days ago<', ago.content.decode())

    count = node("exactly", **{"rules-3-within_days": "30"})
    html = count.content.decode()
    assert re.search(r'id="rules-3-value-hint">times<', html)
    assert re.search(r'<input id="id_rules-3-within_days"[^>]*value="30"', html)
    assert "User did invited_teammate exactly 5 times in the last 30 days" in text(count)


def test_the_node_fragment__without_htmx_opens_the_form__and_refuses_a_rule(client, app):
    plain = client.get(url("node", app), {"rules": ["0"], "add": "event"})
    assert plain.status_code == 302 and plain.url.startswith(url("create", app))
    rule = client.get(url("node", app), {"rules": ["0"], "rules-0-trait": "plan"}, headers=HTMX)
    assert rule.status_code == 400


def test_the_event_input_offers_the_applications_event_names(client, app):
    EventDefinition.objects.create(application=app, name="project_created")
    EventDefinition.objects.create(application=app, name="invited_teammate")
    EventDefinition.objects.create(application=ExperienceFactory().application, name="theirs")
    html = client.get(url("create", app)).content.decode()
    datalist = re.search(r'<datalist id="event-names">(.*?)</datalist>', html, re.S).group(1)
    assert re.findall(r'<option value="([^"]+)">', datalist) == [
        "invited_teammate",
        "project_created",
    ]


# --- Errors and saving -------------------------------------------------------------------


def test_event_errors_are_shown_at_their_fields__nothing_saved(client, app):
    data = {
        "name": "Broken",
        "rules": ["0", "1", "2"],
        "rules-0-kind": "event",
        "rules-0-event": "project created",
        "rules-0-operator": "at_least",
        "rules-0-value": "3",
        "rules-1-kind": "group",
        "rules-2-kind": "event",
        "rules-2-parent": "1",
        "rules-2-event": "invited_teammate",
        "rules-2-operator": "at_most",
        "rules-2-value": "lots",
        "rules-2-within_days": "0",
    }
    response = client.post(url("create", app), data)

    assert response.status_code == 400
    assert not Segment.objects.filter(name="Broken").exists()
    html = response.content.decode()
    for index, name in ((0, "event"), (2, "value")):
        field = re.search(rf'<input id="id_rules-{index}-{name}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in field
        assert f'aria-describedby="rules-{index}-{name}-error"' in field
    assert re.search(r'id="rules-0-event-error">an event name is 1 to 128', html)
    assert re.search(
        r'id="rules-2-value-error">needs a whole number of times from 0 to 1,000', html
    )
    # within_days is checked once the value is: fix the value, and it is the one refused.
    data["rules-2-value"] = "0"
    html = client.post(url("create", app), data).content.decode()
    assert re.search(r'id="rules-2-within_days-error">needs a whole number of days from 1', html)
    assert 'value="project created"' in html  # what was typed stays


def test_an_experience_condition_without_an_experience__an_inline_error(client, app, tour):
    data = {"name": "Seen", "rules": ["0"], "rules-0-kind": "experience",
            "rules-0-experience": "", "rules-0-state": "seen"}  # fmt: skip
    response = client.post(url("create", app), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'aria-describedby="rules-0-experience-error"' in html
    assert re.search(r'id="rules-0-experience-error">no such experience', html)

    theirs = ExperienceFactory()  # another application's: unknown here, as any other id
    data["rules-0-experience"] = str(theirs.pk)
    assert client.post(url("create", app), data).status_code == 400

    data["rules-0-experience"] = str(tour.pk)
    assert client.post(url("create", app), data).status_code == 302
    segment = Segment.objects.get(name="Seen")
    assert segment.definition["rules"] == [{"experience": tour.pk, "state": "seen"}]


def test_an_experience_condition_reads_as_a_sentence_with_the_experiences_name(client, app, tour):
    definition = {"match": "none", "rules": [{"experience": tour.pk, "state": "completed"}]}
    segment = actions.segment_create(application=app, name="Not toured", definition=definition)
    page = client.get(url("edit", app, segment.pk))
    assert 'User has completed "Welcome tour"' in text(page)
    assert f'<option value="{tour.pk}" selected>Welcome tour</option>' in page.content.decode()
    assert 'NOT (has completed "Welcome tour")' in text(client.get(url("detail", app, segment.pk)))


def test_a_viewer_adds_an_event_condition_by_get_and_saves_nothing(client, app, member):
    member.role = Membership.Role.VIEWER
    member.save()
    html = client.get(url("create", app)).content.decode()
    assert re.search(r'value="add_event:top" formmethod="get"', html)
    page = client.get(url("create", app), {"rules": ["0"], "op": "add_event:top"})
    assert page.status_code == 200 and "Event condition 2" in text(page)
    assert (
        client.post(url("create", app), {"rules": ["0"], "op": "add_event:top"}).status_code == 403
    )


# --- The live preview --------------------------------------------------------------------


def preview(client, app, data):
    return client.get(url("preview", app), data, headers=HTMX)


def test_preview__counts_event_nodes_node_by_node_with_their_sentences(client, app, doers):
    data = {
        "rules": ["0", "1"],
        "rules-0-trait": "plan",
        "rules-0-operator": "equals",
        "rules-0-value": "pro",
        "rules-1-kind": "event",
        "rules-1-event": "project_created",
        "rules-1-operator": "at_least",
        "rules-1-value": "1",
        "rules-1-within_days": "7",
    }
    response = preview(client, app, data)
    page = text(response)

    # u00 (pro) did it 4 times in two days; u01 (pro) only 20 days ago.
    assert "Matches 1 of 10 users" in page
    assert (
        "Rule 1 4 Event condition 2: did project_created at least 1 time in the last 7 days 1"
        in page
    )
    # Ever: both pros who did it.
    data.pop("rules-1-within_days")
    assert "Matches 2 of 10 users" in text(preview(client, app, data))
    # Exactly 0: the pros who never did it (a user without the event has a count of 0).
    data.update({"rules-1-operator": "exactly", "rules-1-value": "0"})
    page = text(preview(client, app, data))
    assert "Matches 2 of 10 users" in page
    assert "did project_created exactly 0 times 2 Sample matching users u02 u03" in page


def test_preview__refreshes_each_conditions_sentence_out_of_band(client, app, tour):
    data = {
        "rules": ["0", "3"],
        "rules-0-kind": "event",
        "rules-0-event": "invited_teammate",
        "rules-0-operator": "at_most",
        "rules-0-value": "0",
        "rules-3-kind": "experience",
        "rules-3-experience": str(tour.pk),
        "rules-3-state": "dismissed",
    }
    html = preview(client, app, data).content.decode()
    assert re.search(
        r'<p class="node-sentence small" id="node-0-sentence" hx-swap-oob="true">'
        r"User did invited_teammate at most 0 times</p>",
        html,
    )
    assert re.search(
        r'id="node-3-sentence" hx-swap-oob="true">User has dismissed &quot;Welcome tour&quot;</p>',
        html,
    )
    # The page itself (no htmx) carries the sentences in the rows, and no out-of-band copies.
    page = client.get(url("create", app), data).content.decode()
    assert "hx-swap-oob" not in page and page.count('id="node-0-sentence"') == 1


def test_preview__an_incomplete_event_condition_is_skipped_saying_why(client, app):
    data = {"rules": ["0"], "rules-0-kind": "event", "rules-0-event": "",
            "rules-0-operator": "at_least", "rules-0-value": ""}  # fmt: skip
    page = text(preview(client, app, data))
    assert "Event condition 1 is not counted yet: name an event" in page
    data["rules-0-event"] = "project_created"
    page = text(preview(client, app, data))
    assert "Event condition 1 is not counted yet: needs a whole number of times" in page


# --- Why a user is (not) in a segment ----------------------------------------------------


def test_user_page__explains_event_conditions_with_the_users_counts_and_times(client, app, doers):
    definition = {
        "match": "all",
        "rules": [
            {"event": "project_created", "operator": "at_least", "value": 3, "within_days": 7},
            {"event": "project_created", "operator": "last_within_last_days", "value": 1},
        ],
    }
    actions.segment_create(application=app, name="Busy", definition=definition)
    u00, u01, u02 = (app.end_users.get(external_id=f"u0{n}") for n in range(3))
    last = moment(doers - 3600)

    page = text(client.get(url("user_detail", app, u00.pk)))
    assert "✓ Busy: in this segment" in page
    assert (
        "event condition 1: did project_created at least 3 times in the last 7 days — "
        f"passed: 4 times in the last 7 days (last on {last})" in page
    )
    assert (
        "event condition 2: did project_created for the last time within the last 1 days — "
        f"passed: last on {last}, 1 hour ago" in page
    )

    page = text(client.get(url("user_detail", app, u01.pk)))
    twenty = moment(doers - 20 * DAY)
    assert f"failed: 0 times in the last 7 days (last on {twenty})" in page
    assert f"failed: last on {twenty}, 20 days ago" in page

    page = text(client.get(url("user_detail", app, u02.pk)))
    assert "— failed: never did project_created" in page


def test_user_page__a_window_fuller_than_the_kept_times_says_at_least(client, app):
    now = time.time()
    user = EndUserFactory(
        application=app, activity=summarise([("saved", now - n * 60) for n in range(9)], kept=4)
    )
    definition = {"match": "all", "rules": [
        {"event": "saved", "operator": "at_least", "value": 3, "within_days": 1}]}  # fmt: skip
    actions.segment_create(application=app, name="Savers", definition=definition)
    page = text(client.get(url("user_detail", app, user.pk)))
    assert "passed: at least 4 times in the last 1 days" in page


def test_user_page__explains_experience_conditions_with_the_users_history(client, app, tour):
    now = time.time()
    shown = now - 3 * DAY
    user = EndUserFactory(application=app, activity=summarise([], [(tour.pk, "shown", shown)]))
    newcomer = EndUserFactory(application=app)
    definition = {"match": "all", "rules": [{"experience": tour.pk, "state": "completed"}]}
    actions.segment_create(application=app, name="Toured", definition=definition)

    page = text(client.get(url("user_detail", app, user.pk)))
    assert (
        'experience condition 1: has completed "Welcome tour" — '
        f"failed: shown on {moment(shown)}, not completed" in page
    )
    page = text(client.get(url("user_detail", app, newcomer.pk)))
    assert "failed: never shown" in page


def test_preview_as_a_user__explains_event_and_experience_conditions(client, app, tour, doers):
    definition = {
        "match": "all",
        "rules": [
            {"event": "project_created", "operator": "at_least", "value": 3},
            {"match": "none", "rules": [{"experience": tour.pk, "state": "completed"}]},
        ],
    }
    segment = actions.segment_create(application=app, name="Makers", definition=definition)
    banner = ExperienceFactory(application=app, name="Upgrade banner")
    banner.segments.add(segment)

    response = client.get(
        reverse("experiences:detail", args=[app.pk, banner.pk]),
        {"user": "u00", "url": "/dashboard"},
        headers=HTMX,
    )
    page = text(response)
    assert "✓ in Makers" in page
    assert 'did project_created at least 3 times AND NOT (has completed "Welcome tour")' in page
    assert (
        "event condition 1: did project_created at least 3 times — "
        f"passed: 4 times in all (last on {moment(doers - 3600)})" in page
    )
    assert 'experience condition 2.1: has completed "Welcome tour" — failed: never shown' in page


def test_segment_matches__reads_the_users_activity(app, tour, doers):
    definition = {
        "match": "all",
        "rules": [
            {"event": "project_created", "operator": "at_least", "value": 3, "within_days": 7},
            {"match": "none", "rules": [{"experience": tour.pk, "state": "completed"}]},
        ],
    }
    segment = actions.segment_create(application=app, name="Makers", definition=definition)
    u00 = app.end_users.get(external_id="u00")

    assert segment.matches(u00.traits, activity=u00.activity)
    assert not segment.matches(u00.traits)  # no activity: nothing done yet
    done = summarise([("project_created", doers)] * 3, [(tour.pk, "completed", doers)])
    assert not segment.matches({}, activity=done)
    # At a given moment: 8 days on, the four projects are out of the window.
    assert not segment.matches(u00.traits, doers + 8 * DAY, activity=u00.activity)


def test_a_lint_warning_on_an_event_condition_is_shown_in_its_row(client, app, doers):
    data = {"rules": ["0"], "rules-0-kind": "event", "rules-0-event": "projet_created",
            "rules-0-operator": "at_least", "rules-0-value": "1", "op": "none"}  # fmt: skip
    html = client.post(url("create", app), data).content.decode()
    row = html[html.index('id="node-0"') : html.index("</fieldset>", html.index('id="node-0"'))]
    assert re.search(r'class="warning small">No event named projet_created has been tracked', row)
