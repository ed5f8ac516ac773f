import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from segments.models import Segment, TraitDefinition
from tests.factories import (
    EndUserFactory,
    ExperienceFactory,
    PublishedExperienceFactory,
    TraitDefinitionFactory,
    saved_segment,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def url(name, app, *args):
    return reverse(f"segments:{name}", args=[app.pk, *args])


def text(response):
    """The response's visible text, whitespace collapsed (for assertions on wording)."""
    html = response.content.decode()
    html = re.sub(r"<[^>]+>", " ", html)
    html = re.sub(r"\s+", " ", html).replace("&quot;", '"').replace("&#x27;", "'")
    return re.sub(r" ([,.:;])", r"\1", html)


def rule_data(*rules, **fields):
    """Form data: fields plus rule rows (trait, operator, value[, case]) at indexes 0, 1..."""
    data = {"name": "", "description": "", **fields}
    data["rules"] = [str(i) for i in range(len(rules))]
    for i, rule in enumerate(rules):
        data[f"rules-{i}-trait"] = rule[0]
        data[f"rules-{i}-operator"] = rule[1]
        data[f"rules-{i}-value"] = rule[2]
        if len(rule) > 3 and rule[3]:
            data[f"rules-{i}-case_sensitive"] = "on"
    return data


# --- Segments list -----------------------------------------------------------------------


def test_list__everyone_first_and_marked__rules_in_words__counts(client, app):
    pro_admins = saved_segment(
        app, "Pro Plan Admins", [("plan", "equals", "pro"), ("role", "equals", "admin")]
    )
    saved_segment(app, "Aardvarks", [("plan", "equals", "free")])
    PublishedExperienceFactory(application=app).segments.add(pro_admins)
    ExperienceFactory(application=app).segments.add(pro_admins)

    page = text(client.get(url("list", app)))

    assert page.index("Everyone Built-in") < page.index("Aardvarks") < page.index("Pro Plan")
    assert 'Pro Plan Admins plan equals "pro" AND role equals "admin" 2 2 experiences' in page
    assert "Everyone Built-in Every identified user. All identified users 10" in page
    assert 'Aardvarks plan equals "free" 6 —' in page


def test_list__search_and_trait_filter__keep_the_url_and_swap_only_the_results(client, app):
    saved_segment(app, "Pro Plan Admins", [("plan", "equals", "pro")])
    saved_segment(app, "Admins", [("role", "equals", "admin")])

    response = client.get(
        url("list", app), {"q": "admin", "trait": "plan"}, headers={**HTMX, "HX-Target": "results"}
    )

    body = response.content.decode()
    assert "<html" not in body and "<table" in body
    assert "Pro Plan Admins" in body and ">Admins<" not in body and "Everyone" not in body
    # The filter form pushes its query into the URL; a bookmarked URL renders the full page.
    full = client.get(url("list", app), {"q": "admin", "trait": "plan"}).content.decode()
    assert "<html" in full and 'value="admin"' in full
    assert '<option value="plan" selected>' in full
    assert 'hx-push-url="true"' in full


def test_list__trait_filter_offers_only_this_applications_traits(client, app):
    TraitDefinitionFactory(key="elsewhere")  # another application's
    page = client.get(url("list", app)).content.decode()
    assert '<option value="plan"' in page and "elsewhere" not in page
    # Another application's key is refused by the filter, not used.
    response = client.get(url("list", app), {"trait": "elsewhere"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_list__query_count_does_not_grow_with_segments(client, app, django_assert_num_queries):
    saved_segment(app, "Only", [("plan", "equals", "pro")])
    # session, user, application, switcher, page count, segments (+ experience counts),
    # rules with traits, groups, segment conditions, event, experience and company users
    # rules, user counts (all segments at once), trait choices
    with django_assert_num_queries(14):
        client.get(url("list", app))
    experience = PublishedExperienceFactory(application=app)
    for n in range(48):  # 50 with Everyone and "Only"
        segment = saved_segment(
            app, f"Segment {n:02d}", [("plan", "equals", "pro"), ("teamSize", "greater_than", n)]
        )
        experience.segments.add(segment)
    with django_assert_num_queries(14):
        response = client.get(url("list", app))
    assert Segment.objects.filter(application=app).count() == 50
    assert text(response).count("1 experience") == 48


# --- Create Segment ----------------------------------------------------------------------


def test_create__the_form_starts_with_one_empty_rule_and_a_preview(client, app):
    page = client.get(url("create", app)).content.decode()
    assert '<label for="id_name">Name</label>' in page
    assert '<label for="id_description">Description</label>' in page
    assert 'name="rules" value="0"' in page
    assert '<label for="id_rules-0-trait">Trait</label>' in page
    assert "Add rule" in page and "Save segment" in page
    assert "Matches <strong>10</strong> of 10 users" in page
    assert "Rule 1 is not counted yet: choose a trait of this application." in page


def test_create__saves_and_leads_to_the_segment_page(client, app):
    data = rule_data(("plan", "equals", "pro"), ("role", "equals", "admin"), name="Pro Plan Admins")
    response = client.post(url("create", app), data)

    segment = Segment.objects.get(application=app, name="Pro Plan Admins")
    assert response.status_code == 302
    assert response.url == url("detail", app, segment.pk)
    assert segment.describe() == 'plan equals "pro" AND role equals "admin"'


def test_create__rows_keep_document_order_whatever_their_indexes(client, app):
    data = {
        "name": "Ordered",
        "rules": ["7", "2"],
        "rules-7-trait": "role",
        "rules-7-operator": "equals",
        "rules-7-value": "admin",
        "rules-2-trait": "plan",
        "rules-2-operator": "in",
        "rules-2-value": "pro, free",
        "rules-2-case_sensitive": "on",
    }
    client.post(url("create", app), data)
    segment = Segment.objects.get(name="Ordered")
    assert segment.describe() == 'role equals "admin" AND plan is one of "pro", "free" (match case)'


@pytest.mark.parametrize(
    ("fields", "rules", "field_id", "message"),
    [
        ({"name": "  "}, [("plan", "equals", "pro")], "id_name", "Give the segment a name."),
        (
            {"name": "everyone"},
            [("plan", "equals", "pro")],
            "id_name",
            'A segment named "everyone" already exists.',
        ),
        (
            {"name": "Big"},
            [("plan", "equals", "pro"), ("teamSize", "greater_than", "ten")],
            "id_rules-1-value",
            "Rule 2 (teamSize is greater than): needs a number, not &#x27;ten&#x27;.",
        ),
        (
            {"name": "Listed"},
            [("plan", "in", " , ")],
            "id_rules-0-value",
            "Rule 1 (plan is one of): needs a list of at least one value.",
        ),
        (
            {"name": "No trait"},
            [("", "", "")],
            "id_rules-0-trait",
            "Rule 1: choose a trait of this application.",
        ),
    ],
)
def test_create__errors_show_at_the_field_that_caused_them_and_nothing_is_saved(
    client, app, fields, rules, field_id, message
):
    before = Segment.objects.count()
    response = client.post(url("create", app), rule_data(*rules, **fields))

    assert response.status_code == 400
    assert Segment.objects.count() == before
    page = response.content.decode()
    message = escape(message).replace("&amp;#x27;", "&#x27;")
    assert message in page
    # The input is marked invalid and points at its message.
    tag = re.search(rf'<(input|select)[^>]*id="{field_id}"[^>]*>', page).group()
    assert 'aria-invalid="true"' in tag
    error_id = re.search(r'aria-describedby="([^"]+)"', tag).group(1)
    assert re.search(rf'id="{error_id}">\s*{re.escape(message)}', page)
    # What was typed is kept.
    for rule in rules:
        if rule[2].strip():
            assert f'value="{rule[2]}"' in page


@pytest.mark.parametrize("length", [101, 201, 5000])
def test_create__an_over_long_name_is_refused_for_its_length_and_shown_whole(client, app, length):
    name = "n" * length
    response = client.post(url("create", app), rule_data(("plan", "equals", "pro"), name=name))

    assert response.status_code == 400
    assert "Keep the name under 100 characters." in text(response)
    assert not Segment.objects.filter(name=name).exists()
    # The browser does not cut a pasted name short without a word (no maxlength).
    tag = re.search(r'<input[^>]*id="id_name"[^>]*>', response.content.decode()).group()
    assert f'value="{name}"' in tag and "maxlength" not in tag


def test_create__add_rule_without_javascript_adds_a_row_and_saves_nothing(client, app):
    data = rule_data(("plan", "equals", "pro"), name="Later", add_rule="1")
    response = client.post(url("create", app), data)
    assert response.status_code == 200
    assert not Segment.objects.filter(name="Later").exists()
    page = response.content.decode()
    assert 'name="rules" value="1"' in page and 'value="pro"' in page


# --- Rule rows ---------------------------------------------------------------------------


def row(client, app, **params):
    return client.get(url("rule_row", app), {"rules": "0", **params}, headers=HTMX)


def operators(html):
    select = re.search(r'name="rules-0-operator".*?</select>', html, re.S).group()
    return re.findall(r'<option value="([^"]*)"', select)


def test_rule_row__operators_fit_the_traits_type(client, app):
    TraitDefinitionFactory(application=app, key="beta", type="boolean")
    TraitDefinitionFactory(application=app, key="signup", type="date")
    string = row(client, app, **{"rules-0-trait": "plan"}).content.decode()
    number = row(client, app, **{"rules-0-trait": "teamSize"}).content.decode()
    boolean = row(client, app, **{"rules-0-trait": "beta"}).content.decode()
    date = row(client, app, **{"rules-0-trait": "signup"}).content.decode()

    assert "contains" in operators(string) and "greater_than" not in operators(string)
    assert "greater_than" in operators(number) and "contains" not in operators(number)
    assert operators(boolean) == ["is_true", "is_false", "is_set", "is_not_set"]
    assert "within_last_days" in operators(date)
    # Match case only on string operators; a boolean's is_true needs no value.
    assert "Match case" in string and "Match case" not in number
    assert "No value needed" in boolean and 'name="rules-0-value"' not in boolean


def test_rule_row__the_value_input_fits_the_operator(client, app):
    TraitDefinitionFactory(application=app, key="signup", type="date")

    def value_input(**params):
        html = row(client, app, **params).content.decode()
        return re.search(r'<input id="id_rules-0-value"[^>]*>', html).group()

    assert 'type="date"' in value_input(**{"rules-0-trait": "signup", "rules-0-operator": "before"})
    days = value_input(**{"rules-0-trait": "signup", "rules-0-operator": "within_last_days"})
    assert 'type="number"' in days and 'min="1"' in days
    assert 'inputmode="decimal"' in value_input(
        **{"rules-0-trait": "teamSize", "rules-0-operator": "equals"}
    )
    listed = value_input(**{"rules-0-trait": "plan", "rules-0-operator": "in"})
    assert "value-hint" in listed


def test_rule_row__a_trait_change_resets_an_operator_that_no_longer_fits(client, app):
    html = row(
        client, app, **{"rules-0-trait": "teamSize", "rules-0-operator": "contains"}
    ).content.decode()
    assert '<option value="equals" selected>' in html


def test_rule_row__tells_the_preview_to_refresh_after_the_swap(client, app):
    response = row(client, app, **{"rules-0-trait": "plan"})
    assert "rules-changed" in response.headers["HX-Trigger-After-Settle"]
    assert "<html" not in response.content.decode()


def test_rule_row__add_gives_a_fresh_index(client, app):
    response = client.get(
        url("rule_row", app), {"rules": ["0", "4"], "add": "1"}, headers=HTMX
    ).content.decode()
    assert 'name="rules" value="5"' in response and "autofocus" in response


# --- Preview -----------------------------------------------------------------------------


def preview(client, app, *rules, **params):
    return client.get(url("preview", app), {**rule_data(*rules), **params}, headers=HTMX)


def test_preview__counts_the_funnel_rule_by_rule(client, app):
    page = text(preview(client, app, ("plan", "equals", "pro"), ("role", "equals", "admin")))
    assert "Matches 2 of 10 users" in page
    assert 'Rule 1: plan equals "pro" 4' in page
    assert 'Rule 2: role equals "admin" 2' in page
    assert "u00" in page and "u01" in page and "u02" not in page


def test_preview__when_counting_every_rule_is_too_slow__shows_bounded_counts(
    client, app, monkeypatch
):
    from segments import selectors
    from segments.counting import DeadlineExceeded

    def too_slow(*args, **kwargs):
        raise DeadlineExceeded

    monkeypatch.setattr(selectors, "count_users", too_slow)
    page = text(preview(client, app, ("plan", "equals", "pro"), ("role", "equals", "admin")))
    assert "Matches 2 of 10 users" in page
    assert "Counting every rule took too long at this size" in page
    assert "Rule by rule" not in page


def test_preview__skips_incomplete_rows_and_says_so(client, app):
    page = text(preview(client, app, ("plan", "equals", "pro"), ("teamSize", "greater_than", "")))
    assert "Matches 4 of 10 users" in page
    assert "Rule 2 is not counted yet: needs a number, not ''." in page


def test_preview__shows_at_most_ten_sample_users(client, app):
    for _ in range(15):
        EndUserFactory(application=app, traits={"plan": "pro"})
    page = preview(client, app, ("plan", "equals", "pro")).content.decode()
    assert page.count("/users/") == 10


def test_preview__when_editing__shows_who_enters_and_leaves_and_published_experiences(client, app):
    segment = saved_segment(app, "Admins", [("role", "equals", "admin")])
    PublishedExperienceFactory(application=app, name="Admin tour").segments.add(segment)
    ExperienceFactory(application=app, name="Draft thing").segments.add(segment)

    page = text(preview(client, app, ("plan", "equals", "pro"), segment=segment.pk))
    # Admins: u00 u01 u04; pro: u00..u03 -> u02 u03 enter, u04 leaves.
    assert "+2 users enter, −1 user leave (now 3)" in page
    assert "Published experiences using this segment: Admin tour" in page
    assert "Draft thing" not in page


def test_preview__the_builtin_segment_cannot_be_previewed_for_edit(client, app):
    response = preview(client, app, segment=app.everyone.pk)
    assert response.status_code == 404


def test_preview__without_htmx_opens_the_form_prefilled(client, app):
    response = client.get(url("preview", app), rule_data(("plan", "equals", "pro")))
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert 'value="pro"' in page and "Matches <strong>4</strong>" in page


# --- Edit, delete, Everyone --------------------------------------------------------------


def test_edit__prefills_the_form_and_saves(client, app):
    segment = saved_segment(app, "Admins", [("plan", "in", ["pro", "free"], True)])
    page = client.get(url("edit", app, segment.pk)).content.decode()
    assert 'value="Admins"' in page and 'value="pro, free"' in page
    assert re.search(r'name="rules-0-case_sensitive" checked', page)
    assert "If you save" in page

    data = rule_data(("role", "equals", "admin"), name="Admins only")
    response = client.post(url("edit", app, segment.pk), data)
    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.name == "Admins only"
    assert segment.describe() == 'role equals "admin"'


def test_edit__an_invalid_edit_changes_nothing(client, app):
    segment = saved_segment(app, "Admins", [("role", "equals", "admin")])
    response = client.post(url("edit", app, segment.pk), rule_data(("teamSize", "in", "")))
    assert response.status_code == 400
    segment = Segment.objects.get(pk=segment.pk)
    assert segment.name == "Admins" and segment.describe() == 'role equals "admin"'


def test_everyone__has_no_edit_or_delete_button_and_the_server_refuses(client, app):
    everyone = app.everyone
    page = client.get(url("detail", app, everyone.pk)).content.decode()
    assert "Edit segment" not in page and "Delete segment" not in page
    assert client.get(url("edit", app, everyone.pk)).status_code == 403
    assert client.post(url("edit", app, everyone.pk), rule_data(name="Mine")).status_code == 403
    assert client.get(url("delete", app, everyone.pk)).status_code == 403
    assert client.post(url("delete", app, everyone.pk)).status_code == 403
    everyone.refresh_from_db()
    assert everyone.name == "Everyone"


def test_everyone__its_edit_url_answers_a_page_saying_why_with_a_way_back(client, app):
    everyone = app.everyone
    response = client.get(url("edit", app, everyone.pk))
    assert response.status_code == 403
    html = response.content.decode()
    assert 'rel="stylesheet"' in html  # the app's layout, not a bare 403
    assert "is built in" in text(response) and "cannot be edited or deleted" in text(response)
    assert f'href="{url("detail", app, everyone.pk)}"' in html
    assert client.get(url("delete", app, everyone.pk)).content.decode().count("is built in") == 1


def test_list__offers_no_edit_link_for_everyone(client, app):
    html = client.get(url("list", app)).content.decode()
    assert url("edit", app, app.everyone.pk) not in html


def test_delete__asks_for_confirmation(client, app):
    segment = saved_segment(app, "Admins", [("role", "equals", "admin")])

    page = text(client.get(url("delete", app, segment.pk)))
    assert "Delete “Admins”?" in page
    assert Segment.objects.filter(pk=segment.pk).exists()

    response = client.post(url("delete", app, segment.pk))
    assert response.url == url("list", app)
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_delete__a_segment_in_use_is_refused_naming_where(client, app):
    from segments import actions

    segment = saved_segment(app, "Admins", [("role", "equals", "admin")])
    PublishedExperienceFactory(application=app, name="Admin tour").segments.add(segment)
    actions.segment_create(
        application=app,
        name="Not admins",
        definition={"match": "none", "rules": [{"segment": segment.pk}]},
    )

    page = text(client.get(url("delete", app, segment.pk)))
    assert "“Admins” is in use" in page
    assert "used by 1 experience: Admin tour (published); by 1 segment: Not admins." in page
    assert "Delete segment" not in page

    response = client.post(url("delete", app, segment.pk))
    assert response.status_code == 409
    assert Segment.objects.filter(pk=segment.pk).exists()


# --- Segment page ------------------------------------------------------------------------


def test_detail__rules_count_members_and_experiences(client, app):
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")], description="Paying teams")
    PublishedExperienceFactory(application=app, name="Pro tour").segments.add(segment)
    page = text(client.get(url("detail", app, segment.pk)))
    assert 'Rules 1 plan equals "pro"' in page
    assert "Members 4 users match today" in page
    assert "Pro tour Published" in page
    assert "u00" in page and "u03" in page and "u04" not in page


def test_detail__members_search_by_id_and_trait_swaps_the_members(client, app):
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])
    response = client.get(
        url("detail", app, segment.pk),
        {"q": "u0", "trait": "role", "value": "ADMIN"},
        headers={**HTMX, "HX-Target": "members"},
    )
    body = response.content.decode()
    assert "<html" not in body
    assert "u00" in body and "u01" in body and "u02" not in body and "u04" not in body


def test_detail__members_are_paginated(client, app):
    for n in range(30):
        EndUserFactory(application=app, external_id=f"z{n:02d}", traits={"plan": "pro"})
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])
    first = text(client.get(url("detail", app, segment.pk)))
    assert "Page 1 of 2 · 34 in all" in first
    second = text(client.get(url("detail", app, segment.pk), {"page": 2}))
    assert "z29" in second and "u00" not in second


