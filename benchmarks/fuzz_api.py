"""The snippet's API under generated abuse: the figures of issue 11, from one command.

    .venv/bin/python benchmarks/fuzz_api.py --requests 10000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/callout_fuzz \\
        .venv/bin/python benchmarks/fuzz_api.py --requests 10000

Runs tests/experiences/test_fuzz.py (the calls of tests/experiences/api_fuzz.py, fixed seed,
rate limits off) on a fresh test database, SQLite or the DATABASE_URL one (pytest creates
test_<name>), and prints: requests sent, by method and endpoint, by status, by error code,
5xx, 4xx not in our JSON error shape with CORS, refused requests that wrote rows, valid calls
refused. Exits non-zero when any of the last figures is not 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    args = parser.parse_args()
    os.environ["FUZZ_REQUESTS"] = str(args.requests)
    os.chdir(ROOT)
    import pytest

    database = os.environ.get("DATABASE_URL", "sqlite (the test default)")
    print(f"fuzzing the API with {args.requests:,} requests on {database}")
    started = time.monotonic()
    # -p no:logging: Django's "Bad Request: /api/v1/..." warnings, thousands of them, are not
    # the figures.
    code = pytest.main(
        ["tests/experiences/test_fuzz.py", "-q", "-p", "no:logging", "--no-header", "-rN"]
    )
    print(f"{time.monotonic() - started:.0f} s")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
