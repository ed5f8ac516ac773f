"""The segment rule engine, in memory: a rule as plain data (``Condition``) and its reference
evaluation, pure Python with no database import.

A rule is (trait, operator, value). The stored trait value is read as the type of the trait
definition (``segments/coerce.py``); a value that cannot be read satisfies no positive
operator, and every negated operator is the exact complement of its positive twin. Each
operator's meaning is one row of ``segments/operators.py``. The hot path runs generated code
(``segments/codegen.py``); this module is the reference it falls back on and that "why"
screens use, and ``segments/sql.py`` compiles the same rules to SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .coerce import COERCE, fold
from .operators import OPERATORS, RANGE, Operator, RuleError, case_applies, clean_value, prepare


def same_value(a: Any, b: Any) -> bool:
    """Equal as JSON values read by the engines: 12 and 12.0 are one number (a 64-bit float),
    but ``true`` is not 1, "1" is not 1 and a list is not its text."""
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return (
            isinstance(a, list | tuple)
            and isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(same_value(x, y) for x, y in zip(a, b, strict=True))
        )
    numeric = (int, float)
    if type(a) in numeric and type(b) in numeric:
        # As the engines compare them: PostgreSQL's jsonb gives 1e100 back as an int.
        try:
            return float(a) == float(b)
        except OverflowError:
            return False
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class Condition:
    """One rule as plain data: what both engines compile."""

    trait: str
    type: str
    operator: str
    value: Any = None
    case_sensitive: bool = False

    @cached_property
    def op(self) -> Operator | None:
        return OPERATORS.get(self.operator)

    @cached_property
    def valid(self) -> bool:
        """Whether the stored value is exactly what saving this rule would store today.

        A rule that no longer fits its trait (its type changed to one the operator or the value
        does not suit), or whose stored value no save path produces (a list stored as text, a
        date with spaces around it), matches nobody, negated or not, in both engines."""
        try:
            clean = clean_value(self.type, self.operator, self.value)
        except RuleError:
            return False
        return same_value(clean, self.value)

    @property
    def folds(self) -> bool:
        return case_applies(self.type, self.operator) and not self.case_sensitive

    @cached_property
    def operand(self) -> Any:
        """The rule's value ready to compare (coerced, folded), shared by both engines; only
        for a valid rule."""
        return prepare(self.type, self.operator, self.value, self.folds)

    def bounds(self, now: float) -> Mapping[str, Any]:
        """The named values the operator's templates compare against."""
        assert self.op is not None
        return self.op.positive.bounds(self.operand, now)

    def describe(self) -> str:
        op = self.op
        label = op.label if op else self.operator
        # Said as stored, even when it no longer fits a retyped trait (the words then say why
        # the rule matches nobody).
        value = self.value
        fits = op is not None and self.type in op.types
        if value is None or value == []:
            words = ""
        elif fits and op.value_kind(self.type) == RANGE and _pair(value):
            words = " " + op.words.format(low=_quote(value[0]), high=_quote(value[1]))
        elif isinstance(value, list):
            words = " " + ", ".join(_quote(v) for v in value)
        elif fits and "{value}" in op.words:
            words = " " + op.words.format(value=_quote(value))
        else:
            words = " " + _quote(value)
        case = (
            " (match case)"
            if self.case_sensitive and case_applies(self.type, self.operator)
            else ""
        )
        broken = "" if self.valid else f" (does not fit a {self.type} trait: matches nobody)"
        return f"{self.trait} {label}{words}{case}{broken}"


def _pair(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


Matcher = Callable[[Mapping[str, Any], float], bool]


def _never(traits: Mapping[str, Any], now: float) -> bool:
    return False


def value_test(condition: Condition) -> Callable[[Any, float], bool]:
    """The positive rule on one stored value (None when absent): read as the trait's type,
    fold, compare. The reference the generated code falls back on; only for a valid rule."""
    op = OPERATORS[condition.operator].positive
    test = op.test
    assert test is not None
    if op.raw:
        return lambda raw, now: test(raw, _NO_BOUNDS)
    coerce = COERCE[condition.type]
    folds = condition.folds
    static = None if op.clock else condition.bounds(0.0)

    def check(raw: Any, now: float) -> bool:
        if raw is None:
            return False
        value = coerce(raw)
        if value is None:
            return False
        if folds:
            value = fold(value)
        return test(value, static if static is not None else condition.bounds(now))

    return check


_NO_BOUNDS: Mapping[str, Any] = {}


def compile_condition(condition: Condition) -> Matcher:
    """One rule as a function of (traits, now), for explanations."""
    if not condition.valid:
        return _never
    key = condition.trait
    test = value_test(condition)
    if OPERATORS[condition.operator].negates:
        return lambda traits, now: not test(traits.get(key), now)
    return lambda traits, now: test(traits.get(key), now)


def explain(conditions: tuple[Condition, ...], traits: Mapping[str, Any], now: float) -> list[bool]:
    """Whether each rule passes, in order (for "why" screens)."""
    return [compile_condition(c)(traits, now) for c in conditions]
