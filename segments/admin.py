"""The operator's admin for applications, traits, users, companies, event names, events and
segments.

Writes go through ``segments/actions.py`` as in the UI, and each save runs its action once:
while the form is validated (in a savepoint), so the admin refuses exactly what the UI refuses,
with the same messages shown next to the fields; ``save_model`` then only records what the
action saved. Should the admin not save after all (another part of the page has errors), the
whole request is rolled back (``ActionOnce.changeform_view``): nothing is half-written. The
built-in Everyone segment is read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, router, transaction
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from . import actions, audit, events
from .models import (
    Application,
    AuditEntry,
    Company,
    CompanyUsersRule,
    EndUser,
    EventDefinition,
    Invite,
    Membership,
    Rule,
    Segment,
    TrackedEvent,
    TraitDefinition,
)

ActionCall = tuple[Callable[..., Any], dict[str, Any]]


def attempt(action: Callable[..., Any], **kwargs: Any) -> tuple[Any, dict[str, list[str]]]:
    """``action(**kwargs)`` in a savepoint: what it returned and no errors, or None and its
    errors by field with nothing written."""
    try:
        with transaction.atomic():
            return action(**kwargs), {}
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            return None, error.message_dict
        return None, {NON_FIELD_ERRORS: error.messages}


# Set on the request once the admin has saved what the action wrote (``saved``).
SAVED = "_callout_admin_saved"


def mark_saved(request: HttpRequest) -> None:
    setattr(request, SAVED, True)


class ActionOnce(admin.ModelAdmin):
    """The add / change page of an admin whose action runs while the form is validated."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method != "POST":
            return super().changeform_view(request, object_id, form_url, extra_context)
        with transaction.atomic(using=router.db_for_write(self.model)):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if not getattr(request, SAVED, False):
                # Shown again with errors: what the action wrote while validating goes.
                transaction.set_rollback(True)
        return response


def fresh(instance: models.Model) -> models.Model:
    """The stored row: an action may change the object it is given, even in a dry run."""
    return type(instance)._default_manager.get(pk=instance.pk)


class ActionAdmin(ActionOnce):
    """A ModelAdmin whose add and change go through an action.

    Subclasses implement ``action_call(cleaned_data, instance, change)`` returning the action
    and its keyword arguments (on change, read stored values with ``fresh(instance)``: the
    instance may already hold the form's values). ``error_fields`` maps an action's error key
    to a form field when their names differ; the first part of a dotted key is tried too
    (``content.steps.1.title`` lands on ``content``).
    """

    error_fields: dict[str, str] = {}

    def action_call(self, data: dict[str, Any], instance: Any, change: bool) -> ActionCall:
        raise NotImplementedError

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class ActionForm(form_class):  # type: ignore[misc, valid-type]
            saved: Any = None

            def clean(self) -> dict[str, Any]:
                data = super().clean()
                if not self.errors:
                    action, arguments = model_admin.action_call(data, self.instance, change)
                    self.saved, errors = attempt(action, **arguments)
                    for key, messages_ in errors.items():
                        self.add_error(model_admin.error_field(key, self), messages_)
                return data

            # The action has checked names, keys and constraints, and holds its row already:
            # the model's own checks would find that very row and call it a duplicate.
            def validate_unique(self) -> None:
                pass

            def validate_constraints(self) -> None:
                pass

        return ActionForm

    def error_field(self, key: str, form: forms.Form) -> str | None:
        for candidate in (key, key.split(".")[0]):
            field = self.error_fields.get(candidate, candidate)
            if field in form.fields:
                return field
        return None

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The action ran while the form was validated (``ActionForm.clean``).
        if not change:  # the admin logs and links the object it holds
            obj.pk, obj._state.adding, obj._state.db = form.saved.pk, False, form.saved._state.db
        mark_saved(request)


# --- Applications ------------------------------------------------------------------------


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


