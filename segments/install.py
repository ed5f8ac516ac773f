"""The application's Install page: the public key and the snippet to paste, identity
verification, and (for owners) the secret key and key rotation."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import actions
from .access import Role, application_view

# The one-line embed of docs/api.md ("Embed the snippet"); a test keeps the two identical.
EMBED = (
    '<script>!function(w,d,h){var c=w.Callout=w.Callout||{q:[]};["init","identify","page",'
    '"reset","track"].forEach(function(m){c[m]=c[m]||function(){c.q.push([m,arguments])}});'
    'var s=d.createElement("script");s.async=1;s.src=h+"/static/callout.min.js";'
    'd.head.appendChild(s)}(window,document,"HOST");</script>'
)


def embed(host: str) -> str:
    return EMBED.replace("HOST", host)


@require_GET
@application_view
def install(request: HttpRequest) -> HttpResponse:
    host = request.build_absolute_uri("/").rstrip("/")
    context = {
        "host": host,
        "embed": embed(host),
    }
    return render(request, "segments/install.html", context)


@require_POST
@application_view(write_role=Role.OWNER)
def rotate_keys(request: HttpRequest) -> HttpResponse:
    # Rotating breaks every installed snippet until it gets the new key: owners only.
    actions.application_rotate_keys(application=request.application)
    messages.success(request, "New keys are in place: update the snippet and your server.")
    return redirect("segments:install", request.application.pk)


@require_POST
@application_view(write_role=Role.OWNER)
def set_identity_verification(request: HttpRequest) -> HttpResponse:
    # Owners only, like the keys: turning it on refuses every identify call without user_hash.
    required = request.POST.get("required") == "1"
    actions.application_set_identity_verification(
        application=request.application, required=required
    )
    if required:
        messages.success(request, "Identity verification is on: identify needs user_hash.")
    else:
        messages.success(request, "Identity verification is off.")
    return redirect("segments:install", request.application.pk)
