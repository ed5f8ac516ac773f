"""Lint: warnings about a definition, never blocking a save."""

from datetime import UTC, datetime

import pytest

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


# --- Event rules -----------------------------------------------------------------------


def event(name, operator, value, within_days=None):
    node = {"event": name, "operator": operator, "value": value}
    if within_days is not None:
        node["within_days"] = within_days
    return node


def test_at_least_0__always_true__said_in_words():
    found = warnings({"match": "all", "rules": [event("project_created", "at_least", 0, 7)]})

    assert found == [
        (
            "definition.rules[0]",
            "Always true: every user has done project_created at least 0 times, so this rule "
            "lets everyone through. Did you mean at least 1 time?",
        )
    ]


def test_at_least_1_at_most_0_and_exactly_0__not_always_true():
    for node in (
        event("project_created", "at_least", 1),
        event("project_created", "at_most", 0),
        event("project_created", "exactly", 0, 30),
    ):
        assert warnings({"match": "all", "rules": [node]}) == [], node


def test_an_event_never_tracked__named_with_what_it_means_for_the_rule():
    definition = {
        "match": "any",
        "rules": [
            event("projet_created", "at_least", 3, 7),
            event("projet_created", "exactly", 0),
            event("projet_created", "last_within_last_days", 7),
            event("invited", "at_least", 1),
        ],
    }

    found = warnings(definition, events_known=lambda names: {"invited"} & set(names))

    unknown = (
        "No event named projet_created has been tracked or defined in this application: "
        "check its spelling. Until it is tracked, "
    )
    assert found == [
        ("definition.rules[0]", unknown + "nobody passes this rule."),
        ("definition.rules[1]", unknown + "every user passes this rule."),
        ("definition.rules[2]", unknown + "nobody passes this rule."),
    ]


def test_events_known__asked_once_with_every_event_name_of_the_tree():
    asked = []

    def known(names):
        asked.append(list(names))
        return set(names)

    definition = {
        "match": "all",
        "rules": [
            event("b", "at_least", 1),
            {"match": "none", "rules": [event("a", "at_most", 2), event("b", "exactly", 3)]},
        ],
    }

    assert warnings(definition, events_known=known) == []
    assert asked == [["a", "b"]]


def test_no_event_rule__events_known_not_asked():
    def known(names):
        raise AssertionError("asked")

    definition = {"match": "all", "rules": [rule("plan", "equals", "pro")]}

    assert warnings(definition, events_known=known) == []


@pytest.mark.parametrize(
    "rules",
    [
        [event("e", "at_least", 5), event("e", "at_most", 2)],
        [event("e", "exactly", 1, 7), event("e", "exactly", 2, 7)],
        [event("e", "at_least", 3, 7), event("e", "at_most", 2)],  # 3 in a week, 2 ever
        [event("e", "exactly", 0), event("e", "last_within_last_days", 7)],
        [event("e", "first_within_last_days", 7), event("e", "first_more_than_days_ago", 30)],
        [event("e", "last_within_last_days", 7), event("e", "last_more_than_days_ago", 7)],
    ],
)
def test_event_rules_that_contradict_each_other_in_an_all_group(rules):
    assert warnings({"match": "all", "rules": rules}) == [("definition", NEVER)]


@pytest.mark.parametrize(
    "rules",
    [
        [event("e", "at_least", 2), event("e", "at_most", 2)],
        [event("e", "at_least", 5, 7), event("e", "at_most", 2, 1)],  # different windows
        [event("e", "at_most", 2, 7), event("e", "at_least", 5)],  # few lately, many ever
        [event("e", "exactly", 0), event("f", "at_least", 1)],  # different events
        [event("e", "first_more_than_days_ago", 30), event("e", "last_within_last_days", 7)],
    ],
)
def test_compatible_event_rules_are_not_flagged(rules):
    assert warnings({"match": "all", "rules": rules}) == []
    assert warnings({"match": "any", "rules": rules}) == []


