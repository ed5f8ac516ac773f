"""Rate limits of the snippet's API: per public key and per client IP, fixed windows.

Each request adds one to two counters, ``(key, window)`` and ``(ip, window)``: shared by every
process through Redis when the default cache is Redis (REDIS_URL; batched, see _Counters),
else in this process's memory (a limit per process). A request over either limit
is refused before its view runs, with 429, Retry-After (the seconds to the window's end) and
the API's JSON error (experiences/api.py adds CORS). Limits come from settings (API_RATE_LIMIT_KEY,
API_RATE_LIMIT_IP, API_RATE_WINDOW; 0 turns one off) and are read per request, so tests and
benchmarks can change them.

A fixed window lets a client send up to twice a limit across a window's edge; for a limit
meant to stop floods rather than meter use, one counter per window (one round trip) is worth
it over a sliding log.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, JsonResponse

from .clientip import client_ip

logger = logging.getLogger(__name__)

# The public key as the API accepts it, found without parsing the request: in the query string
# (GET) or in the JSON body (POST). A body that spells it otherwise (escapes) is parsed.
_KEY_IN_QUERY = re.compile(r"(?:^|&)key=(pk_[A-Za-z0-9_-]{1,100})(?:&|$)")
_KEY_IN_BODY = re.compile(rb'"key"\s*:\s*"(pk_[A-Za-z0-9_-]{1,100})"')
_PUBLIC_KEY = re.compile(r"pk_[A-Za-z0-9_-]{1,100}")
MAX_BODY = 64 * 1024  # the API's own body limit (docs/api.md)


def public_key(request: HttpRequest) -> str | None:
    if request.method == "GET":
        found = _KEY_IN_QUERY.search(request.META.get("QUERY_STRING", ""))
        return found.group(1) if found else None
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if declared > MAX_BODY:  # the view refuses it unread (413): do not read it here either
        return None
    try:
        body = request.body
    except Exception:  # unreadable: the view answers that; count the IP only
        return None
    found = _KEY_IN_BODY.search(body)
    if found:
        return found.group(1).decode()
    if b'"key"' not in body and b"\\u" not in body:
        return None
    try:
        key = json.loads(body).get("key")
    except (ValueError, AttributeError, RecursionError):
        return None
    return key if isinstance(key, str) and _PUBLIC_KEY.fullmatch(key) else None


class _Counters:
    """This process's view of the window's counters.

    Without Redis they are the counters. With Redis, increments collect here and go to Redis
    in one pipeline (INCRBY and EXPIRE per counter) at most every SYNC_SECONDS, or at once
    when a counter would pass its limit, so that a refusal is decided on the shared total; a
    counter Redis has shown over its limit is refused locally until its window ends. A serve
    pays a Redis round trip about ten times a second per process instead of on every request
    (measured: +0.25 ms a request otherwise); the shared total lags by at most SYNC_SECONDS of
    each process's traffic.
    """

    SYNC_SECONDS = 0.1
    # After Redis failed, count locally this long before trying again: each try can cost a
    # request REDIS_TIMEOUT.
    BACKOFF_SECONDS = 5.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slot = 0
        self.pending: dict[str, int] = {}  # not yet in Redis
        self.shared: dict[str, int] = {}  # Redis's total when last seen
        self.synced_at = 0.0

    def add(self, counters: list[tuple[str, int]], ttl: int, slot: int, now: float) -> bool:
        """Counts one request on each counter; False when one is over its limit."""
        backend: Any = caches["default"]
        redis_cache = getattr(backend, "_cache", None)
        shared = redis_cache is not None and hasattr(redis_cache, "get_client")
        with self.lock:
            if self.slot != slot:  # a new window: the old counters are done with
                self.pending.clear()
                self.shared.clear()
                self.slot = slot
            for name, _ in counters:
                self.pending[name] = self.pending.get(name, 0) + 1
            over = [
                name
                for name, limit in counters
                if self.shared.get(name, 0) + self.pending[name] > limit
            ]
            if not shared or now < self.synced_at:  # no Redis, or backing off after a failure
                return not over
            if all(self.shared.get(name, 0) > limit for name, limit in counters if name in over):
                if over:  # already known over: no need to ask
                    return False
                if now - self.synced_at < self.SYNC_SECONDS:
                    return True
            batch, self.pending = self.pending, {}
            self.synced_at = now
        try:
            totals = self._send(backend, redis_cache, batch, ttl)
        except Exception:
            with self.lock:  # keep the increments for the next try, after a pause
                for name, count in batch.items():
                    self.pending[name] = self.pending.get(name, 0) + count
                self.synced_at = now + self.BACKOFF_SECONDS
            raise
        with self.lock:
            if self.slot == slot:
                self.shared.update(totals)
        return all(totals.get(name, 0) <= limit for name, limit in counters)

    @staticmethod
    def _send(backend: Any, redis_cache: Any, batch: dict[str, int], ttl: int) -> dict[str, int]:
        pipe = redis_cache.get_client(write=True).pipeline(transaction=False)
        names = list(batch)
        for name in names:
            key = backend.make_and_validate_key(name)
            pipe.incrby(key, batch[name])
            pipe.expire(key, ttl, nx=True)
        return dict(zip(names, (int(v) for v in pipe.execute()[::2]), strict=True))


_counters = _Counters()


def retry_after(request: HttpRequest) -> int | None:
    """None when the request is within its limits; else the seconds until it may retry."""
    per_key, per_ip = settings.API_RATE_LIMIT_KEY, settings.API_RATE_LIMIT_IP
    if request.method == "OPTIONS" or (per_key <= 0 and per_ip <= 0):
        return None
    window = settings.API_RATE_WINDOW
    now = time.time()
    slot = int(now // window)
    counters: list[tuple[str, int]] = []
    if per_ip > 0:
        counters.append((f"rl:ip:{client_ip(request)}:{slot}", per_ip))
    key = public_key(request) if per_key > 0 else None
    if key is not None:
        counters.append((f"rl:key:{key}:{slot}", per_key))
    if not counters:
        return None
    try:
        within = _counters.add(counters, window + 1, slot, now)
    except Exception:  # the cache is down: serve (fail open) rather than refuse everyone
        logger.warning("rate limit counters unavailable", exc_info=True)
        return None
    if within:
        return None
    return max(1, math.ceil((slot + 1) * window - now))


def refused(wait: int) -> JsonResponse:
    """The API's 429, in its JSON error shape (the API view adds CORS)."""
    response = JsonResponse(
        {
            "error": {
                "code": "rate_limited",
                "message": f"Too many requests; retry in {wait} s.",
            }
        },
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response