def mask(secret: str) -> str:
    return f"{secret[:5]}…{secret[-4:]}" if secret else ""


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    # An application has no rule beyond its fields; its model save() creates the Everyone
    # segment whichever path creates it, so the admin saves it plainly.
    list_display = ("name", "public_key", "secret", "member_count", "created_at")
    search_fields = ("name", "public_key")
    fields = ("name", "require_user_hash", "public_key", "secret", "created_at")
    readonly_fields = ("public_key", "secret", "created_at")
    inlines = (MembershipInline,)
    actions = ("rotate_keys",)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Application]:
        return super().get_queryset(request).annotate(members_total=models.Count("memberships"))

    @admin.display(description="Secret key")
    def secret(self, application: Application) -> str:
        return mask(application.secret_key)

    @admin.display(description="Members", ordering="members_total")
    def member_count(self, application: Application) -> int:
        return application.members_total

    @admin.action(description="Rotate the public and secret keys")
    def rotate_keys(self, request: HttpRequest, queryset: models.QuerySet[Application]) -> None:
        for application in queryset:
            actions.application_rotate_keys(application=application)
        self.message_user(request, f"New keys for {queryset.count()} application(s).")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "application", "role")
    list_filter = ("application", "role")
    search_fields = ("user__username", "user__email", "application__name")
    autocomplete_fields = ("user",)

    # Role changes here are the admin's own writes (not an action's): recorded as Engage's are.
    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        before = form.initial.get("role") if change else None
        super().save_model(request, obj, form, change)
        if not change:
            summary = f"Added {obj.user.get_username()} as {obj.role}"
            audit.record(
                application=obj.application, action="member.added", obj=obj, summary=summary
            )
        elif before != obj.role:
            summary = audit.role_changed(obj.user, before, obj.role)
            audit.record(
                application=obj.application, action="member.role_changed", obj=obj, summary=summary
            )

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Membership]) -> None:
        for membership in queryset.select_related("user", "application"):
            self.delete_model(request, membership)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        summary = f"Removed {obj.user.get_username()} ({obj.role})"
        audit.record(application=obj.application, action="member.removed", obj=obj, summary=summary)
        super().delete_model(request, obj)


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    """Invites are made, revoked and accepted in Engage (Setup > Members, ``/invite/<token>/``)
    through their actions: the admin only shows them."""

    list_display = ("invitee", "application", "role", "created_by", "expires_at", "accepted_at")
    list_filter = ("application", "role")
    search_fields = ("email", "username", "application__name")
    exclude = ("digest",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Traits and users --------------------------------------------------------------------


@admin.register(TraitDefinition)
class TraitDefinitionAdmin(ActionAdmin):
    """Trait definitions of users and of companies (``scope``, a user trait unless chosen)."""

    list_display = ("key", "scope", "label", "type", "application", "auto_discovered", "updated_at")
    list_filter = ("scope", "type", "application", "auto_discovered")
    search_fields = ("key", "label", "description")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The key is what the snippet sends: renaming it (or moving it to the other scope)
        # would orphan every stored value.
        return ("application", "scope", "key", "auto_discovered") if obj else ("auto_discovered",)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "scope" in form.base_fields:  # the add page: left out, a user trait as before
            form.base_fields["scope"].required = False
        return form

    def action_call(self, data: dict[str, Any], instance: Any, change: bool) -> ActionCall:
        fields = {k: data.get(k, "") for k in ("type", "label", "description")}
        if change:
            return actions.trait_definition_update, {"trait": fresh(instance), **fields}
        return actions.trait_definition_create, {
            "application": data["application"],
            "scope": data.get("scope") or TraitDefinition.Scope.USER,
            "key": data["key"],
            **fields,
        }

    def delete_model(self, request: HttpRequest, obj: TraitDefinition) -> None:
        actions.trait_definition_delete(trait=obj)


class TraitsField(forms.JSONField):
    def validate(self, value: Any) -> None:
        super().validate(value)
        if not isinstance(value, dict):
            raise ValidationError('Traits are a JSON object: {"plan": "free"}.')


@admin.register(EndUser)
class EndUserAdmin(ActionAdmin):
    list_display = (
        "external_id",
        "application",
        "company",
        "traits_summary",
        "first_seen",
        "last_seen",
    )
    list_filter = ("application",)
    list_select_related = ("application", "company")
    # "free" finds users whose traits contain it (a value or a key), as does "plan".
    search_fields = ("external_id", "traits")
    # The activity summary is written by tracking only (segments/activity.py); the company by
    # identify and the imports, which move a user between companies (a select here would
    # list every company of every application, and identify, which the form saves through,
    # does not read it).
    readonly_fields = ("first_seen", "last_seen", "activity", "company")
    error_fields = {"id": "external_id"}
    formfield_overrides = {models.JSONField: {"form_class": TraitsField}}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        base = ("first_seen", "last_seen", "activity", "company")
        return ("application", "external_id", *base) if obj else base

    @admin.display(description="Traits")
    def traits_summary(self, user: EndUser) -> str:
        text = ", ".join(f"{k}: {v}" for k, v in sorted(user.traits.items()))
        return text if len(text) <= 80 else text[:79] + "…"

    def action_call(self, data: dict[str, Any], instance: Any, change: bool) -> ActionCall:
        traits = data.get("traits") or {}
        if change:
            stored = fresh(instance)
            # identify merges: a trait left out of the form is removed with null.
            removed = {key: None for key in stored.traits if key not in traits}
            return actions.end_user_identify, {
                "application": stored.application,
                "external_id": stored.external_id,
                "traits": {**removed, **traits} if isinstance(traits, dict) else traits,
            }
        return actions.end_user_identify, {
            "application": data["application"],
            "external_id": data["external_id"],
            "traits": traits,
        }


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    """Companies, to look at: identify and the imports write them (merging their traits, as a
    user's); a company's users are one link away (a list of thousands has no place inline)."""

    list_display = ("external_id", "application", "users", "traits_summary", "last_seen")
    list_filter = ("application",)
    list_select_related = ("application",)
    search_fields = ("external_id",)
    fields = ("application", "external_id", "traits", "users", "first_seen", "last_seen")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Company]:
        return super().get_queryset(request).annotate(users_total=models.Count("users"))

    @admin.display(description="Users", ordering="users_total")
    def users(self, company: Company) -> str:
        url = reverse("admin:segments_enduser_changelist")
        return format_html(
            '<a href="{}?company__id__exact={}">{}</a>', url, company.pk, company.users_total
        )

    @admin.display(description="Traits")
    def traits_summary(self, company: Company) -> str:
        text = ", ".join(f"{k}: {v}" for k, v in sorted(company.traits.items()))
        return text if len(text) <= 80 else text[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Events ------------------------------------------------------------------------------


@admin.register(EventDefinition)
class EventDefinitionAdmin(ActionAdmin):
    list_display = ("name", "application", "auto_discovered", "description", "updated_at")
    list_filter = ("application", "auto_discovered")
    search_fields = ("name", "description")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The name is what the app sends: renaming it would orphan its events and rules.
        return ("application", "name", "auto_discovered") if obj else ("auto_discovered",)

    def action_call(self, data: dict[str, Any], instance: Any, change: bool) -> ActionCall:
        description = data.get("description", "")
        if change:
            return events.event_definition_update, {
                "event": fresh(instance),
                "description": description,
            }
        return events.event_definition_create, {
            "application": data["application"],
            "name": data["name"],
            "description": description,
        }

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        # A name that rules use is refused as a protected object: the admin's delete page
        # then lists those segments instead of offering to delete.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for event in objs:
            for segment in events.segments_using_event(
                application=event.application, name=event.name
            ):
                protected.append(f'Segment "{segment.name}" (a rule on "{event.name}")')
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: EventDefinition) -> None:
        events.event_definition_delete(event=obj)

    def delete_queryset(
        self, request: HttpRequest, queryset: models.QuerySet[EventDefinition]
    ) -> None:
        for event in queryset:
            events.event_definition_delete(event=event)


