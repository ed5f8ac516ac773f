"""What indexes cost identify: calls on the members benchmark's 1,000,000 users, three ways.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/callout_bench
    .venv/bin/python benchmarks/members.py         # first: it loads the users
    .venv/bin/python benchmarks/identify_cost.py   # --calls 500 for a quick run

Index sets compared: none beyond the table's own; the per-trait expression indexes that the
benchmark's segments need (segments/indexing.py: plan, role, company, teamSize, signupDate);
and, for comparison, a GIN (jsonb_path_ops) index on traits. For each: identify calls that
change indexed traits, calls that change only a trait no index covers, and calls that create
users. Reported: time per call, WAL written per call (what the indexes add to every write),
and the share of HOT updates (an update that touches no indexed column skips every index).
synchronous_commit is off for this session so that the disk's flush latency, the same with or
without indexes, does not drown the difference.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import date, timedelta
from typing import Any

import _common

GIN = "callout_bench_traits_gin"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    _common.setup_django()

    from django.db import connection

    from segments import actions, indexing
    from segments.models import Application

    app = Application.objects.filter(name="Members benchmark").first()
    if app is None or not app.end_users.exists():
        sys.exit("Run benchmarks/members.py first: it loads the users this measures on.")
    users = app.end_users.count()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    print(f"{users:,} users; {args.calls:,} identify calls per kind and index set")

    def drop_all() -> None:
        with connection.cursor() as cursor:
            for name in indexing.existing(app.pk):
                cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
            cursor.execute(f"DROP INDEX IF EXISTS {GIN}")

    def with_gin() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE INDEX {GIN} ON segments_enduser USING gin (traits jsonb_path_ops)"
            )

    setups = {
        "no trait index": lambda: None,
        "trait indexes (5)": lambda: actions.trait_indexes_sync(application=app),
        "GIN on traits": with_gin,
    }
    rng = random.Random(5)
    results: dict[tuple[str, str], tuple[float, float, float]] = {}
    created = 0
    run = int(time.time())  # new ids on every run of the benchmark
    for setup_name, setup in setups.items():
        drop_all()
        began = time.perf_counter()
        setup()
        built = time.perf_counter() - began
        _common.vacuum_analyze()
        print(f"--- {setup_name} (built in {built:.1f} s)")
        kinds = {
            "update indexed traits": lambda n: (
                f"user-{rng.randrange(users)}",
                {"teamSize": rng.randrange(1, 500), "signupDate": _day(rng), "plan": "pro"},
            ),
            "update unindexed trait": lambda n: (
                f"user-{rng.randrange(users)}",
                {"country": rng.choice(_common.COUNTRIES) + str(n)},
            ),
            "create user": lambda n, first=created: (
                f"new-{run}-{first + n}",
                {"plan": "free", "teamSize": 3, "signupDate": _day(rng), "company": "Acme"},
            ),
        }
        for kind, make in kinds.items():
            calls = [make(n) for n in range(args.calls)]
            results[(setup_name, kind)] = _run(app, calls, connection, actions)
            per_call, wal, hot = results[(setup_name, kind)]
            print(
                f"{kind:<24} {per_call * 1e6:>8,.0f} us/call  {wal:>8,.0f} WAL bytes/call  "
                f"HOT {hot:.0%}"
            )
        created += args.calls
    drop_all()
    actions.trait_indexes_sync(application=app)  # as members.py left them

    print("\n=== Summary: time and WAL per identify call, relative to no trait index")
    print(f"{'':<24}" + "".join(f"{name:>30}" for name in setups))
    for kind in ("update indexed traits", "update unindexed trait", "create user"):
        base_time, base_wal, _ = results[("no trait index", kind)]
        cells = []
        for name in setups:
            per_call, wal, hot = results[(name, kind)]
            cells.append(
                f"{per_call * 1e6:,.0f} us x{per_call / base_time:.2f} "
                f"{wal / 1024:,.1f}KB x{wal / base_wal:.1f}"
            )
        print(f"{kind:<24}" + "".join(f"{cell:>30}" for cell in cells))


def _day(rng: random.Random) -> str:
    return (date.today() - timedelta(days=rng.randrange(365))).isoformat()


def _run(app: Any, calls: list[tuple[str, dict]], connection: Any, actions: Any) -> tuple:
    """(median seconds per call, WAL bytes per call, share of updates that were HOT)."""

    def counters() -> tuple[int, int, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT pg_current_wal_lsn() - '0/0', n_tup_upd, n_tup_hot_upd "
                "FROM pg_stat_user_tables WHERE relname = 'segments_enduser'"
            )
            return tuple(int(v) for v in cursor.fetchone())

    wal0, upd0, hot0 = counters()
    times = []
    for external_id, traits in calls:
        began = time.perf_counter()
        actions.end_user_identify(application=app, external_id=external_id, traits=traits)
        times.append(time.perf_counter() - began)
    wal1, upd1, hot1 = counters()
    updates = upd1 - upd0
    return (
        statistics.median(times),
        (wal1 - wal0) / len(calls),
        (hot1 - hot0) / updates if updates else 0.0,
    )


if __name__ == "__main__":
    sys.exit(main())
