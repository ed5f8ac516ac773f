"""Behavioural rules at scale (issue 13): 1,000,000 users with 20,000,000 events on PostgreSQL.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/callout_behaviour_bench
    .venv/bin/python benchmarks/behaviour.py [--users 1000000] [--events-per-user 20] [--reuse]
        [--import-events 500000] [--no-counts]

Loads users (traits as benchmarks/members.py's) and their raw events by COPY, with the activity
summaries the rules read (segments/activity.py), then times, warm (one run discarded, the median
of three), the member count of "did X at least 3 times in the last 30 days AND plan equals pro"
and a few neighbours, with their access paths. Then times ``manage.py import_events`` on a
JSON Lines file of fresh events (``--import-events``, default 500,000; 0 skips it) and prints
events/s. ``--no-counts`` skips the member counts (to time the import alone on ``--reuse``d
data); each run's event ids are new, so a re-run imports its events rather than skipping them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

import _common

NAMES = [f"event_{n:02d}" for n in range(20)]
# Skewed, as product events are: a few names make most of the volume.
WEIGHTS = [1 / (rank + 1) for rank in range(len(NAMES))]
DAY = 86400.0
SEGMENTS = {
    "did event_00 >= 3 times in 30 days AND plan = pro": {
        "match": "all",
        "rules": [
            {"event": "event_00", "operator": "at_least", "value": 3, "within_days": 30},
            {"trait": "plan", "operator": "equals", "value": "pro"},
        ],
    },
    "did event_05 >= 3 times in 30 days (alone)": {
        "match": "all",
        "rules": [{"event": "event_05", "operator": "at_least", "value": 3, "within_days": 30}],
    },
    "never did event_19 AND plan = free": {
        "match": "all",
        "rules": [
            {"event": "event_19", "operator": "exactly", "value": 0},
            {"trait": "plan", "operator": "equals", "value": "free"},
        ],
    },
    "last did event_01 more than 60 days ago": {
        "match": "all",
        "rules": [{"event": "event_01", "operator": "last_more_than_days_ago", "value": 60}],
    },
}


def load(application_id: int, users: int, per_user: int, kept: int) -> float:
    """Users with traits by COPY (as benchmarks/members.py's), then, in PostgreSQL, their raw
    events (``per_user`` each, names skewed, times over the last ~90 days), the activity
    summaries built from them (what ``activity.summarise`` builds) and the daily counts
    (``rollup_rebuild``); seconds taken."""
    from django.db import connection

    from segments.models import Application
    from segments.rollup import rollup_rebuild

    began = time.perf_counter()
    for start in range(0, users, 100_000):
        _common.copy_users(application_id, start, min(start + 100_000, users))
        print(f"  {min(start + 100_000, users):,} users", file=sys.stderr)
    names = "ARRAY[" + ", ".join(f"'{n}'" for n in NAMES) + "]"
    # A name drawn with weight 1 / rank: the inverse of the weights' cumulative distribution.
    total = sum(WEIGHTS)
    cumulative, edges = 0.0, []
    for weight in WEIGHTS:
        cumulative += weight / total
        edges.append(f"{cumulative:.6f}")
    edge_array = "ARRAY[" + ", ".join(edges) + "]::float8[]"
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 0")
        cursor.execute(
            f"""
            INSERT INTO segments_trackedevent
                (application_id, end_user_id, name, timestamp, properties, event_id, received_at)
            SELECT %s, u.id, ({names})[
                       (SELECT count(*) FROM unnest({edge_array}) edge WHERE edge < r.pick) + 1],
                   now() - make_interval(secs => -ln(1 - r.age) * 45 * 86400), '{{}}', '', now()
            FROM segments_enduser u
            CROSS JOIN LATERAL (
                SELECT random() AS pick, random() AS age FROM generate_series(1, %s) WHERE u.id > 0
            ) r
            WHERE u.application_id = %s""",
            [application_id, per_user, application_id],
        )
        print(f"  {cursor.rowcount:,} events", file=sys.stderr)
        # The summaries, as activity.summarise builds them: per name the count, the first and
        # last time and the latest ``kept`` times, newest first.
        cursor.execute(
            """
            UPDATE segments_enduser u SET activity = jsonb_build_object('e', s.e)
            FROM (
                SELECT end_user_id, jsonb_object_agg(name, jsonb_build_array(
                           n, first, last, to_jsonb(recent[1:%s]))) AS e
                FROM (
                    SELECT end_user_id, name, count(*) AS n,
                           min(extract(epoch FROM timestamp))::float8 AS first,
                           max(extract(epoch FROM timestamp))::float8 AS last,
                           array_agg(extract(epoch FROM timestamp)::float8
                                     ORDER BY timestamp DESC) AS recent
                    FROM segments_trackedevent WHERE application_id = %s
                    GROUP BY end_user_id, name
                ) per_name
                GROUP BY end_user_id
            ) s
            WHERE u.id = s.end_user_id""",
            [kept, application_id],
        )
    rollup_rebuild(application=Application.objects.get(pk=application_id))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE segments_enduser")
        cursor.execute("VACUUM ANALYZE segments_trackedevent")
    return time.perf_counter() - began


def import_rate(application: object, count: int, users: int) -> str:
    """``manage.py import_events`` on ``count`` fresh events of existing users: events/s."""
    from django.core.management import get_commands

    if "import_events" not in get_commands():
        return "import_events: not available"
    rng = random.Random(7)
    now = time.time()
    run = int(now)  # event ids new to this run: a --reuse run imports, it does not skip
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as file:
        for n in range(count):
            line = {
                "id": f"user-{rng.randrange(users)}",
                "name": rng.choice(NAMES),
                "timestamp": now - rng.uniform(0, 30 * DAY),
                "event_id": f"bench-{run}-{n}",
            }
            file.write(json.dumps(line) + "\n")
    began, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "import_events",
            file.name,
            "--no-progress",
            "--app",
            str(application.pk),  # type: ignore[attr-defined]
        ],
        check=True,
        cwd=_common.ROOT,
        env=os.environ,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - began
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    python = used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime
    os.unlink(file.name)
    return (
        f"import_events: {count:,} events in {seconds:.1f} s = {count / seconds:,.0f} events/s "
        f"(the command's CPU: {python:.1f} s, {python / count * 1e6:.1f} us an event)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events-per-user", type=int, default=20)
    parser.add_argument(
        "--import-events", type=int, default=500_000, help="0 skips timing import_events"
    )
    parser.add_argument("--reuse", action="store_true", help="keep a previous run's data")
    parser.add_argument("--no-counts", action="store_true", help="time the import alone")
    args = parser.parse_args()
    os.environ.setdefault(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/callout_behaviour_bench"
    )
    _common.setup_django()
    from django.db import connection

    from segments import actions
    from segments.models import Application, Segment

    application = Application.objects.filter(name="Behaviour bench").first()
    if application is None or not args.reuse:
        Application.objects.filter(name="Behaviour bench").delete()
        application = actions.application_create(name="Behaviour bench")
        for key, type_ in _common.TRAIT_TYPES.items():
            actions.trait_definition_create(application=application, key=key, type=type_)
        seconds = load(application.pk, args.users, args.events_per_user, kept=4)
        total = args.users * args.events_per_user
        print(f"loaded {args.users:,} users and {total:,} events in {seconds:.0f} s")
    segments = {}
    for name, definition in () if args.no_counts else SEGMENTS.items():
        Segment.objects.filter(application=application, name=name).delete()
        segments[name] = actions.segment_create(
            application=application, name=name, definition=definition
        )
    if segments:
        print(f"{'segment':<52} {'members':>9} {'warm count':>12}")
    for name, segment in segments.items():
        members = segment.members()
        seconds, n = _common.timed(members.count)
        print(f"{name:<52} {n:>9,} {_common.ms(seconds):>12}")
        sql, params = members.order_by().values("pk").query.sql_with_params()
        for path in _common.access_paths(f"SELECT count(*) FROM ({sql}) AS m", params):
            print(f"    {path}")
    if args.import_events > 0:
        print(import_rate(application, args.import_events, args.users))
    # The machine may be shared: the load says how much of its cores the counts had.
    busy = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"PostgreSQL {connection.pg_version}, {os.cpu_count()} cores, load average {busy}")


if __name__ == "__main__":
    main()
