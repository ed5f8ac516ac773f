import re

import pytest
from django.urls import get_resolver
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from management_api import urls as manage_urls
from management_api.openapi import document


def test_document__is_valid_openapi_3_1():
    doc = document()

    validate(doc)  # raises on any violation of the 3.1 schema

    assert doc["openapi"].startswith("3.1")


def test_validator__would_catch_a_broken_document():
    broken = document()
    broken["paths"]["/api/v1/manage/count"]["post"]["responses"]["200"] = {"content": 3}

    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def _documented(route: str) -> str:
    path = "/api/v1/" + route
    return re.sub(r"<int:pk>", "{id}", re.sub(r"<str:(\w+)>", r"{\1}", path))


def test_document__describes_every_management_url_and_the_snippet_api():
    paths = set(document()["paths"])

    routes = {_documented(str(p.pattern)) for p in manage_urls.urlpatterns}
    routes.discard("/api/v1/openapi.json")

    assert routes <= paths, routes - paths
    assert {"/api/v1/identify", "/api/v1/experiences", "/api/v1/events", "/api/v1/track"} <= paths


def test_document__snippet_urls_resolve_before_the_management_ones():
    names = [getattr(p, "urlconf_name", None) for p in get_resolver().url_patterns]
    modules = [getattr(n, "__name__", n) for n in names]

    assert modules.index("experiences.api_urls") < modules.index("management_api.urls")