# --- Traits ------------------------------------------------------------------------------


def test_traits__lists_definitions_with_counts_samples_and_origin(client, app):
    TraitDefinitionFactory(application=app, key="beta", type="boolean", auto_discovered=True)
    page = text(client.get(url("traits", app)))
    assert "plan — Text 10" in page
    assert "teamSize — Number 10" in page
    assert "beta — True / false 0" in page and "never" in page
    assert "Auto-discovered" in page and "Defined" in page
    sample = re.search(r"plan — Text 10 just now (.*?) Defined", page).group(1).split()
    assert set(sample) <= {"pro", "free"} and sample


def test_traits__warns_when_stored_values_do_not_fit_the_type(client, app):
    for value in ("lots", "many", True):
        EndUserFactory(application=app, traits={"teamSize": value})
    EndUserFactory(application=app, traits={"teamSize": "12"})  # reads as a number
    page = text(client.get(url("traits", app)))
    assert "3 users have a value that is not a number" in page
    # The row and its warning are one tbody, so that an inline swap replaces both.
    trait = TraitDefinition.objects.get(application=app, key="teamSize")
    row = client.get(url("trait_row", app, trait.pk), headers=HTMX).content.decode().strip()
    assert row.startswith(f'<tbody id="trait-{trait.pk}"') and row.endswith("</tbody>")
    assert row.count("<tbody") == 1 and "3 users have a value" in row