def test_repeated_event_and_experience_nodes():
    found = warnings(
        {
            "match": "all",
            "rules": [
                event("e", "at_least", 2, 7),
                event("e", "at_least", 2, 7),
                {"experience": 4, "state": "seen"},
                {"experience": 4, "state": "seen"},
                {"experience": 4, "state": "completed"},
            ],
        }
    )

    assert found == [
        ("definition.rules[1]", "Repeats rule 1 of this group."),
        ("definition.rules[3]", "Repeats rule 3 of this group."),
    ]


@pytest.mark.django_db
def test_lint_segment_trees__event_names_known_from_this_applications_definitions(
    django_assert_num_queries,
):
    from segments.lint import lint_segment_trees
    from tests.factories import ApplicationFactory, EventDefinitionFactory

    application, other = ApplicationFactory(), ApplicationFactory()
    EventDefinitionFactory(application=application, name="saved")
    EventDefinitionFactory(application=other, name="invited")
    trees = {
        1: parse({"match": "all", "rules": [event("saved", "at_least", 1)]}, TRAITS),
        2: parse({"match": "all", "rules": [event("invited", "at_least", 1)]}, TRAITS),
    }

    with django_assert_num_queries(1):  # no trait rule: only the event names
        found = lint_segment_trees(application, trees, NOW)

    assert found[1] == []
    assert [w.message.split(":")[0] for w in found[2]] == [
        "No event named invited has been tracked or defined in this application"
    ]


# --- Company rules ---------------------------------------------------------------------

COMPANY_TRAITS = {"plan": "string", "seats": "number"}


def company_warnings(definition, **kwargs):
    tree = parse(definition, TRAITS, COMPANY_TRAITS)
    return [(w.path, w.message) for w in lint(tree, now=NOW, **kwargs)]


def company(trait, operator, value=None):
    return {"company_trait": trait, "operator": operator, "value": value}


def counted(operator, value, segment=7):
    return {"company_users": {"segment": segment}, "operator": operator, "value": value}


def test_company_trait_rules_that_contradict_each_other__kept_apart_from_user_traits():
    assert company_warnings(
        {
            "match": "all",
            "rules": [company("plan", "equals", "free"), company("plan", "in", ["pro"])],
        }
    ) == [("definition", NEVER)]
    assert company_warnings(
        {"match": "all", "rules": [company("seats", "greater_than", 50),
                                   company("seats", "less_than", 10)]}
    ) == [("definition", NEVER)]  # fmt: skip
    # The user's plan and their company's plan are two traits: free and pro may both hold.
    assert (
        company_warnings(
            {
                "match": "all",
                "rules": [rule("plan", "equals", "free"), company("plan", "equals", "pro")],
            }
        )
        == []
    )


def test_company_is_set_beside_another_company_rule_on_the_trait__and_a_trait_no_company_has():
    found = company_warnings(
        {"match": "all", "rules": [company("plan", "is_set"), company("plan", "equals", "pro"),
                                   rule("plan", "is_set")]},
        company_traits_in_use=lambda keys: set(),
    )  # fmt: skip
    assert found == [
        ("definition.rules[0]", "No company has the trait plan yet."),
        (
            "definition.rules[0]",
            "Always true here: the other rules on company plan need a value already.",
        ),
        ("definition.rules[1]", "No company has the trait plan yet."),
    ]


def test_company_traits_in_use__asked_once_with_the_company_keys_only():
    asked = []
    company_warnings(
        {"match": "any", "rules": [company("seats", "is_set"), company("plan", "is_set"),
                                   rule("role", "is_set")]},
        company_traits_in_use=lambda keys: asked.append(list(keys)) or set(keys),
    )  # fmt: skip
    assert asked == [["plan", "seats"]]


