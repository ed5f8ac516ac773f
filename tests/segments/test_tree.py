"""Definitions as trees: checking one for saving, reading stored ones, evaluating groups."""

import pytest

from segments.evaluator import Condition
from segments.tree import (
    DefinitionError,
    Group,
    Ref,
    as_json,
    clean,
    evaluate,
    explain,
    parse,
)

TRAITS = {"plan": "string", "role": "string", "teamSize": "number", "employee": "boolean"}
NAMES = {1: "Free", 2: "Admins", 3: "Free admins", 4: "Big", 5: "Deep"}


def checked(definition, stored=None, this=None):
    return clean(definition, trait_types=TRAITS, segments=stored or {}, names=NAMES, this=this)


def errors_of(definition, **kwargs):
    with pytest.raises(DefinitionError) as raised:
        checked(definition, **kwargs)
    return raised.value.errors


FREE_ADMINS_OR_BIG_NOT_EMPLOYEES = {
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
                {"trait": "teamSize", "operator": "greater_than", "value": "50"},
            ],
        },
        {"match": "none", "rules": [{"trait": "employee", "operator": "is_true"}]},
    ],
}


def test_free_admins_or_large_teams_but_not_employees():
    definition = checked(FREE_ADMINS_OR_BIG_NOT_EMPLOYEES)
    assert definition["rules"][0]["rules"][1]["value"] == 50  # normalised
    tree = parse(definition, TRAITS)
    yes = [
        {"plan": "Free", "role": "admin"},
        {"teamSize": 51},
        {"teamSize": 80, "employee": False},
    ]
    no = [{"plan": "free", "role": "member"}, {"teamSize": 80, "employee": True}, {}]
    assert all(evaluate(tree, t, 0.0, lambda s: None) for t in yes)
    assert not any(evaluate(tree, t, 0.0, lambda s: None) for t in no)
    verdict = explain(tree, {"teamSize": 80, "employee": True}, 0.0, lambda s: None)
    assert [c.passed for c in verdict.children] == [True, False]


def test_a_stored_definition_reads_back_as_it_was_saved():
    definition = checked(FREE_ADMINS_OR_BIG_NOT_EMPLOYEES)
    assert as_json(parse(definition, TRAITS)) == definition


def test_only_the_top_all_group_may_be_empty():
    assert checked({"match": "all", "rules": []}) == {"match": "all", "rules": []}
    assert errors_of({"match": "any", "rules": []}) == {
        "definition.rules": ["a group needs at least one rule"]
    }
    nested = {"match": "all", "rules": [{"match": "none", "rules": []}]}
    assert errors_of(nested) == {"definition.rules[0].rules": ["a group needs at least one rule"]}


def test_groups_nest_at_most_three_levels_below_the_top():
    rule = {"trait": "plan", "operator": "is_set"}
    three = {"match": "all", "rules": [rule]}
    for _ in range(3):
        three = {"match": "any", "rules": [three]}
    checked(three)
    errors = errors_of({"match": "all", "rules": [three]})
    assert errors == {
        "definition.rules[0].rules[0].rules[0].rules[0]": [
            "groups nest at most 3 levels below the top"
        ]
    }


def test_errors_name_their_path_in_the_body():
    errors = errors_of(
        {
            "match": "all",
            "rules": [
                {"trait": "plan", "operator": "equals", "value": "free"},
                {"trait": "nope", "operator": "equals", "value": "x"},
                {
                    "match": "any",
                    "rules": [{"trait": "teamSize", "operator": "greater_than", "value": "x"}],
                },
            ],
        }
    )
    assert errors == {
        "definition.rules[1].trait": ["no trait 'nope' in this application"],
        "definition.rules[2].rules[0].value": ["needs a number, not 'x'"],
    }


def test_an_unknown_segment_and_another_applications_segment_are_refused_alike():
    assert errors_of({"match": "all", "rules": [{"segment": 77}]}) == {
        "definition.rules[0].segment": ["no such segment"]
    }


def test_a_cycle_is_refused_naming_its_path():
    stored = {
        1: {"match": "all", "rules": [{"segment": 2}]},
        2: {"match": "all", "rules": [{"trait": "role", "operator": "is_set"}]},
        3: {"match": "all", "rules": [{"segment": 1}]},
    }
    # Editing segment 2 to reference 3, which references 1, which references 2.
    errors = errors_of({"match": "all", "rules": [{"segment": 3}]}, stored=stored, this=2)
    assert errors == {
        "definition.rules[0].segment": ["would make a cycle: Admins → Free admins → Free → Admins"]
    }
    assert errors_of({"match": "all", "rules": [{"segment": 2}]}, stored=stored, this=2)


def test_reference_chains_are_at_most_five_deep():
    # 1 -> 2 -> 3 -> 4 -> 5: a new segment may reference 1 (five references in a row) ...
    stored = {k: {"match": "all", "rules": [{"segment": k + 1}]} for k in range(1, 5)}
    stored[5] = {"match": "all", "rules": []}
    stored[6] = {"match": "all", "rules": [{"segment": 7}]}
    stored[7] = {"match": "all", "rules": []}
    checked({"match": "all", "rules": [{"segment": 1}]}, stored=stored)
    checked({"match": "all", "rules": [{"segment": 7}]}, stored=stored, this=5)
    # ... but 5 may not reference 6: from 1, 1 -> 2 -> 3 -> 4 -> 5 -> 6 -> 7 would be six.
    assert errors_of({"match": "all", "rules": [{"segment": 6}]}, stored=stored, this=5) == {
        "definition.rules[0].segment": ["a chain of segment references is at most 5 long"]
    }


def test_a_reference_is_the_referenced_segments_current_definition():
    tree = parse({"match": "none", "rules": [{"segment": 1}]}, TRAITS)
    free = parse(
        {"match": "all", "rules": [{"trait": "plan", "operator": "equals", "value": "free"}]},
        TRAITS,
    )
    assert tree == Group("none", (Ref(1),))
    assert not evaluate(tree, {"plan": "free"}, 0.0, {1: free}.get)
    assert evaluate(tree, {"plan": "pro"}, 0.0, {1: free}.get)
    # A reference to a segment that is gone matches nobody (so "none" of it is everyone).
    assert evaluate(tree, {"plan": "free"}, 0.0, {}.get)


def test_unreadable_stored_nodes_match_nobody():
    tree = parse({"match": "all", "rules": [{"trait": "gone", "operator": "is_set"}]}, TRAITS)
    assert not evaluate(tree, {"gone": 1}, 0.0, lambda s: None)
    assert not evaluate(parse({"match": "sometimes"}, TRAITS), {}, 0.0, lambda s: None)
    assert (
        Condition("plan", "string", "is_set")
        in parse({"match": "all", "rules": [{"trait": "plan", "operator": "is_set"}]}, TRAITS).nodes
    )
