"""A segment's members as CSV: external id, then one column per user trait of the
application (sorted keys), streamed from a cursor so that a large segment is never a list."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from callout.csvexport import Echo, safe_cell

from .. import selectors
from ..access import application_view, get_in_application
from ..models import EndUser, Segment

CHUNK_SIZE = 2000


def _text(value: Any) -> str:
    """Trait values as the app sent them, in words: JSON's true/false, nothing for unset."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return safe_cell(str(value))


def _rows(users: QuerySet[EndUser], keys: Sequence[str]) -> Iterator[str]:
    writer: Any = csv.writer(Echo())
    yield writer.writerow(["external_id", *keys])
    # iterator(): rows come from a cursor in chunks, never the whole segment in memory.
    for external_id, traits in users.values_list("external_id", "traits").iterator(
        chunk_size=CHUNK_SIZE
    ):
        traits = traits if isinstance(traits, dict) else {}
        yield writer.writerow([safe_cell(external_id), *(_text(traits.get(k)) for k in keys)])


@require_GET
@application_view
def segment_members_csv(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_in_application(Segment.objects.all(), request, pk=pk)
    keys = sorted(request.application.trait_definitions.users().values_list("key", flat=True))
    users = selectors.segment_members(segment).order_by("external_id")
    response = StreamingHttpResponse(_rows(users, keys), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}-members.csv"'
    return response
