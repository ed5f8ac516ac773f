"""The experience editor: one targeting form, the kind's content form, and for tours and
checklists a formset of steps or items that HTMX edits in place (add, remove, reorder).

The forms only read the request; what content may be is decided once, in ``content.py``
(through the actions), and its errors are put back next to the field they name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms.formsets import BaseFormSet, formset_factory
from django.http import QueryDict
from django.utils.text import slugify

from segments.models import Application, tree_prefetches

from . import content as spec
from .models import MAX_HOLDOUT_PERCENT, MAX_WINDOW_DAYS, Experience, GoalKind
from .schedules import zone_named


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.capitalize()) for v in values]


class EditorForm(forms.Form):
    template_name_div = "django/forms/div.html"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class LocalDateTimeInput(forms.DateTimeInput):
    """``<input type="datetime-local">``: a wall-clock time, in the form's time zone (the
    view makes it the current one); seconds only when the stored time has them."""

    input_type = "datetime-local"

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%S" if value.second else "%Y-%m-%dT%H:%M")
        return super().format_value(value)


class TargetingForm(EditorForm):
    name = forms.CharField(max_length=100)
    segments = forms.ModelMultipleChoiceField(
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        help_text="A user in any of the chosen segments sees it.",
    )
    url_include = forms.CharField(
        label="Show on",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "/dashboard", "class": "url-field"}),
        help_text="One URL pattern a line; none means every page.",
    )
    url_exclude = forms.CharField(
        label="Never on",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "/admin/**", "class": "url-field"}),
        help_text="Excluded pages win over included ones.",
    )
    frequency = forms.ChoiceField(choices=Experience.Frequency.choices, widget=forms.RadioSelect)
    priority = forms.IntegerField(help_text="Higher is served first.")
    # Read in the time zone the view makes current: ``time_zone``, which the browser fills.
    starts_at = forms.DateTimeField(
        label="Start", widget=LocalDateTimeInput(), help_text="Empty: from when it is published."
    )
    ends_at = forms.DateTimeField(
        label="End", widget=LocalDateTimeInput(), help_text="Empty: no end."
    )
    time_zone = forms.CharField(widget=forms.HiddenInput(attrs={"data-time-zone": ""}))
    # Goal and holdout (docs/experiences.md, "Goals, holdouts and how to read the results").
    goal_kind = forms.ChoiceField(label="Goal", choices=GoalKind.choices)
    goal_event = forms.CharField(
        label="Goal event", help_text="For an event goal: the event's name, as tracked."
    )
    goal_url = forms.CharField(
        label="Goal page",
        widget=forms.TextInput(attrs={"placeholder": "/billing/**", "class": "url-field"}),
        help_text="For a page goal: a URL pattern, as in Show on.",
    )
    conversion_window_days = forms.IntegerField(
        label="Conversion window (days)",
        help_text="A user converts when the goal is reached this long after first being "
        f"eligible (1 to {MAX_WINDOW_DAYS}).",
    )
    holdout_percent = forms.IntegerField(
        label="Holdout (%)",
        help_text="This share of its eligible users is never served it, to compare with "
        f"(0 to {MAX_HOLDOUT_PERCENT}).",
    )

    def __init__(self, *args: Any, application: Application, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segments"].queryset = application.segments.prefetch_related(*tree_prefetches())
        # An over-long name is refused with its length, not cut short by the browser unsaid.
        self.fields["name"].widget.attrs.pop("maxlength", None)
        if not self.is_bound:  # sent back with errors, the error summary takes the focus
            self.fields["name"].widget.attrs["autofocus"] = True

    def clean_time_zone(self) -> str:
        name = self.cleaned_data.get("time_zone") or ""
        if zone_named(name) is None:
            raise ValidationError("Unknown time zone: the times were read as UTC.")
        return name


class BannerForm(EditorForm):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    button_label = forms.CharField(label="Button label", help_text="Optional.")
    button_url = forms.CharField(label="Button link", help_text="/billing or https://...")
    position = forms.ChoiceField(choices=_choices(spec.POSITIONS))
    style = forms.ChoiceField(choices=_choices(spec.STYLES))


class TooltipForm(EditorForm):
    selector = forms.CharField(
        label="Target element (CSS selector)",
        widget=forms.TextInput(attrs={"placeholder": "#save"}),
    )
    title = forms.CharField()
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    placement = forms.ChoiceField(choices=_choices(spec.PLACEMENTS), initial="bottom")


class ChecklistForm(EditorForm):
    title = forms.CharField(widget=forms.TextInput(attrs={"placeholder": "Get set up"}))


class StepForm(EditorForm):
    type = forms.ChoiceField(
        choices=[("modal", "Centred modal"), ("tooltip", "Tooltip on an element")]
    )
    selector = forms.CharField(
        label="Target element (CSS selector)", widget=forms.TextInput(attrs={"placeholder": "#new"})
    )
    placement = forms.ChoiceField(choices=_choices(spec.PLACEMENTS), initial="bottom")
    title = forms.CharField()
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class ItemForm(EditorForm):
    id = forms.CharField(widget=forms.HiddenInput)
    label = forms.CharField()
    url = forms.CharField(label="Link", help_text="Optional.")
    complete_on = forms.ChoiceField(
        label="Done when",
        choices=[("click", "Clicked"), ("event", "An event is tracked")],
    )
    event = forms.CharField(
        label="Event name", widget=forms.TextInput(attrs={"placeholder": "project_created"})
    )


class RowsFormSet(BaseFormSet):
    """Steps or items: the list errors (at least one, at most N) sit above the rows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.list_errors: list[str] = []


