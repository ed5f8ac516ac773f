"""The segment rule engine, in memory: pure Python on plain data, no database import.

A rule is (trait, operator, value). Before comparing, a stored trait value is coerced to the
type of its trait definition (see ``coerce_*``); a value that cannot be coerced satisfies no
positive operator, and every negated operator is the exact complement of its positive twin.

``segments/sql.py`` compiles the same rules to SQL. Both read ``OPERATORS`` below and the
coercions are written once here: SQLite calls them as SQL functions, PostgreSQL has the same
definitions in SQL (migration ``segments/0002``). ``tests/segments/test_parity.py`` proves that
the two engines agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any

STRING, NUMBER, BOOLEAN, DATE = "string", "number", "boolean", "date"
TRAIT_TYPES = (STRING, NUMBER, BOOLEAN, DATE)

DAY = 86400.0
MAX_DAYS = 36500
MAX_LIST = 1000
MAX_TEXT = 2000


class RuleError(ValueError):
    """A rule that cannot be saved; the message says why, in words for a product manager."""


# --- Coercion: stored JSON scalar -> comparable Python value, or None ---------------------

# Numeric strings: plain decimal notation, an optional exponent of at most two digits. The
# bounds keep every such number a normal float, so both engines round it the same way.
NUMERIC_PATTERN = (
    r"^[ \t\n\r\f\v]*[+-]?([0-9]{1,20}(\.[0-9]{0,20})?|\.[0-9]{1,20})([eE][+-]?[0-9]{1,2})?"
    r"[ \t\n\r\f\v]*$"
)
# ISO 8601 calendar date, optionally with a time and (only with a time) a UTC offset.
ISO_PATTERN = (
    r"^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"(?:[T ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:\.([0-9]{1,6}))?)?"
    r"(Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])?)?$"
)
# The same patterns are PostgreSQL regexes in migration 0002 (a test keeps them identical);
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


# A date trait is read by every rule on it, in every segment a serve checks; the parse (a
# regex and a datetime) is pure, so each distinct text is parsed once per process.
@lru_cache(maxsize=8192)
def parse_iso(text: str) -> float | None:
    """An ISO 8601 date or datetime as Unix seconds; a date alone is midnight UTC."""
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
    micros = int((fraction or "").ljust(6, "0"))
    # Integer microseconds, one correctly rounded division: PostgreSQL's epoch agrees exactly.
    return (seconds * 1_000_000 + micros) / 1_000_000


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


COERCE: dict[str, Callable[[Any], Any]] = {
    STRING: coerce_text,
    NUMBER: coerce_number,
    BOOLEAN: coerce_boolean,
    DATE: coerce_date,
}


# --- The operator table ------------------------------------------------------------------

# What a rule's value must be: text, number, list (of text or numbers, by trait type),
# days (a positive whole number), date (ISO 8601), none (no value).
TEXT, NUM, LIST, DAYS, ISODATE, NONE = "text", "number", "list", "days", "date", "none"


@dataclass(frozen=True)
class Operator:
    name: str
    label: str
    types: tuple[str, ...]
    # Builds the test for one rule: (prepared value, now) -> predicate on the coerced value.
    # None for negated operators, which are the complement of ``negates``.
    test: Callable[[Any, float], Callable[[Any], bool]] | None = None
    negates: str | None = None
    value: str | dict[str, str] = NONE

    def value_kind(self, trait_type: str) -> str:
        return self.value[trait_type] if isinstance(self.value, dict) else self.value

    @property
    def positive(self) -> Operator:
        return OPERATORS[self.negates] if self.negates else self


def _equals(v: Any, now: float) -> Callable[[Any], bool]:
    return lambda x: x == v


def _in(v: Any, now: float) -> Callable[[Any], bool]:
    members = frozenset(v)
    return lambda x: x in members


def _contains(v: str, now: float) -> Callable[[str], bool]:
    return lambda x: v in x


def _starts_with(v: str, now: float) -> Callable[[str], bool]:
    return lambda x: x.startswith(v)


def _ends_with(v: str, now: float) -> Callable[[str], bool]:
    return lambda x: x.endswith(v)


def _gt(v: float, now: float) -> Callable[[float], bool]:
    return lambda x: x > v


def _gte(v: float, now: float) -> Callable[[float], bool]:
    return lambda x: x >= v


def _lt(v: float, now: float) -> Callable[[float], bool]:
    return lambda x: x < v


def _lte(v: float, now: float) -> Callable[[float], bool]:
    return lambda x: x <= v


def _within_last_days(days: int, now: float) -> Callable[[float], bool]:
    start = now - days * DAY
    return lambda t: start <= t <= now


def _more_than_days_ago(days: int, now: float) -> Callable[[float], bool]:
    end = now - days * DAY
    return lambda t: t < end


def _within_next_days(days: int, now: float) -> Callable[[float], bool]:
    end = now + days * DAY
    return lambda t: now <= t <= end


def _is_true(v: None, now: float) -> Callable[[bool], bool]:
    return lambda x: x is True


def _is_false(v: None, now: float) -> Callable[[bool], bool]:
    return lambda x: x is False


def _operators(*ops: Operator) -> dict[str, Operator]:
    return {op.name: op for op in ops}


SN = (STRING, NUMBER)
OPERATORS: dict[str, Operator] = _operators(
    Operator("equals", "equals", SN, _equals, value={STRING: TEXT, NUMBER: NUM}),
    Operator(
        "not_equals", "does not equal", SN, negates="equals", value={STRING: TEXT, NUMBER: NUM}
    ),
    Operator("contains", "contains", (STRING,), _contains, value=TEXT),
    Operator("not_contains", "does not contain", (STRING,), negates="contains", value=TEXT),
    Operator("starts_with", "starts with", (STRING,), _starts_with, value=TEXT),
    Operator("ends_with", "ends with", (STRING,), _ends_with, value=TEXT),
    Operator("in", "is one of", SN, _in, value=LIST),
    Operator("not_in", "is not one of", SN, negates="in", value=LIST),
    Operator("greater_than", "is greater than", (NUMBER,), _gt, value=NUM),
    Operator("greater_than_or_equal", "is at least", (NUMBER,), _gte, value=NUM),
    Operator("less_than", "is less than", (NUMBER,), _lt, value=NUM),
    Operator("less_than_or_equal", "is at most", (NUMBER,), _lte, value=NUM),
    Operator("within_last_days", "is within the last", (DATE,), _within_last_days, value=DAYS),
    Operator("more_than_days_ago", "is more than", (DATE,), _more_than_days_ago, value=DAYS),
    Operator("within_next_days", "is within the next", (DATE,), _within_next_days, value=DAYS),
    Operator("before", "is before", (DATE,), _lt, value=ISODATE),
    Operator("after", "is after", (DATE,), _gt, value=ISODATE),
    Operator("is_true", "is true", (BOOLEAN,), _is_true),
    Operator("is_false", "is false", (BOOLEAN,), _is_false),
    Operator("is_set", "is set", TRAIT_TYPES),
    Operator("is_not_set", "is not set", TRAIT_TYPES, negates="is_set"),
)

# Operators whose comparison honours the rule's "match case" flag.
CASE_AWARE = frozenset(
    {"equals", "not_equals", "contains", "not_contains", "starts_with", "ends_with", "in", "not_in"}
)


def operators_for(trait_type: str) -> list[Operator]:
    return [op for op in OPERATORS.values() if trait_type in op.types]


def case_applies(trait_type: str, operator: str) -> bool:
    return trait_type == STRING and operator in CASE_AWARE


# --- Rule values -------------------------------------------------------------------------


def _clean_text(value: Any) -> str:
    if type(value) in (int, float):
        value = coerce_text(value)
    if not isinstance(value, str) or not value.strip():
        raise RuleError("needs a text value")
    if len(value) > MAX_TEXT:
        raise RuleError(f"value is longer than {MAX_TEXT} characters")
    return value


def _clean_number(value: Any) -> int | float:
    number = None if isinstance(value, bool) else coerce_number(value)
    if number is None or not math.isfinite(number):
        raise RuleError(f"needs a number, not {value!r}")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _clean_days(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int or not 1 <= value <= MAX_DAYS:
        raise RuleError(f"needs a whole number of days from 1 to {MAX_DAYS}")
    return value


def _clean_date(value: Any) -> str:
    if not isinstance(value, str) or parse_iso(value.strip()) is None:
        raise RuleError("needs a date such as 2026-11-20 or 2026-11-20T14:30:00Z")
    return value.strip()


def clean_value(trait_type: str, operator: str, value: Any) -> Any:
    """The rule's value, validated and normalised for storage; raises RuleError."""
    op = OPERATORS.get(operator)
    if op is None:
        raise RuleError(f'"{operator}" is not an operator')
    if trait_type not in op.types:
        raise RuleError(f'"{op.label}" does not apply to a {trait_type} trait')
    kind = op.value_kind(trait_type)
    if kind == NONE:
        return None
    if kind == TEXT:
        return _clean_text(value)
    if kind == NUM:
        return _clean_number(value)
    if kind == DAYS:
        return _clean_days(value)
    if kind == ISODATE:
        return _clean_date(value)
    # LIST
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise RuleError("needs a list of at least one value")
    if len(value) > MAX_LIST:
        raise RuleError(f"list has more than {MAX_LIST} values")
    clean = _clean_number if trait_type == NUMBER else _clean_text
    items = []
    for item in value:
        try:
            items.append(clean(item))
        except RuleError as error:
            raise RuleError(f"list item {item!r} {error}") from None
    return list(dict.fromkeys(items))


