"""Stored trait values to comparable Python values: the coercions both engines share.

Before a rule compares, a stored JSON scalar is read as the type of its trait definition; a
value that cannot be read is ``None`` and satisfies no positive operator. SQLite runs these very
functions as SQL functions (``segments/apps.py``); PostgreSQL runs their twins, named in
``SQL_READ`` and defined in ``segments/pgsql.py``. ``tests/segments/test_parity.py`` holds the
twins to these.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

STRING, NUMBER, BOOLEAN, DATE = "string", "number", "boolean", "date"
TRAIT_TYPES = (STRING, NUMBER, BOOLEAN, DATE)

DAY = 86400.0

# Numeric strings: plain decimal notation, an optional exponent of at most two digits. The
# bounds keep every such number a normal float, so both engines round it the same way
# ("5e100" is text, not a number: a three-digit exponent could overflow PostgreSQL's float8).
NUMERIC_PATTERN = (
    r"^[ \t\n\r\f\v]*[+-]?([0-9]{1,20}(\.[0-9]{0,20})?|\.[0-9]{1,20})([eE][+-]?[0-9]{1,2})?"
    r"[ \t\n\r\f\v]*$"
)
# ISO 8601 calendar date, optionally with a time and (only with a time) a UTC offset. Up to nine
# fractional digits (what Go and Java send); digits past the sixth (microseconds) are dropped.
ISO_PATTERN = (
    r"^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"(?:[T ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:\.([0-9]{1,9}))?)?"
    r"(Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])?)?$"
)
# The same patterns are PostgreSQL regexes in segments/pgsql.py (a test keeps them identical);
# fullmatch, because a Python "$" also matches before a final newline.
_NUMERIC = re.compile(NUMERIC_PATTERN)
_ISO = re.compile(ISO_PATTERN)
_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()


def coerce_number(value: Any) -> float | None:
    """Numbers compare as 64-bit floats, as in the browser that sent them."""
    kind = type(value)
    if kind is int or kind is float:
        return float(value)
    if kind is str and _NUMERIC.fullmatch(value):
        return float(value)
    return None


def number_text(value: int | float) -> str:
    """A stored number as text: plain notation, as PostgreSQL prints a JSON number."""
    if type(value) is int:
        return str(value)
    if value == 0:
        return "0.0"
    return format(Decimal(repr(value)), "f")


def coerce_text(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return number_text(value)
    return None


def coerce_boolean(value: Any) -> bool | None:
    if type(value) is bool:
        return value
    if type(value) is str and value.isascii():
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return None


@lru_cache(maxsize=8192)
def iso_micros(text: str) -> int | None:
    """An ISO 8601 date or datetime as whole Unix microseconds; a date alone is midnight UTC.

    A date trait is read by every rule on it, in every segment a serve checks; the parse (a
    regex and a datetime) is pure, so each distinct text is parsed once per process."""
    match = _ISO.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        naive = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError:
        return None
    seconds = (naive.toordinal() - _EPOCH_ORDINAL) * 86400 + naive.hour * 3600
    seconds += naive.minute * 60 + naive.second
    if offset and offset != "Z":
        sign = -1 if offset[0] == "+" else 1
        seconds += sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    return seconds * 1_000_000 + int((fraction or "")[:6].ljust(6, "0"))


@lru_cache(maxsize=8192)
def parse_iso(text: str) -> float | None:
    """An ISO 8601 date or datetime as Unix seconds; a date alone is midnight UTC."""
    micros = iso_micros(text)
    # Integer microseconds, one correctly rounded division: PostgreSQL's epoch agrees exactly.
    return None if micros is None else micros / 1_000_000


def is_date_only(text: str) -> bool:
    """``2026-11-20`` rather than a moment of it (a rule value's whole day counts)."""
    return len(text) == 10


def coerce_date(value: Any) -> float | None:
    """A date as Unix seconds: ISO 8601 text, or a Unix timestamp (above 10^11: milliseconds)."""
    kind = type(value)
    if kind is str:
        return parse_iso(value)
    if kind is int or kind is float:
        seconds = float(value)
        return seconds / 1000.0 if seconds > 1e11 else seconds
    return None


def fold(text: str) -> str:
    """Case-insensitive comparison lowercases all of Unicode (PostgreSQL: ICU lower())."""
    return text.lower()


def day_start(now: float) -> float:
    """Midnight UTC of the day ``now`` falls on, as Unix seconds (an exact float)."""
    return now // DAY * DAY


def now_seconds(now: datetime | float | None = None) -> float:
    if now is None:
        return datetime.now(UTC).timestamp()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


COERCE: dict[str, Callable[[Any], Any]] = {
    STRING: coerce_text,
    NUMBER: coerce_number,
    BOOLEAN: coerce_boolean,
    DATE: coerce_date,
}

# How SQL reads a trait as each type: ``{t}`` is the traits column, ``%s`` the key (SQLite: its
# JSON path, once per ``%s``). The callout_* functions are the coercions above: SQLite
# registers them from this module, PostgreSQL defines them in segments/pgsql.py. "present" is
# "has a non-null value", which ``is_set`` reads without coercing.
SQL_READ = {
    "postgresql": {
        "present": "(({t} ->> %s) IS NOT NULL)",
        STRING: "({t} ->> %s)",
        NUMBER: "callout_num({t} -> %s)",
        BOOLEAN: "callout_bool({t} -> %s)",
        DATE: "callout_date({t} -> %s)",
    },
    "sqlite": {
        "present": "(coalesce(json_type({t}, %s), 'null') <> 'null')",
        STRING: "callout_text(json_type({t}, %s), json_extract({t}, %s))",
        NUMBER: "callout_num(json_type({t}, %s), json_extract({t}, %s))",
        BOOLEAN: "callout_bool(json_type({t}, %s), json_extract({t}, %s))",
        DATE: "callout_date(json_type({t}, %s), json_extract({t}, %s))",
    },
}
SQL_FOLD = "callout_fold({x})"
