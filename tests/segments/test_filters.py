import pytest
from django.http import QueryDict

from segments.evaluator import Condition
from segments.filters import EndUserFilter, SegmentFilter, user_trait_condition
from segments.models import EndUser, Segment, TraitDefinition
from segments.operators import RuleError
from tests.factories import (
    ApplicationFactory,
    EndUserFactory,
    TraitDefinitionFactory,
    saved_segment,
)


@pytest.mark.parametrize(
    ("type", "value", "expected"),
    [
        ("string", "", Condition("t", "string", "is_set")),
        ("string", " Pro ", Condition("t", "string", "equals", "Pro")),
        ("number", "12", Condition("t", "number", "equals", 12)),
        ("boolean", "TRUE", Condition("t", "boolean", "is_true")),
        ("date", "2026-11", Condition("t", "string", "starts_with", "2026-11")),
    ],
)
def test_user_trait_condition__what_a_value_means_per_type(type, value, expected):
    assert user_trait_condition(TraitDefinition(key="t", type=type), value) == expected


@pytest.mark.parametrize(("type", "value"), [("number", "ten"), ("boolean", "yes")])
def test_user_trait_condition__refuses_a_value_that_does_not_fit(type, value):
    with pytest.raises(RuleError):
        user_trait_condition(TraitDefinition(key="t", type=type), value)


@pytest.mark.django_db
def test_segment_filter__by_name_and_trait_within_the_application():
    application = ApplicationFactory()
    TraitDefinitionFactory(application=application, key="plan")
    TraitDefinitionFactory(application=application, key="role")
    saved_segment(application, "Pro admins", [("plan", "equals", "pro")])
    saved_segment(application, "Admins", [("role", "equals", "admin")])
    other = ApplicationFactory()
    TraitDefinitionFactory(application=other, key="plan")
    saved_segment(other, "Pro admins", [("plan", "equals", "pro")])

    def names(**params):
        data = QueryDict(mutable=True)
        data.update(params)
        queryset = Segment.objects.filter(application=application)
        result = SegmentFilter(data, queryset=queryset, application=application)
        return sorted(s.name for s in result.qs)

    assert names(q="ADMIN") == ["Admins", "Pro admins"]
    assert names(trait="plan") == ["Pro admins"]
    assert names(q="pro", trait="role") == []
    choices = SegmentFilter(QueryDict(), application=application).form.fields["trait"].queryset
    assert set(choices) == set(application.trait_definitions.all())


@pytest.mark.django_db
def test_end_user_filter__by_id_and_trait_value():
    application = ApplicationFactory()
    TraitDefinitionFactory(application=application, key="plan")
    EndUserFactory(application=application, external_id="ann", traits={"plan": "Pro"})
    EndUserFactory(application=application, external_id="bob", traits={"plan": "free"})
    EndUserFactory(application=application, external_id="cy", traits={})

    def ids(**params):
        data = QueryDict(mutable=True)
        data.update(params)
        queryset = EndUser.objects.filter(application=application)
        result = EndUserFilter(data, queryset=queryset, application=application)
        return sorted(u.external_id for u in result.qs), result.form.errors

    assert ids(q="AN") == (["ann"], {})
    assert ids(trait="plan", value="pro") == (["ann"], {})
    assert ids(trait="plan") == (["ann", "bob"], {})
    TraitDefinitionFactory(application=application, key="size", type="number")
    found, errors = ids(trait="size", value="big")
    assert found == [] and "size needs a number" in errors["value"][0]
