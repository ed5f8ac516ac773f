"""The segment builder (segments/builder.py) through the views: every control as a full-page
round trip (what a browser without JavaScript does), trees saved as definitions, errors and
lint warnings on the node they name, the node-by-node preview and where a segment is used."""

import re

import pytest
from django.urls import reverse

from segments import actions
from segments.models import Membership, Segment, TraitDefinition
from tests.factories import PublishedExperienceFactory, saved_segment
from tests.segments.test_roundtrip import FormFields
from tests.segments.test_views import HTMX, text

pytestmark = pytest.mark.django_db


def url(name, app, *args):
    return reverse(f"segments:{name}", args=[app.pk, *args])


def fields_of(response) -> dict[str, list[str]]:
    """What a browser would submit from the page's form (buttons left out)."""
    form = FormFields()
    form.feed(response.content.decode())
    data: dict[str, list[str]] = {}
    for name, value in form.fields:
        data.setdefault(name, []).append(value)
    return data


def press(client, target, response, op, **changes):
    """Submit the page's form by a builder button (``op``), with some fields changed."""
    data = fields_of(response)
    data.update({k: [v] for k, v in changes.items()})
    data["op"] = [op]
    return client.post(target, data)


def index_of(response, legend: str) -> str:
    """The index of the node whose legend is ``legend`` ("Group 2")."""
    html = response.content.decode()
    noun, number = legend.rsplit(" ", 1)
    found = re.search(
        rf'<legend>{noun} <span class="rule-number">{re.escape(number)}</span></legend>\s*'
        r'<input type="hidden" name="rules" value="(\d+)">',
        html,
    )
    assert found, legend
    return found.group(1)


@pytest.fixture
def employee(app):
    return TraitDefinition.objects.create(application=app, key="employee", type="boolean")


TREE = {
    "match": "all",
    "rules": [
        {
            "match": "any",
            "rules": [
                {
                    "match": "all",
                    "rules": [
                        {"trait": "plan", "operator": "equals", "value": "free"},
                        {"trait": "role", "operator": "equals", "value": "admin"},
                    ],
                },
                {"trait": "teamSize", "operator": "greater_than", "value": 8},
            ],
        },
        {"match": "none", "rules": [{"trait": "employee", "operator": "is_true"}]},
    ],
}


def test_building_a_tree_without_javascript__every_button_a_round_trip__then_saved(
    client, app, employee
):
    """'Free admins, or anyone on a team larger than 8, but not employees', built with the
    builder's buttons only, each a full-page POST that saves nothing."""
    create = url("create", app)
    page = client.get(create)
    page = press(client, create, page, f"remove:{index_of(page, 'Rule 1')}")
    assert "Rule 1" not in text(page)
    page = press(client, create, page, "add_group:top")  # Group 1, with a first rule
    assert page.status_code == 200 and Segment.objects.filter(application=app).count() == 1
    group = index_of(page, "Group 1")
    page = press(client, create, page, f"add_group:{group}")  # Group 1.2 (Rule 1.2.1)
    page = press(client, create, page, f"add_rule:{index_of(page, 'Group 1.2')}")  # Rule 1.2.2
    page = press(client, create, page, f"up:{index_of(page, 'Group 1.2')}")
    # The nested group moved above Rule 1.1, with its rules.
    assert (
        text(page).index("Group 1.1")
        < text(page).index("Rule 1.1.2")
        < text(page).index("Rule 1.2")
    )
    page = press(client, create, page, "add_group:top")  # Group 2 (Rule 2.1)
    page = press(client, create, page, "add_rule:top")  # Rule 3, then removed
    page = press(client, create, page, f"remove:{index_of(page, 'Rule 3')}")
    assert "Rule 3" not in text(page)
    g = {name: index_of(page, name) for name in ("Group 1", "Group 2")}
    r = {
        name: index_of(page, name) for name in ("Rule 1.1.1", "Rule 1.1.2", "Rule 1.2", "Rule 2.1")
    }
    values = {
        "name": "Free admins or big teams, not employees",
        f"rules-{g['Group 1']}-match": "any",
        f"rules-{g['Group 2']}-match": "none",
        f"rules-{r['Rule 1.1.1']}-trait": "plan",
        f"rules-{r['Rule 1.1.1']}-operator": "equals",
        f"rules-{r['Rule 1.1.1']}-value": "free",
        f"rules-{r['Rule 1.1.2']}-trait": "role",
        f"rules-{r['Rule 1.1.2']}-operator": "equals",
        f"rules-{r['Rule 1.1.2']}-value": "admin",
        f"rules-{r['Rule 1.2']}-trait": "teamSize",
        f"rules-{r['Rule 1.2']}-operator": "greater_than",
        f"rules-{r['Rule 1.2']}-value": "8",
        f"rules-{r['Rule 2.1']}-trait": "employee",
        f"rules-{r['Rule 2.1']}-operator": "is_true",
    }
    data = fields_of(page)
    data.update({k: [v] for k, v in values.items()})
    response = client.post(create, data)

    assert response.status_code == 302, text(response)[:3000]
    segment = Segment.objects.get(application=app, name=values["name"])
    expected = {
        "match": "all",
        "rules": [
            {
                "match": "any",
                "rules": [
                    {
                        "match": "all",
                        "rules": [
                            {"trait": "plan", "operator": "equals", "value": "free",
                             "case_sensitive": False},
                            {"trait": "role", "operator": "equals", "value": "admin",
                             "case_sensitive": False},
                        ],
                    },
                    {"trait": "teamSize", "operator": "greater_than", "value": 8,
                     "case_sensitive": False},
                ],
            },
            {"match": "none", "rules": [
                {"trait": "employee", "operator": "is_true", "case_sensitive": False}
            ]},
        ],
    }  # fmt: skip
    assert segment.definition == expected
    # u04 is a free admin, u08 and u09 have teams of 9 and 10: nobody is an employee.
    assert sorted(u.external_id for u in segment.members()) == ["u04", "u08", "u09"]