@admin.register(TrackedEvent)
class TrackedEventAdmin(admin.ModelAdmin):
    """Raw events, to look at: they are written by tracking only (with the users' activity
    summary, which a change here would leave behind) and removed by retention."""

    list_display = ("name", "end_user", "application", "timestamp", "received_at")
    list_filter = ("application",)
    search_fields = ("name", "end_user__external_id", "event_id")
    list_select_related = ("application", "end_user")
    date_hierarchy = "timestamp"
    # The user as a plain read-only link: a select of every user would load them all.
    raw_id_fields = ("end_user",)
    show_full_result_count = False  # no COUNT(*) over millions of rows on every page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Segments ----------------------------------------------------------------------------


class RuleForm(forms.ModelForm):
    # Typed as a product manager would: free, 10, 7, "free, pro" for a list.
    value = forms.CharField(required=False, help_text="A list is comma separated.")

    class Meta:
        model = Rule
        fields = ("trait", "operator", "value", "case_sensitive")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        value = self.instance.value if self.instance.pk else None
        if isinstance(value, list):
            self.initial["value"] = ", ".join(str(v) for v in value)
        elif value is not None:
            self.initial["value"] = str(value)


class RuleFormSet(BaseInlineFormSet):
    """Validates the segment and its rules together by running the segment action (once; its
    result is ``saved``, which ``SegmentAdmin.save_related`` records)."""

    saved: Segment | None = None

    def rules(self) -> list[dict[str, Any]]:
        return [
            {
                "trait": form.cleaned_data["trait"],
                "operator": form.cleaned_data.get("operator"),
                "value": form.cleaned_data.get("value"),
                "case_sensitive": form.cleaned_data.get("case_sensitive"),
            }
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("trait")
        ]

    def clean(self) -> None:
        super().clean()
        segment = self.instance
        if any(form.errors for form in self.forms) or segment.application_id is None:
            return
        fields = {"name": segment.name, "description": segment.description, "rules": self.rules()}
        if segment.pk:
            self.saved, errors = attempt(actions.segment_update, segment=fresh(segment), **fields)
        else:
            self.saved, errors = attempt(
                actions.segment_create, application=segment.application, **fields
            )
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        problems = []
        for key, messages_ in errors.items():
            parts = key.split(".")
            if parts[0] == "rules" and len(parts) == 3 and int(parts[1]) < len(kept):
                form = kept[int(parts[1])]
                form.add_error(parts[2] if parts[2] in form.fields else None, messages_)
            else:
                problems.extend(messages_)
        if problems:
            raise ValidationError(problems)


