"""Settings > API tokens: every member sees the list (names, roles, last use: never a
secret), so that editors know what automation touches the application; only owners create
and revoke (a token acts without a person)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from segments.access import Role, application_view, get_in_application

from ..actions import api_token_create, api_token_revoke
from ..models import ApiToken


def _page(request: HttpRequest, status: int = 200, **context: object) -> HttpResponse:
    tokens = request.application.api_tokens.select_related("created_by")
    context = {"tokens": tokens, "roles": ApiToken.Role.choices, **context}
    return render(request, "management_api/tokens.html", context, status=status)


@require_GET
@application_view
def token_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@application_view(write_role=Role.OWNER)
def token_create(request: HttpRequest) -> HttpResponse:
    name, role = request.POST.get("name", ""), request.POST.get("role", "")
    try:
        token, plaintext = api_token_create(
            application=request.application, name=name, role=role, created_by=request.user
        )
    except ValidationError as error:
        return _page(request, status=400, errors=error.message_dict, name=name, role=role)
    # Shown on this response only: the plaintext is not stored anywhere.
    return _page(request, status=201, new_token=token, plaintext=plaintext)


@require_POST
@application_view(write_role=Role.OWNER)
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_in_application(ApiToken.objects, request, pk=pk)
    api_token_revoke(token=token)
    messages.success(request, f'Token "{token.name}" is revoked: it no longer works.')
    return redirect("manage_settings:tokens", request.application.pk)
