"""Lint: warnings about a definition, never blocking a save."""

from datetime import UTC, datetime

from segments.coerce import now_seconds
from segments.lint import lint
from segments.tree import parse

NOW = now_seconds(datetime(2026, 11, 28, 12, tzinfo=UTC))
TRAITS = {"plan": "string", "teamSize": "number", "signup": "date", "role": "string"}


def warnings(definition, **kwargs):
    tree = parse(definition, TRAITS)
    return [(w.path, w.message) for w in lint(tree, now=NOW, **kwargs)]


def rule(trait, operator, value=None):
    return {"trait": trait, "operator": operator, "value": value}


NEVER = "This group can never match: its rules contradict each other."


def test_contradictory_rules_in_an_all_group():
    assert warnings(
        {"match": "all", "rules": [rule("plan", "equals", "free"), rule("plan", "equals", "pro")]}
    ) == [("definition", NEVER)]
    assert warnings(
        {
            "match": "all",
            "rules": [rule("teamSize", "greater_than", 50), rule("teamSize", "less_than", 10)],
        }
    ) == [("definition", NEVER)]
    days = [rule("signup", "within_last_days", 7), rule("signup", "more_than_days_ago", 30)]
    assert warnings({"match": "all", "rules": days}) == [("definition", NEVER)]


def test_compatible_rules_are_not_flagged():
    assert (
        warnings(
            {
                "match": "all",
                "rules": [rule("plan", "in", ["free", "pro"]), rule("plan", "equals", "pro")],
            }
        )
        == []
    )
    assert (
        warnings(
            {
                "match": "all",
                "rules": [
                    rule("teamSize", "greater_than_or_equal", 10),
                    rule("teamSize", "less_than_or_equal", 10),
                ],
            }
        )
        == []
    )
    # In an "any" group the same two rules are fine.
    assert (
        warnings(
            {
                "match": "any",
                "rules": [rule("plan", "equals", "free"), rule("plan", "equals", "pro")],
            }
        )
        == []
    )


def test_an_any_group_whose_every_node_never_matches():
    inner = {
        "match": "all",
        "rules": [rule("teamSize", "greater_than", 5), rule("teamSize", "less_than", 5)],
    }
    assert warnings({"match": "all", "rules": [{"match": "any", "rules": [inner]}]}) == [
        ("definition.rules[0].rules[0]", NEVER),
        ("definition.rules[0]", "This group can never match: none of its rules can."),
    ]


def test_is_set_beside_another_rule_on_the_trait_is_always_true():
    found = warnings(
        {"match": "all", "rules": [rule("plan", "is_set"), rule("plan", "equals", "pro")]}
    )
    assert found == [
        ("definition.rules[0]", "Always true here: the other rules on plan need a value already.")
    ]


def test_a_repeated_node_a_trait_no_user_has_and_an_empty_referenced_segment():
    found = warnings(
        {
            "match": "any",
            "rules": [
                rule("role", "equals", "admin"),
                rule("role", "equals", "admin"),
                {"segment": 9},
            ],
        },
        traits_in_use=lambda keys: set(),
        segment_empty=lambda segment: segment == 9,
    )
    assert found == [
        ("definition.rules[0]", "No user has the trait role yet."),
        ("definition.rules[1]", "Repeats rule 1 of this group."),
        ("definition.rules[1]", "No user has the trait role yet."),
        ("definition.rules[2]", "This segment has no members today."),
    ]
