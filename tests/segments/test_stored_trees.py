"""Segments as stored trees: a definition saved through the actions reads back as it was, both
engines agree on it with references resolved from the database, where-used holds, and the
migration keeps every existing segment's rules as its top "all" group."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import RestrictedError

from segments import actions
from segments.models import Segment, trees_of
from tests.factories import ApplicationFactory, EndUserFactory, TraitDefinitionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    application = ApplicationFactory()
    for key, type_ in [("plan", "string"), ("role", "string"), ("teamSize", "number"),
                       ("employee", "boolean")]:  # fmt: skip
        TraitDefinitionFactory(application=application, key=key, type=type_)
    people = {
        "free-admin": {"plan": "free", "role": "admin"},
        "free-member": {"plan": "free", "role": "member"},
        "big": {"plan": "pro", "teamSize": 80},
        "big-employee": {"plan": "pro", "teamSize": 80, "employee": True},
        "nobody": {},
    }
    for external_id, traits in people.items():
        EndUserFactory(application=application, external_id=external_id, traits=traits)
    return application


def rule(trait, operator, value=None):
    node = {"trait": trait, "operator": operator, "case_sensitive": False}
    if value is not None:
        node["value"] = value
    return node


def test_a_tree_saved_through_the_actions_reads_back_and_both_engines_agree(app):
    admins = actions.segment_create(
        application=app,
        name="Admins",
        rules=[{"trait": "role", "operator": "equals", "value": "admin"}],
    )
    definition = {
        "match": "all",
        "rules": [
            {
                "match": "any",
                "rules": [
                    {
                        "match": "all",
                        "rules": [rule("plan", "equals", "free"), {"segment": admins.pk}],
                    },
                    rule("teamSize", "greater_than", 50),
                ],
            },
            {"match": "none", "rules": [rule("employee", "is_true")]},
        ],
    }
    segment = actions.segment_create(application=app, name="Targets", definition=definition)

    stored = Segment.objects.get(pk=segment.pk)
    assert stored.definition == definition
    assert not stored.is_flat
    in_sql = set(stored.members().values_list("external_id", flat=True))
    in_memory = {u.external_id for u in app.end_users.all() if stored.matches(u.traits)}
    assert in_sql == in_memory == {"free-admin", "big"}
    assert stored.describe() == (
        '((plan equals "free" AND in segment "Admins") OR teamSize is greater than 50) '
        "AND NOT (employee is true)"
    )


def test_editing_a_referenced_segment_changes_every_segment_that_uses_it(app):
    admins = actions.segment_create(
        application=app,
        name="Admins",
        rules=[{"trait": "role", "operator": "equals", "value": "admin"}],
    )
    not_admins = actions.segment_create(
        application=app,
        name="Not admins",
        definition={"match": "none", "rules": [{"segment": admins.pk}]},
    )
    assert "free-admin" not in set(not_admins.members().values_list("external_id", flat=True))
    actions.segment_update(
        segment=admins, rules=[{"trait": "role", "operator": "equals", "value": "member"}]
    )
    members = set(
        Segment.objects.get(pk=not_admins.pk).members().values_list("external_id", flat=True)
    )
    assert "free-admin" in members and "free-member" not in members


def test_a_cycle_is_refused_naming_it_and_nothing_is_written(app):
    a = actions.segment_create(application=app, name="A", rules=[])
    b = actions.segment_create(
        application=app, name="B", definition={"match": "all", "rules": [{"segment": a.pk}]}
    )
    with pytest.raises(ValidationError) as raised:
        actions.segment_update(
            segment=a, name="A2", definition={"match": "all", "rules": [{"segment": b.pk}]}
        )
    assert raised.value.message_dict == {
        "definition.rules[0].segment": ["would make a cycle: A → B → A"]
    }
    a.refresh_from_db()
    assert a.name == "A" and a.definition == {"match": "all", "rules": []}


def test_another_applications_segment_is_refused_like_an_unknown_one(app):
    foreign = actions.segment_create(application=ApplicationFactory(), name="Theirs", rules=[])
    for segment_id in (foreign.pk, 10**9):
        with pytest.raises(ValidationError) as raised:
            actions.segment_create(
                application=app,
                name="Mine",
                definition={"match": "all", "rules": [{"segment": segment_id}]},
            )
        assert raised.value.message_dict == {"definition.rules[0].segment": ["no such segment"]}
    assert not Segment.objects.filter(application=app, name="Mine").exists()


def test_a_segment_that_another_uses_cannot_be_deleted__by_the_action_nor_the_database(app):
    admins = actions.segment_create(
        application=app,
        name="Admins",
        rules=[{"trait": "role", "operator": "equals", "value": "admin"}],
    )
    actions.segment_create(
        application=app,
        name="Not admins",
        definition={"match": "none", "rules": [{"segment": admins.pk}]},
    )
    with pytest.raises(ValidationError, match='used by segment "Not admins"'):
        actions.segment_delete(segment=admins)
    with pytest.raises(RestrictedError):
        admins.delete()
    # Deleting the whole application takes both segments: nothing is left dangling.
    app.delete()
    assert not Segment.objects.filter(pk=admins.pk).exists()


def test_trees_of__reads_every_segment_in_seven_queries(app, django_assert_num_queries):
    for n in range(5):
        actions.segment_create(
            application=app,
            name=f"S{n}",
            definition={"match": "any", "rules": [rule("plan", "is_set")]},
        )
    # The segments, then each kind of node (segments.models.TREE_NODES, and the rules).
    with django_assert_num_queries(7):
        trees = trees_of(app.pk)
    assert len(trees) == 6  # and Everyone


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_existing_rules_as_the_top_all_group__forward_and_back():
    from django.db.migrations.executor import MigrationExecutor

    before = [("segments", "0009_rule_operator_choices_from_the_table")]
    executor = MigrationExecutor(connection)
    after = executor.loader.graph.leaf_nodes()  # the models below are today's
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        Application = old.get_model("segments", "Application")
        OldSegment = old.get_model("segments", "Segment")
        OldTrait = old.get_model("segments", "TraitDefinition")
        OldRule = old.get_model("segments", "Rule")
        application = Application.objects.create(name="A", public_key="pk_m", secret_key="sk_m")
        plan = OldTrait.objects.create(application=application, key="plan", type="string")
        size = OldTrait.objects.create(application=application, key="teamSize", type="number")
        segment = OldSegment.objects.create(application=application, name="Free and big")
        OldRule.objects.create(
            segment=segment, trait=plan, operator="equals", value="free", position=0
        )
        OldRule.objects.create(
            segment=segment, trait=size, operator="greater_than", value=10, position=1
        )

        MigrationExecutor(connection).migrate(after)
        migrated = Segment.objects.get(pk=segment.pk)
        assert migrated.definition == {
            "match": "all",
            "rules": [
                {"trait": "plan", "operator": "equals", "value": "free", "case_sensitive": False},
                {
                    "trait": "teamSize",
                    "operator": "greater_than",
                    "value": 10,
                    "case_sensitive": False,
                },
            ],
        }
        MigrationExecutor(connection).migrate(before)
        assert list(OldRule.objects.filter(segment=segment).values_list("operator", flat=True)) == [
            "equals",
            "greater_than",
        ]
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
