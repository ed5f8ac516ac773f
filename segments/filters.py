"""Filters of the Engage lists (django-filter); each takes the current application, so the
choices it offers and the rows it returns stay inside it."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from . import tree
from .coerce import BOOLEAN, DATE, STRING
from .evaluator import Condition
from .models import Application, AuditEntry, Company, EndUser, Segment, TraitDefinition, trees_of
from .operators import RuleError, clean_value
from .selectors import group_q
from .sql import conditions_q


class _ApplicationFilterSet(django_filters.FilterSet):
    # Whose traits the trait filter offers: the users' (a company list offers the companies').
    trait_scope = TraitDefinition.Scope.USER

    def __init__(self, *args: Any, application: Application, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.application = application
        traits = application.trait_definitions.filter(scope=self.trait_scope)
        self.filters["trait"].queryset = traits


class SegmentFilter(_ApplicationFilterSet):
    q = django_filters.CharFilter(
        field_name="name",
        lookup_expr="icontains",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Segment name"}),
    )
    trait = django_filters.ModelChoiceFilter(
        queryset=None,
        to_field_name="key",
        field_name="rules__trait",
        distinct=True,
        label="Trait",
        empty_label="Any trait",
    )

    class Meta:
        model = Segment
        fields = ["q", "trait"]


def user_trait_condition(trait: Any, value: str) -> Condition:
    """ "Has the trait" without a value; with one, what a product manager means by it:
    equals (any case) for text and numbers, true/false, and a date's leading digits
    (``2026-11`` is every day of that month). Raises RuleError for a value that cannot be."""
    value = value.strip()
    if not value:
        return Condition(trait.key, trait.type, "is_set")
    if trait.type == BOOLEAN:
        if value.lower() not in ("true", "false"):
            raise RuleError("enter true or false")
        return Condition(trait.key, trait.type, f"is_{value.lower()}")
    if trait.type == DATE:
        return Condition(trait.key, STRING, "starts_with", value)
    clean = clean_value(trait.type, "equals", value)
    return Condition(trait.key, trait.type, "equals", clean)


class EndUserFilterForm(forms.Form):
    """Checks the value against the chosen trait; the condition it makes is kept for
    ``filter_trait`` (of users, or of companies on their own traits)."""

    trait_condition: Condition | None = None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        trait = data.get("trait")
        if trait is not None:
            try:
                self.trait_condition = user_trait_condition(trait, data.get("value") or "")
            except RuleError as error:
                self.add_error("value", f"{trait.key} {error}.")
        return data


class EndUserFilter(_ApplicationFilterSet):
    q = django_filters.CharFilter(
        field_name="external_id",
        lookup_expr="icontains",
        label="User id",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "user-0042"}),
    )
    trait = django_filters.ModelChoiceFilter(
        queryset=None,
        to_field_name="key",
        method="filter_trait",
        label="Trait",
        empty_label="Any trait",
    )
    value = django_filters.CharFilter(
        method="filter_nothing",
        label="Value",
        widget=forms.TextInput(attrs={"placeholder": "any value"}),
    )

    class Meta:
        model = EndUser
        fields = ["q", "trait", "value"]
        form = EndUserFilterForm

    def filter_nothing(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return queryset  # the value is part of the trait's condition (see the form)

    def filter_trait(self, queryset: QuerySet, name: str, trait: Any) -> QuerySet:
        if trait is None:
            return queryset
        condition = self.form.trait_condition
        if condition is None:
            # The value does not fit the trait (the form says so at the Value field): no
            # user rather than every user.
            return queryset.none()
        return queryset.filter(conditions_q([condition]))


class CompanyFilter(EndUserFilter):
    """Companies by id, by one of their own traits (as users are by theirs), and by whether
    any of their users is in a segment."""

    trait_scope = TraitDefinition.Scope.COMPANY

    q = django_filters.CharFilter(
        field_name="external_id",
        lookup_expr="icontains",
        label="Company id",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "acme"}),
    )
    segment = django_filters.ModelChoiceFilter(
        queryset=None,
        method="filter_segment",
        label="With users in",
        empty_label="Any segment",
    )

    class Meta:
        model = Company
        fields = ["q", "trait", "value", "segment"]
        form = EndUserFilterForm

    def __init__(self, *args: Any, application: Application, **kwargs: Any):
        super().__init__(*args, application=application, **kwargs)
        self.filters["segment"].queryset = application.segments.order_by("-is_builtin", "name")

    def filter_segment(self, queryset: QuerySet, name: str, segment: Any) -> QuerySet:
        """The companies with at least one user in ``segment``: one subquery, the segment
        compiled as every count compiles it."""
        if segment is None:
            return queryset
        group = segment.tree
        trees = trees_of(self.application.pk) if tree.references_of(group) else {}
        users = EndUser.objects.filter(application=self.application, company__isnull=False)
        members = users.filter(group_q(group, None, trees.get, self.application.pk))
        return queryset.filter(pk__in=members.values("company_id"))


class AuditFilter(django_filters.FilterSet):
    """The Audit log page: by who, by object (its kind and a piece of its name) and by dates
    (inclusive, in the server's time zone). The choices are what the application's entries
    hold, so a deleted person's or a revoked token's entries stay findable."""

    who = django_filters.ChoiceFilter(
        field_name="actor_name", label="Who", empty_label="Anyone", choices=()
    )
    object_type = django_filters.ChoiceFilter(
        label="Object type", empty_label="Any object", choices=()
    )
    object = django_filters.CharFilter(
        field_name="object_name",
        lookup_expr="icontains",
        label="Object name",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Pro users"}),
    )
    since = django_filters.DateFilter(
        field_name="at",
        lookup_expr="date__gte",
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="at",
        lookup_expr="date__lte",
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEntry
        fields = ["who", "object_type", "object", "since", "until"]

    def __init__(self, *args: Any, application: Application, **kwargs: Any):
        super().__init__(*args, **kwargs)
        entries = AuditEntry.objects.filter(application=application).order_by()
        for name, column in (("who", "actor_name"), ("object_type", "object_type")):
            values = entries.exclude(**{column: ""}).values_list(column, flat=True).distinct()
            self.filters[name].extra["choices"] = [(v, v) for v in sorted(values, key=str.lower)]
