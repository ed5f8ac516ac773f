"""/api/v1/manage/traits and /api/v1/manage/company-traits: the application's trait
definitions of its users, and of its companies. The two answer alike (same fields, errors and
roles); a key may be defined in both."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from segments import actions
from segments.models import TraitDefinition

from ..http import body, in_use, json_response, manage_view, no_content, text

USER, COMPANY = TraitDefinition.Scope.USER, TraitDefinition.Scope.COMPANY


def trait_json(trait: TraitDefinition) -> dict[str, Any]:
    return {
        "key": trait.key,
        "type": trait.type,
        "label": trait.label,
        "description": trait.description,
        "auto_discovered": trait.auto_discovered,
    }


def _definitions(request: HttpRequest, scope: str) -> HttpResponse:
    application = request.application
    if request.method == "GET":
        rows = application.trait_definitions.filter(scope=scope).order_by("key")
        return json_response({"results": [trait_json(t) for t in rows], "next": None})
    data = body(request)
    trait = actions.trait_definition_create(
        application=application,
        scope=scope,
        key=text(data, "key", required=True),
        type=text(data, "type", required=True),
        label=text(data, "label") or "",
        description=text(data, "description") or "",
    )
    return json_response(trait_json(trait), status=201)


def _definition(request: HttpRequest, scope: str, key: str) -> HttpResponse:
    found = get_object_or_404(
        TraitDefinition, application=request.application, scope=scope, key=key
    )
    if request.method == "GET":
        return json_response(trait_json(found))
    if request.method == "PATCH":
        data = body(request)
        updated = actions.trait_definition_update(
            trait=found,
            type=text(data, "type"),
            label=text(data, "label"),
            description=text(data, "description"),
        )
        return json_response(trait_json(updated))
    using = actions.segments_using(found)
    if using:
        names = ", ".join(f'"{s.name}"' for s in using)
        message = f'{actions.trait_noun(found)} "{key}" is used by the rules of {names}.'
        raise in_use(message, segments=using)
    actions.trait_definition_delete(trait=found)
    return no_content()


@manage_view("GET", "POST")
def traits(request: HttpRequest) -> HttpResponse:
    return _definitions(request, USER)


@manage_view("GET", "PATCH", "DELETE")
def trait(request: HttpRequest, key: str) -> HttpResponse:
    return _definition(request, USER, key)


@manage_view("GET", "POST")
def company_traits(request: HttpRequest) -> HttpResponse:
    return _definitions(request, COMPANY)


@manage_view("GET", "PATCH", "DELETE")
def company_trait(request: HttpRequest, key: str) -> HttpResponse:
    return _definition(request, COMPANY, key)
