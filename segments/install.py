"""The application's Install page: the public key and the snippet to paste, identity
verification, and (for owners) the secret key and key rotation."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import actions
from .access import application_view
from .models import Membership

# The one-line embed of docs/api.md ("Embed the snippet"); a test keeps the two identical.
EMBED = (
    '<script>!function(w,d,h){var c=w.Callout=w.Callout||{q:[]};["init","identify","page",'
    '"reset","track"].forEach(function(m){c[m]=c[m]||function(){c.q.push([m,arguments])}});'
    'var s=d.createElement("script");s.async=1;s.src=h+"/static/callout.js";'
    'd.head.appendChild(s)}(window,document,"HOST");</script>'
)


def embed(host: str) -> str:
    return EMBED.replace("HOST", host)


def _is_owner(request: HttpRequest) -> bool:
    return Membership.objects.filter(
        user=request.user, application=request.application, role=Membership.Role.OWNER
    ).exists()


@require_GET
@application_view
def install(request: HttpRequest) -> HttpResponse:
    host = request.build_absolute_uri("/").rstrip("/")
    context = {
        "host": host,
        "embed": embed(host),
        "is_owner": _is_owner(request),
    }
    return render(request, "segments/install.html", context)


@require_POST
@application_view
def rotate_keys(request: HttpRequest) -> HttpResponse:
    # Rotating breaks every installed snippet until it gets the new key: owners only.
    if not _is_owner(request):
        raise PermissionDenied("Only an owner can rotate the keys.")
    actions.application_rotate_keys(application=request.application)
    messages.success(request, "New keys are in place: update the snippet and your server.")
    return redirect("segments:install", request.application.pk)
