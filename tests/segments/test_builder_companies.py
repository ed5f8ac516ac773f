"""Company conditions in the segment builder (segments/builder.py, the views of
segments/views/segments.py): added with and without htmx, about a company trait (the trait
rule row's fields over the company traits) or about how many of the company's users are in a
segment, read as sentences, errors inline, saved, opened again unchanged, counted by the live
preview, linted; and explained with the company's actual value and count."""

import json
import re

import pytest
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments import actions, builder, selectors
from segments.models import Company, Membership, Segment, TraitDefinition
from segments.operators import OPERATORS
from tests.segments.test_builder import fields_of, index_of, press
from tests.segments.test_roundtrip import FormFields, stored_rules
from tests.segments.test_views import HTMX, text

pytestmark = pytest.mark.django_db

COMPANY = TraitDefinition.Scope.COMPANY


def url(name, app, *args):
    return reverse(f"segments:{name}", args=[app.pk, *args])


@pytest.fixture
def companies(app):
    """Company traits plan, seats and name (plan is a user trait too); Acme (trial, 5 seats)
    has u00-u02, all pro; Globex (pro) has u03 (pro) and u04 (free); u05-u09 have none. The
    segments Pros (plan equals pro: u00-u03) and Admins (u00, u01, u04)."""
    for key, type_ in (("plan", "string"), ("seats", "number"), ("name", "string")):
        TraitDefinition.objects.create(application=app, scope=COMPANY, key=key, type=type_)
    acme = Company.objects.create(
        application=app, external_id="acme", traits={"name": "Acme", "plan": "trial", "seats": 5}
    )
    globex = Company.objects.create(
        application=app, external_id="globex", traits={"plan": "pro", "seats": 50}
    )
    app.end_users.filter(external_id__in=["u00", "u01", "u02"]).update(company=acme)
    app.end_users.filter(external_id__in=["u03", "u04"]).update(company=globex)
    pros = actions.segment_create(
        application=app,
        name="Pros",
        definition={
            "match": "all",
            "rules": [{"trait": "plan", "operator": "equals", "value": "pro"}],
        },
    )
    admins = actions.segment_create(
        application=app,
        name="Admins",
        definition={
            "match": "all",
            "rules": [{"trait": "role", "operator": "equals", "value": "admin"}],
        },
    )
    return {"acme": acme, "globex": globex, "pros": pros, "admins": admins}


def company_trait(key, operator, value=None, case_sensitive=False):
    node = {"company_trait": key, "operator": operator, "case_sensitive": case_sensitive}
    if value is not None:
        node["value"] = value
    return node


def company_users(segment, operator, value):
    return {"company_users": {"segment": segment.pk}, "operator": operator, "value": value}


