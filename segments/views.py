"""Engage > Segments, Traits, Users.

Plain function views. Each renders its full page, or, asked by htmx for one region, only that
region's ``{% partialdef %}`` ("page.html#fragment"); every link also works without htmx.
Every object is fetched within ``request.application`` (see ``access.py``) and every write
goes through ``actions.py``.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from experiences.models import Experience
from experiences.targeting import explain_serve

from . import actions, selectors
from .access import application_view, applications_of, get_in_application
from .evaluator import TRAIT_TYPES
from .filters import EndUserFilter, SegmentFilter
from .forms import (
    RuleRow,
    SegmentForm,
    attach_errors,
    new_row,
    parse_rules,
    preview_conditions,
    rows_from_segment,
)
from .models import EndUser, Segment, TraitDefinition

# "Rule 2 (plan equals): needs a number" -> "needs a number", where the rule is already named.
RULE_PREFIX = re.compile(r"^Rule \d+(?: \([^)]*\))?: ")
SEGMENTS_PER_PAGE = 50
USERS_PER_PAGE = 25
TRAITS_PER_PAGE = 100  # one statistics query a page (selectors.STATS_BATCH)


def _wants(request: HttpRequest, target: str) -> bool:
    """An htmx request for the region ``#target`` (history restores get the full page)."""
    return bool(request.htmx) and request.htmx.target == target


