"""The segment rule engine, in SQL: rules compile to one ``Q`` over ``EndUser.traits``.

The meaning is the operator table's (``segments/operators.py``): each rule is its operator's
SQL template on the trait read as its type (``coerce.SQL_READ``), with the same prepared values
the Python engines compare against (``Condition.bounds``). The coercions exist as SQL
functions: on PostgreSQL written in SQL (``segments/pgsql.py``), on SQLite registered per
connection from the Python coercions themselves (``segments/apps.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import BooleanField, Expression, F, Q

from .behaviour import Leaf
from .coerce import SQL_FOLD, SQL_READ, now_seconds
from .evaluator import Condition
from .tree import ALL, ANY, MAX_CHAIN, NONE, Node, Ref, Resolve

# Explicit sentinels: an empty Q() would vanish when OR'd with another condition.
MATCH_ALL = Q(pk__isnull=False)
MATCH_NONE = Q(pk__isnull=True)

# In an operator's SQL template: {x}, {name} (bound), {name*} (each item bound), {n:name} (int).
_PLACEHOLDER = re.compile(r"\{(?:(n):)?([a-z]+)(\*)?\}")


def _key_params(vendor: str, key: str, sql: str) -> list[str]:
    if vendor == "sqlite":
        return [f'$."{key}"'] * sql.count("%s")
    return [key]


def fill(template: str, x: str, x_params: list[Any], bounds: Mapping[str, Any]) -> tuple[str, list]:
    """An operator's SQL template with the trait expression at each ``{x}`` and every named
    value bound, params in placeholder order."""
    params: list[Any] = []

    def place(match: re.Match[str]) -> str:
        inline, name, many = match.groups()
        if name == "x":
            params.extend(x_params)
            return x
        value = bounds[name]
        if inline:
            if type(value) is not int:
                raise TypeError(f"{name} must be an int to inline, not {value!r}")
            return str(value)
        if many:
            params.extend(value)
            return ", ".join(["%s"] * len(value))
        params.append(value)
        return "%s"

    return _PLACEHOLDER.sub(place, template), params


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
        """(the vendor's key in SQL_READ and the templates, the compiled traits column)."""
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
        read = SQL_READ[vendor][self.type].format(t=column)
        return f"(({read}) IS NOT NULL)", _key_params(vendor, self.key, read)


class RuleCondition(_OverTraits):
    """One valid rule as a boolean SQL expression over the traits column."""

    def __init__(self, condition: Condition, now: float, traits: Any = None, strict: bool = False):
        super().__init__(traits)
        self.condition = condition
        self.now = now
        # Under a NOT (a "none" group) SQL's NULL must be false, as Python's answer is: a
        # positive rule's NULL (the trait missing or unreadable) is COALESCEd. Elsewhere it is
        # left bare, so that an expression index on the trait still serves the comparison.
        self.strict = strict

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        vendor, column = self._column(compiler, connection)
        condition = self.condition
        op = condition.op
        assert op is not None
        positive = op.positive
        read = SQL_READ[vendor]["present" if positive.raw else condition.type].format(t=column)
        x = SQL_FOLD.format(x=read) if condition.folds else read
        bounds = {} if positive.raw else condition.bounds(self.now)
        sql, params = fill(
            op.sql_for(vendor), x, _key_params(vendor, condition.trait, read), bounds
        )
        if op.negates:
            sql = f"NOT COALESCE({sql}, FALSE)"
        elif self.strict:
            sql = f"COALESCE({sql}, FALSE)"
        return f"({sql})", params


class LeafCondition(Expression):
    """An event or experience node (segments/behaviour.py) over the activity column; never
    NULL, so it needs no care under a NOT."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, node: Leaf, now: float, activity: Any = None):
        super().__init__()
        self.node, self.now = node, now
        self.activity = activity if activity is not None else F("activity")

    def get_source_expressions(self) -> list[Any]:
        return [self.activity]

    def set_source_expressions(self, exprs: list[Any]) -> None:
        (self.activity,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        vendor = "postgresql" if connection.vendor == "postgresql" else "sqlite"
        column, _ = compiler.compile(self.activity)
        sql, params = self.node.sql(vendor, column, self.now)  # type: ignore[attr-defined]
        return f"({sql})", params


def condition_q(condition: Condition, now: float, strict: bool = False) -> Q:
    if not condition.valid:
        return MATCH_NONE
    return Q(RuleCondition(condition, now, strict=strict))


def conditions_q(conditions: Iterable[Condition], now: Any = None) -> Q:
    """Rules AND'd; no rules match everyone."""
    when = now_seconds(now)
    q = MATCH_ALL
    for condition in conditions:
        q &= condition_q(condition, when)
    return q


def tree_q(node: Node, now: Any = None, resolve: Resolve = lambda segment: None) -> Q:
    """A segment's tree as one ``Q``: groups become AND / OR / NOT (OR), a reference the
    referenced segment's tree (``resolve(id)``; None, or a chain deeper than MAX_CHAIN,
    matches nobody)."""
    return _node_q(node, now_seconds(now), resolve, strict=False, chain=0)


def _node_q(node: Node, now: float, resolve: Resolve, strict: bool, chain: int) -> Q:
    if isinstance(node, Condition):
        return condition_q(node, now, strict)
    if isinstance(node, Leaf):
        return Q(LeafCondition(node, now)) if node.valid else MATCH_NONE
    if isinstance(node, Ref):
        target = resolve(node.segment) if chain < MAX_CHAIN else None
        return MATCH_NONE if target is None else _node_q(target, now, resolve, strict, chain + 1)
    parts = [_node_q(n, now, resolve, strict or node.match == NONE, chain) for n in node.nodes]
    if node.match == ALL:
        q = MATCH_ALL
        for part in parts:
            q &= part
        return q
    if not parts:
        return MATCH_NONE if node.match == ANY else MATCH_ALL
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q if node.match == ANY else ~q
