"""Rules on a user's company: two kinds of leaf of the definition tree. Plain data, no
database import.

- ``{"company_trait": KEY, "operator": OP, "value": V, "case_sensitive": false}``: a trait
  rule (every operator of ``segments/operators.py``) on the traits of the user's company. A
  user without a company sees every company trait as missing, so negated operators match, as
  for a user trait nobody set.
- ``{"company_users": {"segment": SEGMENT_ID}, "operator": "at_least" | "at_most" |
  "exactly", "value": N}``: how many users of the user's company (the user included) are in
  the segment. A user without a company counts 0.

The engines read a company trait from ``company`` (the company's traits, empty without one)
and a count from ``members`` ({segment id: users of the company in it}), which the caller
supplies: the serve reads both with the user (``experiences/lookup.py``); SQL joins the
company and counts members in one grouped subquery (``segments/sql.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .behaviour import Leaf, _field_error, _whole
from .evaluator import Condition
from .operators import RuleError

COMPANY_TRAIT = "company_trait"
COMPANY_USERS = "company_users"
MAX_MEMBERS = 1_000_000


@dataclass(frozen=True)
class CountOperator:
    name: str
    label: str
    test: Callable[[int, int], bool]
    python: str  # on {x} (the count) and {n}
    lookup: str  # the Django lookup on the count, for SQL's HAVING


COUNT_OPERATORS: dict[str, CountOperator] = {
    op.name: op
    for op in (
        CountOperator("at_least", "at least", lambda x, n: x >= n, "{x} >= {n}", "gte"),
        CountOperator("at_most", "at most", lambda x, n: x <= n, "{x} <= {n}", "lte"),
        CountOperator("exactly", "exactly", lambda x, n: x == n, "{x} == {n}", "exact"),
    )
}


@dataclass(frozen=True)
class CompanyTraitCondition(Leaf):
    """A trait rule read from the company's traits: ``condition`` is the rule as a user trait
    rule would be (its key, the company trait's type, operator, value, case)."""

    KEY: ClassVar[str] = COMPANY_TRAIT

    condition: Condition

    @property
    def valid(self) -> bool:
        return self.condition.valid

    @classmethod
    def of(cls, node: Mapping[str, Any], types: Mapping[str, str]) -> CompanyTraitCondition | None:
        """A stored node with ``types`` the company traits' types; None if it cannot be read."""
        key = node.get(COMPANY_TRAIT)
        if not isinstance(key, str) or key not in types:
            return None
        return cls(
            Condition(
                key,
                types[key],
                str(node.get("operator", "")),
                node.get("value"),
                node.get("case_sensitive") is True,
            )
        )

    def as_json(self) -> dict[str, Any]:
        from .tree import as_json  # the trait rule's own format, with the key renamed

        rule = as_json(self.condition)
        return {COMPANY_TRAIT: rule.pop("trait"), **rule}

    def describe(self, names: Mapping[Any, str] | None = None) -> str:
        return f"company {self.condition.describe()}"

    def test(self, company: Mapping[str, Any], now: float) -> bool:
        from .evaluator import compile_condition

        return compile_condition(self.condition)(company, now)


@dataclass(frozen=True)
class CompanyUsersCondition(Leaf):
    """At least / at most / exactly ``value`` users of the user's company are in
    ``segment``."""

    KEY: ClassVar[str] = COMPANY_USERS
    FIELDS: ClassVar[frozenset[str]] = frozenset({COMPANY_USERS, "operator", "value"})

    segment: int
    operator: str
    value: int

    @property
    def op(self) -> CountOperator | None:
        return COUNT_OPERATORS.get(self.operator)

    @property
    def valid(self) -> bool:
        return self.op is not None and 0 <= self.value <= MAX_MEMBERS

    @classmethod
    def from_json(cls, node: Mapping[str, Any]) -> CompanyUsersCondition | None:
        target, operator, value = node.get(COMPANY_USERS), node.get("operator"), node.get("value")
        segment = target.get("segment") if isinstance(target, Mapping) else None
        if type(segment) is not int or not isinstance(operator, str) or type(value) is not int:
            return None
        return cls(segment, operator, value)

    def as_json(self) -> dict[str, Any]:
        return {
            COMPANY_USERS: {"segment": self.segment},
            "operator": self.operator,
            "value": self.value,
        }

    @classmethod
    def clean(cls, node: Mapping[str, Any]) -> dict[str, Any]:
        """The node normalised for storage (the segment is checked by the tree, as a
        reference); raises RuleError with ``.field`` set."""
        extra = set(node) - cls.FIELDS
        if extra:
            raise _field_error("", f"unknown field {sorted(extra)[0]!r}")
        target = node.get(COMPANY_USERS)
        if not isinstance(target, Mapping) or set(target) != {"segment"}:
            raise _field_error(COMPANY_USERS, 'must be {"segment": SEGMENT_ID}')
        if type(target["segment"]) is not int:
            raise _field_error(f"{COMPANY_USERS}.segment", "no such segment")
        operator = node.get("operator")
        if not isinstance(operator, str) or operator not in COUNT_OPERATORS:
            names = ", ".join(COUNT_OPERATORS)
            raise _field_error("operator", f"{operator!r} is not a count operator ({names})")
        try:
            value = _whole(node.get("value"), 0, MAX_MEMBERS, "a whole number of users")
        except RuleError as error:
            raise _field_error("value", str(error)) from None
        return cls(target["segment"], operator, value).as_json()

    def describe(self, names: Mapping[Any, str] | None = None) -> str:
        op = self.op
        label = op.label if op else self.operator
        users = "user" if self.value == 1 else "users"
        name = (names or {}).get(self.segment)
        where = f'segment "{name}"' if name else "a segment that is gone"
        return f"{label} {self.value} {users} of the company in {where}"

    def test_count(self, count: int) -> bool:
        """The reference, on the number of the company's users in the segment."""
        return self.valid and self.op.test(count, self.value)  # type: ignore[union-attr]

    def python(self, count: str) -> str:
        """One expression on ``count`` (a local holding the company's users in the segment)."""
        if not self.valid:
            return "False"
        return f"({self.op.python.format(x=count, n=repr(self.value))})"  # type: ignore[union-attr]

    @property
    def zero_matches(self) -> bool:
        """Whether a count of 0 passes: then SQL matches every user except those of the
        companies whose count fails, else only those of the companies whose count passes."""
        return self.test_count(0)