# --- Conditions and segments -------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One rule as plain data: what both engines compile."""

    trait: str
    type: str
    operator: str
    value: Any = None
    case_sensitive: bool = False

    @cached_property
    def valid(self) -> bool:
        """A rule that no longer fits its trait (the trait's type changed to one the operator or
        the value does not suit) matches nobody, negated or not, in both engines."""
        try:
            clean_value(self.type, self.operator, self.value)
        except RuleError:
            return False
        return True

    @property
    def folds(self) -> bool:
        return case_applies(self.type, self.operator) and not self.case_sensitive

    def operand(self) -> Any:
        """The rule's value prepared for comparison (coerced, folded), shared by both engines."""
        op = OPERATORS[self.operator].positive
        kind = op.value_kind(self.type)
        if kind == NONE:
            return None
        if kind == DAYS:
            return int(self.value)
        if kind == ISODATE:
            return parse_iso(self.value)
        if kind == NUM:
            return float(self.value)
        if kind == LIST:
            if self.type == NUMBER:
                return [float(v) for v in self.value]
            return [fold(v) if self.folds else v for v in self.value]
        return fold(self.value) if self.folds else self.value

    def describe(self) -> str:
        op = OPERATORS.get(self.operator)
        label = op.label if op else self.operator
        value = self.value
        # Said as stored, even when it no longer fits a retyped trait (the words then say why
        # the rule matches nobody).
        if value is None or value == []:
            words = ""
        elif op is not None and op.value == DAYS:
            words = f" {value} days" + (" ago" if self.operator == "more_than_days_ago" else "")
        elif isinstance(value, list):
            words = " " + ", ".join(_quote(v) for v in value)
        else:
            words = " " + _quote(value)
        case = (
            " (match case)"
            if self.case_sensitive and case_applies(self.type, self.operator)
            else ""
        )
        broken = "" if self.valid else f" (does not fit a {self.type} trait: matches nobody)"
        return f"{self.trait} {label}{words}{case}{broken}"


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def now_seconds(now: datetime | float | None = None) -> float:
    if now is None:
        return datetime.now(UTC).timestamp()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


