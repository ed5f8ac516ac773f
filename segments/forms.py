"""The Create / Edit Segment form: name and description as a Django form, the rule rows as an
indexed list read by hand.

A rule's stored value survives opening the form and saving it unchanged: list items that hold a
comma, a quote or surrounding spaces are shown quoted (``"Acme, Inc", Globex``), numbers in a
notation that reads back to the same float, and a before/after value with a time in a text
input (a date input would show it blank). A range shows two inputs, From and To.

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

from . import themes
from .coerce import DATE
from .evaluator import Condition
from .models import (
    MAX_AUDIT_RETENTION_DAYS,
    MAX_BANNERS_PER_EDGE,
    MAX_CAP,
    Segment,
    TraitDefinition,
)
from .operators import (
    DAYS,
    ISODATE,
    LIST,
    NONE,
    NUM,
    OPERATORS,
    RANGE,
    TEXT,
    Operator,
    case_applies,
    operators_for,
)
from .traits import KEY_PATTERN

MAX_ROWS = 50


class SegmentForm(forms.Form):
    # Required-ness, length and uniqueness are checked by actions.segment_create, in one place
    # (a max_length here dropped an over-long name, which was then "missing").
    name = forms.CharField(required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


# Value inputs by the operator's value kind: (input type, inputmode, hint).
VALUE_INPUTS = {
    TEXT: ("text", "", ""),
    NUM: ("text", "decimal", ""),
    DAYS: ("number", "numeric", "days"),
    ISODATE: ("date", "", ""),
    LIST: ("text", "", "Separate values with commas"),
}
_MOMENT_HINT = "A date, or a moment such as 2026-11-20T14:30:00Z"


@dataclass
class RuleRow:
    """One rule row of the form, as typed (not yet validated)."""

    index: int
    trait: TraitDefinition | None = None
    operator: str = ""
    value: str = ""
    value_to: str = ""  # a range's high end
    case_sensitive: bool = False
    number: int | str = 1  # position in the form, from 1 ("2.1" inside a group)
    parent: int = -1  # the builder group it sits in (segments/builder.py), -1 the top
    autofocus: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def trait_key(self) -> str:
        return self.trait.key if self.trait else ""

    @property
    def is_blank(self) -> bool:
        """Nothing chosen or typed: no trait, no operator, no value."""
        return self.trait is None and not (
            self.operator or self.value.strip() or self.value_to.strip()
        )

    @property
    def operators(self) -> list[Operator]:
        return operators_for(self.trait.type) if self.trait else []

    @property
    def value_kind(self) -> str:
        op = OPERATORS.get(self.operator)
        if self.trait is None or op is None or self.trait.type not in op.types:
            return NONE
        return op.value_kind(self.trait.type)

    @property
    def value_input(self) -> dict[str, str]:
        kind = self.value_kind
        if kind == RANGE:  # each end as the trait's single value is typed
            kind = NUM if self.trait is not None and self.trait.type != DATE else ISODATE
        input_type, inputmode, hint = VALUE_INPUTS.get(kind, ("text", "", ""))
        if kind == DAYS:
            hint = OPERATORS[self.operator].words.replace("{value}", "").strip()
        if kind == ISODATE and not all(_date_only(v) for v in (self.value, self.value_to)):
            input_type, hint = "text", _MOMENT_HINT
        return {"type": input_type, "inputmode": inputmode, "hint": hint}

    @property
    def case_applies(self) -> bool:
        return self.trait is not None and case_applies(self.trait.type, self.operator)

    def as_input(self) -> dict[str, Any]:
        """What ``actions.segment_create`` takes for this rule."""
        value: Any = self.value
        if self.value_kind == LIST:
            value = parse_list(self.value)
        elif self.value_kind == RANGE:
            value = [self.value, self.value_to]
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
        row = read_row(data, index, traits)
        row.number = len(rows) + 1
        row.parent = _parent(data.get(f"rules-{index}-parent"))
        rows.append(row)
    return rows


def read_row(data: QueryDict, index: int, traits: Mapping[str, TraitDefinition]) -> RuleRow:
    """Row ``index`` as submitted (``rules-N-trait``, ...), its operator fitted to its trait."""
    prefix = f"rules-{index}-"
    key = data.get(prefix + "trait", "")
    row = RuleRow(
        index=index,
        trait=traits.get(key) if KEY_PATTERN.fullmatch(key or "") else None,
        operator=data.get(prefix + "operator", ""),
        value=data.get(prefix + "value", ""),
        value_to=data.get(prefix + "value_to", ""),
        case_sensitive=data.get(prefix + "case_sensitive") in ("on", "1", "true"),
    )
    _fit_operator(row)
    return row


def _parent(text: Any) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return -1


def new_row(rows: Sequence[RuleRow]) -> RuleRow:
    """An empty row after ``rows``, with an index none of them uses."""
    return RuleRow(
        index=max((row.index for row in rows), default=-1) + 1,
        number=len(rows) + 1,
    )


def _date_only(text: str) -> bool:
    return text == "" or (len(text) == 10 and text[4] == "-" and text[7] == "-")


def _needs_quotes(item: str) -> bool:
    return item == "" or item != item.strip() or "," in item or '"' in item


def value_text(value: Any) -> str:
    """A stored value as typed: what ``parse_list`` and the actions read back to it."""
    if value is None:
        return ""
    if isinstance(value, list):
        items = (value_text(v) for v in value)
        return ", ".join(
            '"' + item.replace('"', '""') + '"' if _needs_quotes(item) else item for item in items
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Integral floats read as ints, below 2**53 without loss; repr reads back exactly.
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return str(value)


def parse_list(text: str) -> list[str]:
    """Comma-separated values; a value in double quotes is taken as it is (commas, spaces and
    doubled quotes included), an unquoted one without its surrounding spaces. One pass."""
    items: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chunk: list[str] = []
            while i < n:
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        chunk.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                chunk.append(text[i])
                i += 1
            items.append("".join(chunk))
            end = text.find(",", i)
            i = n if end < 0 else end + 1
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            item = text[i:end].strip()
            if item:
                items.append(item)
            i = end + 1
    return items


def rows_from_segment(segment: Segment) -> list[RuleRow]:
    """The saved rules of ``segment`` as form rows."""
    rows = []
    for number, rule in enumerate(segment.rules.all(), start=1):
        row = RuleRow(
            index=number - 1,
            trait=rule.trait,
            operator=rule.operator,
            value=value_text(rule.value[0] if _is_range(rule) else rule.value),
            value_to=value_text(rule.value[1]) if _is_range(rule) else "",
            case_sensitive=rule.case_sensitive,
            number=number,
        )
        rows.append(row)
    return rows


def _is_range(rule: Any) -> bool:
    op = OPERATORS.get(rule.operator)
    return (
        op is not None
        and rule.trait.type in op.types
        and op.value_kind(rule.trait.type) == RANGE
        and isinstance(rule.value, list)
        and len(rule.value) == 2
    )


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


class DeliverySettingsForm(forms.Form):
    """The Settings page's delivery settings (``actions.application_set_delivery``)."""

    max_banners_per_edge = forms.IntegerField(
        label="Banners per edge",
        min_value=1,
        max_value=MAX_BANNERS_PER_EDGE,
        help_text="Banners stacked together at the top of a page, and at the bottom.",
    )
    cap_per_day = forms.IntegerField(
        label="Experiences per user per day",
        min_value=1,
        max_value=MAX_CAP,
        required=False,
        help_text="Experiences started (shown) per user in 24 hours. Empty: no cap.",
    )
    cap_per_session = forms.IntegerField(
        label="Experiences per user per session",
        min_value=1,
        max_value=MAX_CAP,
        required=False,
        help_text="A session ends after 30 minutes without an experience shown. Empty: no cap.",
    )
    holdout_percent = forms.IntegerField(
        label="Application-wide holdout (%)",
        min_value=0,
        max_value=50,
        required=False,
        help_text="This share of all users is never served any experience, to measure the "
        "whole onboarding programme. Empty: 0.",
    )

    def clean_holdout_percent(self) -> int:
        return self.cleaned_data.get("holdout_percent") or 0


