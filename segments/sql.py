"""The segment rule engine, in SQL: rules compile to one ``Q`` over ``EndUser.traits``.

The meaning is the evaluator's (``segments/evaluator.py``): the same operator table, the same
prepared operands (``Condition.operand``) and the same coercions, which exist as SQL functions:
on PostgreSQL written in SQL (migration 0002), on SQLite registered per connection from the
evaluator's own Python functions (``segments/apps.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db.models import BooleanField, Expression, F, Q

from .evaluator import (
    DATE,
    DAY,
    DAYS,
    OPERATORS,
    Condition,
    now_seconds,
)

# Explicit sentinels: an empty Q() would vanish when OR'd with another condition.
MATCH_ALL = Q(pk__isnull=False)
MATCH_NONE = Q(pk__isnull=True)

# The comparison for each positive operator; {x} is the coerced (and maybe folded) trait.
# A string is the same on every database; a dict gives it per connection.vendor.
TESTS: dict[str, str | dict[str, str]] = {
    "equals": "{x} = %s",
    "in": {"postgresql": "{x} = ANY(%s)", "sqlite": "{x} IN ({many})"},
    "contains": {"postgresql": "strpos({x}, %s) > 0", "sqlite": "instr({x}, %s) > 0"},
    "starts_with": "substr({x}, 1, {n}) = %s",
    "ends_with": {"postgresql": "right({x}, {n}) = %s", "sqlite": "substr({x}, -{n}) = %s"},
    "greater_than": "{x} > %s",
    "greater_than_or_equal": "{x} >= %s",
    "less_than": "{x} < %s",
    "less_than_or_equal": "{x} <= %s",
    "within_last_days": "({x} >= %s AND {x} <= %s)",
    "more_than_days_ago": "{x} < %s",
    "within_next_days": "({x} >= %s AND {x} <= %s)",
    "before": "{x} < %s",
    "after": "{x} > %s",
    "is_true": "{x} = %s",
    "is_false": "{x} = %s",
}

# How a trait is read and coerced; {t} is the traits column, %s the key (or its JSON path).
READ = {
    "postgresql": {
        "present": "(({t} ->> %s) IS NOT NULL)",
        "string": "({t} ->> %s)",
        "number": "callout_num({t} -> %s)",
        "boolean": "callout_bool({t} -> %s)",
        "date": "callout_date({t} -> %s)",
    },
    "sqlite": {
        "present": "(coalesce(json_type({t}, %s), 'null') <> 'null')",
        "string": "callout_text(json_type({t}, %s), json_extract({t}, %s))",
        "number": "callout_num(json_type({t}, %s), json_extract({t}, %s))",
        "boolean": "callout_bool(json_type({t}, %s), json_extract({t}, %s))",
        "date": "callout_date(json_type({t}, %s), json_extract({t}, %s))",
    },
}


def _key_params(vendor: str, key: str, sql: str) -> list[str]:
    if vendor == "sqlite":
        return [f'$."{key}"'] * sql.count("%s")
    return [key]


def _bound_params(condition: Condition, operand: Any, now: float) -> list[Any]:
    """The values compared against: the operand, or for day windows the window's bounds."""
    op = OPERATORS[condition.operator].positive
    name = op.name
    if name in ("is_true", "is_false"):
        return [name == "is_true"]
    if condition.type == DATE and op.value_kind(DATE) == DAYS:
        span = operand * DAY
        return {
            "within_last_days": [now - span, now],
            "more_than_days_ago": [now - span],
            "within_next_days": [now, now + span],
        }[name]
    return [operand]


def _fill(template: str, x: str, x_params: list[Any], values: list[Any]) -> tuple[str, list]:
    """Put the trait expression at each {x} and keep every param in placeholder order."""
    params: list[Any] = []
    remaining = iter(values)

    def place(match: re.Match[str]) -> str:
        if match.group() == "{x}":
            params.extend(x_params)
            return x
        params.append(next(remaining))
        return "%s"

    return _PLACEHOLDER.sub(place, template), params


_PLACEHOLDER = re.compile(r"\{x\}|%s")


class _OverTraits(Expression):
    """A boolean SQL expression over the traits column (``F("traits")`` unless given)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, traits: Any = None):
        super().__init__()
        self.traits = traits if traits is not None else F("traits")

    def get_source_expressions(self) -> list[Any]:
        return [self.traits]

    def set_source_expressions(self, exprs: list[Any]) -> None:
        (self.traits,) = exprs

    def _column(self, compiler: Any, connection: Any) -> tuple[str, str]:
        """(the vendor's key in READ and TESTS, the compiled traits column)."""
        vendor = "postgresql" if connection.vendor == "postgresql" else "sqlite"
        column, _ = compiler.compile(self.traits)  # a plain column: no params
        return vendor, column


class TraitFits(_OverTraits):
    """True when a user has the trait and its value reads as the trait's type: the coercions
    the rules use, so "fits" means exactly what the rules see."""

    def __init__(self, key: str, type: str):
        super().__init__()
        self.key, self.type = key, type

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        vendor, column = self._column(compiler, connection)
        read = READ[vendor][self.type].format(t=column)
        return f"(({read}) IS NOT NULL)", _key_params(vendor, self.key, read)


class RuleCondition(_OverTraits):
    """One rule as a boolean SQL expression over the traits column."""

    def __init__(self, condition: Condition, now: float, traits: Any = None):
        super().__init__(traits)
        self.condition = condition
        self.now = now

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        vendor, column = self._column(compiler, connection)
        condition = self.condition
        op = OPERATORS[condition.operator]
        positive = op.positive
        key = condition.trait

        if positive.name == "is_set":
            read = READ[vendor]["present"].format(t=column)
            sql, params = read, _key_params(vendor, key, read)
        else:
            read = READ[vendor][condition.type].format(t=column)
            read_params = _key_params(vendor, key, read)
            x = f"callout_fold({read})" if condition.folds else read
            operand = condition.operand()
            template = TESTS[positive.name]
            if isinstance(template, dict):
                template = template[vendor]
            values = _bound_params(condition, operand, self.now)
            if positive.name == "in" and vendor == "sqlite":
                values = list(operand)
            n = len(operand) if isinstance(operand, str) else 0
            template = template.replace("{n}", str(n))
            template = template.replace("{many}", ", ".join(["%s"] * len(values)))
            sql, params = _fill(template, x, read_params, values)
        if op.negates:
            sql = f"NOT COALESCE({sql}, FALSE)"
        return f"({sql})", params


def condition_q(condition: Condition, now: float) -> Q:
    if not condition.valid:
        return MATCH_NONE
    return Q(RuleCondition(condition, now))


def conditions_q(conditions: Iterable[Condition], now: Any = None) -> Q:
    """Rules AND'd; no rules match everyone."""
    when = now_seconds(now)
    q = MATCH_ALL
    for condition in conditions:
        q &= condition_q(condition, when)
    return q