Matcher = Callable[[Mapping[str, Any], float], bool]


def _never(traits: Mapping[str, Any], now: float) -> bool:
    return False


def _value_test(condition: Condition) -> Callable[[Any, float], bool]:
    """The positive rule on one stored value (None when absent): coerce, fold, compare."""
    op = OPERATORS[condition.operator].positive
    if op.name == "is_set":
        return lambda raw, now: raw is not None
    coerce = COERCE[condition.type]
    operand = condition.operand()
    build = op.test
    folds = condition.folds
    dated = condition.type == DATE and op.value_kind(DATE) == DAYS
    static_test = None if dated else build(operand, 0.0)

    def test(raw: Any, now: float) -> bool:
        if raw is None:
            return False
        value = coerce(raw)
        if value is None:
            return False
        if folds:
            value = fold(value)
        return (static_test or build(operand, now))(value)

    return test


def compile_condition(condition: Condition) -> Matcher:
    """One rule as a function of (traits, now)."""
    if not condition.valid:
        return _never
    key = condition.trait
    test = _value_test(condition)
    if OPERATORS[condition.operator].negates:
        return lambda traits, now: not test(traits.get(key), now)
    return lambda traits, now: test(traits.get(key), now)


# --- Code generation for the hot path ------------------------------------------------------
#
# ``matches`` runs for every segment of every experience on every page load of every customer,
# so a segment compiles to one generated function shaped like a hand-written lambda chain:
# each rule inlines its common case (a str for a string rule, an int or float for a number
# rule) and falls back to ``_value_test`` (the reference above) for everything else. The
# parity tests run both paths; ``explain`` uses the reference.