def _error_dict(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return error.message_dict
    return {"general": error.messages}


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    applications = applications_of(request.user)
    if applications:
        return redirect("segments:list", app_id=applications[0].pk)
    return render(request, "no_application.html")


# --- Segments list -----------------------------------------------------------------------


@require_GET
@application_view
def segment_list(request: HttpRequest) -> HttpResponse:
    application = request.application
    filterset = SegmentFilter(
        request.GET, queryset=selectors.segments_with_rules(application), application=application
    )
    page = Paginator(filterset.qs, SEGMENTS_PER_PAGE).get_page(request.GET.get("page"))
    selectors.attach_member_counts(application, page.object_list)
    context = {
        "filter": filterset,
        "page": page,
    }
    template = "segments/segment_list.html"
    if _wants(request, "results"):
        template += "#results"
    return render(request, template, context)


# --- Create / edit -----------------------------------------------------------------------


def _traits(request: HttpRequest) -> dict[str, TraitDefinition]:
    return {t.key: t for t in request.application.trait_definitions.all()}


def _published_users_of(segment: Segment | None) -> list[Experience]:
    if segment is None:
        return []
    return list(segment.experiences.filter(status=Experience.Status.PUBLISHED).order_by("name"))


def _preview_context(
    request: HttpRequest, rows: list[RuleRow], segment: Segment | None
) -> dict[str, Any]:
    cleaned, errors = actions.rules_check(
        application=request.application, rules=[row.as_input() for row in rows]
    )
    skipped = []
    for position, (row, rule) in enumerate(zip(rows, cleaned, strict=True)):
        if rule is None:
            reasons = [
                RULE_PREFIX.sub("", message)
                for key, messages_ in errors.items()
                if key.startswith(f"rules.{position}.")
                for message in messages_
            ]
            skipped.append((row.number, " ".join(reasons)))
    preview = selectors.segment_preview(
        request.application, preview_conditions(rows, cleaned), segment=segment
    )
    return {"preview": preview, "skipped": skipped, "published": _published_users_of(segment)}


def _render_form(
    request: HttpRequest,
    form: SegmentForm,
    rows: list[RuleRow],
    segment: Segment | None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    traits = list(request.application.trait_definitions.all())
    context = {
        "form": form,
        "rows": rows,
        "traits": traits,
        "segment": segment,
        "errors": errors or {},
        **_preview_context(request, rows, segment),
    }
    return render(request, "segments/segment_form.html", context, status=status)


def _segment_form(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    traits = _traits(request)
    data = request.POST if request.method == "POST" else request.GET
    if request.method == "GET" and "rules" not in data:
        # A fresh form: the saved segment, or one empty rule to start from.
        if segment is not None:
            form = SegmentForm(initial={"name": segment.name, "description": segment.description})
            rows = rows_from_segment(segment)
        else:
            form = SegmentForm()
            rows = [new_row([])]
        return _render_form(request, form, rows, segment)

    form = SegmentForm(data)
    form.is_valid()
    rows = parse_rules(data, traits)
    if request.method == "GET" or "add_rule" in data:
        # Prefilled from a preview link, or "Add rule" without JavaScript.
        if "add_rule" in data:
            rows.append(new_row(rows))
        return _render_form(request, form, rows, segment)

    fields = {
        "name": form.cleaned_data.get("name", ""),
        "description": form.cleaned_data.get("description", ""),
        "rules": [row.as_input() for row in rows],
    }
    try:
        if segment is None:
            segment = actions.segment_create(application=request.application, **fields)
            messages.success(request, f'Segment "{segment.name}" created.')
        else:
            actions.segment_update(segment=segment, **fields)
            messages.success(request, f'Segment "{segment.name}" saved.')
    except ValidationError as error:
        errors = _error_dict(error)
        attach_errors(rows, errors)
        return _render_form(request, form, rows, segment, errors, status=400)
    return redirect("segments:detail", app_id=request.application.pk, pk=segment.pk)


@require_http_methods(["GET", "POST"])
@application_view
def segment_create(request: HttpRequest) -> HttpResponse:
    return _segment_form(request, None)


def _editable_segment(request: HttpRequest, pk: int) -> Segment | HttpResponse:
    segment = get_in_application(Segment.objects, request, pk=pk)
    if segment.is_builtin:
        return HttpResponseForbidden(
            f'The built-in "{segment.name}" segment cannot be edited or deleted.'
        )
    return segment


@require_http_methods(["GET", "POST"])
@application_view
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _editable_segment(request, pk)
    if isinstance(segment, HttpResponse):
        return segment
    return _segment_form(request, segment)


def _form_url(request: HttpRequest, query: Any) -> str:
    """The create or edit form, prefilled with the rules in ``query`` (no-JavaScript links)."""
    app_id, segment_pk = request.application.pk, query.get("segment")
    if segment_pk:
        url = reverse("segments:edit", args=[app_id, segment_pk])
    else:
        url = reverse("segments:create", args=[app_id])
    return f"{url}?{query.urlencode()}"


def _segment_param(request: HttpRequest) -> Segment | None:
    pk = request.GET.get("segment")
    if not pk:
        return None
    if not pk.isdigit():
        pk = "0"  # answers 404 below
    return get_in_application(Segment.objects.filter(is_builtin=False), request, pk=pk)


@require_GET
@application_view
def segment_preview(request: HttpRequest) -> HttpResponse:
    """The live preview of the rules being edited; without htmx, the form prefilled."""
    segment = _segment_param(request)
    if not request.htmx:
        return redirect(_form_url(request, request.GET))
    rows = parse_rules(request.GET, _traits(request))
    context = _preview_context(request, rows, segment)
    return render(request, "segments/segment_form.html#preview", context)


@require_GET
@application_view
def segment_rule_row(request: HttpRequest) -> HttpResponse:
    """One rule row, re-shaped for its trait and operator; with ``add``, a new empty row."""
    segment = _segment_param(request)
    if not request.htmx:
        return redirect(_form_url(request, request.GET))
    traits = _traits(request)
    rows = parse_rules(request.GET, traits)
    if "add" in request.GET or not rows:
        row = new_row(rows)
        row.autofocus = True
    else:
        row = rows[0]  # numbered in the page by static/js/app.js
    context = {"row": row, "traits": list(traits.values()), "segment": segment}
    response = render(request, "segments/segment_form.html#rule-row", context)
    # After the swap, so that the preview reads the new row.
    return trigger_client_event(response, "rules-changed", after="settle")


# --- Segment page and delete -------------------------------------------------------------


@require_GET
@application_view
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    application = request.application
    segment = get_in_application(selectors.segments_with_rules(application), request, pk=pk)
    filterset = EndUserFilter(
        request.GET, queryset=segment.members().order_by("external_id"), application=application
    )
    page = Paginator(filterset.qs, USERS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "segment": segment,
        "member_count": selectors.count_users(application, {"n": segment.conditions})["n"],
        "filter": filterset,
        "page": page,
        "experiences": segment.experiences.order_by("name"),
        "traits": application.trait_definitions.all(),
    }
    template = "segments/segment_detail.html"
    if _wants(request, "members"):
        template += "#members"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@application_view
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _editable_segment(request, pk)
    if isinstance(segment, HttpResponse):
        return segment
    if request.method == "POST":
        name = segment.name
        actions.segment_delete(segment=segment)
        messages.success(request, f'Segment "{name}" deleted.')
        return redirect("segments:list", app_id=request.application.pk)
    context = {"segment": segment, "experiences": segment.experiences.order_by("name")}
    return render(request, "segments/segment_confirm_delete.html", context)


# --- Traits ------------------------------------------------------------------------------


def _trait_page_of(request: HttpRequest, number: Any) -> Any:
    """One page of the definitions, by key, each with its statistics."""
    # The definitions are read in one query and paginated in memory: a row is small, and it
    # saves the COUNT a paginated queryset costs; the statistics are what must be bounded.
    definitions = list(request.application.trait_definitions.order_by("key", "pk"))
    page = Paginator(definitions, TRAITS_PER_PAGE).get_page(number)
    traits = list(page.object_list)
    stats = selectors.trait_stats(request.application, traits)
    for trait in traits:
        trait.stats = stats[trait.pk]
        trait.type_noun = selectors.TYPE_NOUN[trait.type]
    page.object_list = traits
    return page


def _one_trait_row(request: HttpRequest, trait: TraitDefinition) -> TraitDefinition:
    trait.stats = selectors.trait_stats(request.application, [trait])[trait.pk]
    trait.type_noun = selectors.TYPE_NOUN[trait.type]
    return trait


def _trait_page(request: HttpRequest, number: Any = None, **extra: Any) -> HttpResponse:
    page = _trait_page_of(request, number or request.GET.get("page"))
    context = {
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
def trait_list(request: HttpRequest) -> HttpResponse:
    return _trait_page(request)


@require_POST
@application_view
def trait_create(request: HttpRequest) -> HttpResponse:
    new = {name: request.POST.get(name, "") for name in ("key", "label", "type", "description")}
    try:
        trait = actions.trait_definition_create(application=request.application, **new)
    except ValidationError as error:
        errors = _error_dict(error)
        if request.htmx:
            context = {"new": new, "create_errors": errors, "types": TraitDefinition.Type.choices}
            return render(request, "segments/trait_list.html#trait-create", context, status=400)
        return _trait_page(request, new=new, create_errors=errors, status=400)
    if request.htmx:
        # An empty form again, and the new row appended to the table (out of band).
        context = {
            "new": {},
            "create_errors": {},
            "types": TraitDefinition.Type.choices,
            "trait": _one_trait_row(request, trait),
            "created": trait,
        }
        return render(request, "segments/trait_list.html#trait-create", context)
    messages.success(request, f'Trait "{trait.key}" created.')
    return redirect("segments:traits", app_id=request.application.pk)


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
                errors = _error_dict(error)
            else:
                if request.htmx:
                    context = {"trait": _one_trait_row(request, trait), "saved": True}
                    return render(request, "segments/trait_list.html#trait-row", context)
                messages.success(request, f'Trait "{trait.key}" saved.')
                return redirect("segments:traits", app_id=request.application.pk)
    context = _trait_edit_context(request, trait, data, errors)
    if request.htmx:
        return render(request, "segments/trait_list.html#trait-row", context)
    # The page that holds the trait being edited (without JavaScript).
    before = request.application.trait_definitions.filter(key__lt=trait.key).count()
    return _trait_page(request, before // TRAITS_PER_PAGE + 1, editing_pk=trait.pk, edit=context)


@require_GET
@application_view
def trait_row(request: HttpRequest, pk: int) -> HttpResponse:
    """The trait's row as displayed (Cancel in the inline editor)."""
    trait = get_in_application(TraitDefinition.objects, request, pk=pk)
    if not request.htmx:
        return redirect("segments:traits", app_id=request.application.pk)
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
        if request.htmx:
            context = {"trait": _one_trait_row(request, trait), "row_error": message}
            return render(request, "segments/trait_list.html#trait-row", context, status=400)
        messages.error(request, message)
        return redirect("segments:traits", app_id=request.application.pk)
    if request.htmx:
        return HttpResponse("")
    messages.success(request, f'Trait "{trait.key}" deleted.')
    return redirect("segments:traits", app_id=request.application.pk)


# --- Users -------------------------------------------------------------------------------


@require_GET
@application_view
def user_list(request: HttpRequest) -> HttpResponse:
    application = request.application
    filterset = EndUserFilter(
        request.GET, queryset=application.end_users.order_by("external_id"), application=application
    )
    page = Paginator(filterset.qs, USERS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "total": selectors.count_users(application, {"all": []})["all"],
    }
    template = "segments/user_list.html"
    if _wants(request, "results"):
        template += "#results"
    return render(request, template, context)


@require_GET
@application_view
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    application = request.application
    end_user = get_in_application(EndUser.objects, request, pk=pk)
    url = request.GET.get("url", "").strip()
    decisions, url_error = None, ""
    if url:
        try:
            decisions = explain_serve(application, end_user, url)
        except ValueError:
            url_error = "That is not a URL or a path: try https://app.example.com/settings."
    context: dict[str, Any] = {
        "end_user": end_user,
        "url": url,
        "url_error": url_error,
        "decisions": decisions,
    }
    if _wants(request, "experiences-panel"):
        return render(request, "segments/user_detail.html#experiences", context)
    definitions = {t.key: t for t in application.trait_definitions.all()}
    segments = selectors.segments_with_rules(application)
    context["traits"] = [
        (key, value, definitions.get(key)) for key, value in sorted(end_user.traits.items())
    ]
    context["verdicts"] = selectors.explain_user(end_user, segments)
    return render(request, "segments/user_detail.html", context)
