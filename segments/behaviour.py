"""Rules on what a user did (events) and saw (experiences): two kinds of leaf of the definition
tree, read from the user's activity summary (``segments/activity.py``). Plain data, no database
import.

Each kind is a class with everything both engines need: its JSON (``from_json``, ``as_json``,
``clean``), its words, a reference test, a Python source for ``segments/codegen.py`` and an SQL
source for ``segments/sql.py``. The event operators are rows of ``EVENT_OPERATORS``, as the
trait operators are rows of ``segments/operators.py``: a new one is a row here.

A window of D days is ``[now - D x 24 h, now]`` (a rolling window, to the second).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from .activity import COUNT, EVENTS, EXPERIENCES, FIRST, LAST, RECENT, count_between, entry
from .operators import MAX_DAYS, RuleError

DAY = 86400.0
MAX_COUNT = 1000
# The trait-key rules: a letter or _ first, then letters, digits, _, -, . (1-128 characters).
EVENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}")

Bounds = Mapping[str, Any]

# What an event rule reads from the event's summary, in Python and in SQL (``{e}``: the
# summary's JSON in the vendor's terms; see ``EventCondition.sql``). A count is 0 when the user
# never did the event; a time is None (NULL).
COUNT_EVER, COUNT_WINDOW, FIRST_TIME, LAST_TIME = "count", "window", "first", "last"


@dataclass(frozen=True)
class EventOperator:
    name: str
    label: str
    reads: str  # COUNT_* or FIRST_TIME / LAST_TIME
    test: Callable[[Any, Bounds], bool]  # the reference, on what it reads (never None)
    python: str  # on {x} (what it reads) and the bounds' names
    sql: str
    words: str  # "{value} times", "{value} days ago"
    # A count in a window, as "at least n" tests: {ge} is "at least n times in the window",
    # {gt} "at least n + 1 times". The engines answer these from the n-th latest time without
    # counting (EventCondition.python / .sql); the reference counts.
    window_python: str = ""
    window_sql: str = ""

    @property
    def counts(self) -> bool:
        return self.reads == COUNT_EVER


def _table(*rows: EventOperator) -> dict[str, EventOperator]:
    return {row.name: row for row in rows}


# The bounds: {n} a count; {lo} the window's start (now - D days) and {hi} now.
EVENT_OPERATORS: dict[str, EventOperator] = _table(
    EventOperator(
        "at_least", "at least", COUNT_EVER, lambda x, b: x >= b["n"],
        python="{x} >= {n}", sql="{x} >= {n}", words="{value} times",
        window_python="{ge}", window_sql="{ge}",
    ),
    EventOperator(
        "at_most", "at most", COUNT_EVER, lambda x, b: x <= b["n"],
        python="{x} <= {n}", sql="{x} <= {n}", words="{value} times",
        window_python="not {gt}", window_sql="NOT {gt}",
    ),
    EventOperator(
        "exactly", "exactly", COUNT_EVER, lambda x, b: x == b["n"],
        python="{x} == {n}", sql="{x} = {n}", words="{value} times",
        window_python="({ge} and not {gt})", window_sql="({ge} AND NOT {gt})",
    ),
    EventOperator(
        "first_within_last_days", "for the first time within the last", FIRST_TIME,
        lambda x, b: b["lo"] <= x <= b["hi"],
        python="{lo} <= {x} <= {hi}", sql="({x} >= {lo} AND {x} <= {hi})", words="{value} days",
    ),
    EventOperator(
        "first_more_than_days_ago", "for the first time more than", FIRST_TIME,
        lambda x, b: x < b["lo"],
        python="{x} < {lo}", sql="{x} < {lo}", words="{value} days ago",
    ),
    EventOperator(
        "last_within_last_days", "for the last time within the last", LAST_TIME,
        lambda x, b: b["lo"] <= x <= b["hi"],
        python="{lo} <= {x} <= {hi}", sql="({x} >= {lo} AND {x} <= {hi})", words="{value} days",
    ),
    EventOperator(
        "last_more_than_days_ago", "for the last time more than", LAST_TIME,
        lambda x, b: x < b["lo"],
        python="{x} < {lo}", sql="{x} < {lo}", words="{value} days ago",
    ),
)  # fmt: skip


def clean_event_name(name: Any) -> str:
    if not isinstance(name, str) or not EVENT_NAME.fullmatch(name):
        raise RuleError(
            "an event name is 1 to 128 letters, digits, _, - or ., starting with a letter or _"
        )
    return name


def _whole(value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value) <= 10:
        value = int(value.strip())
    if type(value) is not int or not low <= value <= high:
        raise RuleError(f"needs {what} from {low:,} to {high:,}")
    return value


class Leaf:
    """A node of the definition tree that is neither a trait rule, a reference nor a group.
    ``KEY`` is the JSON field that names the kind (``{"event": ...}``)."""

    KEY: ClassVar[str]

    @property
    def valid(self) -> bool:
        return True


@dataclass(frozen=True)
class EventCondition(Leaf):
    """``{"event": NAME, "operator": OP, "value": N | D, "within_days": D}``."""

    KEY: ClassVar[str] = "event"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"event", "operator", "value", "within_days"})

    event: str
    operator: str
    value: int
    within_days: int | None = None

    @property
    def op(self) -> EventOperator | None:
        return EVENT_OPERATORS.get(self.operator)

    @cached_property
    def valid(self) -> bool:
        """Whether it is exactly what saving it would store (else it matches nobody)."""
        try:
            return EventCondition.clean(self.as_json()) == self.as_json()
        except RuleError:
            return False

    @property
    def reads(self) -> str:
        op = self.op
        assert op is not None
        return COUNT_WINDOW if op.counts and self.within_days else op.reads

    @property
    def largest_count(self) -> int:
        """The count this rule compares with (0 for a time rule): what ``events_kept`` must
        exceed for its window to be exact."""
        return self.value if self.reads == COUNT_WINDOW else 0

    # --- JSON --------------------------------------------------------------------------

    @classmethod
    def from_json(cls, node: Mapping[str, Any]) -> EventCondition | None:
        event, operator, value = node.get("event"), node.get("operator"), node.get("value")
        within = node.get("within_days")
        if not isinstance(event, str) or not isinstance(operator, str) or type(value) is not int:
            return None
        if within is not None and type(within) is not int:
            return None
        return cls(event, operator, value, within)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.event, "operator": self.operator, "value": self.value}
        if self.within_days is not None:
            out["within_days"] = self.within_days
        return out

    @classmethod
    def clean(cls, node: Mapping[str, Any]) -> dict[str, Any]:
        """The node normalised for storage; raises RuleError with ``.field`` set."""
        extra = set(node) - cls.FIELDS
        if extra:
            raise _field_error("", f"unknown field {sorted(extra)[0]!r}")
        try:
            event = clean_event_name(node.get("event"))
        except RuleError as error:
            raise _field_error("event", str(error)) from None
        operator = node.get("operator")
        op = EVENT_OPERATORS.get(operator) if isinstance(operator, str) else None
        if op is None:
            names = ", ".join(EVENT_OPERATORS)
            raise _field_error("operator", f"{operator!r} is not an event operator ({names})")
        try:
            if op.counts:
                value = _whole(node.get("value"), 0, MAX_COUNT, "a whole number of times")
            else:
                value = _whole(node.get("value"), 1, MAX_DAYS, "a whole number of days")
        except RuleError as error:
            raise _field_error("value", str(error)) from None
        out: dict[str, Any] = {"event": event, "operator": operator, "value": value}
        within = node.get("within_days")
        if within is not None:
            if not op.counts:
                raise _field_error("within_days", "only a count takes within_days")
            try:
                out["within_days"] = _whole(within, 1, MAX_DAYS, "a whole number of days")
            except RuleError as error:
                raise _field_error("within_days", str(error)) from None
        return out

    # --- Words -------------------------------------------------------------------------

    def describe(self, names: Mapping[Any, str] | None = None) -> str:
        op = self.op
        if op is None:
            return f"did {self.event} {self.operator} {self.value} (matches nobody)"
        words = op.words.format(value=self.value)
        if op.counts and self.value == 1:
            words = "once" if op.name == "exactly" else "1 time"
        window = f" in the last {self.within_days} days" if self.within_days else ""
        return f"did {self.event} {op.label} {words}{window}"

    # --- Both engines ------------------------------------------------------------------

    def bounds(self, now: float) -> dict[str, Any]:
        days = self.within_days if self.reads == COUNT_WINDOW else self.value
        out: dict[str, Any] = {"n": self.value, "hi": now}
        if days and self.reads != COUNT_EVER:
            out["lo"] = now - days * DAY
        return out

    def read(self, activity: Any, now: float) -> Any:
        """What the rule reads from a summary: a count (0 when never done) or a time (None)."""
        found = entry(activity, self.event)
        reads = self.reads
        if reads == COUNT_EVER:
            return found[COUNT] if found else 0
        if reads == COUNT_WINDOW:
            b = self.bounds(now)
            return count_between(found[RECENT], b["lo"], b["hi"]) if found else 0
        if found is None:
            return None
        return found[FIRST] if reads == FIRST_TIME else found[LAST]

    def test(self, traits: Mapping[str, Any], activity: Any, now: float) -> bool:
        """The reference answer."""
        if not self.valid:
            return False
        x = self.read(activity, now)
        return x is not None and self.op.test(x, self.bounds(now))  # type: ignore[union-attr]

    def python(self, entry_local: str) -> str:
        """One expression on ``entry_local`` (the event's summary or None) and ``now``."""
        if not self.valid:
            return "False"
        op = self.op
        assert op is not None
        days = self.within_days if self.reads == COUNT_WINDOW else self.value
        names = {"n": repr(self.value), "hi": "now", "lo": f"(now - {days!r} * 86400.0)"}
        e = entry_local
        if self.reads == COUNT_EVER:
            x = f"({e}[0] if {e} else 0)"
        elif self.reads == COUNT_WINDOW:
            lo = names["lo"]
            ge, gt = (f"at_least_within({e}, {n!r}, {lo}, now)" for n in self._ns())
            return f"({op.window_python.format(ge=ge, gt=gt)})"
        else:
            x = f"{e}[{FIRST if self.reads == FIRST_TIME else LAST}]"
            return f"({e} is not None and {op.python.format(x=x, **names)})"
        return f"({op.python.format(x=x, **names)})"

    def _ns(self) -> tuple[int, int]:
        return self.value, self.value + 1

    def sql(self, vendor: str, column: str, now: float) -> tuple[str, list[Any]]:
        """The rule over the activity column, never NULL."""
        if not self.valid:
            return "(1 = 0)", []
        op = self.op
        assert op is not None
        bounds = self.bounds(now)
        reads = self.reads
        if reads == COUNT_WINDOW:
            parts = [
                _at_least_within_sql(vendor, column, self.event, n, bounds["lo"], now)
                for n in self._ns()
            ]
            ge, gt = (sql for sql, _ in parts)
            template = op.window_sql
            params = [
                p for name in re.findall(r"\{(ge|gt)\}", template) for p in parts[name == "gt"][1]
            ]
            return f"COALESCE({template.format(ge=ge, gt=gt)}, FALSE)", params
        if vendor == "postgresql":
            x, x_params = {
                COUNT_EVER: (f"COALESCE({_pg_read(column, COUNT)}::int, 0)", [self.event]),
                FIRST_TIME: (f"{_pg_read(column, FIRST)}::float8", [self.event]),
                LAST_TIME: (f"{_pg_read(column, LAST)}::float8", [self.event]),
            }[reads]
        else:
            path = f'$.{EVENTS}."{self.event}"'
            x, x_params = {
                COUNT_EVER: (f"COALESCE(json_extract({column}, %s), 0)", [f"{path}[{COUNT}]"]),
                FIRST_TIME: (f"json_extract({column}, %s)", [f"{path}[{FIRST}]"]),
                LAST_TIME: (f"json_extract({column}, %s)", [f"{path}[{LAST}]"]),
            }[reads]
        return _fill(op.sql, x, x_params, bounds)


# What a state of an experience node reads in the summary (the snippet reports "shown").
EXPERIENCE_STATES: dict[str, tuple[str, str]] = {
    "seen": ("shown", "has seen"),
    "completed": ("completed", "has completed"),
    "dismissed": ("dismissed", "has dismissed"),
}


@dataclass(frozen=True)
class ExperienceCondition(Leaf):
    """``{"experience": EXPERIENCE_ID, "state": "seen" | "completed" | "dismissed"}``: true
    when the user has that state for the experience, at any time."""

    KEY: ClassVar[str] = "experience"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"experience", "state"})

    experience: int
    state: str

    @property
    def valid(self) -> bool:
        return self.state in EXPERIENCE_STATES

    @classmethod
    def from_json(cls, node: Mapping[str, Any]) -> ExperienceCondition | None:
        experience, state = node.get("experience"), node.get("state")
        if type(experience) is not int or not isinstance(state, str):
            return None
        return cls(experience, state)

    def as_json(self) -> dict[str, Any]:
        return {"experience": self.experience, "state": self.state}

    @classmethod
    def clean(cls, node: Mapping[str, Any], experiences: Mapping[int, str]) -> dict[str, Any]:
        """``experiences``: the application's experiences by id (another's is unknown)."""
        extra = set(node) - cls.FIELDS
        if extra:
            raise _field_error("", f"unknown field {sorted(extra)[0]!r}")
        experience = node.get("experience")
        if type(experience) is not int or experience not in experiences:
            raise _field_error("experience", "no such experience")
        state = node.get("state")
        if state not in EXPERIENCE_STATES:
            raise _field_error("state", 'must be "seen", "completed" or "dismissed"')
        return {"experience": experience, "state": state}

    def describe(self, names: Mapping[Any, str] | None = None) -> str:
        verb = EXPERIENCE_STATES.get(self.state, (self.state, f"has {self.state}"))[1]
        name = (names or {}).get(("experience", self.experience))
        return f'{verb} "{name}"' if name else f"{verb} experience {self.experience}"

    def test(self, traits: Mapping[str, Any], activity: Any, now: float) -> bool:
        if not self.valid:
            return False
        from .activity import experience_states

        return EXPERIENCE_STATES[self.state][0] in experience_states(activity, self.experience)

    def python(self, states_local: str) -> str:
        """One expression on ``states_local`` (the experience's states, a dict)."""
        if not self.valid:
            return "False"
        return f"({EXPERIENCE_STATES[self.state][0]!r} in {states_local})"

    def sql(self, vendor: str, column: str, now: float) -> tuple[str, list[Any]]:
        if not self.valid:
            return "(1 = 0)", []
        stored = EXPERIENCE_STATES[self.state][0]
        if vendor == "postgresql":
            sql = f"COALESCE(jsonb_exists({column} #> ARRAY['{EXPERIENCES}', %s], %s), FALSE)"
            return sql, [str(self.experience), stored]
        path = f'$.{EXPERIENCES}."{self.experience}".{stored}'
        return f"(json_extract({column}, %s) IS NOT NULL)", [path]