def test_move_up_and_down__reorder_siblings_only(client, app):
    create = url("create", app)
    data = {
        "name": "",
        "rules": ["0", "1", "2"],
        "rules-0-trait": "plan",
        "rules-0-operator": "equals",
        "rules-0-value": "pro",
        "rules-1-kind": "group",
        "rules-1-match": "any",
        "rules-2-parent": "1",
        "rules-2-trait": "role",
        "rules-2-operator": "equals",
        "rules-2-value": "admin",
    }
    page = client.post(create, {**data, "op": "down:0"})
    body = text(page)
    assert body.index("Group 1") < body.index("Rule 2")  # the rule moved below the group
    assert "Rule 1.1" in body
    page = press(client, create, page, "up:0")
    assert text(page).index("Rule 1") < text(page).index("Group 2")
    # Moving the first node up, or the last down, leaves the tree as it was.
    again = press(client, create, page, "up:0")
    assert fields_of(again)["rules"] == fields_of(page)["rules"]


def test_groups_nest_at_most_three_levels__no_add_group_at_the_third(client, app):
    data = {"rules": ["0", "1", "2", "3"], "rules-3-parent": "2"}
    for i, parent in ((0, None), (1, 0), (2, 1)):
        data[f"rules-{i}-kind"] = "group"
        if parent is not None:
            data[f"rules-{i}-parent"] = str(parent)
    page = client.post(url("create", app), {**data, "op": "none"})
    html = page.content.decode()
    assert 'value="add_group:1"' in html and 'value="add_group:2"' not in html
    # A hand-made fourth level is refused by the button all the same.
    page = client.post(url("create", app), {**data, "op": "add_group:2"})
    assert "Group 1.1.1.2" not in text(page)


