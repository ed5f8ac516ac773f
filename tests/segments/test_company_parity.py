"""One meaning, two engines, for rules on a user's company: random users (with and without a
company), companies (with and without traits, values of every type under one key, as a
retyped trait leaves them) and random trees mixing user trait rules, company trait rules and
``company_users`` counts give the same users in the reference evaluation, the generated code
(one segment, many) and SQL, on SQLite and PostgreSQL; and again after users move between
companies and leave them."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.accounts import COUNT_OPERATORS, CompanyTraitCondition, CompanyUsersCondition
from segments.codegen import compile_segments, compile_tree
from segments.coerce import now_seconds
from segments.evaluator import Condition
from segments.models import Company, EndUser
from segments.sql import tree_q
from segments.tree import MATCHES, Group, Ref, evaluate, explain
from tests.factories import ApplicationFactory

from .test_parity import MISSING, NOW, conditions, stored_values

pytestmark = pytest.mark.django_db

T = now_seconds(NOW)
COMPANIES = 3


def leaves(stored, base: list[int]):
    user_rule = conditions(stored)
    company_rule = conditions(stored).map(CompanyTraitCondition)
    options = [user_rule, company_rule]
    if base:
        counts = st.builds(
            CompanyUsersCondition,
            st.sampled_from([*base, 99]),  # 99: a segment that is gone
            st.sampled_from(list(COUNT_OPERATORS)),
            st.integers(0, 4),
        )
        options += [counts, st.sampled_from(base).map(Ref)]
    return st.one_of(*options)


def groups(stored, base: list[int], depth: int):
    leaf = leaves(stored, base)
    node = leaf if depth == 0 else st.one_of(leaf, groups(stored, base, depth - 1))
    return st.builds(
        lambda match, children: Group(match, tuple(children)),
        st.sampled_from(MATCHES),
        st.lists(node, max_size=3),
    )


@st.composite
def scenarios(draw):
    stored = draw(st.lists(stored_values, min_size=1, max_size=6))
    company_values = draw(st.lists(stored_values, min_size=COMPANIES, max_size=COMPANIES))
    # Two assignments of users to companies (None: no company): before and after a move.
    where = st.one_of(st.none(), st.integers(0, COMPANIES - 1))
    before = draw(st.lists(where, min_size=len(stored), max_size=len(stored)))
    after = draw(st.lists(where, min_size=len(stored), max_size=len(stored)))
    # Base segments (0, 1) count nothing; the top ones (2..) may count and reference them:
    # saving refuses cycles.
    trees = {k: draw(groups(stored, [], 2)) for k in range(2)}
    for k in range(2, 2 + draw(st.integers(1, 3))):
        trees[k] = draw(groups(stored, [0, 1], 2))
    return stored, company_values, before, after, trees


def _traits(value):
    return {} if value is MISSING else {"t": value}


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenarios())
def test_company_rules__reference_generated_code_and_sql_agree(scenario):
    stored, company_values, before, after, trees = scenario
    shared = compile_segments(trees)
    alone = {sid: compile_tree(tree, trees) for sid, tree in trees.items()}
    savepoint = transaction.savepoint_create()
    try:
        application = ApplicationFactory()
        companies = [
            Company.objects.create(application=application, external_id=f"c{i}", traits=_traits(v))
            for i, v in enumerate(company_values)
        ]
        users = EndUser.objects.bulk_create(
            EndUser(application=application, external_id=str(i), traits=_traits(value))
            for i, value in enumerate(stored)
        )
        for assignment in (before, after):
            for user, index in zip(users, assignment, strict=True):
                user.company = None if index is None else companies[index]
            EndUser.objects.bulk_update(users, ["company"])
            _check(application, trees, shared, alone)
    finally:
        transaction.savepoint_rollback(savepoint)


def _check(application, trees, shared, alone):
    # As stored: PostgreSQL's jsonb gives some values back in another shape.
    rows = [
        (u.external_id, u.traits, u.company_id, u.company.traits if u.company else None)
        for u in EndUser.objects.filter(application=application).select_related("company")
    ]
    # The reference's counts: the base segments need none.
    members: dict[int, dict[int, int]] = {}
    for _, traits, company_id, company in rows:
        if company_id is None:
            continue
        counted = members.setdefault(company_id, {})
        for sid in (0, 1):
            if evaluate(trees[sid], traits, T, trees.get, company=company):
                counted[sid] = counted.get(sid, 0) + 1
    for sid, tree in trees.items():
        expected = set()
        for external_id, traits, company_id, company in rows:
            counts = members.get(company_id, {}) if company_id is not None else {}
            context = {"company": company, "members": counts}
            answer = evaluate(tree, traits, T, trees.get, **context)
            assert explain(tree, traits, T, trees.get, **context).passed == answer
            generated = (traits, T, {}, company or {}, counts)
            assert alone[sid](*generated) == answer, (tree, traits, company, counts)
            assert shared(*generated)[sid] == answer, (tree, traits, company, counts)
            if answer:
                expected.add(external_id)
        in_sql = set(
            EndUser.objects.filter(application=application)
            .filter(tree_q(tree, NOW, trees.get, application.pk))
            .values_list("external_id", flat=True)
        )
        assert in_sql == expected, (tree, rows)


def _rule(operator="equals", value="pro", trait_type="string"):
    return Condition("plan", trait_type, operator, value)


def test_a_user_without_a_company_sees_every_company_trait_as_missing():
    assert not CompanyTraitCondition(_rule()).test({}, T)
    assert CompanyTraitCondition(_rule("not_equals")).test({}, T)
    assert CompanyTraitCondition(_rule("is_not_set", None)).test({}, T)


def test_a_user_without_a_company_counts_zero_users():
    none = Group("all", (CompanyUsersCondition(1, "at_most", 0),))
    some = Group("all", (CompanyUsersCondition(1, "at_least", 1),))
    counted = {1: Group("all", ())}
    assert evaluate(none, {}, T, counted.get)
    assert not evaluate(some, {}, T, counted.get)
    assert not evaluate(none, {}, T, {}.get), "counting a segment that is gone matches nobody"


def test_a_company_trait_rule_does_not_read_the_users_own_trait_of_that_name():
    node = CompanyTraitCondition(_rule())
    tree = Group("all", (node,))
    assert not evaluate(tree, {"plan": "pro"}, T, lambda sid: None, company={"plan": "free"})
    assert evaluate(tree, {"plan": "free"}, T, lambda sid: None, company={"plan": "pro"})
    generated = compile_tree(tree)
    assert not generated({"plan": "pro"}, T, {}, {"plan": "free"})
    assert generated({"plan": "free"}, T, {}, {"plan": "pro"})
