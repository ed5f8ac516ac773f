"""Project-level views that belong to no app: the load balancer's health check, the icon,
and docs/api.md as a page (the Install page links it)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from functools import cache as memoize
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check_database() -> None:
    # Runs in its own thread, hence on a connection of its own, opened and closed per probe:
    # what it proves is that a new connection can be made and answers.
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connections.close_all()


def _check_cache() -> None:
    # A round trip through the configured cache (Redis in production): write, read back, delete.
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise RuntimeError("the cache did not return what was written")
    cache.delete(key)


CHECKS: dict[str, Callable[[], None]] = {"database": _check_database, "cache": _check_cache}
# The database check runs in a thread: a frozen server can hold a socket for minutes. The cache
# check runs in the request's thread (Django's caches are per thread), bounded by the Redis
# client's socket timeouts (settings.CACHES).
THREADED = {"database"}


class CheckTimeout(Exception):
    """A check that did not finish within HEALTHZ_TIMEOUT."""


class _Probe:
    """One check running in a daemon thread. A check that hangs (a frozen database) is left
    behind, and the next probe of that check answers "still hung" at once rather than starting
    another: at most one stuck thread per check per process, whatever the probe interval."""

    def __init__(self, check: Callable[[], None]):
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(check,), daemon=True)

    def _run(self, check: Callable[[], None]) -> None:
        try:
            check()
        except BaseException as error:  # reported to the probe, not raised in a stray thread
            self.error = error
        finally:
            self.done.set()


_hung: dict[str, _Probe] = {}
_hung_lock = threading.Lock()


def _start(name: str) -> _Probe | None:
    with _hung_lock:
        previous = _hung.get(name)
        if previous is not None and not previous.done.is_set():
            return None
        probe = _hung[name] = _Probe(CHECKS[name])
    probe.thread.start()
    return probe


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the cache answer, 503 (naming what failed) when one does not.

    The database check runs in a thread with a deadline (HEALTHZ_TIMEOUT seconds, 1.5 by
    default), and Redis has socket timeouts, so the probe answers in time whatever they do: a
    hung database is a 503 naming ``CheckTimeout``. No authentication and no details beyond
    "ok"/"error" and the exception class: it is meant for a load balancer's probe.
    """
    started = time.perf_counter()
    deadline = started + settings.HEALTHZ_TIMEOUT
    probes = {name: _start(name) for name in CHECKS if name in THREADED}
    checks: dict[str, dict[str, object]] = {}
    for name in CHECKS:
        error: BaseException | None = None
        probe = probes.get(name)
        if name not in THREADED:
            try:
                CHECKS[name]()
            except Exception as raised:  # any failure means "not ready", whatever its kind
                error = raised
        elif probe is None:
            error = CheckTimeout("the previous check has not finished")
        elif not probe.done.wait(max(0.0, deadline - time.perf_counter())):
            error = CheckTimeout(f"no answer within {settings.HEALTHZ_TIMEOUT} s")
        else:
            error = probe.error
        failed = {"status": "error", "error": type(error).__name__}
        checks[name] = {"status": "ok"} if error is None else failed
        checks[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    healthy = all(check["status"] == "ok" for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks},
        status=200 if healthy else 503,
    )


@require_GET
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """/favicon.ico, asked for by pages that do not link an icon (the admin's): the one in
    static/, which base.html links."""
    return HttpResponseRedirect(static("favicon.svg"))


SNIPPET_DOCS = Path(settings.BASE_DIR) / "docs" / "api.md"


def _anchor(title: str) -> str:
    """A heading's anchor as GitHub spells it, so that the document's own links work."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


@memoize
def doc_sections(path: Path = SNIPPET_DOCS) -> list[dict[str, object]]:
    """A Markdown document cut at its headings (not at a ``#`` inside a code block): each
    section's level, title, anchor and text, shown as written (no Markdown renderer)."""
    sections: list[dict[str, object]] = [{"level": 1, "title": "", "anchor": "", "lines": []}]
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"(#{1,4}) (.+)", line)
        if heading:
            level, title = len(heading.group(1)), heading.group(2)
            sections.append({"level": level, "title": title, "anchor": _anchor(title), "lines": []})
        else:
            sections[-1]["lines"].append(line)  # type: ignore[union-attr]
    for section in sections:
        section["text"] = "\n".join(section.pop("lines")).strip("\n")  # type: ignore[arg-type]
    return [s for s in sections if s["title"] or s["text"]]


@require_GET
def snippet_docs(request: HttpRequest) -> HttpResponse:
    """docs/api.md, the snippet and its JSON API, as a page."""
    return render(request, "snippet_docs.html", {"sections": doc_sections()})
