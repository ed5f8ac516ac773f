"""The application's Settings page: delivery (docs/experiences.md, Delivery): how many banners
stack at one edge of a page, and the caps on experiences started per user per day and per
session; and how long the audit log keeps its entries (docs/audit.md). Everyone can read them;
only an owner can change them."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import actions
from .access import Role, application_view
from .forms import AuditRetentionForm, DeliverySettingsForm

FIELDS = ("max_banners_per_edge", "cap_per_day", "cap_per_session")
# The Audit log form posts section=audit; any other post is the delivery form.
AUDIT = "audit"


def _save(form: Form, fields: tuple[str, ...], save: object) -> bool:
    """Run ``save`` on the form's clean data; its field errors onto the form."""
    if not form.is_valid():
        return False
    try:
        save(**form.cleaned_data)  # type: ignore[operator]
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
    form = DeliverySettingsForm(initial={f: getattr(application, f) for f in FIELDS})
    retention = AuditRetentionForm(initial={"days": application.audit_retention_days})
    status = 200
    if request.method == "POST" and request.POST.get("section") == AUDIT:
        retention = AuditRetentionForm(request.POST)

        def save_retention(days: int) -> None:
            actions.application_set_audit_retention(application=application, days=days)

        if _save(retention, ("days",), save_retention):
            messages.success(request, "Audit log retention saved.")
            return redirect("segments:app_settings", application.pk)
        status = 400
    elif request.method == "POST":
        form = DeliverySettingsForm(request.POST)

        def save_delivery(**data: object) -> None:
            actions.application_set_delivery(application=application, **data)  # type: ignore[arg-type]

        if _save(form, FIELDS, save_delivery):
            messages.success(request, "Delivery settings saved.")
            return redirect("segments:app_settings", application.pk)
        status = 400
    context = {"form": form, "retention": retention}
    return render(request, "segments/app_settings.html", context, status=status)
