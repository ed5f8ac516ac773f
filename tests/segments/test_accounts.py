"""Company nodes stored through the actions: a definition with company trait rules and
company_users counts reads back as it was, both engines agree on it from the database, bad
nodes are refused by their path with nothing written, cycles through a count are refused, and
a counted segment cannot be deleted under the count."""

import pytest
from django.core.exceptions import ValidationError

from segments import actions
from segments.models import CompanyUsersRule, EndUser, Segment, trees_of
from segments.selectors import count_users
from segments.tree import evaluate
from tests.factories import (
    ApplicationFactory,
    CompanyFactory,
    CompanyTraitFactory,
    EndUserFactory,
    TraitDefinitionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app():
    application = ApplicationFactory()
    TraitDefinitionFactory(application=application, key="plan", type="string")
    TraitDefinitionFactory(application=application, key="role", type="string")
    CompanyTraitFactory(application=application, key="plan", type="string")
    CompanyTraitFactory(application=application, key="seats", type="number")
    acme = CompanyFactory(
        application=application, external_id="acme", traits={"plan": "trial", "seats": 80}
    )
    tiny = CompanyFactory(application=application, external_id="tiny", traits={"seats": 3})
    people = [
        ("acme-admin", {"role": "admin", "plan": "pro"}, acme),
        ("acme-admin-2", {"role": "admin"}, acme),
        ("acme-member", {"role": "member"}, acme),
        ("tiny-admin", {"role": "admin", "plan": "trial"}, tiny),
        ("loner-admin", {"role": "admin"}, None),
    ]  # fmt: skip
    for external_id, traits, company in people:
        EndUserFactory(
            application=application, external_id=external_id, traits=traits, company=company
        )
    return application


ADMINS = {"match": "all", "rules": [{"trait": "role", "operator": "equals", "value": "admin",
                                      "case_sensitive": False}]}  # fmt: skip


def company_rule(key, operator, value=None):
    node = {"company_trait": key, "operator": operator, "case_sensitive": False}
    if value is not None:
        node["value"] = value
    return node


def counted(segment, operator, value):
    return {"company_users": {"segment": segment.pk}, "operator": operator, "value": value}


def members(segment):
    return set(segment.members().values_list("external_id", flat=True))


def in_memory(segment):
    trees = trees_of(segment.application_id)
    out = set()
    for user in EndUser.objects.filter(application_id=segment.application_id).select_related(
        "company"
    ):
        counts = {}
        if user.company_id:
            for sid, tree in trees.items():
                if sid == segment.pk:
                    continue
                counts[sid] = sum(
                    evaluate(tree, u.traits, 0, trees.get, company=user.company.traits)
                    for u in user.company.users.all()
                )
        company = user.company.traits if user.company else None
        if evaluate(segment.tree, user.traits, 0, trees.get, company=company, members=counts):
            out.add(user.external_id)
    return out


def test_a_definition_with_company_nodes_reads_back_and_both_engines_agree(app):
    admins = actions.segment_create(application=app, name="Admins", definition=ADMINS)
    definition = {
        "match": "all",
        "rules": [
            # the user's plan and the company's plan are two traits
            company_rule("plan", "equals", "trial"),
            {"trait": "role", "operator": "equals", "value": "admin", "case_sensitive": False},
            counted(admins, "at_least", 2),
        ],
    }
    segment = actions.segment_create(application=app, name="Trial teams", definition=definition)
    segment = Segment.objects.get(pk=segment.pk)
    assert segment.definition == definition
    assert members(segment) == in_memory(segment) == {"acme-admin", "acme-admin-2"}
    assert count_users(app, {"n": segment.tree})["n"] == 2


def test_negated_company_rules_and_zero_counts_match_users_without_a_company(app):
    admins = actions.segment_create(application=app, name="Admins", definition=ADMINS)
    segment = actions.segment_create(
        application=app,
        name="Not big",
        definition={
            "match": "all",
            "rules": [
                company_rule("seats", "not_between", [51, 100000]),
                counted(admins, "at_most", 1),
            ],
        },
    )
    assert members(segment) == in_memory(segment) == {"tiny-admin", "loner-admin"}


def test_bad_company_nodes_are_refused_by_their_path_and_nothing_is_written(app):
    admins = actions.segment_create(application=app, name="Admins", definition=ADMINS)
    before = Segment.objects.count()
    with pytest.raises(ValidationError) as error:
        actions.segment_create(
            application=app,
            name="Bad",
            definition={
                "match": "any",
                "rules": [
                    company_rule("role", "equals", "admin"),  # a user trait, not a company one
                    company_rule("seats", "greater_than", "many"),
                    counted(admins, "more_than", 2),
                    {"company_users": {"segment": 999}, "operator": "at_least", "value": 1},
                    {**counted(admins, "at_least", -1)},
                ],
            },
        )
    errors = error.value.message_dict
    assert set(errors) == {
        "definition.rules[0].company_trait",
        "definition.rules[1].value",
        "definition.rules[2].operator",
        "definition.rules[3].company_users.segment",
        "definition.rules[4].value",
    }
    assert Segment.objects.count() == before


def test_a_cycle_through_a_count_is_refused(app):
    admins = actions.segment_create(application=app, name="Admins", definition=ADMINS)
    teams = actions.segment_create(
        application=app,
        name="Teams",
        definition={"match": "all", "rules": [counted(admins, "at_least", 2)]},
    )
    with pytest.raises(ValidationError) as error:
        actions.segment_update(
            segment=admins, definition={"match": "all", "rules": [{"segment": teams.pk}]}
        )
    assert "cycle" in str(error.value.message_dict)
    with pytest.raises(ValidationError):
        actions.segment_update(
            segment=admins, definition={"match": "all", "rules": [counted(admins, "at_least", 1)]}
        )


def test_a_counted_segment_cannot_be_deleted_under_the_count(app):
    admins = actions.segment_create(application=app, name="Admins", definition=ADMINS)
    actions.segment_create(
        application=app,
        name="Teams",
        definition={"match": "all", "rules": [counted(admins, "at_least", 2)]},
    )
    with pytest.raises(ValidationError) as error:
        actions.segment_delete(segment=admins)
    assert 'segment "Teams"' in str(error.value)
    assert CompanyUsersRule.objects.filter(target=admins).exists()