def options(html, name):
    select = re.search(rf'<select id="id_{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)


# --- Adding and re-shaping ---------------------------------------------------------------


def test_the_form_offers_add_company_condition_at_the_top_and_in_every_group(client, app):
    data = {"rules": ["0"], "rules-0-kind": "group", "op": "none"}
    html = client.post(url("create", app), data).content.decode()
    assert 'value="add_company:top"' in html and 'value="add_company:0"' in html
    assert html.count(">Add company condition</button>") == 2
    assert re.search(r'hx-vals=\'\{"add": "company", "parent": "0"', html)


def test_add_company_condition_without_javascript__a_company_trait_rule__saved(
    client, app, companies
):
    create = url("create", app)
    page = press(client, create, client.get(create), "add_company:top")

    assert page.status_code == 200
    node = index_of(page, "Company condition 2")
    html = page.content.decode()
    assert re.search(rf'<select id="id_rules-{node}-about"[^>]*autofocus', html)
    assert options(html, f"rules-{node}-about") == [
        ("trait", "a company trait"),
        ("users", "how many of its users are in a segment"),
    ]
    # The company traits, not the user traits (plan is both).
    assert [key for key, _ in options(html, f"rules-{node}-trait")] == ["", "name", "plan", "seats"]
    assert "Choose a company trait, or a segment and a number" in text(page)

    # Choosing the trait re-shapes the row (no JavaScript: the form's default button).
    data = fields_of(page)
    data.update({"rules": [node], f"rules-{node}-trait": ["seats"]})
    shaped = client.post(create, {**data, "op": "none"})
    html = shaped.content.decode()
    assert ("greater_than", "is greater than") in options(html, f"rules-{node}-operator")

    data = fields_of(shaped)
    data.update(
        {
            "name": ["Trials"],
            f"rules-{node}-trait": ["plan"],
            f"rules-{node}-operator": ["equals"],
            f"rules-{node}-value": ["trial"],
        }
    )
    shaped = client.post(create, {**data, "op": "none"})
    assert 'User\'s company plan equals "trial"' in text(shaped)

    response = client.post(create, data)
    assert response.status_code == 302, text(response)[:2000]
    segment = Segment.objects.get(application=app, name="Trials")
    assert segment.definition == {
        "match": "all",
        "rules": [company_trait("plan", "equals", "trial")],
    }
    assert {u.external_id for u in segment.members()} == {"u00", "u01", "u02"}


def test_add_company_condition_by_htmx__then_about_its_users_in_a_segment(client, app, companies):
    response = client.get(
        url("node", app), {"rules": ["0", "4"], "add": "company", "parent": "4"}, headers=HTMX
    )

    html = response.content.decode()
    assert "<html" not in html
    assert '<input type="hidden" name="rules-5-kind" value="company">' in html
    assert '<input type="hidden" name="rules-5-parent" value="4">' in html
    assert 'data-noun="company condition"' in html
    assert "rules-changed" in response.headers["HX-Trigger-After-Settle"]
    assert [key for key, _ in options(html, "rules-5-trait")] == ["", "name", "plan", "seats"]

    counting = {"rules": ["5"], "rules-5-kind": "company", "rules-5-parent": "4",
                "rules-5-about": "users", "rules-5-operator": "equals", "rules-5-value": "3",
                "rules-5-segment": str(companies["pros"].pk)}  # fmt: skip
    response = client.get(url("node", app), counting, headers=HTMX)
    html = response.content.decode()
    # A trait operator left over falls back to the first count operator.
    assert options(html, "rules-5-operator") == [
        ("at_least", "at least"),
        ("at_most", "at most"),
        ("exactly", "exactly"),
    ]
    assert re.search(r'<option value="at_least" selected>', html)
    segments = dict(options(html, "rules-5-segment"))
    assert segments[str(companies["pros"].pk)] == "Pros" and "Admins" in segments.values()
    assert re.search(r'<input id="id_rules-5-value"[^>]*value="3"', html)
    assert 'At least 3 users of the company in segment "Pros"' in text(response)

    one = client.get(
        url("node", app), {**counting, "rules-5-operator": "exactly", "rules-5-value": "1"},
        headers=HTMX,
    )  # fmt: skip
    assert 'Exactly 1 user of the company in segment "Pros"' in text(one)


def test_without_company_traits__the_row_says_where_they_come_from(client, app):
    response = client.get(url("node", app), {"rules": ["0"], "add": "company"}, headers=HTMX)
    assert options(response.content.decode(), "rules-1-trait") == [("", "Choose a company trait…")]
    assert "No company traits yet" in text(response)


def test_a_viewer_adds_a_company_condition_by_get_and_saves_nothing(client, app, member):
    member.role = Membership.Role.VIEWER
    member.save()
    html = client.get(url("create", app)).content.decode()
    assert re.search(r'value="add_company:top" formmethod="get"', html)
    page = client.get(url("create", app), {"rules": ["0"], "op": "add_company:top"})
    assert page.status_code == 200 and "Company condition 2" in text(page)
    assert (
        client.post(url("create", app), {"rules": ["0"], "op": "add_company:top"}).status_code
        == 403
    )


# --- Errors and saving -------------------------------------------------------------------


def test_company_errors_are_shown_at_their_fields__nothing_saved(client, app, companies):
    data = {
        "name": "Broken",
        "rules": ["0", "1", "2"],
        "rules-0-kind": "company",
        "rules-0-about": "trait",
        "rules-0-trait": "",
        "rules-1-kind": "company",
        "rules-1-about": "users",
        "rules-1-operator": "at_least",
        "rules-1-value": "lots",
        "rules-1-segment": str(companies["pros"].pk),
        "rules-2-kind": "company",
        "rules-2-about": "users",
        "rules-2-operator": "at_most",
        "rules-2-value": "2",
        "rules-2-segment": "",
    }
    response = client.post(url("create", app), data)

    assert response.status_code == 400
    assert not Segment.objects.filter(name="Broken").exists()
    html = response.content.decode()
    assert "fix the 3 problems" in text(response)
    for index, tag, name in (
        (0, "select", "trait"),
        (1, "input", "value"),
        (2, "select", "segment"),
    ):
        field = re.search(rf'<{tag} id="id_rules-{index}-{name}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in field
        assert f'aria-describedby="rules-{index}-{name}-error"' in field
    assert re.search(r"id=\"rules-0-trait-error\">no company trait &#x27;&#x27; in this", html)
    assert re.search(r'id="rules-1-value-error">needs a whole number of users from 0', html)
    assert re.search(r'id="rules-2-segment-error">no such segment', html)
    assert 'value="lots"' in html  # what was typed stays

    # A value that does not fit the company trait's type: on the value, as for a user rule.
    data = {"name": "Seats", "rules": ["0"], "rules-0-kind": "company",
            "rules-0-about": "trait", "rules-0-trait": "seats",
            "rules-0-operator": "greater_than", "rules-0-value": "many"}  # fmt: skip
    html = client.post(url("create", app), data).content.decode()
    assert re.search(r'id="rules-0-value-error">[^<]*number', html)


def test_a_company_count_cannot_count_the_segment_itself_nor_make_a_cycle(client, app, companies):
    pros = companies["pros"]
    counting = actions.segment_create(
        application=app, name="Big pro companies",
        definition={"match": "all", "rules": [company_users(pros, "at_least", 2)]},
    )  # fmt: skip
    edit = url("edit", app, pros.pk)

    node = "1"
    data = {"rules": [node], f"rules-{node}-kind": "company", f"rules-{node}-about": "users"}
    html = client.get(edit, {**data, "op": "none"}).content.decode()
    offered = dict(options(html, f"rules-{node}-segment"))
    assert str(pros.pk) not in offered and str(counting.pk) not in offered  # itself, a cycle
    assert "Admins" in offered.values()

    for target, message in ((pros, "cannot count the segment being saved"),
                            (counting, "would make a cycle")):  # fmt: skip
        post = {**data, "name": "Pros", f"rules-{node}-operator": "at_least",
                f"rules-{node}-value": "1", f"rules-{node}-segment": str(target.pk)}  # fmt: skip
        response = client.post(edit, post)
        assert response.status_code == 400
        assert message in text(response)
    assert Segment.objects.get(pk=pros.pk).definition["rules"][0]["trait"] == "plan"


def test_editing_company_conditions__shown_as_stored__saving_unchanged_keeps_them(
    client, app, companies
):
    definition = {
        "match": "any",
        "rules": [
            company_trait("plan", "in", ["trial", "pro"]),
            {"match": "none", "rules": [company_users(companies["admins"], "exactly", 0)]},
        ],
    }
    segment = actions.segment_create(application=app, name="Accounts", definition=definition)
    edit = url("edit", app, segment.pk)

    page = client.get(edit)
    html = page.content.decode()
    assert re.search(r'<option value="plan" selected>plan</option>', html)
    assert re.search(r'<input id="id_rules-0-value"[^>]*value="trial, pro"', html)
    assert re.search(r'<option value="users" selected>', html)
    assert 'Exactly 0 users of the company in segment "Admins"' in text(page)

    response = client.post(edit, fields_of(page))
    assert response.status_code == 302, text(response)[:2000]
    assert Segment.objects.get(pk=segment.pk).definition == {
        **definition,
        "rules": [
            {**definition["rules"][0]},
            definition["rules"][1],
        ],
    }
    # The segment page says it in words.
    page = text(client.get(url("detail", app, segment.pk)))
    assert (
        'company plan is one of "trial", "pro" OR NOT (exactly 0 users of the company in '
        'segment "Admins")' in page
    )


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    rule=stored_rules(),
    count=st.tuples(st.sampled_from(["at_least", "at_most", "exactly"]), st.integers(0, 10**6)),
    match=st.sampled_from(["all", "any", "none"]),
)
def test_opening_company_conditions_and_saving__changes_nothing(client, app, rule, count, match):
    """A company trait rule of every operator and type (the values a user rule round-trips)
    beside a company count, in a nested group: the builder shows them as stored, and posting
    the form back stores the same definition."""
    trait_type, operator, stored, case_sensitive = rule
    savepoint = transaction.savepoint_create()
    try:
        TraitDefinition.objects.update_or_create(
            application=app, scope=COMPANY, key="t", defaults={"type": trait_type}
        )
        node = {"company_trait": "t", "operator": operator, "case_sensitive": case_sensitive}
        if stored is not None or OPERATORS[operator].value_kind(trait_type) != "none":
            node["value"] = stored
        everyone = Segment.objects.get(application=app, is_builtin=True)
        counted = {"company_users": {"segment": everyone.pk}, "operator": count[0],
                   "value": count[1]}  # fmt: skip
        definition = {"match": match, "rules": [{"match": "any", "rules": [node]}, counted]}
        segment = actions.segment_create(application=app, name="Round", definition=definition)
        before = Segment.objects.get(pk=segment.pk).definition
        edit = url("edit", app, segment.pk)

        form = FormFields()
        form.feed(client.get(edit).content.decode())
        data: dict[str, list[str]] = {}
        for name, value in form.fields:
            data.setdefault(name, []).append(value)
        response = client.post(edit, data)

        assert response.status_code == 302, response.content.decode()[:2000]
        after = Segment.objects.get(pk=segment.pk).definition
        assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)
    finally:
        transaction.savepoint_rollback(savepoint)


