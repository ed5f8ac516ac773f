"""segments/companies.py and end_user_identify's company: the checks of a company, its upsert,
and the users and companies these writes return, as stored (both databases)."""

import pytest
from django.core.exceptions import ValidationError

from segments import actions
from segments.companies import KEEP, CompanyChange, company_clean, company_upsert
from segments.models import Company, EndUser
from tests.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def test_company_clean__none_leaves__an_object_is_checked():
    assert company_clean(None) is None
    assert company_clean({"id": 7}) == CompanyChange("7", {})
    assert company_clean({"id": "c1", "traits": {"a": 1, "b": None}}) == CompanyChange(
        "c1", {"a": 1, "b": None}
    )
    with pytest.raises(ValidationError) as error:
        company_clean({"id": "c1", "traits": {"ok": 1, "bad": {"x": 1}}})
    assert list(error.value.message_dict) == ["company.traits.bad"]


def test_company_upsert__returns_the_company_as_stored():
    app = ApplicationFactory()
    first = company_upsert(application=app, change=CompanyChange("c1", {"a": 1, "b": 2}))
    again = company_upsert(application=app, change=CompanyChange("c1", {"b": None, "c": "x"}))
    stored = Company.objects.get(pk=first.pk)
    assert again.pk == first.pk
    for company in (again, stored):
        assert (company.application_id, company.external_id) == (app.pk, "c1")
        assert company.traits == {"a": 1, "c": "x"}
    assert (again.first_seen, again.last_seen) == (stored.first_seen, stored.last_seen)
    assert again.first_seen == first.first_seen <= again.last_seen


@pytest.mark.parametrize(
    ("company", "expected"), [(KEEP, "c0"), (None, None), ({"id": "c1", "traits": {"s": 3}}, "c1")]
)
def test_end_user_identify__returns_the_user_as_stored(company, expected):
    app = ApplicationFactory()
    actions.end_user_identify(application=app, external_id="u1", company={"id": "c0"})
    user = actions.end_user_identify(
        application=app, external_id="u1", traits={"plan": "pro"}, company=company
    )
    stored = EndUser.objects.get(pk=user.pk)
    assert (user.traits, user.company_id) == (stored.traits, stored.company_id)
    assert (user.first_seen, user.last_seen) == (stored.first_seen, stored.last_seen)
    assert user.first_seen <= user.last_seen
    expected = (
        {KEEP: "c0", None: None}.get(company, "c1") if not isinstance(company, dict) else "c1"
    )
    assert (stored.company.external_id if stored.company else None) == expected
