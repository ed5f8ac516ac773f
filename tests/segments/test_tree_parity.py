"""One meaning, two engines, for trees: random groups (all / any / none, nested up to three
levels), references between segments and every operator give the same users in the reference
evaluation, the generated code (one segment, many, a chooser) and SQL, on SQLite and
PostgreSQL."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.codegen import compile_chooser, compile_segments, compile_tree
from segments.coerce import now_seconds
from segments.models import EndUser
from segments.sql import tree_q
from segments.tree import MATCHES, Group, Ref, evaluate, explain
from tests.factories import ApplicationFactory

from .test_parity import MISSING, NOW, conditions, stored_values

pytestmark = pytest.mark.django_db


def nodes(stored, earlier: int, depth: int):
    leaf = conditions(stored)
    if earlier:
        leaf = st.one_of(leaf, st.integers(0, earlier - 1).map(Ref))
    if depth == 0:
        return leaf
    return st.one_of(leaf, groups(stored, earlier, depth - 1))


def groups(stored, earlier: int, depth: int):
    return st.builds(
        lambda match, children: Group(match, tuple(children)),
        st.sampled_from(MATCHES),
        st.lists(nodes(stored, earlier, depth), min_size=0, max_size=3),
    )


@st.composite
def scenarios(draw):
    stored = draw(st.lists(stored_values, min_size=1, max_size=5))
    # Segment k may reference segments 0..k-1 (saving refuses cycles); a reference to a
    # segment that is gone (99) matches nobody.
    trees = {}
    for k in range(draw(st.integers(1, 4))):
        trees[k] = draw(groups(stored, k, 3))
    if draw(st.booleans()):
        trees[len(trees)] = Group("any", (Ref(99), Ref(0)))
    return stored, trees


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenarios())
def test_trees__reference_generated_code_and_sql_agree(scenario):
    stored, trees = scenario
    now = now_seconds(NOW)
    resolve = trees.get
    shared = compile_segments(trees)
    last = max(trees)
    choose = compile_chooser(trees, [("first", [0]), ("last", [last]), ("gone", [99])])
    savepoint = transaction.savepoint_create()
    try:
        application = ApplicationFactory()
        users = EndUser.objects.bulk_create(
            EndUser(
                application=application,
                external_id=str(i),
                traits={} if value is MISSING else {"t": value},
            )
            for i, value in enumerate(stored)
        )
        reloaded = {
            u.external_id: u.traits for u in EndUser.objects.filter(application=application)
        }
        for sid, tree in trees.items():
            expected = {i for i, t in reloaded.items() if evaluate(tree, t, now, resolve)}
            in_sql = set(
                EndUser.objects.filter(application=application)
                .filter(tree_q(tree, NOW, resolve))
                .values_list("external_id", flat=True)
            )
            assert in_sql == expected, (sid, tree, {i: reloaded[i] for i in reloaded})
            alone = compile_tree(tree, trees)
            for i, traits in reloaded.items():
                assert shared(traits, now)[sid] == (i in expected)
                assert alone(traits, now) == (i in expected)
                assert explain(tree, traits, now, resolve).passed == (i in expected)
        for traits in reloaded.values():
            answers = shared(traits, now)
            want = [c for c, s in (("first", 0), ("last", last)) if answers[s]]
            assert choose(traits, now) == want
    finally:
        transaction.savepoint_rollback(savepoint)
    assert len(users) == len(stored)
