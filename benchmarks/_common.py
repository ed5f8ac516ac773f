"""Shared by the benchmarks: Django set-up on a benchmark database, and COPY-speed user data."""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/callout_bench"


def setup_django() -> None:
    """Point Django at DATABASE_URL (default: the callout_bench database), create that database
    when missing, and migrate it."""
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("The benchmarks need PostgreSQL: DATABASE_URL=postgres://user@host:5432/name")
    _create_database(url)
    sys.path.insert(0, str(ROOT))
    # Loading a million users and counting them unindexed run long on purpose: no statement
    # timeout here (callout/settings.py gives requests one), unless asked for.
    os.environ.setdefault("DB_STATEMENT_TIMEOUT", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callout.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _create_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


COMPANIES = [
    "Acme Corp", "Acme Labs", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries",
    "Wayne Enterprises", "Vandelay Industries", "Soylent", "Wonka", "Cyberdyne",
]  # fmt: skip
COUNTRIES = ["US", "GB", "DE", "FR", "IN", "BR", "JP", "CA", "AU", "NL"]

TRAIT_TYPES = {
    "plan": "string",
    "role": "string",
    "company": "string",
    "country": "string",
    "email": "string",
    "teamSize": "number",
    "signupDate": "date",
    "beta": "boolean",
}


def user_traits(n: int, rng: random.Random, today: datetime) -> dict[str, Any]:
    """Traits shaped like seed_demo's: skewed plans, a lognormal team size, recent signups."""
    plan = rng.choices(("free", "pro", "enterprise"), (55, 30, 15))[0]
    traits: dict[str, Any] = {
        "plan": plan,
        "role": rng.choices(("admin", "member", "viewer"), (15, 70, 15))[0],
        "company": rng.choice(COMPANIES),
        "country": rng.choice(COUNTRIES),
        "email": f"user{n}@example.com",
        "teamSize": max(1, int(rng.lognormvariate(2.0 if plan == "free" else 3.0, 1.0))),
        "signupDate": (today - timedelta(days=int(rng.expovariate(1 / 120)))).date().isoformat(),
        "beta": rng.random() < 0.1,
    }
    if rng.random() < 0.05:  # some users never told us their company
        del traits["company"]
    return traits


def copy_users(application_id: int, start: int, stop: int, seed: int = 2026) -> float:
    """Users ``start`` to ``stop - 1`` of one application, by COPY. Returns the seconds taken."""
    from django.db import connection, transaction

    rng = random.Random(seed + start)
    today = datetime.now(UTC)
    began = time.perf_counter()
    now = today.isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        columns = "application_id, external_id, traits, first_seen, last_seen"
        with cursor.copy(f"COPY segments_enduser ({columns}) FROM STDIN") as copy:
            for n in range(start, stop):
                traits = json.dumps(user_traits(n, rng, today), separators=(",", ":"))
                copy.write_row((application_id, f"user-{n}", traits, now, now))
    return time.perf_counter() - began


def vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE segments_enduser")


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Warm once, then the median of ``repeat`` runs, in seconds, and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def access_paths(sql: str, params: Any) -> Iterator[str]:
    """EXPLAIN (ANALYZE, BUFFERS): the lines that say how rows are reached."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        for (line,) in cursor.fetchall():
            text = line.strip().removeprefix("->").strip()
            if any(word in text for word in ("Scan", "Workers Launched", "Buffers")):
                yield text


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def application_like(source: Any, name: str) -> Any:
    """A new application with ``source``'s user trait definitions (serve.py's second and
    third applications; ``copy_targeting`` then copies its segments and experiences)."""
    from segments import actions

    app = actions.application_create(name=name)
    for trait in source.trait_definitions.users():
        actions.trait_definition_create(application=app, key=trait.key, type=trait.type)
    return app


def copy_targeting(source: Any, app: Any, extend: Callable[[int, dict], dict]) -> None:
    """``source``'s segments (each definition through ``extend(position, definition)``) and
    published experiences, with the same names, into ``app``."""
    from segments import actions

    for position, segment in enumerate(source.segments.filter(is_builtin=False).order_by("pk")):
        definition = extend(position, segment.definition)
        actions.segment_create(application=app, name=segment.name, definition=definition)
    by_name = {s.name: s for s in app.segments.all()}
    for experience in source.experiences.all():
        segments = [by_name[s.name] for s in experience.segments.all()]
        experience.pk = None
        experience.application = app
        experience.save()
        experience.segments.set(segments)
