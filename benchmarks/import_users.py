"""manage.py import_users over 1,000,000 CSV rows: a first import, a re-run, a merge.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/callout_bench
    .venv/bin/python benchmarks/import_users.py            # 1,000,000 rows
    .venv/bin/python benchmarks/import_users.py --rows 100000

Writes the CSV to a temporary directory, imports it into a fresh "Import benchmark"
application three times (new users; the same file again; every teamSize changed), and prints
rows per second for each next to identify called once per user. One row in 100,000 has a bad
teamSize, so rejects are exercised too. Target: 20,000 rows/s for the first import; measured
30,000-32,000 on the shared 2-core machine (docs/scale.md has the runs).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import _common

COLUMNS = ["id", *_common.TRAIT_TYPES]


def write_csv(path: Path, rows: int, bump: int = 0) -> None:
    rng = random.Random(11)
    today = datetime.now(UTC)
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for n in range(rows):
            traits = _common.user_traits(n, rng, today)
            traits["teamSize"] += bump
            if n % 100_000 == 99_999:
                traits["teamSize"] = "n/a"
            writer.writerow(
                [f"imp-{n}"]
                + [
                    ("true" if traits[c] else "false")
                    if isinstance(traits.get(c), bool)
                    else traits.get(c, "")
                    for c in COLUMNS[1:]
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    _common.setup_django()

    from django.core.management import call_command
    from django.db import connection

    from segments import actions
    from segments.models import Application, Rule

    old = Application.objects.filter(name="Import benchmark").first()
    if old is not None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM segments_enduser WHERE application_id = %s", [old.pk])
            # Clear the previous run's dead rows now: otherwise autovacuum does it during the
            # measured import, on one of the machine's two cores.
            cursor.execute("VACUUM segments_enduser")
        Rule.objects.filter(segment__application=old).delete()
        old.delete()
    app = actions.application_create(name="Import benchmark")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM segments_enduser")
        (others,) = cursor.fetchone()
    print(f"{args.rows:,} CSV rows into a table already holding {others:,} other users")

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp) / "users.csv"
        changed = Path(tmp) / "users-changed.csv"
        began = time.perf_counter()
        write_csv(first, args.rows)
        write_csv(changed, args.rows, bump=1)
        print(
            f"wrote 2 CSV files of {first.stat().st_size / 1e6:,.0f} MB in "
            f"{time.perf_counter() - began:.1f} s"
        )
        runs = [
            ("first import (all new)", first),
            ("same file again (unchanged)", first),
            ("every teamSize changed (merge)", changed),
        ]
        for label, path in runs:
            out = StringIO()
            began = time.perf_counter()
            call_command(
                "import_users", str(path), "--app", str(app.pk), "--no-progress",
                "--company-column", "",  # its company column is a user trait (the figures')
                "--type", "teamSize=number", "--type", "beta=boolean", "--type", "signupDate=date",
                stdout=out, stderr=StringIO(),
            )  # fmt: skip
            seconds = time.perf_counter() - began
            results.append((label, seconds, out.getvalue().strip()))
            print(f"{label:<32} {args.rows / seconds:>10,.0f} rows/s  {out.getvalue().strip()}")

    # The same users one identify call at a time, for comparison.
    rng = random.Random(3)
    today = datetime.now(UTC)
    calls = 500
    began = time.perf_counter()
    for n in range(calls):
        actions.end_user_identify(
            application=app, external_id=f"idf-{n}", traits=_common.user_traits(n, rng, today)
        )
    identify_rate = calls / (time.perf_counter() - began)

    print("\n=== Summary (rows per second, whole command: read, validate, COPY, merge)")
    for label, seconds, _ in results:
        rate = args.rows / seconds
        print(
            f"{label:<32} {rate:>10,.0f} rows/s  {seconds:>6.1f} s  "
            f"x{rate / identify_rate:,.0f} identify's rate"
        )
    print(f"{'identify, one call per user':<32} {identify_rate:>10,.0f} rows/s  ({calls:,} calls)")
    target = args.rows / results[0][1]
    print(f"target 20,000 rows/s for the first import: {'met' if target >= 20_000 else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