def test_traits__query_count_does_not_grow_with_traits(client, app, django_assert_num_queries):
    # session, user, application, switcher, traits, stats (all traits at once), samples
    with django_assert_num_queries(7):
        client.get(url("traits", app))
    for n in range(47):
        TraitDefinitionFactory(application=app, key=f"extra{n}", type="number")
    assert TraitDefinition.objects.filter(application=app).count() == 50
    with django_assert_num_queries(7):
        response = client.get(url("traits", app))
    assert "extra46" in response.content.decode()


def test_traits__create_inline_returns_an_empty_form_and_the_new_row(client, app):
    data = {"key": "seats", "label": "Seats", "type": "number", "description": "Paid"}
    response = client.post(url("trait_create", app), data, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Trait “seats” added." in body
    assert 'hx-swap-oob="beforeend:#traits-table"' in body
    assert re.search(
        r'<tbody id="trait-\d+" class="trait"><tr>\s*<td><code class="key">seats', body
    )
    assert 'id="id_new_key" name="key" value=""' in body
    trait = TraitDefinition.objects.get(application=app, key="seats")
    assert (trait.type, trait.label, trait.auto_discovered) == ("number", "Seats", False)


def test_traits__create_errors_show_inline(client, app):
    response = client.post(
        url("trait_create", app), {"key": "plan", "type": "string"}, headers=HTMX
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "A trait &quot;plan&quot; already exists." in body
    assert 'aria-invalid="true" aria-describedby="new-key-error"' in body
    bad = client.post(url("trait_create", app), {"key": "9 lives", "type": "string"})
    assert bad.status_code == 400 and "invalid" in bad.content.decode()


def test_traits__edit_inline_in_place(client, app):
    trait = TraitDefinition.objects.get(application=app, key="role")
    form = client.get(url("trait_edit", app, trait.pk), headers=HTMX).content.decode()
    assert form.startswith("\n") and "<html" not in form
    assert '<label for="id_label-' in form and 'name="type"' in form

    data = {"label": "Team role", "type": "string", "description": "Admin or member"}
    response = client.post(url("trait_edit", app, trait.pk), data, headers=HTMX)
    assert "Team role" in response.content.decode() and "<form" in response.content.decode()
    trait.refresh_from_db()
    assert (trait.label, trait.description) == ("Team role", "Admin or member")


def test_traits__edit_without_htmx_renders_the_page_with_the_row_open(client, app):
    trait = TraitDefinition.objects.get(application=app, key="role")
    page = client.get(url("trait_edit", app, trait.pk)).content.decode()
    assert "<html" in page and f'id="id_label-{trait.pk}"' in page
    response = client.post(url("trait_edit", app, trait.pk), {"label": "R", "type": "string"})
    assert response.status_code == 302


def test_traits__a_type_change_shows_the_segments_affected_before_saving(client, app):
    saved_segment(app, "Pro", [("plan", "equals", "pro")])
    saved_segment(app, "Has plan", [("plan", "is_set", None)])
    trait = TraitDefinition.objects.get(application=app, key="plan")

    shown = text(client.get(url("trait_edit", app, trait.pk), {"type": "date"}, headers=HTMX))
    assert "Changing plan from Text to date affects 2 segments" in shown
    assert 'Pro: “plan equals "pro"” would match nobody' in shown
    assert "Has plan: its rules still apply" in shown

    data = {"label": "", "type": "date", "description": ""}
    unconfirmed = client.post(url("trait_edit", app, trait.pk), data, headers=HTMX)
    assert "Change type and save" in unconfirmed.content.decode()
    trait.refresh_from_db()
    assert trait.type == "string"

    client.post(url("trait_edit", app, trait.pk), {**data, "confirm": "1"}, headers=HTMX)
    trait.refresh_from_db()
    assert trait.type == "date"


def test_traits__after_a_type_change_the_rules_that_no_longer_fit_match_nobody(client, app):
    saved_segment(app, "Pro", [("plan", "equals", "pro")])
    trait = TraitDefinition.objects.get(application=app, key="plan")
    data = {"label": "", "type": "number", "description": "", "confirm": "1"}
    client.post(url("trait_edit", app, trait.pk), data, headers=HTMX)

    page = text(client.get(url("list", app)))
    assert 'Pro plan equals "pro" (does not fit a number trait: matches nobody) 0 ' in page
    user = app.end_users.first()
    explained = text(client.get(url("user_detail", app, user.pk)))
    assert "this rule does not fit a number trait: it matches nobody" in explained


def test_traits__deleting_a_trait_that_rules_use_is_refused_with_their_names(client, app):
    saved_segment(app, "Pro", [("plan", "equals", "pro")])
    trait = TraitDefinition.objects.get(application=app, key="plan")
    response = client.post(url("trait_delete", app, trait.pk), headers=HTMX)
    assert response.status_code == 400
    assert 'Trait "plan" is used by the rules of "Pro".' in text(response)
    assert TraitDefinition.objects.filter(pk=trait.pk).exists()

    unused = TraitDefinition.objects.get(application=app, key="role")
    response = client.post(url("trait_delete", app, unused.pk), headers=HTMX)
    assert response.status_code == 200 and response.content == b""
    assert not TraitDefinition.objects.filter(pk=unused.pk).exists()


# --- Users -------------------------------------------------------------------------------


def test_users__search_by_id_and_filter_by_trait_value(client, app):
    page = text(client.get(url("users", app), {"trait": "plan", "value": "pro"}))
    assert "u00" in page and "u03" in page and "u04" not in page
    assert "10 identified users" in page
    by_id = text(client.get(url("users", app), {"q": "u05"}))
    assert "u05" in by_id and "u04" not in by_id
    number = text(client.get(url("users", app), {"trait": "teamSize", "value": "3"}))
    assert "u02" in number and "u03" not in number


def test_users__a_value_that_does_not_fit_the_trait_is_an_error_not_everyone(client, app):
    response = client.get(
        url("users", app),
        {"trait": "teamSize", "value": "ten"},
        headers={**HTMX, "HX-Target": "results"},
    )
    body = text(response)
    assert "teamSize needs a number, not 'ten'." in body
    assert "No user matches." in body


def test_users__query_count_does_not_grow_with_users(client, app, django_assert_num_queries):
    # session, user, application, switcher, total, page count, page, trait choices
    with django_assert_num_queries(8):
        client.get(url("users", app))
    for n in range(50):
        EndUserFactory(application=app, traits={"plan": "pro", "n": n})
    with django_assert_num_queries(8):
        client.get(url("users", app))


def test_user_page__explains_every_segment_rule_by_rule(client, app):
    TraitDefinitionFactory(application=app, key="beta", type="boolean")
    user = EndUserFactory(
        application=app, external_id="Ann", traits={"plan": "Free", "role": "admin", "beta": 1}
    )
    saved_segment(
        app, "Free admins", [("role", "equals", "admin"), ("plan", "equals", "free", True)]
    )
    saved_segment(app, "Any free", [("plan", "equals", "free")])

    page = text(client.get(url("user_detail", app, user.pk)))

    assert "plan Free Text" in page and "beta 1 True / false" in page
    assert "First seen" in page and "last seen" in page
    assert "✗ Free admins: not in this segment" in page
    assert 'rule 1 passed: role is "admin", expected equals "admin" ignoring case' in page
    assert 'rule 2 failed: plan is "Free", expected equals "free" with match case on' in page
    assert "✓ Any free: in this segment" in page
    assert "✓ Everyone: in this segment" in page


def test_user_page__says_when_a_value_does_not_fit_the_type(client, app):
    user = EndUserFactory(application=app, traits={"teamSize": "lots"})
    saved_segment(app, "Big", [("teamSize", "greater_than", 10)])
    page = text(client.get(url("user_detail", app, user.pk)))
    assert 'rule 1 failed: teamSize is "lots" (not a number), expected is greater than 10' in page


def test_user_page__query_count_does_not_grow_with_segments(client, app, django_assert_num_queries):
    user = EndUserFactory(application=app, traits={"plan": "pro"})
    for n in range(20):
        saved_segment(app, f"S{n}", [("plan", "equals", "pro"), ("role", "is_set", None)])
    # session, user, application, switcher, end user (with their company), trait definitions,
    # segments, rules, groups, segment conditions, event, experience and company users rules
    with django_assert_num_queries(13):
        client.get(url("user_detail", app, user.pk))


def test_user_page__the_url_panel_is_a_fragment(client, app):
    user = EndUserFactory(application=app)
    response = client.get(
        url("user_detail", app, user.pk),
        {"url": "https://app.example.com/settings"},
        headers={**HTMX, "HX-Target": "experiences-panel"},
    )
    assert response.status_code == 200
    assert "<html" not in response.content.decode()


def test_user_page__shows_the_experiences_the_user_would_see_on_a_url(client, app):
    user = EndUserFactory(application=app, traits={"plan": "pro"})
    segment = saved_segment(app, "Pro", [("plan", "equals", "pro")])
    PublishedExperienceFactory(
        application=app, name="Settings tour", segments=[segment], url_include=["/settings"]
    )
    PublishedExperienceFactory(
        application=app, name="Billing banner", segments=[segment], url_include=["/billing"]
    )
    response = client.get(
        url("user_detail", app, user.pk),
        {"url": "https://app.example.com/settings"},
        headers={**HTMX, "HX-Target": "experiences-panel"},
    )
    page = text(response)
    assert "Settings tour: shown — in segment Pro; URL matches /settings" in page
    assert "Billing banner: not shown — URL /settings matches no include pattern" in page


def test_user_page__a_url_that_is_not_one_is_said_so(client, app):
    user = EndUserFactory(application=app)
    page = text(client.get(url("user_detail", app, user.pk), {"url": "http://[oops"}))
    assert "That is not a URL or a path" in page


# --- Navigation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "current"),
    [("list", "Segments"), ("create", "Segments"), ("traits", "Traits"), ("users", "Users")],
)
def test_the_sidebar_marks_the_current_section(client, app, name, current):
    page = client.get(url(name, app)).content.decode()
    marked = re.findall(r'aria-current="page">([^<]+)</a>', page)
    assert marked == [current]


def test_between__shows_from_and_to_inputs_and_saves_both_ends(client, app):
    TraitDefinitionFactory(application=app, key="signup", type="date")
    number = row(client, app, **{"rules-0-trait": "teamSize", "rules-0-operator": "between"})
    date = row(client, app, **{"rules-0-trait": "signup", "rules-0-operator": "between"})
    for html in (number.content.decode(), date.content.decode()):
        assert '<label for="id_rules-0-value">From</label>' in html
        assert '<label for="id_rules-0-value_to">To</label>' in html
    assert html.count('type="date"') == 2

    data = rule_data(("teamSize", "between", "3"), name="Mid-size teams")
    data["rules-0-value_to"] = "5"
    response = client.post(url("create", app), data)

    segment = Segment.objects.get(application=app, name="Mid-size teams")
    assert response.status_code == 302
    assert segment.rules.get().value == [3, 5]
    assert segment.describe() == "teamSize is between 3 and 5"
    assert segment.members().count() == 3  # teamSize 3, 4 and 5


def test_between__a_low_end_above_the_high_end_is_an_inline_error(client, app):
    data = rule_data(("teamSize", "between", "50"), name="Backwards")
    data["rules-0-value_to"] = "10"
    response = client.post(url("create", app), data)

    assert response.status_code == 400
    assert "the low end is above the high end" in text(response)
    assert not Segment.objects.filter(name="Backwards").exists()
