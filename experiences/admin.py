"""The operator's admin for experiences and their events; writes go through
``experiences/actions.py`` (see ``segments/admin.py`` for how the forms are validated)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest

from segments.admin import ActionAdmin, ActionCall, fresh

from . import actions
from .models import Event, Experience, Exposure

TARGETING = (
    "name",
    "segments",
    "url_include",
    "url_exclude",
    "frequency",
    "priority",
    "starts_at",
    "ends_at",
)


class ExperienceAdminForm(forms.ModelForm):
    class Meta:
        model = Experience
        fields = ("application", "kind", *TARGETING, "content")
        help_texts = {
            "content": "The kind's JSON content, as docs/experiences.md describes it.",
            "url_include": 'A JSON list of URL patterns: ["/dashboard", "/projects/**"].',
            "url_exclude": "A JSON list of URL patterns; excluded pages win.",
        }


@admin.register(Experience)
class ExperienceAdmin(ActionAdmin):
    form = ExperienceAdminForm
    list_display = ("name", "application", "kind", "status", "audience", "priority", "updated_at")
    list_filter = ("kind", "status", "application", "frequency")
    search_fields = ("name",)
    filter_horizontal = ("segments",)
    actions = ("publish", "unpublish")

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Experience]:
        return (
            super().get_queryset(request).select_related("application").prefetch_related("segments")
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (
            "application",
            "kind",
            "status",
            *TARGETING,
            "content",
            "published_at",
            "created_at",
            "updated_at",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Status changes through the publish / unpublish actions; the kind is fixed at creation.
        base = ("status", "published_at", "created_at", "updated_at")
        return ("application", "kind", *base) if obj else base

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        if db_field.name == "segments":
            obj_id = request.resolver_match.kwargs.get("object_id")
            if obj_id:  # this application's segments only
                application_id = Experience.objects.filter(pk=obj_id).values("application_id")
                kwargs["queryset"] = db_field.related_model.objects.filter(
                    application_id__in=application_id
                ).select_related("application")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description="Audience")
    def audience(self, experience: Experience) -> str:
        return " OR ".join(s.name for s in experience.segments.all()) or "Nobody"

    def action_call(self, data: dict[str, Any], instance: Any, change: bool) -> ActionCall:
        fields = {name: data.get(name) for name in TARGETING}
        fields["segments"] = list(fields["segments"] or [])
        fields["content"] = data.get("content")
        for name in ("url_include", "url_exclude"):
            if fields[name] is None:
                fields[name] = []
        if change:
            return actions.experience_update, {"experience": fresh(instance), **fields}
        return actions.experience_create, {
            "application": data["application"],
            "kind": data["kind"],
            **fields,
        }

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The action has set the segments already; the admin's save_m2m would set them again.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Experience) -> None:
        actions.experience_delete(experience=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for experience in queryset:
            actions.experience_delete(experience=experience)

    @admin.action(description="Publish (refused when nobody is in the audience)")
    def publish(self, request: HttpRequest, queryset: Any) -> None:
        for experience in queryset:
            try:
                actions.experience_publish(experience=experience)
            except ValidationError as error:
                self.message_user(
                    request, f"{experience}: {' '.join(error.messages)}", level=messages.ERROR
                )
            else:
                self.message_user(request, f"{experience}: published.")

    @admin.action(description="Unpublish (back to draft)")
    def unpublish(self, request: HttpRequest, queryset: Any) -> None:
        for experience in queryset:
            actions.experience_unpublish(experience=experience)
        self.message_user(request, f"{queryset.count()} experience(s) back to draft.")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """What the snippet reported: read-only evidence."""

    list_display = ("created_at", "type", "step", "experience", "end_user", "application")
    list_filter = ("type", "application", "experience__kind")
    search_fields = ("end_user__external_id", "experience__name")
    list_select_related = ("experience", "end_user", "application")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Exposure)
class ExposureAdmin(EventAdmin):
    """Who was eligible for a measured experience, in which group, and when they converted (a
    page goal): read-only evidence behind the results."""

    list_display = ("eligible_at", "group", "experience", "end_user", "converted_at")
    list_filter = ("group", "application")
    list_select_related = ("experience", "end_user")
    date_hierarchy = "eligible_at"
