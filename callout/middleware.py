"""Project-wide middleware: what every Engage and admin page shares."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.middleware import csp
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers

from . import replica

logger = logging.getLogger(__name__)


JSON_API = "/api/v1/"


class ContentSecurityPolicyMiddleware(csp.ContentSecurityPolicyMiddleware):
    """Django's CSP middleware (SECURE_CSP), for every page but the snippet's JSON API: a
    policy governs documents, the API answers JSON that browsers do not render (nosniff), and
    building the header cost the serve 7 us a request (timeit: 11.9 against 4.6). The JSON
    APIs live under /api/v1/; /api/docs/ is a page and gets the policy."""

    def process_request(self, request: HttpRequest) -> None:
        if not request.path.startswith(JSON_API):
            super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if request.path.startswith(JSON_API):
            return response
        return super().process_response(request, response)


class VaryOnHtmxMiddleware:
    """``Vary: HX-Request`` on every page: one URL answers htmx a region (callout/htmx.py) and
    the browser the whole page, and Back to a URL reloaded from the browser's cache (no
    back/forward cache) otherwise showed the region htmx had been given, bare, unstyled."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(JSON_API):
            patch_vary_headers(response, ["HX-Request"])
        return response


class DatabaseUnavailableMiddleware:
    """A database that cannot be reached in DB_CONNECT_TIMEOUT, or a statement PostgreSQL
    cancelled after DB_STATEMENT_TIMEOUT, is an OperationalError: answer a plain 503 page that
    says to try again instead of the generic 500. The snippet's API answers its own JSON 503
    (experiences/api.py) and never gets here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError):
            return None
        if replica.read_replica_in_use() and request.method in replica.SAFE:
            # ReplicaMiddleware runs the request again on the primary.
            request.replica_failed = True  # type: ignore[attr-defined]
        logger.error("database unavailable on %s: %s", request.path, exception)
        # Rendered without the request: context processors would query the database again.
        html = render_to_string("database_unavailable.html")
        response = HttpResponse(html, status=503)
        response["Retry-After"] = "5"
        return response
