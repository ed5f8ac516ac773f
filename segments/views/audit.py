"""Setup > Audit log: the application's entries, filtered by who, object and dates, and the
same selection as CSV. Owners and editors read it, viewers do not: it holds colleagues'
logins (with their IP addresses) and failed logins, which a read-only seat does not need."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from callout.csvexport import Echo, safe_cell
from callout.htmx import template_for

from ..access import Role, application_view
from ..filters import AuditFilter
from ..models import AuditEntry

ENTRIES_PER_PAGE = 50
CSV_COLUMNS = ["at", "who", "via", "token", "action", "object_type", "object_id", "object_name"]


def _entries(request: HttpRequest) -> tuple[AuditFilter, QuerySet[AuditEntry]]:
    """The filters and what they select; nothing for a filter that does not read (a bad
    date), which the page names: not every entry, which an export would then take for the
    selection."""
    application = request.application
    filterset = AuditFilter(
        request.GET, queryset=application.audit_entries.all(), application=application
    )
    return filterset, filterset.qs if filterset.is_valid() else filterset.queryset.none()


@require_GET
@application_view(read_role=Role.EDITOR)
def audit_log(request: HttpRequest) -> HttpResponse:
    filterset, entries = _entries(request)
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    context = {"filter": filterset, "page": page}
    return render(request, template_for(request, "segments/audit_log.html", "results"), context)


def _rows(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    writer: Any = csv.writer(Echo())
    yield writer.writerow([*CSV_COLUMNS, "summary"])
    # iterator(): rows stream from a cursor in chunks; a year of entries is never a list.
    for entry in entries.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                timezone.localtime(entry.at).isoformat(),
                entry.actor_name,
                entry.via,
                entry.token_name,
                entry.action,
                entry.object_type,
                "" if entry.object_id is None else entry.object_id,
                safe_cell(entry.object_name),
                safe_cell(entry.summary),
            ]
        )


@require_GET
@application_view(read_role=Role.EDITOR)
def audit_export(request: HttpRequest) -> HttpResponse:
    _, entries = _entries(request)
    stamp = timezone.localdate().isoformat()
    response = StreamingHttpResponse(_rows(entries), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response
