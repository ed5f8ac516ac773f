from typing import Any

from django.http import HttpRequest

from .access import Role, applications_of, has_role


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The application switcher (the current application and the others the manager may open),
    and what the manager's role lets the page offer: ``can_edit`` (create, edit, delete,
    publish) and ``is_owner`` (keys, identity verification)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = getattr(request, "membership", None)
    return {
        "current_application": getattr(request, "application", None),
        "my_applications": applications_of(user),
        "membership": membership,
        "can_edit": has_role(membership, Role.EDITOR),
        "is_owner": has_role(membership, Role.OWNER),
    }
