"""One meaning, two engines, for rules on what users did and saw: random histories (events at the
exact edges of the windows, equal times, out-of-order arrival, a few minutes ahead) and random
event and experience rules, in groups, give the same users in the reference evaluation, the
generated code (one segment, many) and SQL, on SQLite and PostgreSQL. And the summary the
engines read answers what the raw history answers."""

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments import activity
from segments.behaviour import DAY, EVENT_OPERATORS, EventCondition, ExperienceCondition
from segments.codegen import compile_segments, compile_tree
from segments.coerce import now_seconds
from segments.models import EndUser
from segments.sql import tree_q
from segments.tree import MATCHES, Group, evaluate, explain
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
T = now_seconds(NOW)
NAMES = ("signed_up", "project.created", "invite-sent")

# Times around every window edge a rule below can draw (1, 2, 3, 7 days), to the microsecond,
# plus now itself, just ahead of now (up to the 5 minutes /track accepts) and long ago.
_EDGES = [T - d * DAY + e for d in (1, 2, 3, 7) for e in (-1e-6, 0.0, 1e-6)]
times = st.one_of(
    st.sampled_from([*_EDGES, T, T + 1e-6, T + 299.0, T - 400 * DAY]),
    st.floats(T - 10 * DAY, T, allow_nan=False),
)
events = st.lists(st.tuples(st.sampled_from(NAMES), times), max_size=12)
experience_states = st.lists(
    st.tuples(st.sampled_from([1, 2]), st.sampled_from(activity.EXPERIENCE_STATES), times),
    max_size=4,
)

event_rules = st.builds(
    EventCondition,
    st.sampled_from([*NAMES, "never_done"]),
    st.sampled_from(list(EVENT_OPERATORS)),
    st.one_of(st.integers(0, 5), st.sampled_from([1, 2, 3, 7])),
    st.one_of(st.none(), st.sampled_from([1, 2, 3, 7])),
)
experience_rules = st.builds(
    ExperienceCondition,
    st.sampled_from([1, 2, 3]),
    st.sampled_from(["seen", "completed", "dismissed"]),
)
leaves = st.one_of(event_rules, experience_rules)


def trees(depth: int = 2):
    node = leaves if depth == 0 else st.one_of(leaves, trees(depth - 1))
    return st.builds(
        lambda match, children: Group(match, tuple(children)),
        st.sampled_from(MATCHES),
        st.lists(node, max_size=3),
    )


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.tuples(events, experience_states), min_size=1, max_size=5),
    st.lists(trees(), min_size=1, max_size=3),
    st.integers(1, 6),
)
def test_event_and_experience_rules__reference_generated_code_and_sql_agree(
    histories, definitions, kept
):
    summaries = []
    for done, seen in histories:
        summary: dict = {}
        activity.record_events(summary, done, kept)  # in the drawn (arrival) order
        for experience_id, state, when in seen:
            activity.record_experience(summary, experience_id, state, when)
        summaries.append(summary)
    segments = dict(enumerate(definitions))
    shared = compile_segments(segments)
    savepoint = transaction.savepoint_create()
    try:
        application = ApplicationFactory()
        EndUser.objects.bulk_create(
            EndUser(application=application, external_id=str(i), activity=summary)
            for i, summary in enumerate(summaries)
        )
        stored = {
            u.external_id: u.activity for u in EndUser.objects.filter(application=application)
        }
        for sid, tree in segments.items():
            expected = {
                i for i, a in stored.items() if evaluate(tree, {}, T, segments.get, activity=a)
            }
            in_sql = set(
                EndUser.objects.filter(application=application)
                .filter(tree_q(tree, NOW, segments.get))
                .values_list("external_id", flat=True)
            )
            assert in_sql == expected, (tree, stored)
            alone = compile_tree(tree, segments)
            for i, summary in stored.items():
                assert alone({}, T, summary) == (i in expected), (tree, summary)
                assert shared({}, T, summary)[sid] == (i in expected), (tree, summary)
                verdict = explain(tree, {}, T, segments.get, activity=summary)
                assert verdict.passed == (i in expected)
    finally:
        transaction.savepoint_rollback(savepoint)


def _raw_answer(rule: EventCondition, history: list[tuple[str, float]], now: float) -> bool:
    """The rule on the raw history, as docs/segments.md says it."""
    times = sorted(t for name, t in history if name == rule.event)
    op = EVENT_OPERATORS[rule.operator]
    if op.counts:
        if rule.within_days:
            low = now - rule.within_days * DAY
            n = sum(1 for t in times if low <= t <= now)
        else:
            n = len(times)
        return op.test(n, {"n": rule.value})
    if not times:
        return False
    x = times[0] if rule.operator.startswith("first") else times[-1]
    return op.test(x, {"lo": now - rule.value * DAY, "hi": now})


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(NAMES), st.sampled_from([*_EDGES, T]) | st.floats(T - 9 * DAY, T)
        ),
        max_size=15,
    ),
    event_rules,
)
def test_the_summary_answers_what_the_raw_history_answers__when_it_keeps_one_more_than_the_count(
    history, rule
):
    """Exact for every rule whose count is below ``kept`` (what saving a rule ensures), with
    events arriving in any order, as long as none is ahead of ``now``."""
    summary = activity.record_events({}, history, kept=rule.largest_count + 1)
    assert rule.test({}, summary, T) == (rule.valid and _raw_answer(rule, history, T))


def test_a_summary_built_in_one_go_equals_one_built_event_by_event():
    history = [("a", 5.0), ("a", 1.0), ("b", 3.0), ("a", 9.0), ("a", 5.0)]
    one_go = activity.summarise(history, kept=3)
    step = {}
    for event in reversed(history):
        activity.record_events(step, [event], kept=3)
    assert one_go == step == {"e": {"a": [4, 1.0, 9.0, [9.0, 5.0, 5.0]], "b": [1, 3.0, 3.0, [3.0]]}}


def test_a_user_who_never_did_the_event__at_least_is_false__at_most_and_exactly_zero_are_true():
    never = {}
    assert not EventCondition("x", "at_least", 1).test({}, never, T)
    assert EventCondition("x", "at_least", 0).test({}, never, T)
    assert EventCondition("x", "at_most", 2).test({}, never, T)
    assert EventCondition("x", "exactly", 0, 7).test({}, never, T)
    for operator in ("first_within_last_days", "last_more_than_days_ago"):
        assert not EventCondition("x", operator, 3).test({}, never, T)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="parallel query is PostgreSQL's")
def test_every_event_and_experience_rule__can_run_on_parallel_workers():
    # A correlated subquery in a rule is "parallel restricted" (PostgreSQL 15, 16): the whole
    # count then ran in one process even when the subquery never ran (docs/scale.md).
    rules = [
        EventCondition("signed_up", op, 1 if EVENT_OPERATORS[op].counts else 3, within)
        for op in EVENT_OPERATORS
        for within in ((None, 7) if EVENT_OPERATORS[op].counts else (None,))
    ]
    tree = Group("all", (*rules, ExperienceCondition(1, "seen")))
    users = EndUser.objects.filter(application=ApplicationFactory()).filter(tree_q(tree, NOW))
    sql, params = users.order_by().values("pk").query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        for cost in ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size"):
            cursor.execute(f"SET LOCAL {cost} = 0")
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 2")
        cursor.execute(f"EXPLAIN SELECT count(*) FROM ({sql}) AS m", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "SubPlan" not in plan and "Gather" in plan, plan
