"""The application's Settings page: delivery (docs/experiences.md, Delivery): how many banners
stack at one edge of a page, and the caps on experiences started per user per day and per
session; and the theme the snippet draws with (docs/experiences.md, Themes). Everyone can
read them; only an owner can change them. Each section is its own form and URL: saving one
never resubmits (or re-validates) the other."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import actions, themes
from .access import Role, application_view
from .forms import DeliverySettingsForm, ThemeForm
from .models import Application

FIELDS = ("max_banners_per_edge", "cap_per_day", "cap_per_session", "holdout_percent")


def _forms(application: Application, **bound: Form) -> dict[str, Form]:
    return {
        "form": DeliverySettingsForm(initial={f: getattr(application, f) for f in FIELDS}),
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


@require_http_methods(["GET", "POST"])
@application_view(write_role=Role.OWNER)
def app_settings(request: HttpRequest) -> HttpResponse:
    application = request.application
    if request.method == "POST":
        form = DeliverySettingsForm(request.POST)
        save = lambda data: actions.application_set_delivery(application=application, **data)  # noqa: E731
        if _save(form, save, FIELDS):
            messages.success(request, "Delivery settings saved.")
            return redirect("segments:app_settings", application.pk)
        context = _forms(application, form=form)
        return render(request, "segments/app_settings.html", context, status=400)
    return render(request, "segments/app_settings.html", _forms(application))


@require_POST
@application_view(write_role=Role.OWNER)
def app_theme(request: HttpRequest) -> HttpResponse:
    application = request.application
    form = ThemeForm(request.POST)
    save = lambda data: actions.application_set_theme(application=application, theme=data)  # noqa: E731
    if _save(form, save, themes.FIELDS):
        messages.success(request, "Theme saved.")
        return redirect("segments:app_settings", application.pk)
    context = _forms(application, theme_form=form)
    return render(request, "segments/app_settings.html", context, status=400)