def test_company_count__at_least_0_always_true__contradictions__an_empty_counted_segment():
    assert company_warnings({"match": "all", "rules": [counted("at_least", 0)]}) == [
        (
            "definition.rules[0]",
            "Always true: every company has at least 0 users in the segment (a user without a "
            "company counts 0), so this rule lets everyone through. Did you mean at least 1?",
        )
    ]
    assert company_warnings(
        {"match": "all", "rules": [counted("at_least", 5), counted("at_most", 2)]}
    ) == [("definition", NEVER)]
    # On two segments, or in an any group: no contradiction.
    assert (
        company_warnings(
            {"match": "all", "rules": [counted("at_least", 5), counted("at_most", 2, segment=8)]}
        )
        == []
    )
    assert (
        company_warnings({"match": "any", "rules": [counted("exactly", 1), counted("exactly", 2)]})
        == []
    )

    empty = company_warnings(
        {"match": "any", "rules": [counted("at_least", 1), counted("at_most", 3)]},
        segment_empty=lambda segment: segment == 7,
    )
    assert empty == [
        (
            "definition.rules[0]",
            "The segment it counts has no members today: every company counts 0 users in it, "
            "so nobody passes it for now.",
        ),
        (
            "definition.rules[1]",
            "The segment it counts has no members today: every company counts 0 users in it, "
            "so every user passes this rule for now.",
        ),
    ]


def test_rules_a_user_without_a_company_passes__said_with_how_many_have_none():
    definition = {
        "match": "any",
        "rules": [
            counted("at_most", 2),  # 0 passes
            counted("exactly", 0),
            counted("at_least", 1),  # 0 fails
            company("plan", "not_equals", "pro"),  # missing passes
            company("plan", "is_not_set"),
            company("plan", "equals", "pro"),  # missing fails
        ],
    }
    asked = []

    def without():
        asked.append(1)
        return 3

    found = company_warnings(definition, users_without_company=without)
    assert [path for path, _ in found] == [f"definition.rules[{i}]" for i in (0, 1, 3, 4)]
    assert found[0][1] == (
        "Users without a company count 0, so they pass this rule (3 users have no company today)."
    )
    assert found[2][1] == (
        "Users without a company have no company traits, so they pass this rule (3 users "
        "have no company today)."
    )
    assert asked == [1]  # asked once
    # Everyone has a company: nothing to say.
    assert company_warnings(definition, users_without_company=lambda: 0) == []
    # No rule a companyless user passes: not asked.
    company_warnings(
        {"match": "all", "rules": [counted("at_least", 1)]},
        users_without_company=lambda: pytest.fail("asked"),
    )


@pytest.mark.django_db
def test_lint_segment_trees__company_traits_and_companyless_users_of_this_application(
    django_assert_num_queries,
):
    from segments.lint import lint_segment_trees
    from segments.models import Company, TraitDefinition
    from tests.factories import ApplicationFactory, EndUserFactory

    application, other = ApplicationFactory(), ApplicationFactory()
    for app in (application, other):
        for key in ("plan", "seats"):
            TraitDefinition.objects.create(application=app, scope="company", key=key)
    acme = Company.objects.create(application=application, external_id="acme", traits={"plan": "x"})
    theirs = Company.objects.create(application=other, external_id="t", traits={"seats": 3})
    EndUserFactory(application=application, company=acme)
    EndUserFactory(application=application)  # no company
    EndUserFactory(application=other, company=theirs)
    tree = parse(
        {"match": "any", "rules": [company("plan", "is_set"), company("seats", "is_not_set")]},
        TRAITS,
        COMPANY_TRAITS,
    )

    # Which company traits some user's company has (1); how many users have no company (1).
    with django_assert_num_queries(2):
        found = lint_segment_trees(application, {1: tree}, NOW)[1]

    assert [(w.path, w.message) for w in found] == [
        ("definition.rules[1]", "No company has the trait seats yet."),
        (
            "definition.rules[1]",
            "Users without a company have no company traits, so they pass this rule (1 user "
            "has no company today).",
        ),
    ]
