"""The operator table: one row per operator, and every engine reads its row and nothing else.

A row holds what the operator is called, which trait types and rule values it takes, whether
"match case" applies, its negation twin, and its positive test three times over: as a reference
predicate (``test``), as an inline Python template (``python``, for ``segments/codegen.py``) and
as an SQL template (``sql``, for ``segments/sql.py``). The three read the same named values,
``bounds(operand, now)``: the rule's prepared value, or for a day window the window's ends.
``tests/segments/test_parity.py`` holds the three to one meaning.

A negated operator is a row with ``negates``: both engines take the exact complement of its
positive twin, so it needs no test of its own.

Templates: ``{x}`` is the trait's value, read as the trait's type (and case-folded when the rule
ignores case); ``{name}`` is a named value of ``bounds`` (Python inlines it as a literal, SQL
binds it as ``%s``); ``{name*}`` (SQL) binds each item of a list; ``{n:name}`` (SQL) inlines an
int. Python templates of operators with ``clock`` may read ``day``, midnight UTC today.

Adding an operator is adding a row here (and its worked examples in tests/segments/cases.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .coerce import (
    BOOLEAN,
    DATE,
    DAY,
    NUMBER,
    STRING,
    TRAIT_TYPES,
    coerce_text,
    day_start,
    fold,
    is_date_only,
    iso_micros,
)

MAX_DAYS = 36500
MAX_LIST = 1000
MAX_TEXT = 2000


class RuleError(ValueError):
    """A rule that cannot be saved; the message says why, in words for a product manager."""


# --- Rule values: what each value kind accepts, stores and compares ----------------------

# text, number, list (of text or numbers, by trait type), days (a positive whole number),
# date (ISO 8601), range ([low, high] of numbers or dates), none (no value).
TEXT, NUM, LIST, DAYS, ISODATE, RANGE, NONE = (
    "text", "number", "list", "days", "date", "range", "none"
)  # fmt: skip

# A number typed into a rule: plain or scientific notation (any float Python prints reads
# back). Linear: no nested quantifiers.
_NUMBER_INPUT = re.compile(
    r"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?[ \t]*"
)


def _clean_text(value: Any, trait_type: str) -> str:
    if type(value) in (int, float):
        value = coerce_text(value)
    if not isinstance(value, str) or not value.strip():
        raise RuleError("needs a text value")
    if len(value) > MAX_TEXT:
        raise RuleError(f"value is longer than {MAX_TEXT} characters")
    return value


def _clean_number(value: Any, trait_type: str = NUMBER) -> int | float:
    typed = type(value) in (int, float)
    text = isinstance(value, str) and len(value) <= 400 and _NUMBER_INPUT.fullmatch(value)
    number = float(value) if typed or text else None
    if number is None or not math.isfinite(number):
        raise RuleError(f"needs a number, not {value!r}")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _clean_days(value: Any, trait_type: str) -> int:
    if isinstance(value, str) and value.strip().isdigit() and len(value) <= 100:
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int or not 1 <= value <= MAX_DAYS:
        raise RuleError(f"needs a whole number of days from 1 to {MAX_DAYS}")
    return value


def _clean_date(value: Any, trait_type: str = DATE) -> str:
    if not isinstance(value, str) or len(value) > 100 or iso_micros(value.strip()) is None:
        raise RuleError("needs a date such as 2026-11-20 or 2026-11-20T14:30:00Z")
    return value.strip()


def _clean_list(value: Any, trait_type: str) -> list[Any]:
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
            items.append(clean(item, trait_type))
        except RuleError as error:
            raise RuleError(f"list item {item!r} {error}") from None
    return list(dict.fromkeys(items))


def _date_end(text: str) -> int:
    """The last microsecond a date bound covers: a date alone covers its whole day."""
    micros = iso_micros(text)
    assert micros is not None
    return micros + 86_400_000_000 - 1 if is_date_only(text) else micros


def _clean_range(value: Any, trait_type: str) -> list[Any]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise RuleError("needs two values: the low end and the high end")
    clean = _clean_number if trait_type == NUMBER else _clean_date
    low, high = (clean(item, trait_type) for item in value)
    above = low > high if trait_type == NUMBER else iso_micros(low) > _date_end(high)
    if above:
        raise RuleError("the low end is above the high end")
    return [low, high]


def _prepare_range(value: list[Any], trait_type: str) -> tuple[float, float]:
    if trait_type == NUMBER:
        return float(value[0]), float(value[1])
    low = iso_micros(value[0])
    assert low is not None
    return low / 1_000_000, _date_end(value[1]) / 1_000_000


@dataclass(frozen=True)
class ValueKind:
    """How a kind of rule value is checked for saving (``clean``) and made ready to compare
    (``prepare``: numbers as floats, dates as Unix seconds, text folded when the rule folds)."""

    clean: Callable[[Any, str], Any]
    prepare: Callable[[Any, str], Any]


def _text_operand(value: str, trait_type: str) -> str:
    return value


VALUE_KINDS: dict[str, ValueKind] = {
    TEXT: ValueKind(_clean_text, _text_operand),
    NUM: ValueKind(_clean_number, lambda v, t: float(v)),
    LIST: ValueKind(_clean_list, lambda v, t: [float(i) for i in v] if t == NUMBER else list(v)),
    DAYS: ValueKind(_clean_days, lambda v, t: int(v)),
    ISODATE: ValueKind(_clean_date, lambda v, t: iso_micros(v) / 1_000_000),
    RANGE: ValueKind(_clean_range, _prepare_range),
    NONE: ValueKind(lambda v, t: None, lambda v, t: None),
}


# --- Operators ---------------------------------------------------------------------------

Bounds = Mapping[str, Any]


def _operand(o: Any, now: float) -> Bounds:
    return {"o": o}


@dataclass(frozen=True)
class Operator:
    name: str
    label: str
    types: tuple[str, ...]
    value: str | Mapping[str, str] = NONE  # the value kind, or one per trait type
    negates: str | None = None  # the positive twin this is the exact complement of
    case_aware: bool = False  # honours the rule's "match case" on text traits
    # The positive test: a reference predicate on (x, bounds), a Python template and an SQL
    # template (or one per database vendor); empty on negated rows.
    test: Callable[[Any, Bounds], bool] | None = None
    python: str = ""
    sql: str | Mapping[str, str] = ""
    bounds: Callable[[Any, float], Bounds] = _operand
    clock: bool = False  # bounds depend on the time of evaluation
    raw: bool = False  # reads whether the trait has a value, not the value as its type
    words: str = "{value}"  # how describe() says the value

    def value_kind(self, trait_type: str) -> str:
        return self.value[trait_type] if isinstance(self.value, Mapping) else self.value

    @property
    def positive(self) -> Operator:
        return OPERATORS[self.negates] if self.negates else self

    def sql_for(self, vendor: str) -> str:
        sql = self.positive.sql
        return sql[vendor] if isinstance(sql, Mapping) else sql


def _last_days(o: int, now: float) -> Bounds:
    day = day_start(now)
    return {"o": o, "lo": day - o * DAY, "hi": day + DAY}


def _days_ago(o: int, now: float) -> Bounds:
    return {"o": o, "hi": day_start(now) - o * DAY}


def _next_days(o: int, now: float) -> Bounds:
    day = day_start(now)
    return {"o": o, "lo": day, "hi": day + (o + 1) * DAY}


def _range(o: tuple[float, float], now: float) -> Bounds:
    return {"lo": o[0], "hi": o[1]}


def _affix(o: str, now: float) -> Bounds:
    return {"o": o, "n": len(o)}


SN = (STRING, NUMBER)
ND = (NUMBER, DATE)
_BY_TYPE = {STRING: TEXT, NUMBER: NUM}
_RANGE = "({x} >= {lo} AND {x} <= {hi})"


def _table(*rows: Operator) -> dict[str, Operator]:
    return {row.name: row for row in rows}


OPERATORS: dict[str, Operator] = _table(
    Operator(
        "equals", "equals", SN, _BY_TYPE, case_aware=True,
        test=lambda x, b: x == b["o"], python="{x} == {o}", sql="{x} = {o}",
    ),
    Operator("not_equals", "does not equal", SN, _BY_TYPE, negates="equals", case_aware=True),
    Operator(
        "contains", "contains", (STRING,), TEXT, case_aware=True,
        test=lambda x, b: b["o"] in x, python="{o} in {x}",
        sql={"postgresql": "strpos({x}, {o}) > 0", "sqlite": "instr({x}, {o}) > 0"},
    ),
    Operator(
        "not_contains", "does not contain", (STRING,), TEXT, negates="contains", case_aware=True
    ),
    Operator(
        "starts_with", "starts with", (STRING,), TEXT, case_aware=True,
        test=lambda x, b: x.startswith(b["o"]), python="{x}.startswith({o})",
        sql="substr({x}, 1, {n:n}) = {o}", bounds=_affix,
    ),
    Operator(
        "ends_with", "ends with", (STRING,), TEXT, case_aware=True,
        test=lambda x, b: x.endswith(b["o"]), python="{x}.endswith({o})",
        sql={"postgresql": "right({x}, {n:n}) = {o}", "sqlite": "substr({x}, -{n:n}) = {o}"},
        bounds=_affix,
    ),
    Operator(
        "in", "is one of", SN, LIST, case_aware=True,
        test=lambda x, b: x in b["o"], python="{x} in {o}",
        sql={"postgresql": "{x} = ANY({o})", "sqlite": "{x} IN ({o*})"},
    ),
    Operator("not_in", "is not one of", SN, LIST, negates="in", case_aware=True),
    Operator(
        "greater_than", "is greater than", (NUMBER,), NUM,
        test=lambda x, b: x > b["o"], python="{x} > {o}", sql="{x} > {o}",
    ),
    Operator(
        "greater_than_or_equal", "is at least", (NUMBER,), NUM,
        test=lambda x, b: x >= b["o"], python="{x} >= {o}", sql="{x} >= {o}",
    ),
    Operator(
        "less_than", "is less than", (NUMBER,), NUM,
        test=lambda x, b: x < b["o"], python="{x} < {o}", sql="{x} < {o}",
    ),
    Operator(
        "less_than_or_equal", "is at most", (NUMBER,), NUM,
        test=lambda x, b: x <= b["o"], python="{x} <= {o}", sql="{x} <= {o}",
    ),
    Operator(
        "between", "is between", ND, RANGE,
        test=lambda x, b: b["lo"] <= x <= b["hi"], python="{lo} <= {x} <= {hi}", sql=_RANGE,
        bounds=_range, words="{low} and {high}",
    ),
    Operator(
        "not_between", "is not between", ND, RANGE, negates="between", words="{low} and {high}"
    ),
    # Day windows count calendar days in UTC, today included (docs/segments.md): the Python
    # templates compute from ``day`` exactly what ``bounds`` computes from ``now``.
    Operator(
        "within_last_days", "is within the last", (DATE,), DAYS, clock=True, bounds=_last_days,
        test=lambda x, b: b["lo"] <= x < b["hi"],
        python="day - {o} * 86400.0 <= {x} < day + 86400.0",
        sql="({x} >= {lo} AND {x} < {hi})", words="{value} days",
    ),
    Operator(
        "more_than_days_ago", "is more than", (DATE,), DAYS, clock=True, bounds=_days_ago,
        test=lambda x, b: x < b["hi"], python="{x} < day - {o} * 86400.0",
        sql="{x} < {hi}", words="{value} days ago",
    ),
    Operator(
        "within_next_days", "is within the next", (DATE,), DAYS, clock=True, bounds=_next_days,
        test=lambda x, b: b["lo"] <= x < b["hi"],
        python="day <= {x} < day + ({o} + 1) * 86400.0",
        sql="({x} >= {lo} AND {x} < {hi})", words="{value} days",
    ),
    Operator(
        "before", "is before", (DATE,), ISODATE,
        test=lambda x, b: x < b["o"], python="{x} < {o}", sql="{x} < {o}",
    ),
    Operator(
        "after", "is after", (DATE,), ISODATE,
        test=lambda x, b: x > b["o"], python="{x} > {o}", sql="{x} > {o}",
    ),
    Operator(
        "is_true", "is true", (BOOLEAN,), bounds=lambda o, now: {"o": True},
        test=lambda x, b: x is True, python="{x} is True", sql="{x} = {o}",
    ),
    Operator(
        "is_false", "is false", (BOOLEAN,), bounds=lambda o, now: {"o": False},
        test=lambda x, b: x is False, python="{x} is False", sql="{x} = {o}",
    ),
    Operator(
        "is_set", "is set", TRAIT_TYPES, raw=True,
        test=lambda x, b: x is not None, python="{x} is not None", sql="{x}",
    ),
    Operator("is_not_set", "is not set", TRAIT_TYPES, negates="is_set", raw=True),
)  # fmt: skip


def operators_for(trait_type: str) -> list[Operator]:
    return [op for op in OPERATORS.values() if trait_type in op.types]


def case_applies(trait_type: str, operator: str) -> bool:
    op = OPERATORS.get(operator)
    return trait_type == STRING and op is not None and op.case_aware


def clean_value(trait_type: str, operator: str, value: Any) -> Any:
    """The rule's value, validated and normalised for storage; raises RuleError."""
    op = OPERATORS.get(operator)
    if op is None:
        raise RuleError(f'"{operator}" is not an operator')
    if trait_type not in op.types:
        raise RuleError(f'"{op.label}" does not apply to a {trait_type} trait')
    return VALUE_KINDS[op.value_kind(trait_type)].clean(value, trait_type)


def prepare(trait_type: str, operator: str, value: Any, folds: bool) -> Any:
    """A clean value ready to compare: what ``bounds`` takes, in both engines."""
    kind = OPERATORS[operator].value_kind(trait_type)
    operand = VALUE_KINDS[kind].prepare(value, trait_type)
    if folds:
        return [fold(v) for v in operand] if isinstance(operand, list) else fold(operand)
    return operand
