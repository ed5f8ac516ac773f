"""Member counts over 10,000 / 100,000 / 1,000,000 users, without and with trait indexes.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/callout_bench
    .venv/bin/python benchmarks/members.py
    .venv/bin/python benchmarks/members.py --quick        # 10,000 and 100,000 only
    .venv/bin/python benchmarks/members.py --sizes 1000000 --companies-only
    .venv/bin/python benchmarks/members.py --reuse        # that company count again, warm

The database named by DATABASE_URL (default callout_bench) is the benchmark's own: its users
are deleted at the start. Users are loaded by COPY, one size after another (the table grows);
a second application holds 10% more users so that every query filters by application. Times
are warm: one run discarded, then the median of three (a single run when it takes over 2 s).

Companies (issue #14): at the largest size, the users are spread over ``--companies``
companies (50,000: 20 users each on average, a few much larger), and a segment mixing a user
trait, a company trait and a ``company_users`` count is counted, with its plan, without and
with trait indexes. ``--companies-only`` skips the trait segments; ``--reuse`` then counts that
segment again on the data left by such a run (to measure warm on a quiet machine).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import _common

SEGMENTS = {
    "1 rule: plan = free": [("plan", "equals", "free")],
    "1 rule: signupDate in last 30 days": [("signupDate", "within_last_days", 30)],
    "3 rules: plan, company contains, teamSize >": [
        ("plan", "equals", "pro"),
        ("company", "contains", "acme"),
        ("teamSize", "greater_than", 10),
    ],
    "5 rules: + signupDate, role": [
        ("plan", "equals", "pro"),
        ("company", "contains", "acme"),
        ("teamSize", "greater_than", 10),
        ("signupDate", "within_last_days", 30),
        ("role", "equals", "admin"),
    ],
}
# A tree (segments/tree.py): two groups, one holding a reference to another segment.
TREES = {
    "tree: (pro AND teamSize >) OR (admin AND in segment)": lambda segments: {
        "match": "any",
        "rules": [
            {
                "match": "all",
                "rules": [
                    {"trait": "plan", "operator": "equals", "value": "pro"},
                    {"trait": "teamSize", "operator": "greater_than", "value": 10},
                ],
            },
            {
                "match": "all",
                "rules": [
                    {"trait": "role", "operator": "equals", "value": "admin"},
                    {"segment": segments["1 rule: signupDate in last 30 days"].pk},
                ],
            },
        ],
    },
}
COMPANY_SEGMENT = "Pro users of trial companies with 2+ admins"
CAP_S = 30  # an unindexed count that takes longer is cut off (statement_timeout)
PREVIEW_MS = 800


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 users only")
    parser.add_argument("--companies", type=int, default=50_000)
    parser.add_argument("--companies-only", action="store_true")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="count the company segment of a previous --companies-only run again (its data and "
        "trait indexes kept), warm, without loading anything",
    )
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    _common.setup_django()
    if args.reuse:
        return _company_count_again()

    from django.db import connection

    from segments import actions, indexing
    from segments.models import Application, CompanyUsersRule, Rule, SegmentCondition

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE segments_enduser CASCADE")
    # Rules protect their traits, and segment conditions and counts the segments they name.
    CompanyUsersRule.objects.all().delete()
    SegmentCondition.objects.all().delete()
    Rule.objects.all().delete()
    Application.objects.all().delete()
    _drop_trait_indexes(indexing)
    app = actions.application_create(name="Members benchmark")
    other = actions.application_create(name="Another customer")
    for key, type_ in _common.TRAIT_TYPES.items():
        actions.trait_definition_create(application=app, key=key, type=type_)
    segments = {
        name: actions.segment_create(
            application=app,
            name=name,
            rules=[{"trait": t, "operator": o, "value": v} for t, o, v in rules],
        )
        for name, rules in SEGMENTS.items()
    }
    for name, definition in TREES.items():
        segments[name] = actions.segment_create(
            application=app, name=name, definition=definition(segments)
        )
    print(
        f"PostgreSQL {connection.pg_version // 10000}, database {connection.settings_dict['NAME']}"
    )

    results: dict[tuple[str, str, int], Any] = {}
    loaded = other_loaded = 0
    for size in sizes:
        began = time.perf_counter()
        _common.copy_users(app.pk, loaded, size)
        _common.copy_users(other.pk, other_loaded, size // 10, seed=7)
        fill = time.perf_counter() - began
        rows = size - loaded + size // 10 - other_loaded
        loaded, other_loaded = size, size // 10
        _common.vacuum_analyze()
        print(
            f"\n=== {size:,} users (+{size // 10:,} of another application): "
            f"COPY {rows:,} rows in {fill:.1f} s = {rows / fill:,.0f} rows/s"
        )
        for mode in () if args.companies_only else ("no trait index", "trait indexes"):
            _drop_trait_indexes(indexing)
            if mode == "trait indexes":
                began = time.perf_counter()
                created, _ = actions.trait_indexes_sync(application=app)
                _common.vacuum_analyze()  # statistics on the index expressions
                print(
                    f"--- built {len(created)} trait indexes in "
                    f"{time.perf_counter() - began:.1f} s: {_index_sizes(indexing)}"
                )
            else:
                print(f"--- {mode}")
            for name, segment in segments.items():
                results[(name, mode, size)] = _measure(segment, connection)
                seconds, count, preview, paths = results[(name, mode, size)]
                shown = f"> {CAP_S} s (cut off)" if seconds is None else _common.ms(seconds)
                print(
                    f"{name:<45} {shown:>14}  {count if count is not None else '?':>9} "
                    f"members  preview: {preview}"
                )
                for line in paths:
                    print(f"{'':<8}{line}")
    _companies(app, args.companies, indexing)
    if args.companies_only:
        return
    _drop_trait_indexes(indexing)
    actions.trait_indexes_sync(application=app)  # leave the indexes for identify_cost.py

    print("\n=== Summary: warm count time, and growth from the previous size")
    header = f"{'segment':<45} {'mode':<15}" + "".join(f"{s:>22,}" for s in sizes)
    print(header)
    for name in segments:
        for mode in ("no trait index", "trait indexes"):
            cells, previous = [], None
            for size in sizes:
                seconds = results[(name, mode, size)][0]
                cell = f">{CAP_S}s" if seconds is None else _common.ms(seconds)
                if previous and seconds:
                    cell += f" (x{seconds / previous:.1f})"
                cells.append(f"{cell:>22}")
                previous = seconds
            print(f"{name:<45} {mode:<15}" + "".join(cells))


def _companies(app: Any, companies: int, indexing: Any) -> None:
    """Spread the application's users over ``companies`` companies and count a segment that
    mixes a user trait, a company trait and a company_users count."""
    from django.db import connection

    from segments import actions

    began = time.perf_counter()
    with connection.cursor() as cursor:
        # Company traits: a plan (a quarter on trial) and a seat count; every 50th none at all.
        cursor.execute(
            """
            INSERT INTO segments_company (application_id, external_id, traits, first_seen,
                                          last_seen)
            SELECT %s, 'co-' || i,
                   CASE WHEN i %% 50 = 0 THEN '{}'::jsonb ELSE jsonb_build_object(
                       'plan', (ARRAY['trial', 'paid', 'paid', 'free'])[1 + i %% 4],
                       'seats', 1 + (i * 7919) %% 200) END,
                   now(), now()
            FROM generate_series(1, %s) i""",
            [app.pk, companies],
        )
        # Users to companies, skewed (a few companies hold hundreds); 5% have none.
        cursor.execute(
            """
            WITH c AS (SELECT min(id) AS low, count(*) AS n FROM segments_company
                       WHERE application_id = %s)
            UPDATE segments_enduser u
            SET company_id = CASE WHEN hashtext(u.external_id) %% 20 = 0 THEN NULL
                ELSE c.low + floor(c.n * power(abs(hashtext(u.external_id || 'c'))
                                               / 2147483648.0, 1.3))::int END
            FROM c WHERE u.application_id = %s""",
            [app.pk, app.pk],
        )
        cursor.execute("VACUUM ANALYZE segments_company")
    _common.vacuum_analyze()
    print(f"\n=== {companies:,} companies: users assigned in {time.perf_counter() - began:.1f} s")
    for key, type_ in (("plan", "string"), ("seats", "number")):
        actions.trait_definition_create(application=app, key=key, type=type_, scope="company")
    admins = actions.segment_create(
        application=app,
        name="Admins",
        rules=[{"trait": "role", "operator": "equals", "value": "admin"}],
    )
    segment = actions.segment_create(
        application=app,
        name=COMPANY_SEGMENT,
        definition={
            "match": "all",
            "rules": [
                {"trait": "plan", "operator": "equals", "value": "pro"},
                {"company_trait": "plan", "operator": "equals", "value": "trial"},
                {
                    "company_users": {"segment": admins.pk},
                    "operator": "at_least",
                    "value": 2,
                },
            ],
        },
    )
    for mode in ("no trait index", "trait indexes"):
        _drop_trait_indexes(indexing)
        if mode == "trait indexes":
            actions.trait_indexes_sync(application=app)
            _common.vacuum_analyze()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE segments_company")
        _report(mode, segment, connection)


def _company_count_again() -> None:
    from django.db import connection

    from segments.models import Segment

    segment = Segment.objects.get(name=COMPANY_SEGMENT)
    users = segment.application.end_users.count()
    companies = segment.application.companies.count()
    name = connection.settings_dict["NAME"]
    print(f"reusing {users:,} users in {companies:,} companies ({name})")
    _report("trait indexes", segment, connection)


def _report(mode: str, segment: Any, connection: Any) -> None:
    seconds, count, preview, paths = _measure(segment, connection)
    shown = f"> {CAP_S} s (cut off)" if seconds is None else _common.ms(seconds)
    verdict = "" if seconds is None else ("  (target < 1 s: met)" if seconds < 1 else
                                          "  (target < 1 s: NOT met)")  # fmt: skip
    print(f"--- {mode}: {segment.name}: {shown}, {count} members{verdict}")
    print(f"    preview: {preview}")
    for line in paths:
        print(f"        {line}")


def _measure(segment: Any, connection: Any) -> tuple[float | None, int | None, str, list[str]]:
    from django.db import OperationalError, transaction

    from segments.counting import count_members

    members = segment.members()

    def count() -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = '{CAP_S}s'")
            return members.count()

    try:
        began = time.perf_counter()
        n = count()
        first = time.perf_counter() - began
        seconds, n = (first, n) if first > 2 else _common.timed(count)
    except OperationalError:
        seconds, n = None, None
    preview = count_members(members, timeout_ms=PREVIEW_MS)
    paths: list[str] = []
    if seconds is not None:
        sql, params = members.order_by().values("pk").query.sql_with_params()
        paths = list(_common.access_paths(f"SELECT count(*) FROM ({sql}) AS m", params))
    return seconds, n, f"{preview.label} ({PREVIEW_MS} ms budget)", paths


def _drop_trait_indexes(indexing: Any) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for name in indexing.existing():
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


def _index_sizes(indexing: Any) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(sum(pg_relation_size(c.oid))), "
            "pg_size_pretty(pg_relation_size('segments_enduser')) "
            "FROM pg_class c WHERE c.relname LIKE 'callout\\_ti\\_%%'"
        )
        indexes, table = cursor.fetchone()
    return f"{indexes} of index for a {table} table"


if __name__ == "__main__":
    sys.exit(main())