# Comparisons a rule inlines on the common case, {x} being the (folded) value.
_INLINE = {
    "equals": "{x} == {o}",
    "in": "{x} in {o}",
    "contains": "{o} in {x}",
    "starts_with": "{x}.startswith({o})",
    "ends_with": "{x}.endswith({o})",
    "greater_than": "{x} > {o}",
    "greater_than_or_equal": "{x} >= {o}",
    "less_than": "{x} < {o}",
    "less_than_or_equal": "{x} <= {o}",
}
_EXACT_INT = 2**53  # ints up to here compare the same as their float


def _other_source(i: int, condition: Condition, get: str, date: str | None) -> str | None:
    """The positive rule inlined for dates, booleans and ``is_set`` (None: not inlined).

    Each is ``_value_test`` written out: a date is coerced by ``coerce_date`` (a str through
    ``parse_iso`` directly, its memoised common case), a day window's bound is ``now`` plus or
    minus the rule's seconds, computed as the reference computes it, only when the rule runs.
    ``get`` reads the stored value; ``date``, if given, is that value already coerced."""
    name = OPERATORS[condition.operator].positive.name
    v, t = f"v{i}", f"t{i}"
    if name == "is_set":
        return f"({get} is not None)"
    if condition.type == BOOLEAN and name in ("is_true", "is_false"):
        want = "True" if name == "is_true" else "False"
        return f"(({v} is {want}) if type({v} := {get}) is bool else coerce_boolean({v}) is {want})"
    if condition.type != DATE:
        return None
    coerced = f"({t} := {date or _date_source(v, get)}) is not None"
    operand = condition.operand()
    if name in ("within_last_days", "more_than_days_ago", "within_next_days"):
        span = repr(operand * DAY)  # the reference's ``days * DAY``, the same float
        if name == "within_last_days":
            test = f"now - {span} <= {t} <= now"
        elif name == "more_than_days_ago":
            test = f"{t} < now - {span}"
        else:
            test = f"now <= {t} <= now + {span}"
    elif operand is None:  # an unparsable stored date: the reference decides
        return None
    elif name == "before":
        test = f"{t} < {operand!r}"
    elif name == "after":
        test = f"{t} > {operand!r}"
    else:
        return None
    return f"({coerced} and {test})"


def _date_source(v: str, get: str) -> str:
    """``coerce_date`` of the value ``get`` reads, a str going straight to ``parse_iso``."""
    return f"(parse_iso({v}) if type({v} := {get}) is str else coerce_date({v}))"


