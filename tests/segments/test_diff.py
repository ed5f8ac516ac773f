"""segments/diff.py: what changed between two versions, in words (no database)."""

from segments.diff import diff


def version(rules, match="all", name="Big teams", description=""):
    return {
        "name": name,
        "description": description,
        "definition": {"match": match, "rules": rules},
    }


PLAN = {"trait": "plan", "operator": "equals", "value": "free", "case_sensitive": False}
TEAM_10 = {"trait": "teamSize", "operator": "greater_than", "value": 10, "case_sensitive": False}
TEAM_20 = {**TEAM_10, "value": 20}
TYPES = {"plan": "string", "teamSize": "number"}


def test_the_same_definition__no_change():
    assert diff(version([PLAN, TEAM_10]), version([PLAN, TEAM_10]), trait_types=TYPES) == []


def test_a_value_changed__says_the_rule_before_and_after():
    lines = diff(version([PLAN, TEAM_10]), version([PLAN, TEAM_20]), trait_types=TYPES)
    assert lines == ["rule 2: `teamSize is greater than 10` → `teamSize is greater than 20`"]


def test_a_rule_inserted__reads_as_one_rule_added_not_every_rule_after_it_changed():
    lines = diff(version([PLAN, TEAM_10]), version([TEAM_20, PLAN, TEAM_10]), trait_types=TYPES)
    assert lines == ["rule 1 added: `teamSize is greater than 20`"]


def test_a_rule_removed():
    lines = diff(version([PLAN, TEAM_10]), version([PLAN]), trait_types=TYPES)
    assert lines == ["rule 2 removed: `teamSize is greater than 10`"]


def test_a_group_added__says_its_match():
    group = {"match": "any", "rules": [PLAN, TEAM_10]}
    lines = diff(version([PLAN]), version([PLAN, group]), trait_types=TYPES)
    assert lines == [
        'group 2 (any of the rules) added: `(plan equals "free" OR teamSize is greater than 10)`'
    ]


def test_a_rule_changed_inside_a_group__is_numbered_as_the_builder_numbers_it():
    before = version([PLAN, {"match": "any", "rules": [PLAN, TEAM_10]}])
    after = version([PLAN, {"match": "any", "rules": [PLAN, TEAM_20]}])
    lines = diff(before, after, trait_types=TYPES)
    assert lines == ["rule 2.2: `teamSize is greater than 10` → `teamSize is greater than 20`"]


def test_a_group_match_changed():
    before = version([{"match": "any", "rules": [PLAN, TEAM_10]}])
    after = version([{"match": "all", "rules": [PLAN, TEAM_10]}])
    assert diff(before, after, trait_types=TYPES) == [
        "group 1: any of the rules → all of the rules"
    ]


def test_the_top_match_changed():
    lines = diff(version([PLAN], "all"), version([PLAN], "none"), trait_types=TYPES)
    assert lines == ["Users must match: all of the rules → none of the rules"]


def test_a_segment_reference_removed__names_the_segment():
    lines = diff(version([PLAN, {"segment": 7}]), version([PLAN]), names={7: "Engaged"})
    assert lines == ['segment reference 2 removed: `in segment "Engaged"`']


def test_a_reference_to_a_deleted_segment__says_it_is_gone():
    lines = diff(version([{"segment": 7}]), version([]))
    assert lines == ["segment reference 1 removed: `in a segment that is gone`"]


def test_name_and_description_changed():
    lines = diff(
        version([], name="Big teams"), version([], name="Large teams", description="Sales")
    )
    assert lines == ['Name: "Big teams" → "Large teams"', 'Description: "" → "Sales"']


def test_a_trait_of_unknown_type__is_said_with_the_type_its_operator_fits():
    # teamSize deleted since: no type known, the rule still reads as it was saved.
    lines = diff(version([TEAM_10]), version([TEAM_20]))
    assert lines == ["rule 1: `teamSize is greater than 10` → `teamSize is greater than 20`"]


def test_an_event_condition_replaced_by_a_rule__is_one_removed_and_one_added():
    event = {"event": "invite_sent", "operator": "at_least", "value": 3, "within_days": 7}
    lines = diff(version([event]), version([PLAN]), trait_types=TYPES)
    assert lines[0].startswith("event condition 1 removed: `")
    assert lines[1] == 'rule 1 added: `plan equals "free"`'


def test_bare_trees_compare_too():
    before = {"match": "all", "rules": [TEAM_10]}
    after = {"match": "all", "rules": [TEAM_20]}
    assert len(diff(before, after, trait_types=TYPES)) == 1