class RuleInline(admin.TabularInline):
    model = Rule
    form = RuleForm
    formset = RuleFormSet
    extra = 1
    fields = ("trait", "operator", "value", "case_sensitive")
    ordering = ("position", "pk")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:  # this application's traits only
            formset.form.base_fields["trait"].queryset = obj.application.trait_definitions.users()
        return formset


class CompanyUsersRuleInline(admin.TabularInline):
    """The segment's "N users of the company in SEGMENT" nodes, to look at (a segment that has
    one is a tree, edited in the builder)."""

    model = CompanyUsersRule
    fk_name = "segment"
    fields = ("operator", "value", "target", "group", "position")
    readonly_fields = fields
    extra = 0
    verbose_name = "company users condition"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Segment)
class SegmentAdmin(ActionOnce):
    list_display = ("name", "application", "rules_in_words", "is_builtin", "updated_at")
    list_filter = ("application", "is_builtin")
    search_fields = ("name", "description")
    inlines = (RuleInline,)
    fields = ("application", "name", "description", "is_builtin")
    readonly_fields = ("is_builtin",)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Segment]:
        return super().get_queryset(request).prefetch_related("rules__trait")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("application", "is_builtin") if obj else ("is_builtin",)

    @admin.display(description="Rules")
    def rules_in_words(self, segment: Segment) -> str:
        return segment.describe()

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        # Only on a tree's page, which is read-only: a form posted to the add or change page
        # of a flat segment carries the rule rows alone.
        if obj is not None and not obj.is_flat:
            return (RuleInline, CompanyUsersRuleInline)
        return self.inlines

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A tree (groups, segment, event, experience or company conditions) is edited in the
        # builder: the rule rows here would save it flat, dropping every other node.
        if obj is not None and (obj.is_builtin or not obj.is_flat):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_builtin:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Segment, form: Any, change: bool) -> None:
        """Saved with its rules in ``save_related``, in one action call."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The action ran while the rules were validated (``RuleFormSet.clean``).
        segment = form.instance
        rule_formset = next(f for f in formsets if isinstance(f, RuleFormSet))
        if not change:
            stored = rule_formset.saved
            segment.pk, segment._state.adding, segment._state.db = (
                stored.pk,
                False,
                stored._state.db,
            )
        mark_saved(request)
        # The admin's change message reads what formset.save() would have recorded.
        rule_formset.new_objects, rule_formset.changed_objects = [], []
        rule_formset.deleted_objects = []

    def delete_model(self, request: HttpRequest, obj: Segment) -> None:
        actions.segment_delete(segment=obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Segment]) -> None:
        # A selection holding Everyone is refused before this (has_delete_permission).
        for segment in queryset:
            actions.segment_delete(segment=segment)


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    """Rules are edited with their segment (one action validates them together)."""

    list_display = ("condition", "segment", "application")
    list_filter = (("segment__application", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("segment__name", "trait__key")
    list_select_related = ("segment__application", "trait")

    @admin.display(description="Rule")
    def condition(self, rule: Rule) -> str:
        return rule.node.describe()  # a company trait's rule says "company plan ..."

    @admin.display(description="Application", ordering="segment__application__name")
    def application(self, rule: Rule) -> Application:
        return rule.segment.application

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CompanyUsersRule)
class CompanyUsersRuleAdmin(admin.ModelAdmin):
    """ "At least N users of the company in SEGMENT" nodes, listed as rules are: edited with
    their segment's definition (the builder, the API)."""

    list_display = ("condition", "segment", "application")
    list_filter = (("segment__application", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("segment__name", "target__name")
    list_select_related = ("segment__application", "target")

    @admin.display(description="Condition")
    def condition(self, rule: CompanyUsersRule) -> str:
        return rule.node.describe({rule.target_id: rule.target.name})

    @admin.display(description="Application", ordering="segment__application__name")
    def application(self, rule: CompanyUsersRule) -> Application:
        return rule.segment.application

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: entries are never added, changed or deleted by hand (manage.py prune_audit
    applies the retention)."""

    list_display = ("at", "application", "actor_name", "via", "action", "object_name", "summary")
    list_filter = ("application", "via", "action")
    search_fields = ("actor_name", "object_name", "summary", "token_name")
    date_hierarchy = "at"
    list_select_related = ("application",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