def test_a_nested_error_is_shown_on_its_field__nothing_saved(client, app):
    data = {
        "name": "Nested",
        "match": "any",
        "rules": ["0", "1", "2"],
        "rules-0-trait": "plan",
        "rules-0-operator": "equals",
        "rules-0-value": "pro",
        "rules-1-kind": "group",
        "rules-2-parent": "1",
        "rules-2-trait": "teamSize",
        "rules-2-operator": "greater_than",
        "rules-2-value": "lots",
    }
    response = client.post(url("create", app), data)

    assert response.status_code == 400
    assert not Segment.objects.filter(name="Nested").exists()
    html = response.content.decode()
    field = re.search(r'<input id="id_rules-2-value"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in field
    assert 'aria-describedby="rules-2-value-error"' in field
    error = re.search(r'<p class="error" id="rules-2-value-error">([^<]*)</p>', html)
    assert error and error.group(1).strip()
    assert "fix the 1 problem" in text(response)
    # The other fields keep what was typed.
    assert 'name="rules-1-kind" value="group"' in html and 'value="pro"' in html


def test_an_empty_group_and_an_unchosen_segment__errors_on_their_nodes(client, app):
    data = {
        "name": "Empty bits",
        "match": "any",
        "rules": ["0", "1"],
        "rules-0-kind": "group",
        "rules-0-match": "any",
        "rules-1-kind": "segment",
        "rules-1-segment": "",
    }
    response = client.post(url("create", app), data)

    assert response.status_code == 400
    html = response.content.decode()
    assert 'aria-describedby="rules-0-match-error"' in html
    assert re.search(r'id="rules-0-match-error">[^<]*at least one rule', html)
    assert 'aria-describedby="rules-1-segment-error"' in html
    assert re.search(r'id="rules-1-segment-error">[^<]*no such segment', html)


def test_segment_condition__choices_leave_out_this_segment_and_cycles__saved(client, app):
    admins = saved_segment(app, "Admins", [("role", "equals", "admin")])
    pros = saved_segment(app, "Pros", [("plan", "equals", "pro")])
    # Pro admins uses Admins: Admins may not use Pro admins (a cycle), nor itself.
    pro_admins = actions.segment_create(
        application=app,
        name="Pro admins",
        definition={"match": "all", "rules": [{"segment": admins.pk}, {"segment": pros.pk}]},
    )
    page = client.post(url("edit", app, admins.pk), {"rules": ["0"], "op": "add_segment:top"})
    select = re.search(r'<select id="id_rules-1-segment".*?</select>', page.content.decode(), re.S)
    options = re.findall(r'<option value="(\d+)"', select.group(0))
    assert str(pros.pk) in options
    assert str(admins.pk) not in options and str(pro_admins.pk) not in options

    page = client.get(url("create", app))
    page = press(client, url("create", app), page, "add_segment:top")
    data = fields_of(page)
    data.update(
        {"name": ["Admins not pros"], "match": ["all"], "rules-1-segment": [str(admins.pk)]}
    )
    data["rules-0-trait"], data["rules-0-operator"], data["rules-0-value"] = (
        ["plan"],
        ["equals"],
        ["free"],
    )
    response = client.post(url("create", app), data)
    assert response.status_code == 302, text(response)[:2000]
    segment = Segment.objects.get(name="Admins not pros")
    assert segment.definition["rules"][1] == {"segment": admins.pk}
    assert sorted(u.external_id for u in segment.members()) == ["u04"]


def test_editing_a_tree__shows_it__and_saving_unchanged_keeps_it(client, app, employee):
    segment = actions.segment_create(application=app, name="Tree", definition=TREE)
    before = segment.definition
    edit = url("edit", app, segment.pk)
    page = client.get(edit)
    assert '<option value="any" selected>' in page.content.decode()
    assert "Group 1.1" in text(page) and "Rule 2.1" in text(page)

    response = client.post(edit, fields_of(page))

    assert response.status_code == 302, text(response)[:2000]
    assert Segment.objects.get(pk=segment.pk).definition == before


def test_preview__node_by_node_counts_and_group_totals(client, app, employee):
    data = {
        "rules": ["0", "1", "2", "3"],
        "match": "any",
        "rules-0-trait": "plan",
        "rules-0-operator": "equals",
        "rules-0-value": "pro",
        "rules-1-kind": "group",
        "rules-2-parent": "1",
        "rules-2-trait": "role",
        "rules-2-operator": "equals",
        "rules-2-value": "admin",
        "rules-3-parent": "1",
        "rules-3-trait": "teamSize",
        "rules-3-operator": "greater_than",
        "rules-3-value": "4",
    }
    page = text(client.get(url("preview", app), data, headers=HTMX))

    # Top (any): pro lets 4 through; with the group (admins on teams over 4: u04) 5.
    assert "Matches 5 of 10 users" in page
    assert "Node by node" in page
    assert "Rule 1 4 Group 2 (all) 5 group total 1" in page
    # Inside the group (all): admins 3, then admins on teams over 4: 1.
    assert "Rule 2.1 3 Rule 2.2 1" in page


def test_lint_warnings_shown_next_to_their_node__and_the_save_goes_through(client, app):
    data = {
        "name": "Never",
        "rules": ["0", "1", "2", "3"],
        "match": "any",
        "rules-0-trait": "role",
        "rules-0-operator": "equals",
        "rules-0-value": "admin",
        "rules-1-kind": "group",
        "rules-2-parent": "1",
        "rules-2-trait": "plan",
        "rules-2-operator": "equals",
        "rules-2-value": "free",
        "rules-3-parent": "1",
        "rules-3-trait": "plan",
        "rules-3-operator": "equals",
        "rules-3-value": "pro",
    }
    page = client.post(url("create", app), {**data, "op": "none"})
    html = page.content.decode()
    group = html[html.index('id="node-1"') :]
    assert re.search(r'class="warning small">This group can never match', group)
    assert "Group 2: This group can never match" in text(page)

    assert client.post(url("create", app), data).status_code == 302


def test_impact_preview_names_segments_and_experiences_changed_through_references(client, app):
    admins = saved_segment(app, "Admins", [("role", "equals", "admin")])
    uses = actions.segment_create(
        application=app,
        name="Admin users",
        definition={"match": "all", "rules": [{"segment": admins.pk}]},
    )
    actions.segment_create(
        application=app,
        name="Second hand",
        definition={"match": "any", "rules": [{"segment": uses.pk}]},
    )
    PublishedExperienceFactory(application=app, name="Admin welcome").segments.add(uses)

    data = {"rules": ["0"], "rules-0-trait": "plan", "rules-0-operator": "equals",
            "rules-0-value": "pro", "segment": str(admins.pk)}  # fmt: skip
    page = text(client.get(url("preview", app), data, headers=HTMX))

    assert (
        "Through references, saving also changes the segments Admin users, Second hand "
        "and the experience Admin welcome (published)." in page
    )


def test_segment_page_lists_the_segments_and_experiences_that_use_it(client, app):
    admins = saved_segment(app, "Admins", [("role", "equals", "admin")])
    actions.segment_create(
        application=app,
        name="Admin users",
        definition={"match": "all", "rules": [{"segment": admins.pk}]},
    )
    PublishedExperienceFactory(application=app, name="Admin welcome").segments.add(admins)

    page = text(client.get(url("detail", app, admins.pk)))

    assert "Used by" in page
    assert "Admin welcome Published" in page
    assert "Segment Admin users" in page


def test_user_page__explains_a_tree_node_by_node(client, app, employee):
    from tests.factories import EndUserFactory

    segment = actions.segment_create(application=app, name="Tree", definition=TREE)
    admins = saved_segment(app, "Admins", [("role", "equals", "admin")])
    actions.segment_create(
        application=app,
        name="Admin refs",
        definition={"match": "all", "rules": [{"segment": admins.pk}]},
    )
    user = EndUserFactory(
        application=app,
        external_id="Ann",
        traits={"plan": "free", "role": "admin", "teamSize": 3, "employee": True},
    )

    page = text(client.get(url("user_detail", app, user.pk)))

    assert "✗ Tree: not in this segment" in page
    assert "group 1 passed: any of its 2 node(s) must hold" in page
    assert "group 1.1 passed: all of its 2 node(s) must hold" in page
    assert 'rule 1.1.1 passed: plan is "free", expected equals "free" ignoring case' in page
    assert "rule 1.2 failed: teamSize is 3, expected is greater than 8" in page
    assert "group 2 failed: none of its 1 node(s) must hold" in page
    assert "rule 2.1 passed: employee is true, expected is true" in page
    assert 'segment condition 1 passed: in segment "Admins"' in page
    assert segment.pk


def test_a_viewer_can_shape_the_builder_by_get__and_sees_no_save(client, app, member):
    member.role = Membership.Role.VIEWER
    member.save()
    page = client.get(url("create", app))
    html = page.content.decode()
    assert "Save segment" not in html
    assert re.search(r'value="add_group:top" formmethod="get"', html)
    # What the button sends: the form by GET, re-shaped, nothing saved.
    page = client.get(url("create", app), {"rules": ["0"], "op": "add_group:top"})
    assert page.status_code == 200 and "Group 2" in text(page)
    assert (
        client.post(url("create", app), {"rules": ["0"], "op": "add_group:top"}).status_code == 403
    )


def test_preview_as_a_user__explains_a_tree_segment_node_by_node(client, app, employee):
    from tests.factories import EndUserFactory, ExperienceFactory

    experience = ExperienceFactory(application=app)
    experience.segments.add(actions.segment_create(application=app, name="Tree", definition=TREE))
    EndUserFactory(
        application=app,
        external_id="u-1",
        traits={"plan": "pro", "role": "member", "teamSize": 20, "employee": False},
    )
    response = client.get(
        reverse("experiences:detail", args=[app.pk, experience.pk]),
        {"user": "u-1", "url": "/dashboard"},
        headers=HTMX,
    )
    page = text(response)
    assert "✓ in Tree" in page
    assert "group 1 passed: any of its 2 node(s) must hold" in page
    assert "rule 1.1.1 failed" in page and "rule 1.2 passed" in page
    assert "group 2 passed: none of its 1 node(s) must hold" in page


def test_a_large_saved_tree_opens_and_saves_whole(client, app):
    """The form reads as many nodes as a definition may hold: nothing is cut on a save."""
    group = {
        "match": "any",
        "rules": [
            {"trait": "teamSize", "operator": "equals", "value": n, "case_sensitive": False}
            for n in range(70)
        ],
    }
    definition = {"match": "any", "rules": [group, group]}
    segment = actions.segment_create(application=app, name="Large", definition=definition)
    edit = url("edit", app, segment.pk)

    response = client.post(edit, fields_of(client.get(edit)))

    assert response.status_code == 302, text(response)[:2000]
    assert Segment.objects.get(pk=segment.pk).definition == definition


def test_segment_page_shows_a_tree_in_words(client, app, employee):
    segment = actions.segment_create(application=app, name="Tree", definition=TREE)
    page = text(client.get(url("detail", app, segment.pk)))
    assert '(plan equals "free" AND role equals "admin") OR teamSize is greater than 8' in page
    assert "NOT (employee is true)" in page


# --- Event and experience conditions (parsing; the views: test_builder_events.py) --------


def test_parse_tree__reads_event_and_experience_nodes_into_a_definition():
    from django.http import QueryDict

    from segments import builder

    data = QueryDict(mutable=True)
    data.setlist("rules", ["0", "1", "2", "3"])
    data.update({
        "match": "any",
        "rules-0-kind": "event", "rules-0-event": " project_created ",
        "rules-0-operator": "exactly", "rules-0-value": "0", "rules-0-within_days": "3",
        "rules-1-kind": "group", "rules-1-match": "none",
        "rules-2-kind": "experience", "rules-2-parent": "1",
        "rules-2-experience": "12", "rules-2-state": "completed",
        # A time operator takes no window: what was left in the field is not sent.
        "rules-3-kind": "event", "rules-3-event": "invited_teammate",
        "rules-3-operator": "last_more_than_days_ago", "rules-3-value": "14",
        "rules-3-within_days": "9",
    })  # fmt: skip

    top = builder.parse_tree(data, {})

    assert [n.label for n in top.walk()][1:] == [
        "Event condition 1", "Group 2", "Experience condition 2.1", "Event condition 3"
    ]  # fmt: skip
    assert builder.definition(top) == {
        "match": "any",
        "rules": [
            {"event": "project_created", "operator": "exactly", "value": 0, "within_days": 3},
            {"match": "none", "rules": [{"experience": 12, "state": "completed"}]},
            {"event": "invited_teammate", "operator": "last_more_than_days_ago", "value": 14},
        ],
    }
    assert not builder.is_flat(top)


def test_parse_tree__an_unknown_operator_or_state_falls_back__what_is_not_a_number_kept():
    from django.http import QueryDict

    from segments import builder

    data = QueryDict(mutable=True)
    data.setlist("rules", ["0", "1"])
    data.update({
        "rules-0-kind": "event", "rules-0-event": "x", "rules-0-operator": "sometimes",
        "rules-0-value": "three", "rules-0-within_days": "",
        "rules-1-kind": "experience", "rules-1-experience": "", "rules-1-state": "loved",
    })  # fmt: skip

    top = builder.parse_tree(data, {})

    assert builder.definition(top)["rules"] == [
        {"event": "x", "operator": "at_least", "value": "three"},  # refused by tree.clean
        {"experience": "", "state": "seen"},
    ]


def test_add_event_and_experience__in_the_group_asked__focus_on_the_new_node():
    from segments import builder

    top = builder.Node(index=builder.TOP, kind=builder.GROUP)
    group = builder.Node(index=0, kind=builder.GROUP)
    top.children.append(group)
    builder.number(top)

    builder.apply_op(top, "add_event:0")
    builder.apply_op(top, "add_experience:top")

    event, experience = group.children[0], top.children[1]
    assert (event.kind, event.label, event.autofocus) == ("event", "Event condition 1.1", True)
    assert event.event == builder.EventRow(operator="at_least")
    assert experience.label == "Experience condition 2" and experience.experience.state == "seen"
    assert {n.index for n in top.walk()} == {builder.TOP, 0, 1, 2}


def test_tree_errors__go_to_the_event_and_experience_fields_they_name():
    from segments import builder

    top = builder.Node(index=builder.TOP, kind=builder.GROUP)
    top.children = [
        builder.Node(index=0, kind="event", event=builder.EventRow("a", "at_least", "1", "0")),
        builder.Node(index=1, kind="experience", experience=builder.ExperienceRow("9", "seen")),
    ]
    builder.number(top)

    rest = builder.attach_tree_errors(
        top,
        {
            "definition.rules[0].within_days": ["needs a whole number of days"],
            "definition.rules[1].experience": ["no such experience"],
            "definition.rules[1]": ["unknown field 'x'"],
        },
    )

    assert rest == {}
    assert top.children[0].errors == {"within_days": ["needs a whole number of days"]}
    assert top.children[1].errors == {
        "experience": ["no such experience"],
        "": ["unknown field 'x'"],
    }


def test_tree_from_segment__shows_event_and_experience_nodes_as_stored(app):
    from segments import builder
    from tests.factories import ExperienceFactory

    tour = ExperienceFactory(application=app)
    definition = {
        "match": "all",
        "rules": [
            {"event": "project_created", "operator": "at_most", "value": 2, "within_days": 30},
            {"match": "any", "rules": [{"experience": tour.pk, "state": "dismissed"}]},
        ],
    }
    segment = actions.segment_create(application=app, name="Shown", definition=definition)

    top = builder.tree_from_segment(Segment.objects.get(pk=segment.pk))

    event, group = top.children
    assert event.event == builder.EventRow("project_created", "at_most", "2", "30")
    assert group.children[0].experience == builder.ExperienceRow(str(tour.pk), "dismissed")
    assert builder.definition(top) == definition


def test_saving__a_rule_row_left_blank_is_left_out__alone_it_is_still_asked_for(client, app):
    create = url("create", app)
    page = client.get(create)  # Rule 1, blank
    page = press(client, create, page, "add_rule:top")  # Rule 2, blank
    page = press(client, create, page, "add_group:top")  # Group 3 (Rule 3.1, blank)
    page = press(client, create, page, f"add_rule:{index_of(page, 'Group 3')}")  # Rule 3.2
    rule, inner = index_of(page, "Rule 2"), index_of(page, "Rule 3.2")
    data = fields_of(page) | {
        "name": ["Pro"],
        f"rules-{rule}-trait": ["plan"],
        f"rules-{rule}-operator": ["equals"],
        f"rules-{rule}-value": ["pro"],
        f"rules-{inner}-trait": ["role"],
        f"rules-{inner}-operator": ["equals"],
        f"rules-{inner}-value": ["admin"],
    }
    response = client.post(create, data)

    assert response.status_code == 302, text(response)[:2000]
    segment = Segment.objects.get(application=app, name="Pro")
    admin = {"trait": "role", "operator": "equals", "value": "admin"}
    assert segment.definition == {
        "match": "all",
        "rules": [
            {"trait": "plan", "operator": "equals", "value": "pro", "case_sensitive": False},
            {"match": "all", "rules": [{**admin, "case_sensitive": False}]},
        ],
    }

    # A form saved untouched is asked for a rule, not saved as every user.
    untouched = fields_of(client.get(create)) | {"name": ["Untouched"]}
    response = client.post(create, untouched)
    assert response.status_code == 400
    assert "Rule 1: choose a trait of this application." in text(response)
    assert not Segment.objects.filter(name="Untouched").exists()
