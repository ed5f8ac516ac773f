"""The editor's live visual preview (docs/experiences.md, "Live preview"): the content as
typed, drawn by the snippet itself (static/callout.js, ``Callout.preview``) in a frame of the
editor's page, with the application's theme.

Two views: the frame (a stand-in page that loads the snippet in preview mode) and the content
as the snippet would receive it, from the editor's form data: the same forms and the same
``clean_content`` as a save, so the preview never draws what saving would refuse, and nothing
is written. The content is posted (a tour's steps do not fit a URL), so it takes an editor,
as the editor's other posts do; a viewer's editor is read-only and draws no preview.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.csp import CSP
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET, require_POST

from segments import themes
from segments.access import Role, application_view

from .content import clean_content
from .forms import Editor
from .models import Experience


def _first_problem(editor: Editor) -> str:
    forms = [editor.content_form, *(editor.rows.forms if editor.rows is not None else [])]
    for form in forms:
        if form is None:
            continue
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            return f"{label}: {errors[0]}" if label else errors[0]
    if editor.rows is not None and editor.rows.non_form_errors():
        return editor.rows.non_form_errors()[0]
    return "The content is not complete yet."


@require_POST
@application_view
def experience_preview(request: HttpRequest, kind: str) -> JsonResponse:
    """``{"experience": {...}, "theme": {...}}`` as the serve would send them, or
    ``{"problem": "..."}`` (200 either way: an unfinished form is the normal case)."""
    if kind not in Experience.Kind.values:
        raise Http404("No such kind of experience.")
    editor = Editor(application=request.application, kind=kind, data=request.POST)
    if not editor.content_is_valid():
        return JsonResponse({"problem": _first_problem(editor)})
    try:
        content = clean_content(kind, editor.content())
    except ValidationError as error:
        return JsonResponse({"problem": error.messages[0]})
    name = request.POST.get("name", "").strip()[:100] or Experience.Kind(kind).label
    experience = {
        "id": "preview",
        "name": name,
        "kind": kind,
        "frequency": Experience.Frequency.EVERY_TIME,
        "priority": 0,
        "content": content,
    }
    theme = themes.changes(themes.theme_of(request.application.theme))
    return JsonResponse({"experience": experience, "theme": theme})


# Drawn inside the editor's page, and only there: the one page another of ours may frame.
FRAME_CSP = {**settings.SECURE_CSP, "frame-ancestors": [CSP.SELF]}


@require_GET
@xframe_options_sameorigin
@csp_override(FRAME_CSP)
@application_view(write_role=Role.VIEWER)
def experience_preview_frame(request: HttpRequest) -> HttpResponse:
    return render(request, "experiences/preview_frame.html")
