"""Profile the serve path in one process, through Django's WSGI handler (no test client, whose
signal connections per request skew a profile, and no network).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/callout_serve_bench \\
        .venv/bin/python benchmarks/profile_serve.py experiences [--requests 2000] [--profile]

Needs the data of ``benchmarks/serve.py`` (run it once; ``--reuse`` keeps it). Prints the mean
time per request for the target (floor, experiences, identify, track or companies), with the
CPU time of this process and of its PostgreSQL backend; ``--profile`` adds cProfile's top
functions. For a sampling profile without cProfile's overhead:
``py-spy record -f raw -o out.raw -- .venv/bin/python benchmarks/profile_serve.py experiences``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.bench_settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/callout_serve_bench")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")


def requester(target: str, users: int) -> Callable[[], bytes]:
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    from segments.models import Application

    handler = WSGIHandler()
    key = Application.objects.get(name="Bench").public_key
    events_key = Application.objects.get(name="Bench events").public_key
    companies_key = Application.objects.get(name="Bench companies").public_key
    rng = random.Random(1)

    def environ(method: str, path: str, query: str = "", body: bytes = b"") -> dict[str, Any]:
        return {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "CONTENT_TYPE": "text/plain",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }

    def request() -> bytes:
        user = f"user-{rng.randrange(users)}"
        if target == "floor":
            env = environ("GET", "/api/v1/floor")
        elif target in ("experiences", "companies"):
            app_key = key if target == "experiences" else companies_key
            query = f"key={app_key}&id={user}&url=%2Fdashboard"
            env = environ("GET", "/api/v1/experiences", query)
        elif target == "track":  # as serve.py's: 20 events of 10 names, the events application
            events = [{"name": f"event_{rng.randrange(10)}"} for _ in range(20)]
            body = {"key": events_key, "id": user, "events": events}
            env = environ("POST", "/api/v1/track", body=json.dumps(body).encode())
        else:
            body = {
                "key": key,
                "id": user,
                "url": "https://app.example.com/dashboard",
                "traits": {"sessions": rng.randrange(300)},
            }
            env = environ("POST", "/api/v1/identify", body=json.dumps(body).encode())
        status: list[str] = []
        content = b"".join(handler(env, lambda s, headers: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"{target}: {status[0]} {content[:300]!r}")
        return content

    return request


def backend_cpu() -> Callable[[], float]:
    """The CPU seconds so far of this process's PostgreSQL backend (same machine, Linux): its
    share of a request is what a busy machine's wall clock hides."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    ticks = os.sysconf("SC_CLK_TCK")

    def seconds() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime

    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    targets = ["floor", "experiences", "identify", "track", "companies"]
    parser.add_argument("target", choices=targets)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    request = requester(args.target, args.users)
    for _ in range(50):  # compile the targeting, prepare the statements
        request()
    backend = backend_cpu()
    started, cpu, db = time.perf_counter(), time.process_time(), backend()
    for _ in range(args.requests):
        request()
    per = 1e6 / args.requests
    elapsed = (time.perf_counter() - started) * per
    print(
        f"{args.target}: {elapsed:.0f} us per request over {args.requests} "
        f"(CPU: this process {(time.process_time() - cpu) * per:.0f} us, "
        f"its PostgreSQL backend {(backend() - db) * per:.0f} us)"
    )
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            request()
        profile.disable()
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumtime").print_stats(30)


if __name__ == "__main__":
    main()
