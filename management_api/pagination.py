"""Cursor pagination: ``?limit=&cursor=``, the cursor being the last primary key seen, so a
page never repeats or skips a row when rows are inserted meanwhile (new rows get larger keys
and land on later pages)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .http import invalid

DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def _number(request: HttpRequest, name: str, default: int | None) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise invalid(name, f"{name} must be a positive whole number.")
    return int(raw)


def page(request: HttpRequest, queryset: Any) -> tuple[list[Any], str | None]:
    """One page of ``queryset`` ordered by pk, and the URL of the next (None on the last)."""
    limit = _number(request, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid("limit", f"limit is from 1 to {MAX_LIMIT}.")
    cursor = _number(request, "cursor", None)
    if cursor is not None:
        queryset = queryset.filter(pk__gt=cursor)
    rows = list(queryset.order_by("pk")[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    query = request.GET.copy()
    query["cursor"] = str(rows[-1].pk)
    query["limit"] = str(limit)
    return rows, request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
