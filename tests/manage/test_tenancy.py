"""A token sees exactly its application: every endpoint, given another application's ids,
answers as for an id that does not exist, and changes nothing."""

import pytest

from experiences.models import Experience
from segments.models import Segment, TraitDefinition

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": {"code": "not_found", "message": "Not found."}}


def by_id(other):
    s, e = other["segment"].pk, other["experience"].pk
    return [
        ("GET", "traits/secret", None),
        ("PATCH", "traits/secret", {"label": "mine"}),
        ("DELETE", "traits/secret", None),
        ("GET", "company-traits/secret", None),
        ("PATCH", "company-traits/secret", {"label": "mine"}),
        ("DELETE", "company-traits/secret", None),
        ("GET", f"segments/{s}", None),
        ("PUT", f"segments/{s}", {"name": "mine"}),
        ("DELETE", f"segments/{s}", None),
        ("GET", f"segments/{s}/count", None),
        ("GET", f"segments/{s}/members", None),
        ("GET", f"experiences/{e}", None),
        ("PUT", f"experiences/{e}", {"name": "mine"}),
        ("DELETE", f"experiences/{e}", None),
        ("POST", f"experiences/{e}/publish", None),
        ("POST", f"experiences/{e}/unpublish", None),
        ("GET", f"experiences/{e}/results", None),
    ]


def test_every_endpoint_with_another_applications_ids__404_like_an_unknown_id(api, other):
    theirs = other["app"]
    before = (
        list(Segment.objects.filter(application=theirs).values()),
        list(Experience.objects.filter(application=theirs).values()),
        list(TraitDefinition.objects.filter(application=theirs).values()),
    )

    for method, path, body in by_id(other):
        response = api(method, path, body)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), (method, path)

    assert before == (
        list(Segment.objects.filter(application=theirs).values()),
        list(Experience.objects.filter(application=theirs).values()),
        list(TraitDefinition.objects.filter(application=theirs).values()),
    )


def test_unknown_ids__the_same_404(api):
    for method, path in [("GET", "traits/nosuch"), ("GET", "company-traits/nosuch"),
                         ("GET", "segments/999999"),
                         ("GET", "segments/999999/members"), ("GET", "experiences/999999"),
                         ("POST", "experiences/999999/publish")]:  # fmt: skip
        response = api(method, path)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_lists_show_only_the_tokens_application(api, app, other):
    segments = api("GET", "segments").json()["results"]
    traits = api("GET", "traits").json()["results"]
    company_traits = api("GET", "company-traits").json()["results"]
    experiences = api("GET", "experiences").json()["results"]

    assert {s["id"] for s in segments} == set(app.segments.values_list("pk", flat=True))
    assert "secret" not in {t["key"] for t in traits}
    assert company_traits == []
    assert experiences == []


def test_reference_to_another_applications_segment__refused_as_an_unknown_id(api, other):
    def refused(segment_id, path):
        definition = {"match": "all", "rules": [{"segment": segment_id}]}
        body = {"name": "X", "definition": definition, "user": {"traits": {}}}
        return api("POST", path, body).json()["error"]

    for path in ("segments", "count", "evaluate"):
        theirs, unknown = refused(other["segment"].pk, path), refused(999999, path)
        assert theirs["field"] == "definition.rules[0].segment" or theirs["field"].startswith(
            "definition.rules[0]"
        )
        assert theirs["message"].replace(str(other["segment"].pk), "N") == unknown[
            "message"
        ].replace("999999", "N"), path


def test_evaluate__another_applications_user__404_like_an_unknown_one(api, other):
    from .conftest import PRO

    theirs = api("POST", "evaluate", {"definition": PRO, "user": {"id": "theirs"}})
    unknown = api("POST", "evaluate", {"definition": PRO, "user": {"id": "nobody"}})

    assert theirs.status_code == 404
    assert theirs.json() == unknown.json()


def test_experience_with_another_applications_segment__refused(api, other):
    body = {"name": "X", "kind": "banner", "content": {"text": "hi"}}

    response = api("POST", "experiences", {**body, "segments": [other["segment"].pk]})

    assert response.status_code == 400
    assert not Experience.objects.filter(name="X").exists()
