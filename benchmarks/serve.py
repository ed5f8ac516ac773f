"""Serve throughput: the API's serve path against the framework's floor, side by side.

    apt-get install -y wrk
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/callout_serve_bench \\
        .venv/bin/python benchmarks/serve.py [--users 100000] [--seconds 5] [--rounds 5] \\
        [--reuse] [--targets identify,track]

Fills the database (it is dropped and re-created) with 100 segments of 5 rules, 200 published
experiences with URL patterns and 100,000 users; starts gunicorn (one sync worker per core) and
drives it from wrk on loopback against, in turn:
  floor        a trivial JSON view under /api/ (routing, middleware, JsonResponse)
  experiences  GET /api/v1/experiences for a random user and a dashboard URL
  identify     POST /api/v1/identify with a url (a trait change and the serve, one round trip)
  events       GET /api/v1/experiences of a second application like the first, where 20 of the
               segments also carry an event rule and every user has 50 events (issue 13)
  track        POST /api/v1/track with 20 events per call, to the second application
  companies    GET /api/v1/experiences of a third application like the first, whose users
               belong to 5,000 companies, where 20 of the segments also carry a company trait
               rule and 5 of those a company_users count (issue 14: against experiences)
It prints requests per second, p50 and p99 latency for each, and the ratios to the floor. The
targets are interleaved over rounds (the ratios of each round are measured side by side); the
median round is reported, and each target is judged on its median ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/callout_serve_bench"

PLANS = ["free", "pro", "enterprise"]
ROLES = ["admin", "member", "viewer"]
COUNTRIES = ["US", "DE", "FR", "GB", "IN", "BR", "JP"]


def run_django(code: str, env: dict[str, str]) -> str:
    """Run ORM code in a fresh interpreter (keeps this process free of Django state)."""
    prelude = "import django; django.setup()\n"
    # A load is a management task: no statement timeout (the serve's 15 s cancelled a COPY of
    # 250,000 events on a busy machine).
    result = subprocess.run(
        [PYTHON, "-c", prelude + code],
        env={**env, "DB_STATEMENT_TIMEOUT": "0"},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        sys.stderr.write(result.stderr)
        result.check_returncode()
    return result.stdout


def fill(env: dict[str, str], users: int) -> str:
    code = f"""
import random
from datetime import timedelta
from django.utils import timezone
from segments import actions
from segments.models import Application, EndUser
from experiences.models import Experience

rng = random.Random(1)
app = actions.application_create(name="Bench")
for key, type_ in [("plan", "string"), ("role", "string"), ("country", "string"),
                   ("email", "string"), ("teamSize", "number"), ("sessions", "number"),
                   ("signupDate", "date")]:
    actions.trait_definition_create(application=app, key=key, type=type_)
today = timezone.now().date()
batch = []
for n in range({users}):
    batch.append(EndUser(application=app, external_id=f"user-{{n}}", traits={{
        "plan": rng.choice({PLANS!r}), "role": rng.choice({ROLES!r}),
        "country": rng.choice({COUNTRIES!r}), "email": f"user{{n}}@example.com",
        "teamSize": rng.randint(1, 500), "sessions": rng.randint(0, 300),
        "signupDate": (today - timedelta(days=rng.randint(0, 400))).isoformat()}}))
    if len(batch) == 5000:
        EndUser.objects.bulk_create(batch); batch = []
EndUser.objects.bulk_create(batch)
segments = []
for s in range(100):
    rules = [
        {{"trait": "plan", "operator": "in", "value": rng.sample({PLANS!r}, 2)}},
        {{"trait": "role", "operator": "not_equals", "value": rng.choice({ROLES!r})}},
        {{"trait": "email", "operator": "contains", "value": "example"}},
        {{"trait": "teamSize", "operator": "greater_than", "value": rng.randint(1, 50)}},
        {{"trait": "signupDate", "operator": "within_last_days", "value": rng.randint(30, 400)}},
    ]
    segments.append(actions.segment_create(application=app, name=f"Segment {{s}}", rules=rules))
