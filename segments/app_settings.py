"""The application's Settings page: delivery (docs/experiences.md, Delivery): how many banners
stack at one edge of a page, the caps on experiences started per user per day and per
session, and the application-wide holdout; how long the audit log keeps its entries
(docs/audit.md); and the theme the snippet draws with (docs/experiences.md, Themes). Everyone
can read them; only an owner can change them. Each section is its own form: saving one never
resubmits (or re-validates) another."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import actions, themes
from .access import Role, application_view
from .forms import AuditRetentionForm, DeliverySettingsForm, ThemeForm
from .models import Application

FIELDS = ("max_banners_per_edge", "cap_per_day", "cap_per_session", "holdout_percent")
# The Audit log form posts section=audit; any other post to the page is the delivery form.
AUDIT = "audit"


def _forms(application: Application, **bound: Form) -> dict[str, Form]:
    return {
        "form": DeliverySettingsForm(initial={f: getattr(application, f) for f in FIELDS}),
        "retention": AuditRetentionForm(initial={"days": application.audit_retention_days}),
        "theme_form": ThemeForm(initial=themes.theme_of(application.theme)),
        **bound,
    }


def _save(form: Form, save: Any, fields: tuple[str, ...]) -> bool:
    """Run ``save`` with the form's data; its field errors go inline."""
    if not form.is_valid():
        return False
    try:
        save(form.cleaned_data)
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            for message in errors:
                form.add_error(field if field in fields else None, message)
        return False
    return True


def _saved(request: HttpRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("segments:app_settings", request.application.pk)


@require_http_methods(["GET", "POST"])
@application_view(write_role=Role.OWNER)
def app_settings(request: HttpRequest) -> HttpResponse:
    application = request.application
    if request.method == "GET":
        return render(request, "segments/app_settings.html", _forms(application))
    if request.POST.get("section") == AUDIT:
        retention = AuditRetentionForm(request.POST)

        def save_retention(data: dict[str, Any]) -> None:
            actions.application_set_audit_retention(application=application, days=data["days"])

        if _save(retention, save_retention, ("days",)):
            return _saved(request, "Audit log retention saved.")
        context = _forms(application, retention=retention)
    else:
        form = DeliverySettingsForm(request.POST)

        def save_delivery(data: dict[str, Any]) -> None:
            actions.application_set_delivery(application=application, **data)

        if _save(form, save_delivery, FIELDS):
            return _saved(request, "Delivery settings saved.")
        context = _forms(application, form=form)
    return render(request, "segments/app_settings.html", context, status=400)


@require_POST
@application_view(write_role=Role.OWNER)
def app_theme(request: HttpRequest) -> HttpResponse:
    application = request.application
    form = ThemeForm(request.POST)

    def save_theme(data: dict[str, Any]) -> None:
        actions.application_set_theme(application=application, theme=data)

    if _save(form, save_theme, themes.FIELDS):
        return _saved(request, "Theme saved.")
    context = _forms(application, theme_form=form)
    return render(request, "segments/app_settings.html", context, status=400)
