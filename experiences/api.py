"""The JSON API the snippet calls from the customer's site (documented in docs/api.md).

Authentication is the application's public key, so there is no CSRF to protect against and
every response, errors included, carries CORS headers for any origin. Bodies are JSON sent as
``text/plain`` or ``application/json`` (text/plain needs no preflight in the browser).
Every failure is a JSON error with the right status; nothing is written unless the whole
request is valid.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from callout import dbwatch, ratelimit

from . import actions, serving
from . import identify as identifying
from . import track as tracking
from .checks import (
    ApiError,
    application_and_user,
    invalid,
    known_user,
    query_id,
    url_of,
    user_id_of,
    verify,
)
from .lookup import Visitor
from .models import Event
from .targeting import Targeting

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_STEP = actions.MAX_STEP

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return JsonResponse({"error": error}, status=status)


def api_view(*methods: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A public API endpoint: CORS on every response, OPTIONS answered, JSON errors (405
    included), no CSRF (the public key authenticates, there is no session)."""
    allow = ", ".join([*methods, "OPTIONS"])

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if (wait := ratelimit.retry_after(request)) is not None:
                response = ratelimit.refused(wait)
            elif request.method in methods:
                try:
                    with dbwatch.deadline():
                        response = view(request, *args, **kwargs)
                except ApiError as error:
                    response = error_response(error.status, error.code, error.message, error.field)
                except DatabaseError:
                    logger.exception("database error in %s", view.__name__)
                    response = error_response(
                        503, "unavailable", "The service is busy; retry in a moment."
                    )
            elif request.method == "OPTIONS":
                response = HttpResponse(status=204)
                response["Allow"] = allow
            else:
                message = f"{request.method} is not allowed here; use {allow}."
                response = error_response(405, "method_not_allowed", message)
                response["Allow"] = allow
            for header, value in CORS_HEADERS.items():
                response[header] = value
            return response

        return wrapper

    return decorator


# --- Reading the request -----------------------------------------------------------------


def _reject_nan(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, whatever the Content-Type (text/plain avoids a preflight)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "invalid_request", "Content-Length is not a number.") from None
    too_big = ApiError(413, "body_too_large", f"The body is larger than {MAX_BODY // 1024} KB.")
    if declared > MAX_BODY:
        raise too_big
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_big from None
    if len(raw) > MAX_BODY:
        raise too_big
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_nan)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        message = getattr(error, "msg", None) or "not UTF-8 JSON"
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {message}.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    return data


def query(request: HttpRequest) -> dict[str, str]:
    """The query string as ``request.GET.dict()`` reads it (UTF-8, else Latin-1; the last of
    repeated names), without building a QueryDict: it showed in the serve's profile."""
    raw = request.META.get("QUERY_STRING", "").encode("iso-8859-1")  # WSGI's str of the bytes
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    try:
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=limit))
    except ValueError:  # more fields than the limit
        raise ApiError(400, "invalid_request", f"More than {limit} query parameters.") from None


def _experiences(app: Targeting, user: Visitor, url: str) -> str:
    """The response's ``"experiences"`` member and, when something is served and the
    application has a theme, its ``"theme"`` (docs/api.md); each experience and the theme
    were encoded once, when compiled. Goals and holdouts: a user's first exposure to a
    measured experience, and a page goal reached, are written (``actions.exposures_record``;
    nothing when nothing is measured)."""
    measures = serving.Measures() if app.measuring and user.id is not None else None
    served = serving.decide(
        app,
        end_user_id=user.id,
        traits=user.traits,
        url=url,
        activity=user.activity,
        company=user.company,
        company_id=user.company_id,
        explain=False,
        measures=measures,
    )
    if measures and user.id is not None:
        actions.exposures_record(
            application_id=app.application.pk,
            end_user_id=user.id,
            exposures=measures.exposures,
            conversions=measures.conversions,
        )
    if not served:
        return '"experiences": []'
    members = '"experiences": [' + ", ".join(e.json for e in served) + "]"
    return members if app.theme_json is None else f'{members}, "theme": {app.theme_json}'


_encode = DjangoJSONEncoder().encode  # one encoder, not one per response (json.dumps(cls=))


def _json_response(fields: dict[str, Any], served: str | None = None) -> HttpResponse:
    """What ``JsonResponse(fields | {"experiences": [...], ...})`` answers, byte for byte,
    with ``served`` (``_experiences``) spliced in already encoded."""
    body = _encode(fields)
    if served is not None:
        separator = ", " if fields else ""
        body = f"{body[:-1]}{separator}{served}}}"
    return HttpResponse(body, content_type="application/json")


@api_view("POST")
def identify(request: HttpRequest) -> HttpResponse:
    data = json_body(request)
    app, user_id, user = identifying.identify(data)
    # Not the stored traits: with identity verification off, anyone with the public key and a
    # user's id could read them all (docs/api.md, "What identify answers").
    body = {"id": user_id}
    url = data.get("url")  # checked on either path
    if url is None:
        return _json_response(body)
    return _json_response(body, _experiences(app, user, url))


@api_view("GET")
def experiences(request: HttpRequest) -> HttpResponse:
    data = query(request)
    app, user_id, visitor = application_and_user(data, query_id)
    verify(app, user_id, data)
    url = url_of(data, required=True)
    known_user(visitor, user_id)
    return _json_response({"id": user_id}, _experiences(app, visitor, url))


@api_view("POST")
def events(request: HttpRequest) -> HttpResponse:
    data = json_body(request)
    app, user_id, visitor = application_and_user(data, user_id_of)
    verify(app, user_id, data)
    experience_id = data.get("experience")
    if experience_id is None:
        raise invalid("experience", "experience (an experience id) is required.")
    if isinstance(experience_id, bool) or not isinstance(experience_id, int):
        raise invalid("experience", "experience must be an experience id (a whole number).")
    kind = data.get("type")
    if kind not in Event.Type.values:
        raise invalid("type", f"type must be one of {', '.join(Event.Type.values)}.")
    step = data.get("step")
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP
    ):
        raise invalid("step", f"step must be a whole number from 0 to {MAX_STEP}.")
    if kind == Event.Type.STEP and step is None:
        raise invalid("step", "A step event needs step (the 0-based step index).")
    if experience_id not in app.experience_ids:
        raise ApiError(
            404, "unknown_experience", f"No experience {experience_id} here.", "experience"
        )
    try:
        event = actions.event_record(
            application_id=app.application.pk,
            end_user_id=known_user(visitor, user_id),
            experience_id=experience_id,
            type=kind,
            step=step,
            activity=visitor.activity,
        )
    except ValidationError:  # the experience was deleted a moment ago
        raise ApiError(
            404, "unknown_experience", f"No experience {experience_id} here.", "experience"
        ) from None
    return JsonResponse(
        {
            "recorded": {
                "experience": experience_id,
                "type": kind,
                "step": step,
                "at": event.created_at.isoformat(),
            }
        },
        status=201,
    )


@api_view("POST")
def track(request: HttpRequest) -> HttpResponse:
    """Events of the customer's app for one user: all of them stored, or none
    (``experiences/track.py``)."""
    return JsonResponse({"accepted": tracking.track(json_body(request))})


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any other path under /api/v1/: our JSON 404 with CORS, so that a mistyped path in an
    integration reads as such in the browser's console, not as a CORS failure."""
    response = error_response(404, "not_found", f"No endpoint {request.path}: see docs/api.md.")
    for header, value in CORS_HEADERS.items():
        response[header] = value
    return response
