"""The Create / Edit Segment form: name and description as a Django form, the rule rows as an
indexed list read by hand.

Rule rows are added, removed and re-shaped in the browser (a trait change swaps the row's
operator and value inputs), so each row carries its own index (``rules=3`` plus
``rules-3-trait``, ``rules-3-operator``, ``rules-3-value``, ``rules-3-case_sensitive``) and
rows keep their document order. This avoids a formset's management form, whose counts would
have to be rewritten on every add and remove. Validation is not done here: the rows go to
``actions.segment_create`` / ``segment_update`` as they are, and the errors those raise
(``rules.N.value``) are attached back to the N-th row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.http import QueryDict

from . import evaluator
from .evaluator import LIST, NONE, Condition, Operator
from .models import Segment, TraitDefinition
from .traits import KEY_PATTERN

MAX_ROWS = 50


class SegmentForm(forms.Form):
    # Required-ness and uniqueness are checked by actions.segment_create, in one place.
    name = forms.CharField(max_length=200, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


# Value inputs by the operator's value kind: (input type, inputmode, hint).
VALUE_INPUTS = {
    evaluator.TEXT: ("text", "", ""),
    evaluator.NUM: ("text", "decimal", ""),
    evaluator.DAYS: ("number", "numeric", "days"),
    evaluator.ISODATE: ("date", "", ""),
    LIST: ("text", "", "Separate values with commas"),
}


@dataclass
class RuleRow:
    """One rule row of the form, as typed (not yet validated)."""

    index: int
    trait: TraitDefinition | None = None
    operator: str = ""
    value: str = ""
    case_sensitive: bool = False
    number: int = 1  # position in the form, from 1
    autofocus: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def trait_key(self) -> str:
        return self.trait.key if self.trait else ""

    @property
    def operators(self) -> list[Operator]:
        return evaluator.operators_for(self.trait.type) if self.trait else []

    @property
    def value_kind(self) -> str:
        op = evaluator.OPERATORS.get(self.operator)
        if self.trait is None or op is None or self.trait.type not in op.types:
            return NONE
        return op.value_kind(self.trait.type)

    @property
    def value_input(self) -> dict[str, str]:
        kind = self.value_kind
        input_type, inputmode, hint = VALUE_INPUTS.get(kind, ("text", "", ""))
        if self.operator == "more_than_days_ago":
            hint = "days ago"
        return {"type": input_type, "inputmode": inputmode, "hint": hint}

    @property
    def case_applies(self) -> bool:
        return self.trait is not None and evaluator.case_applies(self.trait.type, self.operator)

    def as_input(self) -> dict[str, Any]:
        """What ``actions.segment_create`` takes for this rule."""
        value: Any = self.value
        if self.value_kind == LIST:
            value = [part.strip() for part in self.value.split(",") if part.strip()]
        elif self.value_kind == NONE:
            value = None
        return {
            "trait": self.trait_key,
            "operator": self.operator,
            "value": value,
            "case_sensitive": self.case_sensitive,
        }

    def field_errors(self, name: str) -> list[str]:
        return self.errors.get(name, [])

    @property
    def trait_errors(self) -> list[str]:
        return self.field_errors("trait")

    @property
    def operator_errors(self) -> list[str]:
        return self.field_errors("operator")

    @property
    def value_errors(self) -> list[str]:
        return self.field_errors("value")


def _fit_operator(row: RuleRow) -> None:
    """A row's operator must be one its trait's type takes: else the first that is."""
    operators = row.operators
    if operators and row.operator not in {op.name for op in operators}:
        row.operator = operators[0].name
    if not operators:
        row.operator = ""
    if not row.case_applies:
        row.case_sensitive = False


def parse_rules(data: QueryDict, traits: Mapping[str, TraitDefinition]) -> list[RuleRow]:
    """The rule rows of a submitted form, in document order (``rules`` lists their indexes)."""
    rows: list[RuleRow] = []
    seen: set[int] = set()
    for raw in data.getlist("rules")[:MAX_ROWS]:
        try:
            index = int(raw)
        except ValueError:
            continue
        if index < 0 or index in seen:
            continue
        seen.add(index)
        prefix = f"rules-{index}-"
        key = data.get(prefix + "trait", "")
        row = RuleRow(
            index=index,
            trait=traits.get(key) if KEY_PATTERN.fullmatch(key or "") else None,
            operator=data.get(prefix + "operator", ""),
            value=data.get(prefix + "value", ""),
            case_sensitive=data.get(prefix + "case_sensitive") in ("on", "1", "true"),
            number=len(rows) + 1,
        )
        _fit_operator(row)
        rows.append(row)
    return rows


def new_row(rows: Sequence[RuleRow]) -> RuleRow:
    """An empty row after ``rows``, with an index none of them uses."""
    return RuleRow(
        index=max((row.index for row in rows), default=-1) + 1,
        number=len(rows) + 1,
    )


def value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def rows_from_segment(segment: Segment) -> list[RuleRow]:
    """The saved rules of ``segment`` as form rows."""
    rows = []
    for number, rule in enumerate(segment.rules.all(), start=1):
        row = RuleRow(
            index=number - 1,
            trait=rule.trait,
            operator=rule.operator,
            value=value_text(rule.value),
            case_sensitive=rule.case_sensitive,
            number=number,
        )
        rows.append(row)
    return rows


def attach_errors(rows: Sequence[RuleRow], errors: Mapping[str, list[str]]) -> None:
    """Errors keyed ``rules.N.field`` (N the rule's position) go to the N-th row."""
    for key, messages in errors.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "rules" and parts[1].isdigit():
            position = int(parts[1])
            if position < len(rows):
                rows[position].errors.setdefault(parts[2], []).extend(messages)


def preview_conditions(
    rows: Sequence[RuleRow], cleaned: Sequence[Any]
) -> list[tuple[int, Condition]]:
    """The valid rows' conditions, with each row's number; ``cleaned`` comes from
    ``actions.rules_check`` (None where a row is invalid or incomplete)."""
    return [
        (row.number, rule.condition)
        for row, rule in zip(rows, cleaned, strict=True)
        if rule is not None
    ]
