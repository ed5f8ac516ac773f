"""Tenancy and roles in one place: a manager reaches an application only through a membership,
every object is fetched within the current application (another application's ids answer 404),
and the membership's role decides what the manager may write.

Roles rank viewer < editor < owner. ``application_view`` lets every member read (GET, HEAD) and
asks at least an editor for any other method, so a new view that writes is guarded without
anyone remembering to; a view that changes what only owners may change says
``@application_view(write_role=Membership.Role.OWNER)``; a page not every member may read (the
audit log) says ``read_role``.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, overload

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django_htmx.http import trigger_client_event

from .models import Application, Membership

Role = Membership.Role
RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}
# The methods that never change anything (Django's own list, less OPTIONS and TRACE, which
# no Engage view answers).
READ_METHODS = frozenset({"GET", "HEAD"})

View = Callable[..., HttpResponse]


def access_membership(user: Any, app_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("application")
        .filter(application_id=app_id, user_id=getattr(user, "pk", None))
        .first()
    )
    if membership is None:
        raise Http404("No such application.")
    return membership


def applications_of(user: Any) -> list[Application]:
    return list(Application.objects.filter(memberships__user=user).order_by("name", "pk"))


def has_role(membership: Membership | None, role: str) -> bool:
    """At least ``role`` (an owner may do what an editor may, an editor what a viewer may)."""
    return membership is not None and RANK[Role(membership.role)] >= RANK[Role(role)]


def _a(noun: str) -> str:
    noun = noun.lower()
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def forbidden(request: HttpRequest, role: str) -> HttpResponse:
    """403 for a write the member's role does not allow: a page that says which role it needs,
    or, for htmx (which does not swap a 403), a ``callout:forbidden`` event that
    static/js/app.js shows in the page's alert region."""
    membership = request.membership
    message = (
        f"You are {_a(Role(membership.role).label)} of {request.application.name}: "
        f"only {_a(Role(role).label)}{'' if role == Role.OWNER else ' or an owner'} can do this."
    )
    if request.htmx:
        response = HttpResponse(message, status=403, content_type="text/plain; charset=utf-8")
        return trigger_client_event(response, "callout:forbidden", {"message": message})
    return render(request, "forbidden.html", {"message": message}, status=403)


@overload
def application_view(view: View) -> View: ...
@overload
def application_view(
    *, write_role: str = Role.EDITOR, read_role: str = Role.VIEWER
) -> Callable[[View], View]: ...
def application_view(
    view: View | None = None, *, write_role: str = Role.EDITOR, read_role: str = Role.VIEWER
) -> Any:
    """Login required; resolves the ``app_id`` URL argument to ``request.application`` and
    ``request.membership``; GET / HEAD need at least ``read_role`` (every member, by default),
    any other method at least ``write_role``."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, app_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = access_membership(request.user, app_id)
            request.membership = membership
            request.application = membership.application
            needs = read_role if request.method in READ_METHODS else write_role
            if not has_role(membership, needs):
                return forbidden(request, needs)
            return view(request, *args, **kwargs)

        wrapper.write_role = write_role  # type: ignore[attr-defined]
        wrapper.read_role = read_role  # type: ignore[attr-defined]
        return wrapper

    return decorate(view) if view is not None else decorate


def get_in_application(queryset: Any, request: HttpRequest, **lookup: Any) -> Any:
    """``get_object_or_404`` restricted to the current application."""
    return get_object_or_404(queryset, application=request.application, **lookup)
