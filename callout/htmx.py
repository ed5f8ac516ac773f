"""One rule, for every Engage screen, for when htmx gets a region rather than the page.

A view renders ``page.html`` whole, or, asked by htmx for one region, only that region's
``{% partialdef %}`` (``page.html#fragment``). The region is asked for when the request is
htmx's own (not a boosted link, not a history restore, which both need the whole page) and it
targets that region: ``hx-target="#fragment"``, or no element with an id. A target elsewhere
on the page gets the whole page, never a fragment swapped into the wrong place.
"""

from django.http import HttpRequest


def wants_fragment(request: HttpRequest, target: str) -> bool:
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.boosted or htmx.history_restore_request:
        return False
    return htmx.target in (None, target)


def template_for(
    request: HttpRequest, template: str, fragment: str, *, target: str | None = None
) -> str:
    """``template#fragment`` when htmx asks for the region ``#target`` (by default the
    fragment's own name), else ``template``."""
    if wants_fragment(request, target or fragment):
        return f"{template}#{fragment}"
    return template
