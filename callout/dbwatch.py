"""A deadline on the database waits of an API request (API_DB_DEADLINE seconds).

PostgreSQL's statement_timeout is enforced by the server: a server that is frozen (stopped,
swapped out, a VM paused) enforces nothing, and its kernel still acknowledges TCP, so neither
keepalives nor tcp_user_timeout notice. A request on an open connection would then wait until
gunicorn's --timeout kills the worker. Here one watchdog thread per process holds the armed
deadlines; when one passes while its request still runs, it shuts the request's database
socket down, the blocked read returns, psycopg raises OperationalError and the API answers its
JSON 503. Arming and disarming is a lock and a dict operation (a few microseconds); nothing
happens on the database.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)


class _Watchdog:
    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.armed: dict[int, tuple[float, Any]] = {}  # token -> (deadline, DatabaseWrapper)
        self.tokens = itertools.count()
        self.thread: threading.Thread | None = None

    def arm(self, seconds: float, database: Any) -> int:
        token = next(self.tokens)
        with self.condition:
            self.armed[token] = (time.monotonic() + seconds, database)
            if self.thread is None or not self.thread.is_alive():  # also after a fork
                self.thread = threading.Thread(target=self._run, name="dbwatch", daemon=True)
                self.thread.start()
            self.condition.notify()
        return token

    def disarm(self, token: int) -> None:
        with self.condition:
            self.armed.pop(token, None)

    def _run(self) -> None:
        while True:
            with self.condition:
                now = time.monotonic()
                expired = [t for t, (deadline, _) in self.armed.items() if deadline <= now]
                for token in expired:
                    # Still armed under the lock: its request has not finished, so the socket
                    # cut is the one it waits on, never an idle connection of a later request.
                    _, database = self.armed.pop(token)
                    _cut(database)
                upcoming = min((deadline for deadline, _ in self.armed.values()), default=None)
                self.condition.wait(None if upcoming is None else max(0.0, upcoming - now))


def _cut(database: Any) -> None:
    raw = getattr(database, "connection", None)
    if raw is None:
        return
    try:
        with socket.fromfd(raw.fileno(), socket.AF_INET, socket.SOCK_STREAM) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)  # acts on the connection, not just the copy
        logger.error("database did not answer within API_DB_DEADLINE: connection cut")
    except (OSError, ValueError, AttributeError):  # closed meanwhile: nothing to cut
        pass


_watchdog = _Watchdog()


@contextlib.contextmanager
def deadline() -> Iterator[None]:
    """The database waits inside end after API_DB_DEADLINE seconds (PostgreSQL; 0: none)."""
    seconds = settings.API_DB_DEADLINE
    database = connections[DEFAULT_DB_ALIAS]
    if seconds <= 0 or database.vendor != "postgresql":
        yield
        return
    token = _watchdog.arm(seconds, database)
    try:
        yield
    finally:
        _watchdog.disarm(token)