patterns = ["/dashboard", "/app/*/dashboard", "/settings/**", "/projects/:id", "/billing?tab=plan"]
for e in range(200):
    experience = Experience.objects.create(
        application=app, name=f"Experience {{e}}", kind="banner", status="published",
        content={{"text": f"Hello {{e}}"}}, priority=rng.randint(0, 100),
        frequency=rng.choice(["once", "until_completed", "every_time"]),
        url_include=rng.sample(patterns, 2), url_exclude=["/settings/danger"],
    )
    experience.segments.set(rng.sample(segments, rng.randint(1, 3)))
print(app.public_key)
"""
    return run_django(code, env).strip().splitlines()[-1]


EVENT_NAMES = [f"event_{n}" for n in range(10)]


def fill_events(env: dict[str, str], users: int) -> str:
    """A second application like the first ("Bench events"), where 20 of the 100 segments also
    carry an event rule and every user has 50 events over the last 90 days: raw rows (COPY) and
    the activity summaries the serve reads."""
    code = f"""
import io, json, random, time
from datetime import UTC, datetime, timedelta
from django.db import connection
from benchmarks._common import application_like, copy_targeting
from segments.activity import summarise
from segments.models import Application, EndUser, TrackedEvent

rng = random.Random(2)
source = Application.objects.get(name="Bench")
app = application_like(source, "Bench events")

def with_event(s, definition):
    if s < 20:
        definition["rules"].append({{"event": rng.choice({EVENT_NAMES!r}), "operator": "at_least",
            "value": rng.randint(1, 5), "within_days": rng.randint(7, 60)}})
    return definition

copy_targeting(source, app, with_event)
app.refresh_from_db()
now = time.time()
table = TrackedEvent._meta.db_table
for start in range(0, {users}, 5000):
    users = []
    rows = io.StringIO()
    for n in range(start, min(start + 5000, {users})):
        events = [(rng.choice({EVENT_NAMES!r}), now - rng.uniform(0, 90 * 86400))
                  for _ in range(50)]
        users.append(EndUser(application=app, external_id=f"user-{{n}}",
            traits={{}},
            activity=summarise(events, kept=app.events_kept)))
        users[-1]._events = events
    created = EndUser.objects.bulk_create(users)
    for user in created:
        for name, when in user._events:
            stamp = datetime.fromtimestamp(when, UTC).isoformat()
            rows.write(f"{{app.pk}}\\t{{user.pk}}\\t{{name}}\\t{{stamp}}\\t{{{{}}}}\\t\\t{{stamp}}\\n")
    with connection.cursor() as cursor:
        with cursor.connection.cursor().copy(
            f"COPY {{table}} (application_id, end_user_id, name, timestamp, properties, "
            "event_id, received_at) FROM STDIN"
        ) as copy:
            copy.write(rows.getvalue())
# The same traits as the first application's users, so that both serve the same audiences.
with connection.cursor() as cursor:
    cursor.execute(
        "UPDATE segments_enduser u SET traits = s.traits FROM segments_enduser s "
        "WHERE u.application_id = %s AND s.application_id = %s AND s.external_id = u.external_id",
        [app.pk, source.pk],
    )
print(app.public_key)
"""
    return run_django(code, env).strip().splitlines()[-1]


COMPANY_PLANS = ["trial", "starter", "business"]


def fill_companies(env: dict[str, str], users: int) -> str:
    """A third application like the first ("Bench companies"): its users, with the same
    traits, belong to 5,000 companies (every 20th user to none); 20 of the 100 segments also
    carry a company trait rule, and 5 of those a ``company_users`` count of a segment that
    holds about a third of the users (a second query on the serve, when a rule reads it)."""
    code = f"""
import random
from django.db import connection
from benchmarks._common import application_like, copy_targeting
from segments import actions
from segments.models import Application

rng = random.Random(3)
source = Application.objects.get(name="Bench")
app = application_like(source, "Bench companies")
for key, type_ in [("plan", "string"), ("seats", "number")]:
    actions.trait_definition_create(application=app, key=key, type=type_, scope="company")
