"""Engage > Events: every event name of the application with its statistics and a 30-day
chart, 100 a page; add a name by hand, edit its description inline, delete a name no rule
uses (htmx swaps one row; every link works without JavaScript too)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from callout.htmx import wants_fragment

from .. import events
from ..access import application_view, get_in_application
from ..event_stats import event_stats
from ..models import EventDefinition
from .errors import error_dict

EVENTS_PER_PAGE = 100  # two statistics queries a page, whatever the number of names
CREATE = "event-create"  # the Add an event form's id: htmx swaps it (hx-target="this")
TEMPLATE = "segments/event_list.html"


def _row_id(event: EventDefinition) -> str:
    """The id of the event's <tbody>, which the row's htmx requests target."""
    return f"event-{event.pk}"


def _with_stats(request: HttpRequest, definitions: list[EventDefinition]) -> list[EventDefinition]:
    stats = event_stats(request.application, [event.name for event in definitions])
    for event in definitions:
        event.stats = stats[event.name]
    return definitions


def _event_page_of(request: HttpRequest, number: Any) -> Page:
    # One query for the definitions, paginated in memory (a row is small, and this saves the
    # COUNT a paginated queryset costs); the statistics are what must be bounded.
    definitions = list(request.application.event_definitions.order_by("name", "pk"))
    page = Paginator(definitions, EVENTS_PER_PAGE).get_page(number)
    page.object_list = _with_stats(request, list(page.object_list))
    return page


def _event_page(request: HttpRequest, number: Any = None, **extra: Any) -> HttpResponse:
    page = _event_page_of(request, number or request.GET.get("page"))
    context = {"page": page, "events": page.object_list, "new": {}, "create_errors": {}, **extra}
    return render(request, TEMPLATE, context, status=extra.get("status", 200))


def _row(request: HttpRequest, event: EventDefinition, status: int = 200, **extra: Any):
    context = {"event": _with_stats(request, [event])[0], **extra}
    return render(request, f"{TEMPLATE}#event-row", context, status=status)


@require_GET
@application_view
def event_list(request: HttpRequest) -> HttpResponse:
    return _event_page(request)


@require_POST
@application_view
def event_create(request: HttpRequest) -> HttpResponse:
    new = {field: request.POST.get(field, "") for field in ("name", "description")}
    try:
        event = events.event_definition_create(application=request.application, **new)
    except ValidationError as error:
        errors = error_dict(error)
        if wants_fragment(request, CREATE):
            context = {"new": new, "create_errors": errors}
            return render(request, f"{TEMPLATE}#event-create", context, status=400)
        return _event_page(request, new=new, create_errors=errors, status=400)
    if wants_fragment(request, CREATE):
        # An empty form again, and the new row appended to the table (out of band).
        context = {"new": {}, "create_errors": {}, "event": _with_stats(request, [event])[0]}
        return render(request, f"{TEMPLATE}#event-create", context | {"created": event})
    messages.success(request, f'Event "{event.name}" added.')
    return redirect("segments:events", app_id=request.application.pk)


@require_http_methods(["GET", "POST"])
@application_view
def event_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The event's row with its description in a form; saved, the row as displayed."""
    event = get_in_application(EventDefinition.objects, request, pk=pk)
    description = request.POST.get("description", event.description)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            events.event_definition_update(event=event, description=description)
        except ValidationError as error:
            errors = error_dict(error)
        else:
            if wants_fragment(request, _row_id(event)):
                return _row(request, event, saved=True)
            messages.success(request, f'Event "{event.name}" saved.')
            return redirect("segments:events", app_id=request.application.pk)
    edit = {"editing": True, "description": description, "errors": errors}
    status = 400 if errors else 200
    if wants_fragment(request, _row_id(event)):
        return _row(request, event, status=status, **edit)
    # The page that holds the event being edited (without JavaScript).
    before = request.application.event_definitions.filter(name__lt=event.name).count()
    number = before // EVENTS_PER_PAGE + 1
    return _event_page(request, number, editing_pk=event.pk, edit=edit, status=status)


@require_GET
@application_view
def event_row(request: HttpRequest, pk: int) -> HttpResponse:
    """The event's row as displayed (Cancel in the inline editor)."""
    event = get_in_application(EventDefinition.objects, request, pk=pk)
    if not wants_fragment(request, _row_id(event)):
        return redirect("segments:events", app_id=request.application.pk)
    return _row(request, event)


@require_POST
@application_view
def event_delete(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_in_application(EventDefinition.objects, request, pk=pk)
    try:
        events.event_definition_delete(event=event)
    except ValidationError as error:
        message = " ".join(error.messages) + " Change or delete those segments first."
        if wants_fragment(request, _row_id(event)):
            return _row(request, event, status=400, row_error=message)
        messages.error(request, message)
        return redirect("segments:events", app_id=request.application.pk)
    if wants_fragment(request, _row_id(event)):
        return HttpResponse("")
    messages.success(request, f'Event "{event.name}" deleted.')
    return redirect("segments:events", app_id=request.application.pk)
