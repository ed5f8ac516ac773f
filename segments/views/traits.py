"""Engage > Traits: the definitions with their statistics, a page at a time; add, edit and
delete inline (htmx swaps one row), every link working without JavaScript too. Two tabs, one
per scope: the users' traits and the companies' (``scope``, from the URL), each with the same
statistics, read from the users or from the companies."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from callout.htmx import wants_fragment

from .. import actions, selectors
from ..access import application_view, get_in_application
from ..coerce import TRAIT_TYPES
from ..models import TraitDefinition
from .errors import error_dict

TRAITS_PER_PAGE = 100  # one statistics query a page (selectors.STATS_BATCH)
CREATE = "trait-create"  # the Add a trait form's id: htmx swaps it (hx-target="this")
USER, COMPANY = TraitDefinition.Scope.USER, TraitDefinition.Scope.COMPANY
LIST_URL = {USER: "segments:traits", COMPANY: "segments:traits_company"}


def _to_list(request: HttpRequest, scope: str) -> HttpResponse:
    return redirect(LIST_URL[scope], app_id=request.application.pk)


def _row_id(trait: TraitDefinition) -> str:
    """The id of the trait's <tbody>, which the row's htmx requests target."""
    return f"trait-{trait.pk}"


def _trait_page_of(request: HttpRequest, scope: str, number: Any) -> tuple[Page, dict[str, int]]:
    """One page of the scope's definitions, by key, each with its statistics; and how many
    definitions each scope has (the tabs)."""
    # The definitions of both scopes are read in one query and paginated in memory: a row is
    # small, and it saves the COUNT a paginated queryset costs (and the tabs' counts); the
    # statistics are what must be bounded.
    everything = list(request.application.trait_definitions.order_by("key", "pk"))
    definitions = [trait for trait in everything if trait.scope == scope]
    tabs = {USER: 0, COMPANY: 0}
    for trait in everything:
        tabs[trait.scope] += 1
    page = Paginator(definitions, TRAITS_PER_PAGE).get_page(number)
    traits = list(page.object_list)
    stats = selectors.trait_stats(request.application, traits)
    for trait in traits:
        trait.stats = stats[trait.pk]
        trait.type_noun = selectors.TYPE_NOUN[trait.type]
    page.object_list = traits
    return page, tabs


def _one_trait_row(request: HttpRequest, trait: TraitDefinition) -> TraitDefinition:
    trait.stats = selectors.trait_stats(request.application, [trait])[trait.pk]
    trait.type_noun = selectors.TYPE_NOUN[trait.type]
    return trait


def _trait_page(request: HttpRequest, scope: str, number: Any = None, **extra: Any) -> HttpResponse:
    page, tabs = _trait_page_of(request, scope, number or request.GET.get("page"))
    context = {
        "scope": scope,
        "tabs": tabs,
        "page": page,
        "traits": page.object_list,
        "types": TraitDefinition.Type.choices,
        "new": {},
        "create_errors": {},
        **extra,
    }
    return render(request, "segments/trait_list.html", context, status=extra.get("status", 200))


@require_GET
@application_view
def trait_list(request: HttpRequest, scope: str = USER) -> HttpResponse:
    return _trait_page(request, scope)


@require_POST
@application_view
def trait_create(request: HttpRequest, scope: str = USER) -> HttpResponse:
    new = {name: request.POST.get(name, "") for name in ("key", "label", "type", "description")}
    try:
        trait = actions.trait_definition_create(application=request.application, scope=scope, **new)
    except ValidationError as error:
        errors = error_dict(error)
        if wants_fragment(request, CREATE):
            context = {
                "scope": scope,
                "new": new,
                "create_errors": errors,
                "types": TraitDefinition.Type.choices,
            }
            return render(request, "segments/trait_list.html#trait-create", context, status=400)
        return _trait_page(request, scope, new=new, create_errors=errors, status=400)
    if wants_fragment(request, CREATE):
        # An empty form again, and the new row appended to the table (out of band).
        context = {
            "scope": scope,
            "new": {},
            "create_errors": {},
            "types": TraitDefinition.Type.choices,
            "trait": _one_trait_row(request, trait),
            "created": trait,
        }
        return render(request, "segments/trait_list.html#trait-create", context)
    messages.success(request, f'{actions.trait_noun(trait)} "{trait.key}" created.')
    return _to_list(request, scope)


def _trait_edit_context(
    request: HttpRequest, trait: TraitDefinition, data: Any, errors: dict[str, list[str]]
) -> dict[str, Any]:
    new_type = data.get("type", trait.type)
    effects = []
    if new_type != trait.type and new_type in TRAIT_TYPES:
        effects = selectors.type_change_effects(trait, new_type)
    return {
        "trait": _one_trait_row(request, trait),
        "editing": True,
        "form": {
            "label": data.get("label", trait.label),
            "type": new_type,
            "description": data.get("description", trait.description),
        },
        "effects": effects,
        "errors": errors,
        "types": TraitDefinition.Type.choices,
    }


@require_http_methods(["GET", "POST"])
@application_view
def trait_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The trait's row in edit mode (label, type, description); a type change that rules
    use needs a second, confirmed save, after the affected segments are shown."""
    trait = get_in_application(TraitDefinition.objects, request, pk=pk)
    data = request.POST if request.method == "POST" else request.GET
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        context = _trait_edit_context(request, trait, data, errors)
        needs_confirmation = bool(context["effects"]) and data.get("confirm") != "1"
        if not needs_confirmation:
            try:
                actions.trait_definition_update(
                    trait=trait,
                    label=data.get("label", trait.label),
                    type=data.get("type", trait.type),
                    description=data.get("description", trait.description),
                )
            except ValidationError as error:
                errors = error_dict(error)
            else:
                if wants_fragment(request, _row_id(trait)):
                    context = {"trait": _one_trait_row(request, trait), "saved": True}
                    return render(request, "segments/trait_list.html#trait-row", context)
                messages.success(request, f'{actions.trait_noun(trait)} "{trait.key}" saved.')
                return _to_list(request, trait.scope)
    context = _trait_edit_context(request, trait, data, errors)
    if wants_fragment(request, _row_id(trait)):
        return render(request, "segments/trait_list.html#trait-row", context)
    # The page that holds the trait being edited (without JavaScript).
    scoped = request.application.trait_definitions.filter(scope=trait.scope)
    before = scoped.filter(key__lt=trait.key).count()
    return _trait_page(
        request, trait.scope, before // TRAITS_PER_PAGE + 1, editing_pk=trait.pk, edit=context
    )


@require_GET
@application_view
def trait_row(request: HttpRequest, pk: int) -> HttpResponse:
    """The trait's row as displayed (Cancel in the inline editor)."""
    trait = get_in_application(TraitDefinition.objects, request, pk=pk)
    if not wants_fragment(request, _row_id(trait)):
        return _to_list(request, trait.scope)
    return render(
        request, "segments/trait_list.html#trait-row", {"trait": _one_trait_row(request, trait)}
    )


@require_POST
@application_view
def trait_delete(request: HttpRequest, pk: int) -> HttpResponse:
    trait = get_in_application(TraitDefinition.objects, request, pk=pk)
    try:
        actions.trait_definition_delete(trait=trait)
    except ValidationError as error:
        message = " ".join(error.messages) + " Change or delete those segments first."
        if wants_fragment(request, _row_id(trait)):
            context = {"trait": _one_trait_row(request, trait), "row_error": message}
            return render(request, "segments/trait_list.html#trait-row", context, status=400)
        messages.error(request, message)
        return _to_list(request, trait.scope)
    if wants_fragment(request, _row_id(trait)):
        return HttpResponse("")
    messages.success(request, f'{actions.trait_noun(trait)} "{trait.key}" deleted.')
    return _to_list(request, trait.scope)
