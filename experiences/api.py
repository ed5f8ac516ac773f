"""The JSON API the snippet calls from the customer's site (documented in docs/api.md).

Authentication is the application's public key, so there is no CSRF to protect against and
every response, errors included, carries CORS headers for any origin. Bodies are JSON sent as
``text/plain`` or ``application/json`` (text/plain needs no preflight in the browser).
Every failure is a JSON error with the right status; nothing is written unless the whole
request is valid.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from callout import dbwatch, ratelimit
from segments.actions import end_user_clean, end_user_identify
from segments.traits import MAX_ID

from . import targeting
from .models import Event
from .targeting import Targeting, Visitor

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_URL = 4096
MAX_STEP = 10_000

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return JsonResponse({"error": error}, status=status)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", message, field)


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


def _text(
    data: dict[str, Any], field: str, *, max_length: int, required: bool = True
) -> str | None:
    value = data.get(field)
    if value is None:
        if required:
            raise invalid(field, f"{field} is required.")
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise invalid(field, f"{field} must be text of 1 to {max_length} characters.")
    if "\x00" in value:
        raise invalid(field, f"{field} contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(field, f"{field} is not valid Unicode.") from None
    return value


def _query_id(data: dict[str, Any]) -> str:
    return _text(data, "id", max_length=MAX_ID)  # type: ignore[return-value]


def _user_id(data: dict[str, Any]) -> str:
    value = data.get("id")
    # Many apps number their users: an integer id is taken as its decimal text.
    if isinstance(value, int) and not isinstance(value, bool):
        data = {**data, "id": str(value)}
    return _text(data, "id", max_length=MAX_ID)  # type: ignore[return-value]


def _key(data: dict[str, Any]) -> str:
    key = data.get("key")
    if key is None or key == "":
        raise invalid("key", "key (the application's public key) is required.")
    if not isinstance(key, str):
        raise invalid("key", "key must be text.")
    return key


def _unknown_key() -> ApiError:
    return ApiError(401, "unknown_key", "No application has this public key.", "key")


def _application_and_user(
    data: dict[str, Any], read_id: Callable[[dict[str, Any]], str]
) -> tuple[Targeting, str, Visitor]:
    """The application (401 first, whatever else is wrong), the user id (400) and the user as
    the serve sees them, in one query (``targeting.lookup``)."""
    key = _key(data)
    try:
        user_id = read_id(data)
    except ApiError:
        # An unknown key answers 401 before a bad id answers 400.
        if targeting.targeting_for_key(key) is None:
            raise _unknown_key() from None
        raise
    found = targeting.lookup(key, user_id)
    if found is None:
        raise _unknown_key()
    return found[0], user_id, found[1]


def user_hash(secret_key: str, user_id: str) -> str:
    """What the customer's server computes: hex HMAC-SHA256 of the user id with the secret key."""
    return hmac.new(secret_key.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def _verify(app: Targeting, user_id: str, data: dict[str, Any]) -> None:
    if not app.application.require_user_hash:
        return
    given = data.get("user_hash")
    # A hex digest is ASCII: anything else (a lone surrogate cannot even be encoded) is wrong.
    if (
        not isinstance(given, str)
        or not given.isascii()
        or not hmac.compare_digest(
            given.lower().encode(), user_hash(app.application.secret_key, user_id).encode()
        )
    ):
        raise ApiError(
            403,
            "identity_verification_failed",
            "This application requires user_hash: the hex HMAC-SHA256 of the user id with "
            "the application's secret key."
            + (" It is missing." if given is None else " It does not match."),
            "user_hash",
        )


def _url(data: dict[str, Any], *, required: bool) -> str | None:
    url = _text(data, "url", max_length=MAX_URL, required=required)
    if url is not None:
        try:
            targeting.parse_url(url)
        except ValueError:
            raise invalid("url", "url is not a valid URL.") from None
    return url


def _known(visitor: Visitor, user_id: str) -> int:
    if visitor.id is None:
        raise ApiError(404, "unknown_user", f"No user {user_id!r}: identify the user first.", "id")
    return visitor.id


def _experiences(app: Targeting, user: Visitor, url: str) -> str:
    """The served experiences as a JSON array: each one was encoded once, when compiled."""
    served = targeting.decide(
        app, end_user_id=user.id, traits=user.traits, url=url, history=user.history, explain=False
    )
    return "[" + ", ".join(e.json for e in served) + "]"


_encode = DjangoJSONEncoder().encode  # one encoder, not one per response (json.dumps(cls=))


def _json_response(fields: dict[str, Any], experiences: str | None = None) -> HttpResponse:
    """What ``JsonResponse(fields | {"experiences": [...]})`` answers, byte for byte, with the
    experiences spliced in already encoded."""
    body = _encode(fields)
    if experiences is not None:
        separator = ", " if fields else ""
        body = f'{body[:-1]}{separator}"experiences": {experiences}}}'
    return HttpResponse(body, content_type="application/json")


# --- Endpoints ---------------------------------------------------------------------------


def _identify_at_once(data: dict[str, Any]) -> tuple[Targeting, str, Visitor] | None:
    """identify in one statement (``targeting.identify_and_lookup``), checked against the
    targeting this process already holds for the key; the statement writes only if that is
    still the application's current one. None, with nothing written, to take the general
    path, which also answers every error: on the first call of a process for an application,
    after an edit, with a new trait key (its definition is created there), or when anything
    is wrong with the call (the general path checks it again, on fresh data)."""
    app = targeting.known_targeting(data.get("key"))
    if app is None:
        return None
    try:
        user_id = _user_id(data)
        _verify(app, user_id, data)
        _url(data, required=False)
        traits = data.get("traits")
        changes = end_user_clean(external_id=user_id, traits={} if traits is None else traits)
    except (ApiError, ValidationError):
        return None
    if any(key not in app.trait_keys for key, value in changes.items() if value is not None):
        return None
    visitor = targeting.identify_and_lookup(app, user_id, changes)
    return None if visitor is None else (app, user_id, visitor)


def _identify_in_steps(data: dict[str, Any]) -> tuple[Targeting, str, Visitor]:
    """identify's general path: the lookup (which also refreshes this process's targeting),
    every check with its error, then the write, creating definitions for new trait keys."""
    app, user_id, visitor = _application_and_user(data, _user_id)
    _verify(app, user_id, data)
    _url(data, required=False)
    traits = data.get("traits")
    try:
        user = end_user_identify(
            application=app.application,
            external_id=user_id,
            traits={} if traits is None else traits,
            known_traits=app.trait_keys,
        )
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise invalid(field, messages[0]) from None
    if traits and any(k not in app.trait_keys and v is not None for k, v in traits.items()):
        # New trait definitions were bulk-created (no signal): recompile with them.
        targeting.invalidate(app.application.pk)
    # The history read before the write is still the user's: identify records no event.
    return app, user_id, Visitor(user.pk, user.traits, visitor.history)


@api_view("POST")
def identify(request: HttpRequest) -> HttpResponse:
    data = json_body(request)
    app, user_id, user = _identify_at_once(data) or _identify_in_steps(data)
    body = {"id": user_id, "traits": user.traits}
    url = data.get("url")  # checked on either path
    if url is None:
        return _json_response(body)
    return _json_response(body, _experiences(app, user, url))


@api_view("GET")
def experiences(request: HttpRequest) -> HttpResponse:
    data = query(request)
    app, user_id, visitor = _application_and_user(data, _query_id)
    _verify(app, user_id, data)
    url = _url(data, required=True)
    _known(visitor, user_id)
    return _json_response({"id": user_id}, _experiences(app, visitor, url))


@api_view("POST")
def events(request: HttpRequest) -> HttpResponse:
    data = json_body(request)
    app, user_id, visitor = _application_and_user(data, _user_id)
    _verify(app, user_id, data)
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
    end_user_id = _known(visitor, user_id)
    try:
        event = Event.objects.create(
            application_id=app.application.pk,
            end_user_id=end_user_id,
            experience_id=experience_id,
            type=kind,
            step=step,
        )
    except IntegrityError:  # the experience was deleted a moment ago
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
