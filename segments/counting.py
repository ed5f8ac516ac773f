"""Member counts for the live preview: bounded in time, so a preview never blocks the form.

The segment form asks "how many users match?" on every change. Over a million users an
unindexed rule can take seconds, so the count runs under a deadline and says what it knows when
the deadline passes: the exact number, "more than N", or nothing yet ("counting…").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import OperationalError, connections, transaction
from django.db.models import QuerySet

DEFAULT_TIMEOUT_MS = 800
DEFAULT_LIMIT = 10_000
# SQLite calls the deadline check every this many virtual machine instructions.
SQLITE_CHECK_EVERY = 1000


class DeadlineExceeded(Exception):
    """The queries inside ``deadline`` did not finish in time (they were cancelled)."""


@dataclass(frozen=True)
class MemberCount:
    """What a bounded count found out.

    - ``exact``: ``count`` is the number of members.
    - not ``exact``, ``count`` set: there are more than ``count`` members (the full count did
      not finish in time).
    - ``count`` None: the deadline passed before even ``limit + 1`` members were found; the
      number is unknown ("counting…"). Ask again with a longer timeout, or later.
    """

    count: int | None
    exact: bool

    @property
    def known(self) -> bool:
        return self.count is not None

    @property
    def label(self) -> str:
        """The words the preview shows: "1 user", "1,234 users", "more than 10,000 users",
        "counting…"."""
        if self.count is None:
            return "counting…"
        noun = "user" if self.count == 1 and self.exact else "users"
        if self.exact:
            return f"{self.count:,} {noun}"
        return f"more than {self.count:,} {noun}"

    def __str__(self) -> str:
        return self.label


def count_members(
    queryset: QuerySet[Any],
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    limit: int = DEFAULT_LIMIT,
) -> MemberCount:
    """Count ``queryset`` (e.g. ``segment.members()``) within about ``timeout_ms``.

    First a bounded count (at most ``limit + 1`` rows, cheap when members are plentiful), then,
    when there are more than ``limit``, the full count with what is left of the budget. Each
    query runs under a database-side deadline (PostgreSQL: ``SET LOCAL statement_timeout`` in
    its own transaction or savepoint; SQLite: a progress handler that interrupts it), so the
    call returns after roughly ``timeout_ms`` at most whatever the rules are. Errors other than
    the deadline propagate. Safe inside an outer transaction: the timeout setting is restored.
    """
    if timeout_ms <= 0 or limit < 0:
        raise ValueError("timeout_ms must be positive and limit not negative")
    queryset = queryset.order_by()
    started = time.monotonic()

    def remaining_ms() -> int:
        return timeout_ms - int((time.monotonic() - started) * 1000)

    try:
        with deadline(queryset.db, remaining_ms()):
            bounded = queryset[: limit + 1].count()
    except DeadlineExceeded:
        return MemberCount(None, exact=False)
    if bounded <= limit:
        return MemberCount(bounded, exact=True)
    left = remaining_ms()
    if left <= 0:
        return MemberCount(limit, exact=False)
    try:
        with deadline(queryset.db, left):
            return MemberCount(queryset.count(), exact=True)
    except DeadlineExceeded:
        return MemberCount(limit, exact=False)


@contextmanager
def deadline(alias: str, timeout_ms: int) -> Iterator[None]:
    """Queries inside stop after ``timeout_ms`` (raising ``DeadlineExceeded``)."""
    connection = connections[alias]
    if timeout_ms <= 0:
        raise DeadlineExceeded
    if connection.vendor == "postgresql":
        with _postgresql_deadline(connection, timeout_ms):
            yield
    elif connection.vendor == "sqlite":
        with _sqlite_deadline(connection, timeout_ms):
            yield
    else:  # no way to bound it: count anyway
        yield


@contextmanager
def _postgresql_deadline(connection: Any, timeout_ms: int) -> Iterator[None]:
    from psycopg.errors import QueryCanceled

    try:
        # A savepoint when the caller is in a transaction: a cancelled statement rolls back
        # only it, and with it the SET LOCAL.
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('statement_timeout'), "
                "set_config('statement_timeout', %s, true)",
                [f"{timeout_ms}ms"],
            )
            (previous, _) = cursor.fetchone()
            yield
            # SET LOCAL outlives a released savepoint: put the caller's value back.
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    except OperationalError as error:
        if isinstance(error.__cause__, QueryCanceled):
            raise DeadlineExceeded from error
        raise


@contextmanager
def _sqlite_deadline(connection: Any, timeout_ms: int) -> Iterator[None]:
    import sqlite3

    connection.ensure_connection()
    raw = connection.connection
    deadline = time.monotonic() + timeout_ms / 1000
    check: Callable[[], int] = lambda: int(time.monotonic() > deadline)  # noqa: E731
    raw.set_progress_handler(check, SQLITE_CHECK_EVERY)
    try:
        yield
    except OperationalError as error:
        if isinstance(error.__cause__, sqlite3.OperationalError) and "interrupt" in str(error):
            raise DeadlineExceeded from error
        raise
    finally:
        raw.set_progress_handler(None, 0)
