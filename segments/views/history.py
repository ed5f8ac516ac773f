"""Engage > Segments > a segment's History: its versions, what changed between any two, and
Restore (an old version saved as a new one, after its impact preview).

Thin, as the other screens: every segment within ``request.application`` (``access.py``),
the restore through ``actions.segment_update``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .. import actions, selectors, versions
from ..access import application_view, get_in_application
from ..diff import diff, outline, parse
from ..models import Segment
from .errors import error_dict
from .segments import _editable_segment, _published_users_of


@require_GET
@application_view
def segment_history(request: HttpRequest, pk: int) -> HttpResponse:
    """Every version, newest first, and a side-by-side comparison of two (``old`` and ``new``,
    version numbers; by default the latest against the one before)."""
    segment = get_in_application(Segment.objects, request, pk=pk)
    history, old, new = versions.compared(segment.versions, request.GET)
    context: dict[str, Any] = {"segment": segment, "versions": history, "old": old, "new": new}
    if new is not None:
        names, types = (
            versions.names_of(request.application),
            versions.trait_types_of(request.application),
        )
        context["new_lines"] = outline(new.definition, names, **types)
        if old is not None:
            context["old_lines"] = outline(old.definition, names, **types)
            context["changes"] = diff(old.definition, new.definition, names=names, **types)
    return render(request, "segments/segment_history.html", context)


@require_http_methods(["GET", "POST"])
@application_view
def segment_restore(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """GET: what restoring ``number`` changes (the diff from the current version, and the
    editor's "If you save" impact), to every member; POST: restore it, as a new version (an
    editor's or an owner's: ``application_view`` answers 403 to a viewer)."""
    segment = _editable_segment(request, pk)
    if isinstance(segment, HttpResponse):
        return segment
    version = get_object_or_404(segment.versions, number=number)
    latest = versions.latest_number(segment)
    error: list[str] = []
    if request.method == "POST":
        try:
            actions.segment_update(segment=segment, **versions.restore_fields(version))
        except ValidationError as refused:
            error = [m for messages_ in error_dict(refused).values() for m in messages_]
        else:
            messages.success(
                request,
                f'Version {number} of "{segment.name}" restored, '
                f"as version {versions.latest_number(segment)}.",
            )
            return redirect("segments:history", app_id=request.application.pk, pk=segment.pk)
    names, types = (
        versions.names_of(request.application),
        versions.trait_types_of(request.application),
    )
    current = segment.versions.filter(number=latest).first()
    stored = parse(version.definition, **types)
    changed_segments, changed_experiences = selectors.segment_dependents(segment)
    context = {
        "segment": segment,
        "version": version,
        "latest": latest,
        "lines": outline(version.definition, names, **types),
        "changes": diff(current.definition, version.definition, names=names, **types)
        if current is not None
        else [],
        "preview": selectors.tree_preview(request.application, stored, segment=segment),
        "published": _published_users_of(segment),
        "changed_segments": changed_segments,
        "changed_experiences": changed_experiences,
        "errors": error,
    }
    return render(request, "segments/segment_restore.html", context, status=400 if error else 200)