@pytest.mark.django_db
def test_openapi_json__served(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.json() == document()


@pytest.mark.django_db
def test_reference_page__lists_every_operation_with_no_inline_script_or_style(client):
    response = client.get("/api/docs/")

    html = response.content.decode()
    assert response.status_code == 200
    for path, item in document()["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                assert f"{method.upper()} {path}" in html, (method, path)
    assert "definition.rules[2].rules[0].value" in html  # the Error schema's field example
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert " style=" not in html and "<style" not in html
    assert "https://" not in html.split("<body", 1)[1]  # no CDN
    assert "Content-Security-Policy" in response.headers


def _validator(name):
    """A validator for one of the document's schemas, its $refs resolved in the document."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource("urn:callout", DRAFT202012.create_resource(document()))
    schema = {"$ref": f"urn:callout#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=registry)


BEHAVIOUR = {
    "match": "all",
    "rules": [
        {"trait": "plan", "operator": "equals", "value": "pro"},
        {"event": "project_created", "operator": "at_least", "value": 3, "within_days": 7},
        {"event": "invited", "operator": "last_more_than_days_ago", "value": 30},
        {"match": "none", "rules": [{"experience": 4, "state": "completed"}]},
        {"segment": 9},
    ],
}


def test_schemas__a_definition_with_event_and_experience_nodes_is_valid():
    _validator("Definition").validate(BEHAVIOUR)


@pytest.mark.parametrize(
    "node",
    [
        {"event": "project created", "operator": "at_least", "value": 1},
        {"event": "saved", "operator": "more_than", "value": 1},
        {"event": "saved", "operator": "at_least", "value": 1, "within_days": 0},
        {"event": "saved", "operator": "at_least", "value": 1, "days": 7},
        {"experience": 4, "state": "finished"},
        {"experience": "4", "state": "seen"},
    ],
)
def test_schemas__a_bad_event_or_experience_node_is_refused(node):
    assert not _validator("Definition").is_valid({"match": "all", "rules": [node]})


def test_schemas__a_track_body_as_docs_api_md_shows_it_is_valid__a_bad_one_is_not():
    validator = _validator("TrackInput")
    body = {
        "key": "pk_x",
        "id": "u1",
        "events": [
            {"name": "project_created", "properties": {"template": "kanban"}},
            {"name": "teammate_invited", "timestamp": "2026-11-20T14:30:00Z"},
            {"name": "paid", "timestamp": 1763649000},
        ],
    }
    validator.validate(body)
    for events in ([], [{"name": "project created"}], [{"name": "a", "colour": "red"}]):
        assert not validator.is_valid({**body, "events": events})


def test_schemas__evaluate_takes_a_stored_user_or_inline_traits():
    validator = _validator("Evaluation")

    validator.validate({"definition": BEHAVIOUR, "user": {"id": "user-42"}})
    validator.validate(
        {"definition": BEHAVIOUR, "user": {"traits": {"plan": "pro"}}, "now": "2026-06-01T12:00Z"}
    )
    assert not validator.is_valid({"definition": BEHAVIOUR, "user": {}})


def test_schemas__an_evaluate_answer_with_actual_counts_and_times_is_valid():
    verdict = {
        "path": "definition.rules[1]",
        "matches": False,
        "node": BEHAVIOUR["rules"][1],
        "actual": {
            "count": 2,
            "first": "2026-05-22T12:00:00+00:00",
            "last": "2026-05-29T12:00:00+00:00",
            "count_in_window": 1,
        },
    }
    seen = {
        "path": "definition.rules[3].rules[0]",
        "matches": True,
        "node": {"experience": 4, "state": "completed"},
        "actual": {"seen": "2026-05-31T12:00:00+00:00", "completed": None, "dismissed": None},
    }

    for answer in (verdict, seen):
        _validator("Verdict").validate(answer)


COMPANY = {
    "match": "all",
    "rules": [
        {"company_trait": "plan", "operator": "equals", "value": "trial", "case_sensitive": False},
        {"company_users": {"segment": 9}, "operator": "at_least", "value": 3},
    ],
}


def test_schemas__a_definition_with_company_nodes_is_valid():
    _validator("Definition").validate(COMPANY)


@pytest.mark.parametrize(
    "node",
    [
        {"company_trait": "plan", "trait": "plan", "operator": "is_set"},
        {"company_users": {"segment": 9}, "operator": "more_than", "value": 3},
        {"company_users": {"segment": 9}, "operator": "at_least", "value": -1},
        {"company_users": {"segment": "9"}, "operator": "at_least", "value": 1},
        {"company_users": 9, "operator": "at_least", "value": 1},
    ],
)
def test_schemas__a_bad_company_node_is_refused(node):
    assert not _validator("Definition").is_valid({"match": "all", "rules": [node]})


def test_schemas__evaluate_with_a_made_up_company__and_its_answer():
    evaluation = {
        "definition": COMPANY,
        "user": {"traits": {"plan": "pro"}},
        "company": {"traits": {"plan": "trial"}, "users": {"9": 3}},
    }
    _validator("Evaluation").validate(evaluation)
    for bad in ({"name": "Acme"}, {"users": {"9": -1}}, {"traits": []}):
        assert not _validator("Evaluation").is_valid({**evaluation, "company": bad})

    answer = document()["paths"]["/api/v1/manage/evaluate"]["post"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource("urn:callout", DRAFT202012.create_resource(document()))
    validator = Draft202012Validator(_resolved(schema), registry=registry)
    explain = [
        {"path": "definition.rules[0]", "matches": True, "node": COMPANY["rules"][0],
         "actual": {"value": "trial"}},
        {"path": "definition.rules[1]", "matches": False, "node": COMPANY["rules"][1],
         "actual": {"count": 2}},
    ]  # fmt: skip
    for company in ({"id": "acme", "traits": {"plan": "trial"}}, {"traits": {}}, None):
        validator.validate({"matches": False, "explain": explain, "company": company})
    assert not validator.is_valid({"matches": False, "explain": explain})


def _resolved(schema):
    """The schema with its component $refs pointing into the registered document."""
    if isinstance(schema, dict):
        out = {k: _resolved(v) for k, v in schema.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            out["$ref"] = "urn:callout" + ref
        return out
    if isinstance(schema, list):
        return [_resolved(v) for v in schema]
    return schema
