"""The Django admin is the operator's tool: it shows every application at once and bypasses the
roles that Engage enforces per membership (segments/access.py). So only superusers may open it;
a staff flag, or any model permission, is not enough, and a member of an application (owner,
editor or viewer) changes its data through Engage, where the role is checked on every write."""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class OperatorAdminSite(AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return user.is_active and user.is_staff and user.is_superuser


class OperatorAdminConfig(AdminConfig):
    default_site = "callout.admin.OperatorAdminSite"
