"""The management API's HTTP layer: bearer-token authentication, the JSON error shape
(``{"error": {"code", "message", "field"}}``, as the snippet API's), validation errors of
the actions turned into it, and reading typed fields from a JSON body."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from callout.actor import Actor, acting
from experiences.api import error_response, json_body
from experiences.checks import ApiError

from .actions import api_token_touch
from .models import ApiToken, token_hash

logger = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD"})


def in_use(message: str, segments: Any = (), experiences: Any = ()) -> ApiError:
    """409 naming where the object is used, in words and as ``used_by`` (ids and names)."""
    error = ApiError(409, "in_use", message)
    error.used_by = {  # type: ignore[attr-defined]
        "segments": [{"id": s.pk, "name": s.name} for s in segments],
        "experiences": [{"id": e.pk, "name": e.name} for e in experiences],
    }
    return error


def api_error_response(error: ApiError) -> JsonResponse:
    response = error_response(error.status, error.code, error.message, error.field)
    used_by = getattr(error, "used_by", None)
    if used_by is not None:
        payload = {"error": {"code": error.code, "message": error.message, "used_by": used_by}}
        response = JsonResponse(payload, status=error.status)
    return response


def authenticate(request: HttpRequest) -> ApiToken:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, plaintext = header.partition(" ")
    if scheme.lower() != "bearer" or not plaintext.strip():
        raise ApiError(401, "unauthenticated", "Send Authorization: Bearer <API token>.")
    token = (
        ApiToken.objects.select_related("application")
        .filter(digest=token_hash(plaintext.strip()), revoked_at__isnull=True)
        .first()
    )
    if token is None:  # unknown and revoked answer alike
        raise ApiError(401, "invalid_token", "This API token is unknown or revoked.")
    return token


def validation_error(error: ValidationError) -> ApiError:
    """An action's ValidationError as our error: its first field (a path into the body, e.g.
    ``definition.rules[0].value``) becomes ``field``; ``in_use`` is a 409."""
    if hasattr(error, "error_dict"):
        field, messages = next(iter(error.message_dict.items()))
        message = " ".join(messages)
        codes = [e.code for e in error.error_dict[field]]
        if field == NON_FIELD_ERRORS:
            field = None
    else:
        message, codes, field = " ".join(error.messages), [error.code], None
    if "in_use" in codes:
        return ApiError(409, "in_use", message, field)
    return ApiError(400, "invalid_field" if field else "invalid", message, field)


def manage_view(
    *methods: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A management endpoint: token required (``request.token``, ``request.application``),
    writes need an editor token, JSON errors for everything (401, 403, 404, 405, 400)."""
    allow = ", ".join(methods)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt  # a bearer token, not a cookie: nothing for CSRF to protect
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                token = authenticate(request)
                if request.method not in methods:
                    response = error_response(
                        405,
                        "method_not_allowed",
                        f"{request.method} is not allowed here; use {allow}.",
                    )
                    response["Allow"] = allow
                    return response
                if request.method not in READ_METHODS and not token.can_write:
                    raise ApiError(403, "forbidden", "This token is a viewer's: it only reads.")
                api_token_touch(token=token)
                request.token, request.application = token, token.application
                with acting(Actor(via="api", token=token)):
                    return view(request, *args, **kwargs)
            except ApiError as error:
                return api_error_response(error)
            except ValidationError as error:
                return api_error_response(validation_error(error))
            except Http404:
                return error_response(404, "not_found", "Not found.")
            except DatabaseError:
                logger.exception("database error in %s", view.__name__)
                return error_response(503, "unavailable", "The service is busy; retry in a moment.")

        return wrapper

    return decorator


def body(request: HttpRequest) -> dict[str, Any]:
    return json_body(request)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", message, field)


def text(data: dict[str, Any], field: str, *, required: bool = False) -> str | None:
    """A string field: None when absent (and not required), 400 for another type."""
    value = data.get(field)
    if value is None:
        if required:
            raise invalid(field, f"{field} is required.")
        return None
    if not isinstance(value, str):
        raise invalid(field, f"{field} must be a string.")
    return value


def json_response(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, safe=False)


def no_content() -> HttpResponse:
    return HttpResponse(status=204)