# --- The live preview and lint -----------------------------------------------------------


def preview(client, app, data):
    return client.get(url("preview", app), data, headers=HTMX)


def test_preview__counts_company_nodes_node_by_node_with_their_sentences(client, app, companies):
    pros = companies["pros"]
    data = {
        "rules": ["0", "1"],
        "rules-0-trait": "role",
        "rules-0-operator": "equals",
        "rules-0-value": "admin",
        "rules-1-kind": "company",
        "rules-1-about": "users",
        "rules-1-operator": "at_least",
        "rules-1-value": "2",
        "rules-1-segment": str(pros.pk),
    }
    page = text(preview(client, app, data))
    # Admins: u00, u01 (Acme: 3 pros), u04 (Globex: 1 pro).
    assert "Matches 2 of 10 users" in page
    assert (
        'Rule 1 3 Company condition 2: at least 2 users of the company in segment "Pros" 2' in page
    )
    # Members with at most 1: Globex's u03 (1 pro), and u05-u09's 0 without a company; not
    # Acme's u02 (3 pros).
    data.update({"rules-0-value": "member", "rules-1-operator": "at_most", "rules-1-value": "1"})
    page = text(preview(client, app, data))
    assert "Matches 6 of 10 users" in page and "u02" not in page

    trait = {"rules": ["3"], "rules-3-kind": "company", "rules-3-trait": "seats",
             "rules-3-operator": "greater_than", "rules-3-value": "10"}  # fmt: skip
    page = text(preview(client, app, trait))
    assert "Matches 2 of 10 users" in page  # Globex's
    assert "Company condition 1: company seats is greater than 10 2" in page


