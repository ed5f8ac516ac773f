"""The client's IP address, for login throttling (django-axes) and the API's rate limits.

Behind a reverse proxy every request comes from the proxy's address: PROXY_COUNT (the number
of proxies in front of gunicorn that append to X-Forwarded-For, e.g. 1 for nginx's
``$proxy_add_x_forwarded_for``) says which entry of X-Forwarded-For the nearest trusted proxy
saw. Entries further left are whatever the client sent, so they are never trusted.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR") or ""
    hops = settings.PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    # The last proxy appended the address it saw: the hops-th entry from the right.
    return forwarded[-hops] if len(forwarded) >= hops else remote