with connection.cursor() as cursor:
    cursor.execute(
        "INSERT INTO segments_company (application_id, external_id, traits, first_seen, "
        "last_seen) SELECT %s, 'company-' || n, jsonb_build_object('plan', "
        "(ARRAY{COMPANY_PLANS!r})[1 + n %% 3], 'seats', 1 + (n * 7919) %% 500), now(), now() "
        "FROM generate_series(0, 4999) AS n",
        [app.pk],
    )
    cursor.execute(
        "INSERT INTO segments_enduser (application_id, external_id, traits, activity, "
        "first_seen, last_seen, company_id) "
        "SELECT %s, s.external_id, s.traits, s.activity, s.first_seen, s.last_seen, "
        "CASE WHEN hashtext(s.external_id) %% 20 = 0 THEN NULL ELSE c.id END "
        "FROM segments_enduser s LEFT JOIN segments_company c ON c.application_id = %s "
        "AND c.external_id = 'company-' || (abs(hashtext(s.external_id)) %% 5000) "
        "WHERE s.application_id = %s",
        [app.pk, app.pk, source.pk],
    )
    cursor.execute("ANALYZE segments_company")
    cursor.execute("ANALYZE segments_enduser")
admins = actions.segment_create(application=app, name="Admins", rules=[
    {{"trait": "role", "operator": "equals", "value": "admin"}}])

def with_company(s, definition):
    if s < 20:
        definition["rules"].append({{"company_trait": "plan", "operator": "in",
            "value": rng.sample({COMPANY_PLANS!r}, 2)}})
    if s < 5:
        definition["rules"].append({{"company_users": {{"segment": admins.pk}},
            "operator": "at_least", "value": rng.randint(1, 5)}})
    return definition

copy_targeting(source, app, with_company)
print(app.public_key)
"""
    return run_django(code, env).strip().splitlines()[-1]


def filled_key(env: dict[str, str], name: str = "Bench") -> str | None:
    """The public key of a previous run's data, or None when there is none to reuse."""
    code = f"""
from django.db.utils import DatabaseError
try:
    from segments.models import Application
    app = Application.objects.filter(name={name!r}).first()
    print(app.public_key if app and app.end_users.exists() else "")
except DatabaseError:
    print("")
"""
    try:
        lines = run_django(code, env).strip().splitlines()
    except subprocess.CalledProcessError:
        return None
    return lines[-1] if lines and lines[-1] else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer {url}")


# GET path?key=...&id=<random user>&url=/dashboard. The floor gets the same script as
# GET experiences (it ignores the query string): the load generator shares the two cores, so
# its own cost per request must be the same on both sides of a ratio.
LUA_GET = """
math.randomseed(%(seed)d)
request = function()
  local id = "user-" .. math.random(0, %(users)d - 1)
  return wrk.format("GET", "%(path)s?key=%(key)s&id=" .. id .. "&url=%%2Fdashboard")
end
"""

LUA_IDENTIFY = """
math.randomseed(%(seed)d)
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
request = function()
  local id = "user-" .. math.random(0, %(users)d - 1)
  local body = '{"key": "%(key)s", "id": "' .. id .. '", '
    .. '"url": "https://app.example.com/dashboard", '
    .. '"traits": {"sessions": ' .. math.random(0, 300) .. '}}'
  return wrk.format(nil, "/api/v1/identify", nil, body)
end
"""


LUA_TRACK = """
math.randomseed(%(seed)d)
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
local names = {%(names)s}
request = function()
  local id = "user-" .. math.random(0, %(users)d - 1)
  local events = {}
  for i = 1, 20 do
    events[i] = '{"name": "' .. names[math.random(1, #names)] .. '"}'
  end
  local body = '{"key": "%(key)s", "id": "' .. id .. '", "events": ['
    .. table.concat(events, ", ") .. ']}'
  return wrk.format(nil, "/api/v1/track", nil, body)
end
"""


