"""Tenancy in one place: a manager reaches an application only through a membership, and every
object is fetched within the current application, so another application's ids answer 404."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from .models import Application


def access_application(user: Any, app_id: int) -> Application:
    application = Application.objects.filter(pk=app_id, memberships__user=user).first()
    if application is None:
        raise Http404("No such application.")
    return application


def applications_of(user: Any) -> list[Application]:
    return list(Application.objects.filter(memberships__user=user).order_by("name", "pk"))


def application_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required; resolves the ``app_id`` URL argument to ``request.application``."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, app_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
        request.application = access_application(request.user, app_id)
        return view(request, *args, **kwargs)

    return wrapper


def get_in_application(queryset: Any, request: HttpRequest, **lookup: Any) -> Any:
    """``get_object_or_404`` restricted to the current application."""
    return get_object_or_404(queryset, application=request.application, **lookup)
