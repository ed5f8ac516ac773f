"""Per-trait expression indexes: PostgreSQL only, following the rules that use the traits."""

import pytest
from django.db import connection

from segments import actions, indexing
from segments.models import EndUser, Rule
from tests.factories import ApplicationFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="expression indexes are PostgreSQL only"
    ),
]


@pytest.fixture
def application():
    application = ApplicationFactory()
    for key, type_ in [("plan", "string"), ("teamSize", "number"), ("signupDate", "date"),
                       ("beta", "boolean"), ("unused", "string")]:  # fmt: skip
        actions.trait_definition_create(application=application, key=key, type=type_)
    return application


def _segment(application, name, *rules):
    return actions.segment_create(
        application=application,
        name=name,
        rules=[{"trait": t, "operator": o, "value": v} for t, o, v in rules],
    )


def test_sync__indexes_the_traits_rules_use__not_booleans_nor_unused_traits(application):
    _segment(application, "a", ("plan", "equals", "pro"), ("beta", "is_true", None))
    _segment(
        application, "b", ("teamSize", "greater_than", 3), ("signupDate", "after", "2026-01-01")
    )
    created, dropped = actions.trait_indexes_sync(application=application)
    traits = {t.key: t for t in application.trait_definitions.all()}
    indexes = [indexing.trait_index(traits[k]) for k in ("plan", "teamSize", "signupDate")]
    statistics = [indexing.trait_statistics(index).name for index in indexes]
    assert sorted(created) == sorted([index.name for index in indexes] + statistics)
    assert dropped == []
    assert set(indexing.existing(application.pk)) == set(created)
    assert actions.trait_indexes_sync(application=application) == ([], [])


def test_sync__trait_changes_type__index_replaced(application):
    _segment(application, "a", ("plan", "equals", "pro"))
    actions.trait_indexes_sync(application=application)
    plan = application.trait_definitions.get(key="plan")
    old = indexing.trait_index(plan)
    actions.trait_definition_update(trait=plan, type="number")
    created, dropped = actions.trait_indexes_sync(application=application)
    assert dropped == [old.name, indexing.trait_statistics(old).name]
    new = indexing.trait_index(plan)
    assert created == [new.name, indexing.trait_statistics(new).name]


def test_sync__segment_deleted__its_indexes_dropped(application):
    segment = _segment(application, "a", ("teamSize", "less_than", 3))
    created, _ = actions.trait_indexes_sync(application=application)
    actions.segment_delete(segment=segment)
    assert actions.trait_indexes_sync(application=application) == ([], created)


def test_index_expression__is_what_the_rule_compiles_to__the_planner_uses_it(application):
    segment = _segment(
        application, "a", ("plan", "equals", "PRO"), ("signupDate", "within_last_days", 7)
    )
    actions.trait_indexes_sync(application=application)
    EndUser.objects.bulk_create(
        EndUser(application=application, external_id=str(i), traits={"plan": "pro"})
        for i in range(50)
    )
    sql, params = segment.members().order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "callout_ti_" in plan, plan
    assert segment.members().count() == 0


def test_sync__an_index_without_statistics__gets_them(application):
    # As after an upgrade: the indexes were built before their statistics existed.
    _segment(application, "a", ("plan", "equals", "pro"))
    index, statistics = actions.trait_indexes_sync(application=application)[0]
    assert statistics == index.replace("callout_ti_", "callout_ts_")
    with connection.cursor() as cursor:
        cursor.execute(f'DROP STATISTICS "{statistics}"')
    assert actions.trait_indexes_sync(application=application) == ([statistics], [])


def _estimated_rows(queryset) -> int:
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        return cursor.fetchone()[0][0]["Plan"]["Plan Rows"]


def test_statistics__the_planner_knows_how_many_users_a_trait_rule_matches(application):
    # The planner ignores a partial index's statistics: without the statistics object it
    # guessed 0.5% of the users (1 of 400) for a rule that matches 300, and chose plans for
    # a handful of rows (a single-process index scan) over a million users.
    EndUser.objects.bulk_create(
        EndUser(application=application, external_id=str(i), traits={"plan": plan})
        for i, plan in enumerate(["pro"] * 300 + ["free"] * 100)
    )
    with connection.cursor() as cursor:  # the foreign keys' checks, before CREATE INDEX
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    segment = _segment(application, "a", ("plan", "equals", "pro"))
    actions.trait_indexes_sync(application=application)
    assert 250 <= _estimated_rows(segment.members()) <= 350


def test_on_commit__segment_create_schedules_a_sync(
    application, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _segment(application, "a", ("plan", "equals", "pro"))
    assert len(indexing.existing(application.pk)) == 2  # the index and its statistics


def test_drop_orphans__indexes_of_deleted_applications(application):
    _segment(application, "a", ("plan", "equals", "pro"))
    created, _ = actions.trait_indexes_sync(application=application)
    Rule.objects.filter(segment__application=application).delete()
    application.delete()
    assert indexing.drop_orphans() == created


@pytest.mark.parametrize("function", ["callout_date", "callout_num", "callout_fold"])
def test_coercions__are_inlined__no_function_call_per_row_or_per_index_entry(function):
    # A coercion PostgreSQL cannot inline runs through the function executor on every row a
    # count reads and every index entry an identify writes: 20-200 us each (0003, 0006).
    argument = "traits ->> 'x'" if function == "callout_fold" else "traits -> 'x'"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN VERBOSE SELECT {function}({argument}) FROM segments_enduser")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "callout_" not in plan, plan


def test_a_company_trait_gets_statistics_on_the_companies_table__no_index(application):
    """PostgreSQL takes no statistics from a partial index: without these it guesses that a
    company trait condition keeps 0.5% of the companies, whatever it keeps."""
    from segments.models import Company

    actions.trait_definition_create(application=application, key="tier", scope="company")
    Company.objects.bulk_create(
        Company(application=application, external_id=str(i), traits={"tier": "gold" if i % 2
                                                                      else "silver"})
        for i in range(400)
    )  # fmt: skip
    actions.segment_create(
        application=application,
        name="Gold",
        definition={"match": "all", "rules": [
            {"company_trait": "tier", "operator": "equals", "value": "gold"}]},
    )  # fmt: skip
    created, _ = actions.trait_indexes_sync(application=application)
    assert [name[: len("callout_ts_")] for name in created] == ["callout_ts_"]
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT 1 FROM segments_company WHERE callout_fold(traits ->> 'tier') = 'gold'"
        )
        plan = cursor.fetchone()[0]
    assert "rows=200 " in plan, plan