def _rule_source(
    i: int,
    condition: Condition,
    env: dict[str, Any],
    get: str | None = None,
    date: str | None = None,
) -> str:
    """Rule ``i`` as an expression on ``traits`` (or on ``get``, a read of its trait)."""
    if not condition.valid:
        return "False"
    op = OPERATORS[condition.operator]
    positive = op.positive
    env[f"slow{i}"] = _value_test(condition)
    key = repr(condition.trait)  # keys and scalar operands are inlined as literals
    get = get or f"traits.get({key})"
    fallback = f"slow{i}(v{i}, now)"
    inline = _INLINE.get(positive.name)
    other = _other_source(i, condition, get, date)
    if other is not None:
        source = other
    elif inline is None or condition.type not in (STRING, NUMBER):
        source = f"slow{i}({get}, now)"
    else:
        operand = condition.operand()
        if positive.name == "in":
            env[f"o{i}"] = frozenset(operand)
            literal, magnitudes = f"o{i}", operand
        else:
            # An integral operand as an int literal: int-to-int comparison is the fast one.
            exact = type(operand) is float and operand.is_integer() and abs(operand) < _EXACT_INT
            literal, magnitudes = repr(int(operand) if exact else operand), [operand]
        if condition.type == STRING:
            x = f"v{i}.lower()" if condition.folds else f"v{i}"
            common = f"type(v{i} := {get}) is str"
        else:
            x = f"v{i}"
            common = f"(t{i} := type(v{i} := {get})) is int or t{i} is float"
            # An int compares with an operand below 2**53 exactly as its float would; beyond,
            # large ints take the reference path.
            if any(abs(m) >= _EXACT_INT for m in magnitudes):
                common = (
                    f"(t{i} := type(v{i} := {get})) is float or "
                    f"t{i} is int and -{_EXACT_INT} < v{i} < {_EXACT_INT}"
                )
        test = inline.format(x=x, o=literal)
        source = f"(({test}) if {common} else {fallback})"
    return f"not {source}" if op.negates else source


_NAMESPACE: dict[str, Any] = {
    "now_seconds": now_seconds,
    "parse_iso": parse_iso,
    "coerce_date": coerce_date,
    "coerce_boolean": coerce_boolean,
}


# Only rules counting days from now need the clock; reading it costs more than a rule.
_CLOCK = ["if now is None:", "    now = now_seconds()"]


def _make(name: str, env: dict[str, Any], lines: list[str]) -> Callable[..., Any]:
    """``name(traits, now=None)`` with ``lines`` as its body, closing over ``env``."""
    body = "".join(f"        {line}\n" for line in lines)
    source = (
        f"def make({', '.join(env)}):\n    def {name}(traits, now=None):\n{body}    return {name}\n"
    )
    namespace: dict[str, Any] = dict(_NAMESPACE)
    exec(compile(source, f"<{name}>", "exec"), namespace)  # only our own source, no user text
    return namespace["make"](**env)


def _generate(conditions: tuple[Condition, ...]) -> Callable[..., bool]:
    env: dict[str, Any] = {}
    rules = [_rule_source(i, c, env) for i, c in enumerate(conditions)]
    body = " and ".join(f"({rule})" for rule in rules) or "True"
    clock = _CLOCK if _dated(conditions) else []
    return _make("matches", env, [*clock, f"return {body}"])


def _dated(conditions: Iterable[Condition]) -> bool:
    return any(
        c.valid and c.type == DATE and OPERATORS[c.operator].value_kind(DATE) == DAYS
        for c in conditions
    )


_DATE_INLINE = frozenset(
    {"within_last_days", "more_than_days_ago", "within_next_days", "before", "after"}
)


