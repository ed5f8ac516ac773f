"""/api/v1/manage/traits: the application's trait definitions."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from segments import actions
from segments.models import TraitDefinition

from ..http import body, in_use, json_response, manage_view, no_content, text


def trait_json(trait: TraitDefinition) -> dict[str, Any]:
    return {
        "key": trait.key,
        "type": trait.type,
        "label": trait.label,
        "description": trait.description,
        "auto_discovered": trait.auto_discovered,
    }


@manage_view("GET", "POST")
def traits(request: HttpRequest) -> HttpResponse:
    application = request.application
    if request.method == "GET":
        rows = application.trait_definitions.order_by("key")
        return json_response({"results": [trait_json(t) for t in rows], "next": None})
    data = body(request)
    trait = actions.trait_definition_create(
        application=application,
        key=text(data, "key", required=True),
        type=text(data, "type", required=True),
        label=text(data, "label") or "",
        description=text(data, "description") or "",
    )
    return json_response(trait_json(trait), status=201)


@manage_view("GET", "PATCH", "DELETE")
def trait(request: HttpRequest, key: str) -> HttpResponse:
    found = get_object_or_404(TraitDefinition, application=request.application, key=key)
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
        raise in_use(f'Trait "{key}" is used by the rules of {names}.', segments=using)
    actions.trait_definition_delete(trait=found)
    return no_content()