def test_preview__an_incomplete_company_condition_is_skipped_saying_why(client, app, companies):
    data = {"rules": ["0"], "rules-0-kind": "company", "rules-0-about": "trait"}
    assert "Company condition 1 is not counted yet: choose a company trait" in text(
        preview(client, app, data)
    )
    data.update({"rules-0-about": "users", "rules-0-value": "2"})
    assert "Company condition 1 is not counted yet: choose a segment" in text(
        preview(client, app, data)
    )
    data["rules-0-segment"] = str(companies["pros"].pk)
    data["rules-0-value"] = ""
    assert "Company condition 1 is not counted yet: needs a whole number of users" in text(
        preview(client, app, data)
    )


def test_preview__refreshes_a_company_conditions_sentence_out_of_band(client, app, companies):
    data = {"rules": ["2"], "rules-2-kind": "company", "rules-2-trait": "plan",
            "rules-2-operator": "not_equals", "rules-2-value": "pro"}  # fmt: skip
    html = preview(client, app, data).content.decode()
    assert re.search(
        r'id="node-2-sentence" hx-swap-oob="true">'
        r"User's company plan does not equal &quot;pro&quot;</p>",
        html,
    )


def test_lint_warnings_on_company_nodes__shown_next_to_them(client, app, companies):
    data = {
        "rules": ["0", "1"],
        "rules-0-kind": "company",
        "rules-0-about": "users",
        "rules-0-operator": "at_least",
        "rules-0-value": "0",
        "rules-0-segment": str(companies["pros"].pk),
        "rules-1-kind": "company",
        "rules-1-trait": "plan",
        "rules-1-operator": "not_equals",
        "rules-1-value": "pro",
    }
    page = text(preview(client, app, data))
    assert "Company condition 1: Always true: every company has at least 0 users" in page
    assert (
        "Company condition 2: Users without a company have no company traits, so they pass "
        "this rule (5 users have no company today)." in page
    )
    form = text(client.get(url("create", app), data))
    assert "Did you mean at least 1?" in form


