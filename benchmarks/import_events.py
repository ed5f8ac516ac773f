"""manage.py import_events over 1,000,000 JSON lines: a first import, then the same file again.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/callout_bench
    .venv/bin/python benchmarks/import_events.py                        # 1,000,000 events
    .venv/bin/python benchmarks/import_events.py --events 200000 --users 20000

Writes the file to a temporary directory: events over the last 300 days in time order (as an
analytics export is), each by a random one of --users users (new to a fresh "Events benchmark"
application: the first import creates them), six names, a property object on one line in
three, an event_id on every line. Imports it, then imports it again (every event skipped by
its event_id, nothing counted twice), and prints events per second for each, with the CPU
time of this process and of its PostgreSQL backend (read from /proc: a database on this
machine). Target (issue 13): 50,000 events per second; docs/scale.md has the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

import _common

NAMES = [
    "project_created",
    "teammate_invited",
    "page_viewed",
    "report_exported",
    "comment_added",
    "upgraded",
]


def write_jsonl(path: Path, events: int, users: int) -> None:
    rng = random.Random(13)
    start = time.time() - 300 * 86400
    step = 299 * 86400 / events
    with open(path, "w") as out:
        for n in range(events):
            line = {
                "id": f"evu-{rng.randrange(users)}",
                "name": rng.choice(NAMES),
                "timestamp": round(start + n * step, 3),
                "event_id": f"bench-{n}",
            }
            if n % 3 == 0:
                line["properties"] = {"plan": rng.choice(["free", "pro"]), "count": n % 50}
            out.write(json.dumps(line) + "\n")


def backend_cpu(connection: object) -> float | None:
    """CPU seconds of this connection's PostgreSQL backend so far, if it runs on this machine."""
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()
    _common.setup_django()

    from django.core.management import call_command
    from django.db import connection

    from segments import actions
    from segments.models import Application

    old = Application.objects.filter(name="Events benchmark").first()
    if old is not None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM segments_trackedevent WHERE application_id = %s", [old.pk])
            cursor.execute("DELETE FROM segments_enduser WHERE application_id = %s", [old.pk])
            # The previous run's dead rows cleared now, not by autovacuum during the import.
            cursor.execute("VACUUM segments_trackedevent, segments_enduser")
        old.delete()
    app = actions.application_create(name="Events benchmark")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM segments_trackedevent")
        (others,) = cursor.fetchone()
    print(f"{args.events:,} events of {args.users:,} users; {others:,} other events stored")

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        began = time.perf_counter()
        write_jsonl(path, args.events, args.users)
        print(f"wrote {path.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - began:.1f} s")
        for label in ("first import (new users)", "same file again (all skipped)"):
            out = StringIO()
            pg_before, cpu_before = backend_cpu(connection), time.process_time()
            began = time.perf_counter()
            call_command(
                "import_events", str(path), "--app", str(app.pk), "--no-progress", stdout=out
            )
            seconds = time.perf_counter() - began
            python = time.process_time() - cpu_before
            pg_after = backend_cpu(connection)
            postgres = None if pg_before is None or pg_after is None else pg_after - pg_before
            results.append((label, seconds, python, postgres))
            print(f"{label:<30} {args.events / seconds:>9,.0f} events/s  {out.getvalue().strip()}")

    print("\n=== Summary (events per second, whole command: read, check, COPY, insert, summaries)")
    for label, seconds, python, postgres in results:
        pg = f"{postgres:6.1f} s" if postgres is not None else "     ?"
        print(
            f"{label:<30} {args.events / seconds:>9,.0f} events/s  {seconds:6.1f} s wall, "
            f"CPU: Python {python:6.1f} s, PostgreSQL backend {pg}"
        )
    rate = args.events / results[0][1]
    print(f"target 50,000 events/s for the first import: {'met' if rate >= 50_000 else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
