"""/api/v1/manage/experiences: experiences as code, through experiences/actions.py (same
validation, same invalidation of the served targeting as the UI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from experiences import actions, versions
from experiences.checks import ApiError
from experiences.models import Experience, ExperienceVersion
from experiences.results import experience_results

from ..http import body, in_use, invalid, json_response, manage_view, no_content, text
from ..pagination import page

FIELDS = (
    "content",
    "url_include",
    "url_exclude",
    "frequency",
    "priority",
    "goal_kind",
    "goal_event",
    "goal_url",
    "conversion_window_days",
    "holdout_percent",
    "translations",
)


def experience_json(experience: Experience, version: int | None = None) -> dict[str, Any]:
    """``version``: its latest version's number when the caller has it (a list, at once)."""
    return {
        "id": experience.pk,
        # Send it back with a PUT: a save since answers 409 (docs/api.md, Experiences).
        "version": versions.latest_number(experience) if version is None else version,
        "name": experience.name,
        "kind": experience.kind,
        "status": experience.status,
        "content": experience.content,
        "segments": sorted(s.pk for s in experience.segments.all()),
        "url_include": experience.url_include,
        "url_exclude": experience.url_exclude,
        "frequency": experience.frequency,
        "priority": experience.priority,
        # ISO 8601 in UTC ("2026-12-04T09:00:00Z"), or null: no start / no end.
        "starts_at": experience.starts_at,
        "ends_at": experience.ends_at,
        # Goals and holdouts (docs/experiences.md): results at .../results.
        "goal_kind": experience.goal_kind,
        "goal_event": experience.goal_event,
        "goal_url": experience.goal_url,
        "conversion_window_days": experience.conversion_window_days,
        "holdout_percent": experience.holdout_percent,
        # Languages (docs/experiences.md): per other language, its texts by field path.
        "translations": experience.translations,
    }


def _moment(data: dict[str, Any], field: str) -> datetime | None:
    """``starts_at`` / ``ends_at``: an ISO 8601 date and time with its offset, or null (none);
    ``actions.UNCHANGED`` when absent."""
    if field not in data:
        return actions.UNCHANGED
    value = data[field]
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= 64:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.utcoffset() is not None:
            return moment
    raise invalid(
        field,
        f"{field} is an ISO 8601 date and time with its offset, such as "
        '"2026-12-04T09:00:00Z", or null.',
    )


def _schedule(data: dict[str, Any]) -> dict[str, datetime | None]:
    """The schedule fields given (absent ones are left out: kept on a PUT, none on a POST)."""
    moments = {field: _moment(data, field) for field in ("starts_at", "ends_at")}
    return {field: value for field, value in moments.items() if value is not actions.UNCHANGED}


def _segments(data: dict[str, Any]) -> list[int] | None:
    value = data.get("segments")
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise invalid("segments", "segments is a list of segment ids.")
    return value


def _get(request: HttpRequest, pk: int) -> Experience:
    return get_object_or_404(
        Experience.objects.prefetch_related("segments"), application=request.application, pk=pk
    )


@manage_view("GET", "POST")
def experiences(request: HttpRequest) -> HttpResponse:
    application = request.application
    if request.method == "GET":
        queryset = application.experiences.prefetch_related("segments")
        rows, next_url = page(request, queryset)
        latest = dict(
            ExperienceVersion.objects.filter(experience__in=rows)
            .values("experience")
            .annotate(n=Max("number"))
            .values_list("experience", "n")
        )
        results = [experience_json(e, latest.get(e.pk, 0)) for e in rows]
        return json_response({"results": results, "next": next_url})
    data = body(request)
    kind = text(data, "kind", required=True)
    if kind not in Experience.Kind.values:
        raise invalid("kind", f"kind must be one of {', '.join(Experience.Kind.values)}.")
    if "content" not in data:
        raise invalid("content", "content is required.")
    given = {field: data[field] for field in FIELDS if data.get(field) is not None}
    experience = actions.experience_create(
        application=application,
        name=text(data, "name", required=True),
        kind=kind,
        segments=_segments(data),
        **given,
        **_schedule(data),
    )
    return json_response(experience_json(_get(request, experience.pk)), status=201)


@manage_view("GET", "PUT", "DELETE")
def experience(request: HttpRequest, pk: int) -> HttpResponse:
    found = _get(request, pk)
    if request.method == "GET":
        return json_response(experience_json(found))
    if request.method == "DELETE":
        try:
            actions.experience_delete(experience=found)
        except actions.ExperienceInUse as error:
            raise in_use(error.message, error.segments) from None
        return no_content()
    data = body(request)
    if "kind" in data and data["kind"] != found.kind:
        raise invalid("kind", "The kind is fixed when the experience is created.")
    given = {field: data[field] for field in FIELDS if data.get(field) is not None}
    version = data.get("version")
    if version is not None and (type(version) is not int or version < 0):
        raise invalid("version", "version is the whole number a read of the experience gave.")
    try:
        actions.experience_update(
            experience=found,
            name=text(data, "name"),
            segments=_segments(data),
            version=version,
            **given,
            **_schedule(data),
        )
    except versions.StaleVersion as stale:
        raise ApiError(
            409,
            "stale_version",
            f"The experience was saved since version {stale.expected} (now {stale.latest}): "
            "read it again, or leave version out to save over it.",
            "version",
        ) from None
    return json_response(experience_json(_get(request, pk)))


@manage_view("POST")
def publish(request: HttpRequest, pk: int) -> HttpResponse:
    found = _get(request, pk)
    data = body(request) if request.body else {}
    allow_empty = data.get("allow_empty_audience", False)
    if not isinstance(allow_empty, bool):
        raise invalid("allow_empty_audience", "allow_empty_audience must be true or false.")
    actions.experience_publish(experience=found, allow_empty_audience=allow_empty)
    return json_response(experience_json(_get(request, pk)))


@manage_view("POST")
def unpublish(request: HttpRequest, pk: int) -> HttpResponse:
    actions.experience_unpublish(experience=_get(request, pk))
    return json_response(experience_json(_get(request, pk)))


@manage_view("GET")
def results(request: HttpRequest, pk: int) -> HttpResponse:
    """Eligible users, conversions and rates per group, and the lifts with their 95% intervals
    (null: not enough data yet; docs/experiences.md, "Goals, holdouts and how to read the
    results")."""
    found = get_object_or_404(Experience, application=request.application, pk=pk)
    return json_response(experience_results(found).as_json())
