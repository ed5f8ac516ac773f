from typing import Any

from django.http import HttpRequest

from .access import applications_of


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The application switcher: the current application and the others the manager may open."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_application": getattr(request, "application", None),
        "my_applications": applications_of(user),
    }