# At least these fractions of the floor (median of the rounds): issue 10 (experiences,
# identify) and issue 13 (events: the serve with event rules).
GOALS = {"experiences": 0.65, "identify": 0.5, "events": 0.5}
# ... and of another target: issue 13, track (20 events per call) against identify.
# issue 14, company rules: no regression beyond 10% against the same serve without them.
RELATIVE_GOALS = {"track": ("identify", 0.5), "companies": ("experiences", 0.9)}


def parse_wrk(output: str) -> dict[str, float]:
    def millis(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = millis(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = millis(re.search(r"\s99%\s+(\S+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    # "Socket errors: connect 0, read 0, write 0, timeout 0" (absent when there are none)
    sockets = re.search(r"Socket errors: (.*)", output)
    socket_errors = sum(int(n) for n in re.findall(r"\d+", sockets.group(1))) if sockets else 0
    return {
        "rps": rps,
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50": p50,
        "p99": p99,
        "non2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors,
    }


def drive(base: str, target: str, script: str | None, seconds: int, connections: int) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        if script:
            lua.write(script)
    if script:
        command += ["-s", lua.name]
    command.append(base + target)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    os.unlink(lua.name)
    return parse_wrk(output)


def prepare(users: int, reuse: bool) -> tuple[dict[str, str], str, str, str]:
    """The environment for the benchmark's processes and the filled applications' public keys
    (trait rules only, with event rules, with company rules): the database (DATABASE_URL,
    PostgreSQL) is dropped and filled, or reused (``reuse``)."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    database = os.environ.get("DATABASE_URL", DEFAULT_DB)
    if not database.startswith("postgres"):
        raise SystemExit("The serve benchmarks run on PostgreSQL: set DATABASE_URL=postgres://...")
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "PYTHONPATH": str(ROOT),
        "SECRET_KEY": "bench-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    key = filled_key(env) if reuse else None
    if key is None:
        name = database.rsplit("/", 1)[1]
        admin = database.rsplit("/", 1)[0] + "/postgres"
        subprocess.run(
            [
                "psql",
                admin,
                "-qc",
                f'DROP DATABASE IF EXISTS "{name}"',
                "-c",
                f'CREATE DATABASE "{name}"',
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
        started = time.time()
        key = fill(env, users)
        print(
            f"filled {users:,} users, 100 segments x 5 rules, 200 experiences "
            f"in {time.time() - started:.0f}s"
        )
    else:
        # New migrations of this branch apply to the kept data.
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
        print(f"reusing the filled database ({database.rsplit('/', 1)[1]})")
    events_key = filled_key(env, "Bench events")
    if events_key is None:
        started = time.time()
        events_key = fill_events(env, users)
        print(
            f"filled a second application: 20 segments with an event rule, {users:,} users "
            f"x 50 events, in {time.time() - started:.0f}s"
        )
    companies_key = filled_key(env, "Bench companies")
    if companies_key is None:
        started = time.time()
        companies_key = fill_companies(env, users)
        print(
            f"filled a third application: {users:,} users in 5,000 companies, 20 segments "
            f"with a company rule, in {time.time() - started:.0f}s"
        )
    return env, key, events_key, companies_key


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int) -> Iterator[str]:
    """gunicorn with the deployment's settings on a free loopback port: its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "callout.wsgi:application",
            "--config",  # the deployment's gunicorn settings (docs/deploy.md)
            str(ROOT / "callout" / "gunicorn.conf.py"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        wait_until_up(base + "/api/v1/floor")
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def targets(
    users: int, key: str, events_key: str, companies_key: str
) -> dict[str, tuple[str, str]]:
    """Each target's (path, wrk script)."""
    lua = {"users": users, "key": key}
    names = ", ".join(f'"{name}"' for name in EVENT_NAMES)
    return {
        "floor": ("/", LUA_GET % {**lua, "seed": 3, "path": "/api/v1/floor"}),
        "experiences": ("/", LUA_GET % {**lua, "seed": 1, "path": "/api/v1/experiences"}),
        "identify": ("/", LUA_IDENTIFY % {**lua, "seed": 2}),
        "events": (
            "/",
            LUA_GET % {**lua, "key": events_key, "seed": 4, "path": "/api/v1/experiences"},
        ),
        "track": ("/", LUA_TRACK % {**lua, "key": events_key, "seed": 5, "names": names}),
        # The same users (seed) as experiences: the ratio between the two is the company rules'
        "companies": (
            "/",
            LUA_GET % {**lua, "key": companies_key, "seed": 1, "path": "/api/v1/experiences"},
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--reuse", action="store_true", help="keep the data of a previous run")
    parser.add_argument(
        "--targets",
        default="experiences,identify,events,track,companies",
        help="which targets to drive besides the floor, comma-separated (default: all); e.g. "
        "identify,track with short rounds for many side-by-side ratios on a noisy machine",
    )
    args = parser.parse_args()
    wanted = {"floor", *args.targets.split(",")}
    env, key, events_key, companies_key = prepare(args.users, args.reuse)
    goals = {name: goal for name, goal in GOALS.items() if name in wanted}
    relative = {
        name: (other, goal)
        for name, (other, goal) in RELATIVE_GOALS.items()
        if {name, other} <= wanted
    }
    with gunicorn(env, args.workers) as base:
        chosen = {
            name: target
            for name, target in targets(args.users, key, events_key, companies_key).items()
            if name in wanted
        }
        for path, script in chosen.values():  # warm every worker's caches
            drive(base, path, script, 2, args.connections)
        rounds: list[dict[str, dict]] = []
        for number in range(1, args.rounds + 1):
            results = {
                name: drive(base, path, script, args.seconds, args.connections)
                for name, (path, script) in chosen.items()
            }
            rounds.append(results)
            floor = results["floor"]["rps"]
            print(
                f"round {number}: "
                + ", ".join(f"{name} {r['rps']:.0f} req/s" for name, r in results.items())
                + " | "
                + ", ".join(f"{n} {results[n]['rps'] / floor:.2f}x" for n in goals)
                + "".join(
                    f", {n} {results[n]['rps'] / results[other]['rps']:.2f}x {other}"
                    for n, (other, _) in relative.items()
                )
            )

    print(
        f"gunicorn {args.workers} sync workers, wrk -t1 -c{args.connections} "
        f"-d{args.seconds}s, {args.rounds} rounds, {os.cpu_count()} cores"
    )
    # The round with the median experiences ratio (or the first goal's driven): its figures
    # were measured together, minutes apart at most, so a load that came and went elsewhere
    # on the machine (it is noisy) moves them together.
    judged = next(iter(goals), None)
    if judged:
        ordered = sorted(rounds, key=lambda r: r[judged]["rps"] / r["floor"]["rps"])
    else:
        ordered = sorted(rounds, key=lambda r: r["floor"]["rps"])
    median = ordered[len(ordered) // 2]
    print(f"{'target':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x floor':>8} {'non-2xx':>8}")
    floor = median["floor"]["rps"]
    for name, r in median.items():
        print(
            f"{name:<12} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
            f"{r['rps'] / floor:>8.2f} {r['non2xx']:>8}"
        )
    for name, goal in goals.items():
        ratios = sorted(r[name]["rps"] / r["floor"]["rps"] for r in rounds)
        ratio = ratios[len(ratios) // 2]
        print(
            f"target {name} >= {goal} x floor: {'met' if ratio >= goal else 'NOT met'} "
            f"(median of {len(ratios)} rounds {ratio:.2f}; "
            f"range {ratios[0]:.2f}-{ratios[-1]:.2f})"
        )
    for name, (other, goal) in relative.items():
        ratios = sorted(r[name]["rps"] / r[other]["rps"] for r in rounds)
        ratio = ratios[len(ratios) // 2]
        print(
            f"target {name} >= {goal} x {other}: {'met' if ratio >= goal else 'NOT met'} "
            f"(median of {len(ratios)} rounds {ratio:.2f}; "
            f"range {ratios[0]:.2f}-{ratios[-1]:.2f})"
        )


if __name__ == "__main__":
    random.seed(0)
    main()
