import pytest
from django.http import QueryDict

from segments.evaluator import Condition
from segments.forms import (
    RuleRow,
    attach_errors,
    new_row,
    parse_rules,
    preview_conditions,
    rows_from_segment,
    value_text,
)
from segments.models import TraitDefinition

PLAN = TraitDefinition(key="plan", type="string")
SIZE = TraitDefinition(key="teamSize", type="number")
BETA = TraitDefinition(key="beta", type="boolean")
TRAITS = {t.key: t for t in (PLAN, SIZE, BETA)}


def query(**pairs):
    data = QueryDict(mutable=True)
    for key, value in pairs.items():
        data.setlist(key.replace("__", "-"), value if isinstance(value, list) else [value])
    return data


def test_parse_rules__reads_rows_in_document_order_and_numbers_them():
    data = query(
        rules=["5", "1"],
        rules__5__trait="plan",
        rules__5__operator="contains",
        rules__5__value="Acme",
        rules__5__case_sensitive="on",
        rules__1__trait="teamSize",
        rules__1__operator="greater_than",
        rules__1__value="10",
    )
    first, second = parse_rules(data, TRAITS)
    assert (first.index, first.number, first.trait, first.case_sensitive) == (5, 1, PLAN, True)
    assert (second.index, second.number, second.value) == (1, 2, "10")


def test_parse_rules__ignores_garbage_and_repeated_indexes():
    data = query(rules=["x", "-1", "0", "0"], rules__0__trait="nope")
    (row,) = parse_rules(data, TRAITS)
    assert row.trait is None and row.operators == [] and row.operator == ""


def test_parse_rules__an_operator_that_does_not_fit_the_trait_becomes_its_first():
    (row,) = parse_rules(
        query(rules="0", rules__0__trait="beta", rules__0__operator="equals"), TRAITS
    )
    assert row.operator == "is_true"
    assert row.value_kind == "none"


def test_parse_rules__match_case_is_dropped_where_it_does_not_apply():
    data = query(
        rules="0",
        rules__0__trait="teamSize",
        rules__0__operator="equals",
        rules__0__case_sensitive="on",
    )
    (row,) = parse_rules(data, TRAITS)
    assert not row.case_applies and not row.case_sensitive


@pytest.mark.parametrize(
    ("trait", "operator", "value", "expected"),
    [
        (PLAN, "in", "free, pro ,, enterprise", ["free", "pro", "enterprise"]),
        (PLAN, "equals", " free ", " free "),
        (SIZE, "greater_than", "10", "10"),
        (PLAN, "is_set", "left over", None),
    ],
)
def test_as_input__is_what_the_actions_take(trait, operator, value, expected):
    row = RuleRow(index=0, trait=trait, operator=operator, value=value)
    assert row.as_input() == {
        "trait": trait.key,
        "operator": operator,
        "value": expected,
        "case_sensitive": False,
    }


def test_value_inputs_fit_the_operator():
    def kind(trait, operator):
        return RuleRow(index=0, trait=trait, operator=operator).value_input

    assert kind(SIZE, "equals") == {"type": "text", "inputmode": "decimal", "hint": ""}
    date = TraitDefinition(key="signup", type="date")
    assert kind(date, "before")["type"] == "date"
    assert kind(date, "within_last_days") == {
        "type": "number",
        "inputmode": "numeric",
        "hint": "days",
    }
    assert kind(date, "more_than_days_ago")["hint"] == "days ago"
    assert kind(PLAN, "in")["hint"] == "Separate values with commas"


def test_new_row__takes_an_unused_index_and_the_next_number():
    rows = [RuleRow(index=3), RuleRow(index=0, number=2)]
    row = new_row(rows)
    assert (row.index, row.number) == (4, 3)
    assert new_row([]).index == 0


def test_attach_errors__goes_to_the_nth_row_whatever_its_index():
    rows = [RuleRow(index=7), RuleRow(index=2)]
    attach_errors(
        rows,
        {"name": ["x"], "rules.1.value": ["needs a number"], "rules.9.trait": ["gone"]},
    )
    assert rows[0].errors == {}
    assert rows[1].value_errors == ["needs a number"]


def test_preview_conditions__keep_the_valid_rows_with_their_numbers():
    from segments.models import Rule

    rows = [RuleRow(index=0, number=1), RuleRow(index=1, number=2)]
    rule = Rule(trait=PLAN, operator="equals", value="pro")
    assert preview_conditions(rows, [None, rule]) == [
        (2, Condition("plan", "string", "equals", "pro"))
    ]


def test_value_text__shows_stored_values_as_typed():
    assert value_text(["pro", "free"]) == "pro, free"
    assert value_text([1, 2.5]) == "1, 2.5"
    assert value_text(10.0) == "10"
    assert value_text(None) == ""


@pytest.mark.django_db
def test_rows_from_segment__round_trip_through_the_form():
    from tests.factories import ApplicationFactory, TraitDefinitionFactory, saved_segment

    application = ApplicationFactory()
    TraitDefinitionFactory(application=application, key="plan")
    TraitDefinitionFactory(application=application, key="teamSize", type="number")
    segment = saved_segment(
        application,
        "Big pro",
        [("plan", "in", ["pro", "enterprise"], True), ("teamSize", "greater_than", 10)],
    )
    rows = rows_from_segment(segment)
    assert [row.as_input() for row in rows] == [
        {"trait": "plan", "operator": "in", "value": ["pro", "enterprise"], "case_sensitive": True},
        {"trait": "teamSize", "operator": "greater_than", "value": "10", "case_sensitive": False},
    ]
