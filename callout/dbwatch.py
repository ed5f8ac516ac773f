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

import itertools
import logging
import math
import os
import socket
import threading
import time
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)


class _Watchdog:
    """The armed deadlines of this process, and the thread that enforces them.

    The thread sleeps until the earliest deadline it knows of (``wake_at``), or indefinitely
    when none is armed. Arming a deadline later than ``wake_at`` does not wake it: the thread
    finds it when it wakes, and every deadline is at least as far off as the one it sleeps
    towards. Under load every deadline is API_DB_DEADLINE from its request's start, so the
    thread wakes about once per that interval instead of once per request (a wake-up per
    request cost the serve about 30 us: the thread took the GIL from the request it woke)."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.armed: dict[int, tuple[float, Any]] = {}  # token -> (deadline, DatabaseWrapper)
        self.tokens = itertools.count()
        self.thread: threading.Thread | None = None
        self.wake_at = math.inf  # when the thread wakes next; inf: asleep until notified
        self.linger = 0.0  # the last deadline's length

    def arm(self, seconds: float, database: Any) -> int:
        token = next(self.tokens)
        deadline = time.monotonic() + seconds
        with self.condition:
            self.armed[token] = (deadline, database)
            self.linger = seconds
            if deadline < self.wake_at:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._run, name="dbwatch", daemon=True)
                    self.thread.start()
                self.wake_at = deadline  # until the thread sets its own
                self.condition.notify()
        return token

    def disarm(self, token: int) -> None:
        with self.condition:
            self.armed.pop(token, None)

    def _run(self) -> None:
        idle = False
        with self.condition:
            while True:
                now = time.monotonic()
                expired = [t for t, (deadline, _) in self.armed.items() if deadline <= now]
                for token in expired:
                    # Still armed under the lock: its request has not finished, so the socket
                    # cut is the one it waits on, never an idle connection of a later request.
                    _, database = self.armed.pop(token)
                    _cut(database)
                if self.armed:
                    self.wake_at = min(deadline for deadline, _ in self.armed.values())
                    idle = False
                elif not idle:
                    # Between two requests nothing is armed: stay on a timer one deadline
                    # long, so that the next request's arm need not wake the thread.
                    self.wake_at = now + self.linger
                    idle = True
                else:  # a deadline's length without a request: sleep until one comes
                    self.wake_at = math.inf
                self.condition.wait(None if self.wake_at == math.inf else self.wake_at - now)

    def after_fork(self) -> None:
        """In a forked child the thread is gone and the lock may be held: start afresh."""
        self.__init__()  # type: ignore[misc]


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
os.register_at_fork(after_in_child=_watchdog.after_fork)


class _Deadline:
    """``deadline()``'s context manager: a class, which costs a serve less than a generator."""

    __slots__ = ("token",)

    def __enter__(self) -> None:
        self.token = None
        seconds = settings.API_DB_DEADLINE
        if seconds > 0:
            database = connections[DEFAULT_DB_ALIAS]
            if database.vendor == "postgresql":
                self.token = _watchdog.arm(seconds, database)

    def __exit__(self, *exc_info: object) -> None:
        if self.token is not None:
            _watchdog.disarm(self.token)


def deadline() -> _Deadline:
    """The database waits inside end after API_DB_DEADLINE seconds (PostgreSQL; 0: none)."""
    return _Deadline()