StepFormSet = formset_factory(StepForm, formset=RowsFormSet, extra=0)
ItemFormSet = formset_factory(ItemForm, formset=RowsFormSet, extra=0)

CONTENT_FORMS: dict[str, type[EditorForm]] = {
    spec.BANNER: BannerForm,
    spec.TOOLTIP: TooltipForm,
    spec.CHECKLIST: ChecklistForm,
}
# kind -> (formset class, prefix = the content key, the fields of a row, a new row)
ROWS = {
    spec.TOUR: (StepFormSet, "steps", spec.STEP_FIELDS, {"type": "tooltip", "placement": "bottom"}),
    spec.CHECKLIST: (ItemFormSet, "items", spec.ITEM_FIELDS, {"complete_on": "click"}),
}
NEW_CONTENT: dict[str, dict[str, Any]] = {
    spec.BANNER: {"position": "top", "style": "info"},
    spec.TOOLTIP: {"placement": "bottom"},
    spec.TOUR: {"steps": [{"type": "modal"}]},
    spec.CHECKLIST: {"items": [{"complete_on": "click"}]},
}
TARGETING_FIELDS = (
    "name",
    "segments",
    "url_include",
    "url_exclude",
    "frequency",
    "priority",
    "starts_at",
    "ends_at",
    "goal_kind",
    "goal_event",
    "goal_url",
    "conversion_window_days",
    "holdout_percent",
)
# An empty goal field in the editor: what it means.
GOAL_DEFAULTS = {
    "goal_kind": GoalKind.NONE,
    "goal_event": "",
    "goal_url": "",
    "conversion_window_days": 7,
    "holdout_percent": 0,
}