class _ColourInput(forms.TextInput):
    input_type = "color"


def _colour(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(label=label, widget=_ColourInput, help_text=help_text)


class ThemeForm(forms.Form):
    """The Settings page's theme (``actions.application_set_theme``; the checks, contrast
    included, are segments/themes.py's, so the API of a later day and this form agree)."""

    primary = _colour("Primary colour", "Buttons, info banners and progress bars.")
    on_primary = _colour("Text on primary", "Text on buttons and info banners.")
    background = _colour("Background", "Cards, tour steps and the checklist.")
    text = _colour("Text", "Text on the background.")
    font = forms.CharField(
        label="Font family",
        max_length=themes.MAX_FONT,
        help_text="As in CSS, for example: Inter, system-ui, sans-serif. Your page loads the font.",
    )
    radius = forms.IntegerField(
        label="Corner radius (pixels)", min_value=0, max_value=themes.MAX_RADIUS
    )
    launcher = forms.ChoiceField(
        label="Checklist launcher",
        choices=[("right", "Bottom right"), ("left", "Bottom left")],
        widget=forms.RadioSelect,
    )


class AuditRetentionForm(forms.Form):
    """The Settings page's audit log retention (``actions.application_set_audit_retention``)."""

    days = forms.IntegerField(
        label="Keep audit log entries for (days)",
        min_value=1,
        max_value=MAX_AUDIT_RETENTION_DAYS,
        help_text="Older entries are deleted by manage.py prune_audit, run daily.",
    )
