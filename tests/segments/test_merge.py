"""The one trait merge (segments/merge.py): every path that writes traits stores what
``merge.merge`` says, on whichever database the suite uses."""

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments import actions, merge
from segments.importing import read_jsonl, users_import
from segments.models import EndUser
from segments.traits import MAX_TRAITS, TraitError
from tests.factories import ApplicationFactory

KEYS = st.sampled_from(["a", "b", "c", "d"])
VALUES = st.none() | st.booleans() | st.integers(-5, 5) | st.text(alphabet='ab"é', max_size=3)
TRAITS = st.dictionaries(KEYS, VALUES.filter(lambda v: v is not None), max_size=4)
CHANGES = st.dictionaries(KEYS, VALUES, max_size=4)


def test_merge__omitted_kept__value_replaces__null_removes():
    stored = {"a": 1, "b": 2, "c": 3}
    assert merge.merge(stored, {"b": 20, "c": None, "d": 4}) == {"a": 1, "b": 20, "d": 4}
    assert stored == {"a": 1, "b": 2, "c": 3}  # not changed in place


def test_merge__past_the_limit__refused():
    full = {f"t{i}": i for i in range(MAX_TRAITS)}
    assert merge.merge(full, {"t0": None, "new": 1})["new"] == 1
    with pytest.raises(TraitError, match=f"at most {MAX_TRAITS} traits"):
        merge.merge(full, {"new": 1})


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stored=TRAITS, changes=CHANGES)
def test_identify_and_import__store_what_merge_says(stored, changes):
    app = ApplicationFactory()
    expected = merge.merge(stored, changes)
    actions.end_user_identify(application=app, external_id="u1", traits=stored)
    user = actions.end_user_identify(application=app, external_id="u1", traits=changes)
    assert user.traits == expected
    assert EndUser.objects.get(pk=user.pk).traits == expected

    actions.end_user_identify(application=app, external_id="u2", traits=stored)
    line = json.dumps({"id": "u2", "traits": changes})
    users_import(application=app, rows=read_jsonl(io.StringIO(line)))
    assert EndUser.objects.get(application=app, external_id="u2").traits == expected


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stored=TRAITS, changes=CHANGES)
def test_a_companys_traits__identify_and_import__store_what_merge_says(stored, changes):
    from segments.importing import clean_company_row, companies_import
    from segments.models import Company

    app = ApplicationFactory()
    expected = merge.merge(stored, changes, company=True)
    actions.end_user_identify(
        application=app, external_id="u1", company={"id": "c1", "traits": stored}
    )
    user = actions.end_user_identify(
        application=app, external_id="u2", company={"id": "c1", "traits": changes}
    )
    assert user.company.traits == expected
    assert Company.objects.get(application=app, external_id="c1").traits == expected

    actions.end_user_identify(
        application=app, external_id="u3", company={"id": "c2", "traits": stored}
    )
    line = json.dumps({"id": "c2", "traits": changes})
    rows = read_jsonl(io.StringIO(line), clean=clean_company_row)
    companies_import(application=app, rows=rows)
    assert Company.objects.get(application=app, external_id="c2").traits == expected
