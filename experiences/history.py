"""Engage > Experiences > an experience's History: its versions, what changed between any two,
and Restore (an old version saved as a new one, after showing what it changes and whom it
reaches). As segments/views/history.py, for experiences; the restore through
``actions.experience_update``. Restoring leaves the status alone: publishing stays a decision
of its own."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from segments.access import application_view, get_in_application
from segments.models import Segment, tree_prefetches
from segments.versions import compared

from . import actions, versions
from .diff import diff, outline
from .models import Experience
from .selectors import audience_reach


@require_GET
@application_view
def experience_history(request: HttpRequest, pk: int) -> HttpResponse:
    """Every version, newest first, and two side by side (``old``, ``new``; by default the
    latest against the one before)."""
    experience = get_in_application(Experience.objects, request, pk=pk)
    history, old, new = compared(experience.versions, request.GET)
    context: dict[str, Any] = {"experience": experience, "versions": history, "old": old}
    context["new"] = new
    names = versions.segment_names(experience)
    if new is not None:
        context["new_lines"] = outline(new.definition, names)
        if old is not None:
            context["old_lines"] = outline(old.definition, names)
            context["changes"] = diff(old.definition, new.definition, names=names)
    return render(request, "experiences/experience_history.html", context)


def _reach(request: HttpRequest, ids: list[Any]) -> tuple[list[Segment], int]:
    segments = list(
        Segment.objects.filter(application=request.application, pk__in=ids).prefetch_related(
            *tree_prefetches()
        )
    )
    return segments, audience_reach(request.application, segments)


@require_http_methods(["GET", "POST"])
@application_view
def experience_restore(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: what restoring ``number`` changes and whom it would reach, to every member; POST:
    restore it as a new version (editors and owners: ``application_view``)."""
    experience = get_in_application(Experience.objects, request, pk=pk)
    version = get_object_or_404(experience.versions, number=number)
    errors: list[str] = []
    if request.method == "POST":
        try:
            actions.experience_update(experience=experience, **versions.restore_fields(version))
        except ValidationError as refused:
            errors = refused.messages
        else:
            messages.success(
                request,
                f'Version {number} of "{experience.name}" restored, '
                f"as version {versions.latest_number(experience)}.",
            )
            return redirect("experiences:history", request.application.pk, experience.pk)
    latest = versions.latest_number(experience)
    current = experience.versions.filter(number=latest).first()
    names = versions.segment_names(experience)
    kept = dict(version.definition, status=current.definition["status"]) if current else None
    chosen, reach = _reach(request, version.definition.get("segments", []))
    _, now_reach = _reach(request, [s.pk for s in experience.segments.all()])
    context = {
        "experience": experience,
        "version": version,
        "latest": latest,
        "lines": outline(version.definition, names),
        "changes": diff(current.definition, kept, names=names) if current else [],
        "chosen_segments": chosen,
        "audience_reach": reach,
        "now_reach": now_reach,
        "errors": errors,
    }
    status = 400 if errors else 200
    return render(request, "experiences/experience_restore.html", context, status=status)
