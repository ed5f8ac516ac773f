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

from django.db.models import BooleanField, Count, Expression, F, Q

from .accounts import CompanyTraitCondition, CompanyUsersCondition
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


def tree_q(
    node: Node,
    now: Any = None,
    resolve: Resolve = lambda segment: None,
    application_id: int | None = None,
) -> Q:
    """A segment's tree as one ``Q``: groups become AND / OR / NOT (OR), a reference the
    referenced segment's tree (``resolve(id)``; None, or a chain deeper than MAX_CHAIN,
    matches nobody). ``application_id``: the users' application, which a ``company_users``
    node's count reads (None: counted over every application's users, the same answer,
    slower)."""
    return _Compiler(now_seconds(now), resolve, application_id).q(node, strict=False, chain=0)


class _Compiler:
    def __init__(self, now: float, resolve: Resolve, application_id: int | None):
        self.now, self.resolve, self.application_id = now, resolve, application_id

    def q(self, node: Node, strict: bool, chain: int) -> Q:
        now = self.now
        if isinstance(node, Condition):
            return condition_q(node, now, strict)
        if isinstance(node, CompanyTraitCondition):
            # The company's traits through a LEFT JOIN (the foreign key is nullable): a user
            # without a company reads NULL, every company trait missing.
            if not node.valid:
                return MATCH_NONE
            return Q(RuleCondition(node.condition, now, F("company__traits"), strict))
        if isinstance(node, CompanyUsersCondition):
            return self.company_users(node, chain)
        if isinstance(node, Leaf):
            return Q(LeafCondition(node, now)) if node.valid else MATCH_NONE
        if isinstance(node, Ref):
            target = self.resolve(node.segment) if chain < MAX_CHAIN else None
            return MATCH_NONE if target is None else self.q(target, strict, chain + 1)
        parts = [self.q(n, strict or node.match == NONE, chain) for n in node.nodes]
        return _combine(node.match, parts)

    def company_users(self, node: CompanyUsersCondition, chain: int) -> Q:
        """The companies whose count of users in the segment passes (or, when 0 passes,
        every user but those of the companies whose count fails), from one grouped subquery
        over the application's users: a company with no user in the segment is not in it."""
        from .models import EndUser

        # A segment that is gone matches nobody, as a reference to it does. The chain's depth
        # is not checked here: saving counts this node as a reference in every chain.
        target = self.resolve(node.segment)
        if target is None or not node.valid:
            return MATCH_NONE
        users = EndUser.objects.filter(company__isnull=False)
        if self.application_id is not None:
            users = users.filter(application_id=self.application_id)
        counts = (
            users.filter(self.q(target, strict=False, chain=chain + 1))
            .order_by()
            .values("company_id")
            .annotate(n=Count("pk"))
        )
        lookup = {f"n__{node.op.lookup}": node.value}  # type: ignore[union-attr]
        if node.zero_matches:
            return ~Q(company_id__in=counts.exclude(**lookup).values("company_id"))
        return Q(company_id__in=counts.filter(**lookup).values("company_id"))


def _combine(match: str, parts: list[Q]) -> Q:
    if match == ALL:
        q = MATCH_ALL
        for part in parts:
            q &= part
        return q
    if not parts:
        return MATCH_NONE if match == ANY else MATCH_ALL
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q if match == ANY else ~q
