from django.urls import path

from . import app_settings, install, views
from .models import TraitDefinition
from .views import audit, export

COMPANY = TraitDefinition.Scope.COMPANY

app_name = "segments"

# The sidebar marks Traits for url names starting "trait", Events for "event", Users for
# "user", Companies for "compan", Members for "member", Install for "install", "rotate_keys"
# and "set_identity_verification", Settings for "app_settings", Audit log for "audit", else
# Segments.
urlpatterns = [
    path("segments/", views.segment_list, name="list"),
    path("segments/new/", views.segment_create, name="create"),
    path("segments/preview/", views.segment_preview, name="preview"),
    path("segments/rule-row/", views.segment_rule_row, name="rule_row"),
    path("segments/node/", views.segment_node, name="node"),
    path("segments/<int:pk>/", views.segment_detail, name="detail"),
    path("segments/<int:pk>/members.csv", export.segment_members_csv, name="segment_members_csv"),
    path("segments/<int:pk>/edit/", views.segment_edit, name="edit"),
    path("segments/<int:pk>/delete/", views.segment_delete, name="delete"),
    path("segments/<int:pk>/history/", views.segment_history, name="history"),
    path(
        "segments/<int:pk>/history/<int:number>/restore/",
        views.segment_restore,
        name="restore",
    ),
    path("traits/", views.trait_list, name="traits"),
    path("traits/new/", views.trait_create, name="trait_create"),
    path("traits/company/", views.trait_list, {"scope": COMPANY}, name="traits_company"),
    path(
        "traits/company/new/", views.trait_create, {"scope": COMPANY}, name="trait_create_company"
    ),
    path("traits/<int:pk>/", views.trait_row, name="trait_row"),
    path("traits/<int:pk>/edit/", views.trait_edit, name="trait_edit"),
    path("traits/<int:pk>/delete/", views.trait_delete, name="trait_delete"),
    path("events/", views.event_list, name="events"),
    path("events/new/", views.event_create, name="event_create"),
    path("events/<int:pk>/", views.event_row, name="event_row"),
    path("events/<int:pk>/edit/", views.event_edit, name="event_edit"),
    path("events/<int:pk>/delete/", views.event_delete, name="event_delete"),
    path("users/", views.user_list, name="users"),
    path("users/<int:pk>/", views.user_detail, name="user_detail"),
    path("companies/", views.company_list, name="companies"),
    path("companies/<int:pk>/", views.company_detail, name="company_detail"),
    path("settings/", app_settings.app_settings, name="app_settings"),
    path("settings/theme", app_settings.app_theme, name="app_settings_theme"),
    path("audit/", audit.audit_log, name="audit"),
    path("audit/export.csv", audit.audit_export, name="audit_export"),
    path("members/", views.member_list, name="members"),
    path("members/new/", views.member_add, name="member_add"),
    path("members/<int:pk>/role/", views.member_role, name="member_role"),
    path("members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("invites/<int:pk>/revoke/", views.invite_revoke, name="member_invite_revoke"),
    path("install/", install.install, name="install"),
    path("install/rotate-keys/", install.rotate_keys, name="rotate_keys"),
    path(
        "install/identity-verification/",
        install.set_identity_verification,
        name="set_identity_verification",
    ),
]