def _segments_source(
    segments: Mapping[int, Iterable[Condition]], env: dict[str, Any]
) -> tuple[list[str], dict[int, str]]:
    """The body lines that read each trait and compute each distinct rule once, and each
    segment's answer as an expression of those locals (``compile_segments``)."""
    reads: dict[str, str] = {}  # trait -> local holding traits.get(trait)
    dates: dict[str, str] = {}  # trait -> local holding its coerce_date
    rules: dict[tuple[Any, ...], str] = {}  # distinct rule -> local or lazy expression
    lines: list[str] = []
    answers: dict[int, str] = {}
    everything = {sid: tuple(conditions) for sid, conditions in segments.items()}
    for sid, conditions in everything.items():
        parts = []
        for c in conditions:
            if not c.valid:
                parts.append("False")
                continue
            key = (c.trait, c.type, c.operator, repr(c.value), c.case_sensitive)
            if key not in rules:
                i = len(rules)
                if c.trait not in reads:
                    reads[c.trait] = f"g{len(reads)}"
                    lines.append(f"{reads[c.trait]} = traits.get({c.trait!r})")
                get = reads[c.trait]
                date = None
                positive = OPERATORS[c.operator].positive.name
                if c.type == DATE and positive in _DATE_INLINE:
                    if c.trait not in dates:
                        dates[c.trait] = f"d{len(dates)}"
                        lines.append(f"{dates[c.trait]} = {_date_source('x', get)}")
                    date = dates[c.trait]
                source = _rule_source(i, c, env, get=get, date=date)
                if source.removeprefix("not ").startswith(f"slow{i}("):
                    rules[key] = f"({source})"
                else:
                    lines.append(f"r{i} = {source}")
                    rules[key] = f"r{i}"
            parts.append(rules[key])
        answers[sid] = f"({' and '.join(parts) or 'True'})"
    if _dated(c for conditions in everything.values() for c in conditions):
        lines[:0] = _CLOCK
    return lines, answers


def compile_segments(
    segments: Mapping[int, Iterable[Condition]],
) -> Callable[..., dict[int, bool]]:
    """Many segments as one generated function ``(traits, now=None) -> {segment id: matches}``.

    For a serve, which checks most segments of an application: each trait is read (and a date
    trait coerced) once, and each distinct rule is computed once, however many segments share
    it. A segment's answer is the same as its ``CompiledSegment.matches``: every rule is the
    same expression, on a local instead of ``traits.get``. Rules that only the reference can
    run (none but a stored date that does not parse) stay lazy, in their segment's order."""
    env: dict[str, Any] = {}
    lines, answers = _segments_source(segments, env)
    entries = ", ".join(f"{sid!r}: {answer}" for sid, answer in answers.items())
    return _make("segments", env, [*lines, f"return {{{entries}}}"])


def compile_chooser[T](
    segments: Mapping[int, Iterable[Condition]], choices: Sequence[tuple[T, Iterable[int]]]
) -> Callable[..., list[T]]:
    """``(traits, now=None) -> the choices, in order, with any of their segments matching``
    as one generated function: a serve's audience check of the experiences that a URL lets
    through. As ``compile_segments``, but only the segments the choices name are computed, and
    no dict is built. A segment id missing from ``segments`` (deleted since) matches nobody."""
    named = {sid for _, ids in choices for sid in ids}
    env: dict[str, Any] = {}
    lines, answers = _segments_source(
        {sid: conditions for sid, conditions in segments.items() if sid in named}, env
    )
    local = {sid: f"m{j}" for j, sid in enumerate(answers)}
    lines += [f"{local[sid]} = {answer}" for sid, answer in answers.items()]
    lines.append("out = []")
    for k, (choice, ids) in enumerate(choices):
        tests = [local[sid] for sid in ids if sid in local]
        if tests:
            env[f"c{k}"] = choice
            lines.append(f"if {' or '.join(tests)}: out.append(c{k})")
    return _make("choose", env, [*lines, "return out"])


class CompiledSegment:
    """A segment's rules compiled once; ``matches(traits, now=None)`` runs no query.

    ``matches`` is the generated function itself (no wrapper call on the hot path)."""

    __slots__ = ("conditions", "matchers", "matches")

    def __init__(self, conditions: Iterable[Condition]):
        self.conditions = tuple(conditions)
        self.matchers = tuple(compile_condition(c) for c in self.conditions)
        self.matches: Callable[..., bool] = _generate(self.conditions)

    def explain(self, traits: Mapping[str, Any], now: float | None = None) -> list[bool]:
        """Whether each rule passes, in order (for "why" screens)."""
        when = now_seconds() if now is None else now
        return [matcher(traits, when) for matcher in self.matchers]
