"""The application's Settings page: delivery (docs/experiences.md, Delivery): how many banners
stack at one edge of a page, and the caps on experiences started per user per day and per
session. Everyone can read them; only an owner can change them."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import actions
from .access import Role, application_view
from .forms import DeliverySettingsForm

FIELDS = ("max_banners_per_edge", "cap_per_day", "cap_per_session", "holdout_percent")


@require_http_methods(["GET", "POST"])
@application_view(write_role=Role.OWNER)
def app_settings(request: HttpRequest) -> HttpResponse:
    application = request.application
    if request.method == "POST":
        form = DeliverySettingsForm(request.POST)
        if form.is_valid():
            try:
                actions.application_set_delivery(application=application, **form.cleaned_data)
            except ValidationError as error:
                for field, errors in error.message_dict.items():
                    for message in errors:
                        form.add_error(field if field in FIELDS else None, message)
            else:
                messages.success(request, "Delivery settings saved.")
                return redirect("segments:app_settings", application.pk)
        status = 400
    else:
        form = DeliverySettingsForm(initial={f: getattr(application, f) for f in FIELDS})
        status = 200
    return render(request, "segments/app_settings.html", {"form": form}, status=status)
