"""The read replica (DATABASE_REPLICA_URL): Engage's reads go to it, everything else stays on
the primary, and a replica that lags or is gone is passed over without an error page.

What reads the replica: ORM reads of the apps' own models (segments, experiences: counts,
previews, lists, exports) during an Engage GET or HEAD request. What never does: every write;
the snippet's API (/api/, whose serve must see identify's write of a moment ago); the admin;
sessions, users and login attempts (a login's redirect must find the session it just wrote);
management commands; and the requests of a browser for REPLICA_PIN_SECONDS after it wrote
(a POST, PUT, PATCH or DELETE sets a cookie), so that a manager sees their own edit.

When the replica may be read is decided per process and cached for REPLICA_CHECK_SECONDS: it
must answer (within DB_CONNECT_TIMEOUT), be in recovery with its WAL receiver streaming, and
lag at most REPLICA_MAX_LAG seconds: ``now() - pg_last_xact_replay_timestamp()``, or, when no
transaction has been replayed yet or the primary has been idle (that difference then grows
with no lag at all), every WAL byte received has been replayed. A query that fails on the
replica mid-request makes the request run again on the primary (GET and HEAD only, which are
safe to repeat).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

ALIAS = "replica"
PIN_COOKIE = "callout_primary"
ROUTED_APPS = {"segments", "experiences"}
SAFE = {"GET", "HEAD"}
EXCLUDED_PREFIXES = ("/api/", "/admin/", "/healthz", "/static/")

# Per request (a contextvar: each thread of a threaded server has its own): may this request
# read the replica, and did it?
_eligible: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_eligible", default=False)
_used: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "replica_used", default=None
)


def configured() -> bool:
    return ALIAS in settings.DATABASES


class _Health:
    """Whether the replica may be read, checked at most every REPLICA_CHECK_SECONDS."""

    # A replica that does not answer is asked again after this long, not every check: each
    # try can cost a request DB_CONNECT_TIMEOUT.
    UNREACHABLE_RETRY_SECONDS = 10.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.usable = False
        self.next_check = -1e9
        self.reason = "not checked"

    def check(self) -> bool:
        if time.monotonic() < self.next_check:
            return self.usable
        with self.lock:
            if time.monotonic() < self.next_check:
                return self.usable
            self.usable, self.reason = _probe()
            unreachable = self.reason.startswith("does not answer")
            wait = self.UNREACHABLE_RETRY_SECONDS if unreachable else settings.REPLICA_CHECK_SECONDS
            self.next_check = time.monotonic() + wait
            if not self.usable:
                logger.warning("reading the primary: the replica %s", self.reason)
            return self.usable

    def mark_down(self, reason: str) -> None:
        with self.lock:
            self.usable, self.reason = False, reason
            self.next_check = time.monotonic() + self.UNREACHABLE_RETRY_SECONDS


health = _Health()

_PROBE = """
SELECT pg_is_in_recovery(),
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'),
       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()),
       pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
"""


def _probe() -> tuple[bool, str]:
    connection = connections[ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute(_PROBE)
            in_recovery, streaming, lag, replayed_all = cursor.fetchone()
    except DatabaseError as error:
        connection.close()  # a broken connection is not reused by the next check
        return False, f"does not answer ({type(error).__name__})"
    if not in_recovery:
        return False, "is not in recovery (promoted?)"
    if not streaming:
        return False, "does not stream from the primary"
    bound = settings.REPLICA_MAX_LAG
    if replayed_all or (lag is not None and float(lag) <= bound):
        return True, "is current"
    return (
        False,
        f"lags {'an unknown time' if lag is None else f'{float(lag):.1f} s'} (> {bound} s)",
    )


class ReplicaRouter:
    """Sends the reads of the apps' models to the replica when the request allows it."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        if not _eligible.get() or model._meta.app_label not in ROUTED_APPS:
            return None
        if not health.check():
            return None
        used = _used.get()
        if used is not None:
            used.append(True)
        return ALIAS

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # the same data on both

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db != ALIAS  # the replica gets the schema through replication


class ReplicaMiddleware:
    """Marks which requests may read the replica, pins a browser to the primary for a while
    after it writes, and runs a GET again on the primary when the replica failed under it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.enabled = configured()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self.enabled:
            return self.get_response(request)
        eligible = (
            request.method in SAFE
            and not request.path.startswith(EXCLUDED_PREFIXES)
            and _pinned_until(request) < time.time()
        )
        used: list[bool] = []
        tokens = (_eligible.set(eligible), _used.set(used))
        try:
            response = self.get_response(request)
            if eligible and used and getattr(request, "replica_failed", False):
                health.mark_down("failed during a request")
                _eligible.set(False)
                response = self.get_response(request)
        finally:
            _eligible.reset(tokens[0])
            _used.reset(tokens[1])
        if request.method not in SAFE and not request.path.startswith("/api/"):
            until = int(time.time() + settings.REPLICA_PIN_SECONDS)
            response.set_cookie(
                PIN_COOKIE,
                str(until),
                max_age=settings.REPLICA_PIN_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response


def _pinned_until(request: HttpRequest) -> float:
    try:
        return float(request.COOKIES.get(PIN_COOKIE, 0))
    except ValueError:
        return 0.0


def read_replica_in_use() -> bool:
    """Whether the current request has read the replica (for the error middleware)."""
    used = _used.get()
    return bool(used)