def _at_least_within_sql(
    vendor: str, column: str, event: str, n: int, low: float, now: float
) -> tuple[str, list[Any]]:
    """SQL for "the summary has at least ``n`` times in ``[low, now]``", as
    ``activity.at_least_within``: false unless the n-th latest time is at least ``low`` (one
    read, which settles most users, including those who never did the event); then true when
    no time is ahead of ``now``, else by counting. Never NULL.

    On PostgreSQL the count is a JSON path query, not a subquery: a correlated subquery is
    "parallel restricted" there (PostgreSQL 15, 16), which kept the whole count off parallel
    workers even though it almost never runs (docs/scale.md)."""
    if n == 0:
        return "TRUE", []
    if vendor == "postgresql":
        nth, newest = (f"{_pg_read(column, RECENT, i)}::float8" for i in (n - 1, 0))
        # Event names are letters, digits, _ - . (clean_event_name): safe in a quoted key.
        path = f'$.{EVENTS}."{event}"[{RECENT}][*] ? (@ >= $lo && @ <= $hi)'
        count = f"jsonb_array_length(jsonb_path_query_array({column}, %s::jsonpath, %s::jsonb))"
        sql = (
            f"COALESCE({nth} >= %s, FALSE) AND (COALESCE({newest} <= %s, FALSE) OR {count} >= {n})"
        )
        # The JSON numbers compare as decimals, in the order of the floats they were written
        # from (each is its float's shortest repr, as json.dumps writes the bounds).
        bounds = json.dumps({"lo": low, "hi": now})
        return f"({sql})", [event, low, event, now, path, bounds]
    recent = f'$.{EVENTS}."{event}"[{RECENT}]'
    sql = (
        f"COALESCE(json_extract({column}, %s) >= %s, FALSE) "
        f"AND (COALESCE(json_extract({column}, %s) <= %s, FALSE) "
        f"OR (SELECT count(*) FROM json_each({column}, %s) "
        f"WHERE value >= %s AND value <= %s) >= {n})"
    )
    return f"({sql})", [f"{recent}[{n - 1}]", low, f"{recent}[0]", now, recent, low, now]