# --- Why a user is (not) in a segment ----------------------------------------------------


def test_explain_user__the_companys_trait_value_and_count(app, companies):
    pros = companies["pros"]
    definition = {
        "match": "all",
        "rules": [company_trait("plan", "equals", "trial"), company_users(pros, "at_least", 4)],
    }
    segment = actions.segment_create(application=app, name="Big trials", definition=definition)
    segments = selectors.segments_with_rules(app).filter(pk=segment.pk)
    u00, u03, u05 = (app.end_users.get(external_id=x) for x in ("u00", "u03", "u05"))

    [verdict] = selectors.explain_user(u00, segments, members={pros.pk: 3})
    assert not verdict.matched
    trait, count = verdict.rules
    assert (trait.noun, trait.passed, trait.sentence) == (
        "company condition",
        True,
        'company plan equals "trial"',
    )
    assert trait.reason == 'Acme\'s plan is "trial"'
    assert (count.passed, count.sentence) == (
        False,
        'at least 4 users of the company in segment "Pros"',
    )
    assert count.reason == 'Acme has 3 users in "Pros" (needs at least 4)'

    [verdict] = selectors.explain_user(u00, segments, members={pros.pk: 4})
    assert verdict.matched  # the count the caller gives is the one read

    # Globex has no name trait: called by its id.
    [verdict] = selectors.explain_user(u03, segments, members={pros.pk: 1})
    assert verdict.rules[0].reason == 'globex\'s plan is "pro"'
    assert verdict.rules[1].reason == 'globex has 1 user in "Pros" (needs at least 4)'

    [verdict] = selectors.explain_user(u05, segments)
    assert verdict.rules[0].reason == "no company (every company trait is missing)"
    assert verdict.rules[1].reason == 'no company, so 0 users in "Pros" (needs at least 4)'


def test_user_page__explains_a_company_trait_rule_with_the_companys_value(client, app, companies):
    definition = {"match": "all", "rules": [company_trait("seats", "greater_than", 10)]}
    actions.segment_create(application=app, name="Big", definition=definition)
    u00 = app.end_users.get(external_id="u00")
    page = text(client.get(url("user_detail", app, u00.pk)))
    assert (
        "company condition 1: company seats is greater than 10 — failed: Acme's seats is 5" in page
    )


def test_builder_helpers__company_errors_go_to_their_fields():
    top = builder.Node(index=builder.TOP, kind=builder.GROUP)
    trait = builder.Node(index=0, kind="company", company=builder.CompanyRow())
    users = builder.Node(
        index=1, kind="company", company=builder.CompanyRow(about="users", value="x")
    )
    top.children = [trait, users]
    builder.number(top)

    rest = builder.attach_tree_errors(
        top,
        {
            "definition.rules[0].company_trait": ["no company trait 'x' in this application"],
            "definition.rules[0].value": ["needs a number"],
            "definition.rules[1].company_users.segment": ["no such segment"],
            "definition.rules[1].value": ["needs a whole number of users"],
            "definition.rules[1]": ["unknown field 'y'"],
        },
    )

    assert rest == {}
    assert trait.company.rule.errors == {
        "trait": ["no company trait 'x' in this application"],
        "value": ["needs a number"],
    }
    assert trait.company.rule.index == 0 and trait.trait_row is trait.company.rule
    assert users.errors == {
        "segment": ["no such segment"],
        "value": ["needs a whole number of users"],
        "": ["unknown field 'y'"],
    }
    assert users.trait_row is None
    assert builder.definition(top) == {
        "match": "all",
        "rules": [
            {"company_trait": "", "operator": "", "value": None, "case_sensitive": False},
            {"company_users": {"segment": ""}, "operator": "at_least", "value": "x"},
        ],
    }