def rows_from_data(data: QueryDict, prefix: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows as typed, unvalidated, to re-render them after an add / remove / move."""
    try:
        total = min(int(data.get(f"{prefix}-TOTAL_FORMS", 0)), 100)
    except ValueError:
        total = 0
    return [{f: data.get(f"{prefix}-{i}-{f}", "") for f in fields} for i in range(total)]


def apply_row_op(rows: list[dict[str, Any]], op: str, new_row: dict[str, Any]) -> list[dict]:
    """``add``, ``remove:2``, ``up:2``, ``down:2`` on a list of rows (a copy)."""
    rows = list(rows)
    verb, _, index_text = op.partition(":")
    index = int(index_text) if index_text.isdigit() else -1
    if verb == "add":
        rows.append(dict(new_row))
    elif verb == "remove" and 0 <= index < len(rows):
        del rows[index]
    elif verb == "up" and 0 < index < len(rows):
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and 0 <= index < len(rows) - 1:
        rows[index], rows[index + 1] = rows[index + 1], rows[index]
    return rows


def _unique_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A new checklist item gets an id from its label; an existing one keeps its id (the
    snippet remembers completion by id, so renaming the label must not reset it)."""
    taken = {item["id"] for item in items if item.get("id")}
    for number, item in enumerate(items, start=1):
        if not item.get("id"):
            base = slugify(item.get("label") or "")[:56] or f"item-{number}"
            candidate, n = base, 2
            while candidate in taken:
                candidate, n = f"{base}-{n}", n + 1
            item["id"] = candidate
            taken.add(candidate)
    return items


class Editor:
    """Every form of one experience's editor, bound to a request or filled from the model."""

    def __init__(
        self,
        *,
        application: Application,
        kind: str,
        experience: Experience | None = None,
        data: QueryDict | None = None,
        rows: list[dict[str, Any]] | None = None,
        time_zone: str = "UTC",
    ):
        """``time_zone``: the one the start and end are shown and read in, which must be the
        current one (``django.utils.timezone.override``) while the editor is validated and
        rendered."""
        self.kind = kind
        self.experience = experience
        self.errors: list[str] = []
        self.validated = False  # the error summary lists errors only once is_valid() ran
        self.focus: dict[str, Any] = {}  # after a row op: which row's which button
        if experience is not None:
            initial: dict[str, Any] = {
                "name": experience.name,
                "segments": [s.pk for s in experience.segments.all()],
                "url_include": "\n".join(experience.url_include),
                "url_exclude": "\n".join(experience.url_exclude),
                "frequency": experience.frequency,
                "priority": experience.priority,
                "starts_at": experience.starts_at,
                "ends_at": experience.ends_at,
                "goal_kind": experience.goal_kind,
                "goal_event": experience.goal_event,
                "goal_url": experience.goal_url,
                "conversion_window_days": experience.conversion_window_days,
                "holdout_percent": experience.holdout_percent,
            }
            content = experience.content if isinstance(experience.content, dict) else {}
        else:
            # No segment ticked: who sees it is chosen, not Everyone left on by default
            # (publishing with no audience asks first).
            initial = {
                "segments": [],
                "frequency": Experience.Frequency.ONCE,
                "priority": 0,
                **GOAL_DEFAULTS,
            }
            content = NEW_CONTENT[kind]
        initial["time_zone"] = time_zone
        self.targeting = TargetingForm(data, initial=initial, application=application)
        if data is None and experience is not None:
            # The stored moments, for the browser to show in its own zone if it differs.
            for name in ("starts_at", "ends_at"):
                moment = getattr(experience, name)
                if moment is not None:
                    self.targeting.fields[name].widget.attrs["data-utc"] = moment.isoformat()
        form_class = CONTENT_FORMS.get(kind)
        self.content_form = (
            form_class(data, initial=content, prefix="content") if form_class else None
        )
        self.rows = None
        self.noun = {spec.TOUR: "step", spec.CHECKLIST: "item"}.get(kind, "")
        if kind in ROWS:
            formset_class, prefix, _fields, _new = ROWS[kind]
            if rows is not None:  # re-rendering after an add / remove / move: as typed
                self.rows = formset_class(initial=rows, prefix=prefix)
            elif data is not None:
                self.rows = formset_class(data, prefix=prefix)
            else:
                listed = content.get(prefix)
                self.rows = formset_class(
                    initial=listed if isinstance(listed, list) else [], prefix=prefix
                )

    @property
    def forms(self) -> list[forms.Form]:
        return [f for f in (self.targeting, self.content_form) if f is not None]

    def is_valid(self) -> bool:
        self.validated = True
        valid = all([f.is_valid() for f in self.forms])  # every form, for every error
        return (self.rows is None or self.rows.is_valid()) and valid

    def focus_after(self, op: str) -> None:
        """Keyboard focus after adding, moving or removing a row, where the manager was: the
        new row's first field, the moved row's button, or "+ Add" after a removal (htmx
        focuses the ``autofocus`` element it swaps in; without JavaScript, the browser)."""
        if self.rows is None or not self.rows.forms:
            return
        verb, _, index_text = op.partition(":")
        last = len(self.rows.forms) - 1
        if verb == "add":
            form = self.rows.forms[-1]
            first = next(name for name, f in form.fields.items() if not f.widget.is_hidden)
            form.fields[first].widget.attrs["autofocus"] = True
        elif verb in ("up", "down") and index_text.isdigit():
            row = int(index_text) + (-1 if verb == "up" else 1)
            row = min(max(row, 0), last)
            # At an end its button is disabled: the other one.
            if (verb == "up" and row == 0) or (verb == "down" and row == last):
                verb = "down" if verb == "up" else "up"
            self.focus = {"row": row, "button": verb if last else ""}
        elif verb == "remove":
            self.focus = {"button": "add"}

    def error_summary(self) -> list[dict[str, str]]:
        """Every error of a failed save, in page order, each with the id of the control it is
        about (``href``, "" when none): the summary at the top of the editor links to them,
        since some sit far below the Save button."""
        if not self.validated:
            return []
        summary: list[dict[str, str]] = []

        def add(form: forms.Form, where: str = "") -> None:
            for name, messages in form.errors.items():
                if name == NON_FIELD_ERRORS:
                    label, target = "", ""
                else:
                    field = form[name]
                    label, target = str(field.label), field.auto_id
                    if name == "segments":
                        target = f"{field.auto_id}_0"  # the first checkbox
                    elif name == "time_zone":  # hidden: the times it was about
                        label, target = "Start", form["starts_at"].auto_id
                heading = ", ".join(part for part in (where, label) if part)
                for message in messages:
                    text = str(message)
                    if heading and not (where and text.startswith(where)):  # "Step 2: ..."
                        text = f"{heading}: {text}"
                    summary.append({"text": text, "href": target})

        add(self.targeting)
        if self.content_form is not None:
            add(self.content_form)
        if self.rows is not None:
            for message in self.rows.list_errors:
                summary.append({"text": str(message), "href": "rows"})
            for number, form in enumerate(self.rows.forms, start=1):
                add(form, f"{self.noun.capitalize()} {number}")
        summary.extend({"text": str(message), "href": ""} for message in self.errors)
        return summary

    def fields(self) -> dict[str, Any]:
        """The action's arguments, once ``is_valid()``."""
        data = self.targeting.cleaned_data
        fields = {name: data[name] for name in TARGETING_FIELDS}
        if fields["priority"] is None:
            fields["priority"] = 0
        for name, default in GOAL_DEFAULTS.items():
            if fields[name] in (None, ""):
                fields[name] = default
        fields["segments"] = list(data["segments"])
        fields["content"] = self.content()
        return fields

    def content_is_valid(self) -> bool:
        """The content's forms alone (the live preview draws content before it has a name)."""
        valid = self.content_form is None or self.content_form.is_valid()
        return (self.rows is None or self.rows.is_valid()) and valid

    def content(self) -> dict[str, Any]:
        """The content as the action takes it, once ``content_is_valid()``."""
        content: dict[str, Any] = dict(self.content_form.cleaned_data) if self.content_form else {}
        if self.rows is not None:
            prefix = ROWS[self.kind][1]
            rows = [dict(form.cleaned_data) for form in self.rows.forms]
            content[prefix] = _unique_ids(rows) if self.kind == spec.CHECKLIST else rows
        return content

    def add_errors(self, error: ValidationError) -> None:
        """Put each of the action's errors next to the field its key names."""
        for key, messages in error.message_dict.items():
            parts = key.split(".")
            if key in TARGETING_FIELDS:
                self.targeting.add_error(key, messages)
            elif (
                parts[0] == "content"
                and len(parts) == 2
                and self.content_form is not None
                and parts[1] in self.content_form.fields
            ):
                self.content_form.add_error(parts[1], messages)
            elif self.rows is not None and len(parts) >= 2 and parts[1] == ROWS[self.kind][1]:
                self._add_row_errors(parts[2:], messages)
            else:
                self.errors.extend(messages)

    def _add_row_errors(self, where: list[str], messages: list[str]) -> None:
        if not where:
            self.rows.list_errors.extend(messages)
            return
        index = int(where[0]) if where[0].isdigit() else -1
        if not 0 <= index < len(self.rows.forms):
            self.rows.list_errors.extend(messages)
            return
        form = self.rows.forms[index]
        field = where[1] if len(where) > 1 and where[1] in form.fields else None
        # A row form adds errors after its own cleaning; add_error needs cleaned_data.
        if not hasattr(form, "cleaned_data"):
            form.full_clean()
        form.add_error(field, messages)
