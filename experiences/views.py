"""Engage > Experiences: list, editor per kind, detail with publish and preview.

Thin views (STYLE.md): read the request, call an action or a selector, render the page or,
for an HTMX request, the one ``{% partialdef %}`` fragment it swaps.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from callout.htmx import template_for
from segments.access import application_view, get_in_application
from segments.models import Application, EndUser, Segment, tree_prefetches

from . import actions, versions
from .daily import daily_events
from .filters import ExperienceFilter
from .forms import ROWS, Editor, apply_row_op, rows_from_data
from .languages import text_fields, untranslated
from .models import Experience
from .preview import preview, try_url
from .results import csv_rows, experience_results
from .schedules import SESSION_KEY, manager_zone
from .selectors import audience_reach, experiences_for_list, reach_by_experience

PAGE_SIZE = 25
LIST = "experiences/experience_list.html"
FORM = "experiences/experience_form.html"
DETAIL = "experiences/experience_detail.html"

KIND_HELP = {
    Experience.Kind.TOUR: "Steps through the page: tooltips and centred modals.",
    Experience.Kind.CHECKLIST: "A floating panel of tasks to complete.",
    Experience.Kind.TOOLTIP: "One hint next to an element.",
    Experience.Kind.BANNER: "A bar across the top or bottom of the page.",
}


@require_GET
@application_view
def experience_list(request: HttpRequest) -> HttpResponse:
    application = request.application
    filters = ExperienceFilter(
        request.GET, queryset=experiences_for_list(application.pk), application=application
    )
    experiences = filters.qs if filters.is_valid() else filters.queryset.none()
    page = Paginator(experiences, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    reach = reach_by_experience(rows)  # one query for the whole page
    for experience in rows:
        experience.reach = reach[experience.pk]
    context = {
        "filters": filters,
        "page": page,
        "experiences": rows,
        "kinds": [(kind, label, KIND_HELP[kind]) for kind, label in Experience.Kind.choices],
    }
    return render(request, template_for(request, LIST, "results"), context)


def _editor(request: HttpRequest, kind: str, experience: Experience | None) -> HttpResponse:
    """The start and end are read and shown in the manager's time zone: the one the form
    posts (the browser's, filled in by static/js/app.js), else the last one posted, else UTC."""
    posted = request.POST.get("time_zone") if request.method == "POST" else None
    zone = manager_zone(request.session, posted)
    with timezone.override(zone):
        return _edit(request, kind, experience, zone.key)


def _edit(
    request: HttpRequest, kind: str, experience: Experience | None, zone: str
) -> HttpResponse:
    application = request.application
    context: dict[str, Any] = {"kind": kind, "kind_label": Experience.Kind(kind).label}
    op = request.POST.get("op", "") if request.method == "POST" else ""
    if op:
        # Add, remove or move a step / item: the rows re-rendered as typed; nothing is saved.
        if kind not in ROWS:
            raise Http404("This kind has no steps or items.")
        _formset, prefix, fields, new_row = ROWS[kind]
        rows = apply_row_op(rows_from_data(request.POST, prefix, fields), op, new_row)
        editor = Editor(
            application=application,
            kind=kind,
            experience=experience,
            data=request.POST,
            rows=rows,
            time_zone=zone,
        )
        editor.focus_after(op)
        context |= {"editor": editor, "experience": experience}
        return render(request, template_for(request, FORM, "rows"), context)
    status = 200
    if request.method == "POST":
        # The version the editor was opened at; "Save anyway" (``overwrite``) saves over
        # whatever was saved since, deliberately.
        opened = request.POST.get("version", "")
        context["version"] = int(opened) if opened.isdigit() else None
        expected = None if request.POST.get("overwrite") else context["version"]
        editor = Editor(
            application=application,
            kind=kind,
            experience=experience,
            data=request.POST,
            time_zone=zone,
        )
        if editor.is_valid():
            request.session[SESSION_KEY] = zone
            try:
                if experience is None:
                    experience = actions.experience_create(
                        application=application, kind=kind, **editor.fields()
                    )
                    messages.success(request, f'"{experience.name}" is saved as a draft.')
                else:
                    actions.experience_update(
                        experience=experience, version=expected, **editor.fields()
                    )
                    messages.success(request, f'"{experience.name}" is saved.')
            except versions.StaleVersion as stale:
                # Someone saved since the editor was opened: nothing is overwritten unasked.
                context["conflict"] = versions.conflict(experience, stale)
                status = 409
            except ValidationError as error:
                editor.add_errors(error)
            else:
                return redirect("experiences:detail", application.pk, experience.pk)
    else:
        editor = Editor(application=application, kind=kind, experience=experience, time_zone=zone)
        context["version"] = versions.latest_number(experience) if experience else None
    context |= {"editor": editor, "experience": experience}
    return render(request, FORM, context, status=status)


@require_http_methods(["GET", "POST"])
@application_view
def experience_create(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in Experience.Kind.values:
        raise Http404("No such kind of experience.")
    return _editor(request, kind, None)


@require_http_methods(["GET", "POST"])
@application_view
def experience_edit(request: HttpRequest, pk: int) -> HttpResponse:
    experience = get_in_application(Experience.objects.all(), request, pk=pk)
    return _editor(request, experience.kind, experience)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@require_GET
@application_view
def experience_url_test(request: HttpRequest) -> HttpResponse:
    """The editor's live URL tester: which of the typed patterns match the typed URL."""
    result = try_url(
        request.GET.get("test_url", "").strip(),
        _lines(request.GET.get("url_include", "")),
        _lines(request.GET.get("url_exclude", "")),
    )
    context = {"url_test": result}
    return render(request, f"{FORM}#url-test", context)


@require_GET
@application_view
def experience_audience(request: HttpRequest) -> HttpResponse:
    """The editor's audience sentence ("Free Admins OR Enterprise: 312 users today")."""
    ids = [i for i in request.GET.getlist("segments") if i.isdigit()]
    segments = list(
        Segment.objects.filter(application=request.application, pk__in=ids).prefetch_related(
            *tree_prefetches()
        )
    )
    reach = audience_reach(request.application, segments)
    return render(
        request, f"{FORM}#audience", {"chosen_segments": segments, "audience_reach": reach}
    )


def _detail(request: HttpRequest, experience: Experience, **extra: Any) -> HttpResponse:
    application = request.application
    context: dict[str, Any] = {
        "experience": experience,
        "reach": reach_by_experience([experience])[experience.pk],
        "results": experience_results(experience),
        "daily": daily_events(experience),
        "languages": _languages(application, experience),
        **extra,
    }
    template = DETAIL
    if "user" in request.GET:
        user_id = request.GET.get("user", "").strip()
        url = request.GET.get("url", "").strip()
        end_user = None
        if not user_id:
            context["preview_error"] = "Type the id of one of your users."
        elif not url:
            context["preview_error"] = "Type a URL of your app, such as /dashboard."
        else:
            end_user = EndUser.objects.filter(application=application, external_id=user_id).first()
            if end_user is None:
                context["preview_error"] = f'No user with id "{user_id}" in {application.name}.'
        if end_user is not None:
            context["preview"] = preview(experience, end_user, url)
        template = template_for(request, DETAIL, "preview")
    zone = manager_zone(request.session)
    context["time_zone"] = zone.key
    with timezone.override(zone):  # the schedule's times
        return render(request, template, context)


def _languages(application: Application, experience: Experience) -> list[dict[str, Any]]:
    """Per other language of the application, how many texts it translates and which it
    lacks (shown in the default language): docs/experiences.md, "Languages"."""
    texts = text_fields(experience.kind, experience.content)
    rows = []
    for tag in (application.languages or [])[1:]:
        missing = untranslated(experience.kind, experience.content, experience.translations, tag)
        rows.append(
            {"tag": tag, "done": len(texts) - len(missing), "total": len(texts), "missing": missing}
        )
    return rows


def _get(request: HttpRequest, pk: int) -> Experience:
    return get_in_application(experiences_for_list(request.application.pk), request, pk=pk)


@require_GET
@application_view
def experience_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, _get(request, pk))


@require_GET
@application_view
def experience_results_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The results (``experiences/results.py``) as CSV, streamed: one row per group."""
    experience = get_in_application(Experience.objects.all(), request, pk=pk)
    response = StreamingHttpResponse(
        csv_rows(experience_results(experience)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="experience-{pk}-results.csv"'
    return response


@require_POST
@application_view
def experience_publish(request: HttpRequest, pk: int) -> HttpResponse:
    experience = _get(request, pk)
    try:
        actions.experience_publish(
            experience=experience, allow_empty_audience=request.POST.get("allow_empty") == "1"
        )
    except actions.EmptyAudience:
        # Warn first: the same page, asking to confirm.
        return _detail(request, experience, confirm_empty_audience=True)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _published(request, experience))
    return redirect("experiences:detail", request.application.pk, experience.pk)


def _published(request: HttpRequest, experience: Experience) -> str:
    """What publishing did, with the schedule: from now, from its start, or not (ended)."""
    now = timezone.now()
    if experience.ends_at is not None and experience.ends_at <= now:
        return f'"{experience.name}" is published, but its schedule has ended: it is not served.'
    if experience.starts_at is not None and experience.starts_at > now:
        zone = manager_zone(request.session)
        start = timezone.localtime(experience.starts_at, zone).strftime("%Y-%m-%d %H:%M")
        return f'"{experience.name}" is published: it is served from {start} ({zone.key}).'
    return f'"{experience.name}" is published: it is served from now on.'


@require_POST
@application_view
def experience_unpublish(request: HttpRequest, pk: int) -> HttpResponse:
    experience = _get(request, pk)
    actions.experience_unpublish(experience=experience)
    messages.success(request, f'"{experience.name}" is a draft again: it is no longer served.')
    return redirect("experiences:detail", request.application.pk, experience.pk)


@require_POST
@application_view
def experience_delete(request: HttpRequest, pk: int) -> HttpResponse:
    experience = _get(request, pk)
    try:
        actions.experience_delete(experience=experience)
    except actions.ExperienceInUse as error:
        # Not deleted: the same page says which segments use it, so they can be changed first.
        response = _detail(request, experience, used_by_segments=error.segments)
        response.status_code = 409
        return response
    messages.success(request, f'"{experience.name}" is deleted.')
    return redirect("experiences:list", request.application.pk)