def _pg_read(column: str, *steps: int) -> str:
    """The text at ``e -> NAME -> steps`` of the summary (NAME: the one parameter).

    One path operator, not a chain of ``->``: each ``->`` copies out the value it returns, and
    ``activity -> 'e'`` is nearly the whole summary (about a kilobyte per user and read)."""
    path = ", ".join([f"'{EVENTS}'", "%s", *(f"'{step}'" for step in steps)])
    return f"({column} #>> ARRAY[{path}])"


LEAVES: dict[str, Any] = {
    EventCondition.KEY: EventCondition,
    ExperienceCondition.KEY: ExperienceCondition,
}


def _field_error(field: str, message: str) -> RuleError:
    error = RuleError(message)
    error.field = field  # type: ignore[attr-defined]
    return error


_PLACEHOLDER = re.compile(r"\{([a-z]+)\}")


def _fill(
    template: str, x: str, x_params: list[Any], bounds: Mapping[str, Any]
) -> tuple[str, list]:
    """The operator's SQL with what it reads at ``{x}`` and each bound as a parameter,
    wrapped so that NULL (a time never recorded) is false."""
    params: list[Any] = []

    def place(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "x":
            params.extend(x_params)
            return x
        params.append(bounds[name])
        return "%s"

    return f"COALESCE({_PLACEHOLDER.sub(place, template)}, FALSE)", params
