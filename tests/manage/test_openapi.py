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
    assert {"/api/v1/identify", "/api/v1/experiences", "/api/v1/events"} <= paths


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
