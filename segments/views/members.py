"""Setup > Members: who can open the application, at which role. Every member sees the list
(and the pending invites, never their links); only owners add, change roles, remove and
revoke (``write_role=OWNER``). Adding someone without an account makes an invite whose
one-time link the page shows once, to hand over (there is no outgoing mail); ``invite``
answers that link. A role is changed in its row (htmx swaps the row; without JavaScript the
same form posts and the page comes back)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from callout.htmx import wants_fragment

from .. import actions
from ..access import RANK, Role, application_view, get_in_application
from ..models import Invite, Membership
from .errors import error_dict

TEMPLATE = "segments/member_list.html"
ROLES = Membership.Role.choices


def _a(role: str) -> str:
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"


def _row_id(membership: Membership) -> str:
    """The id of the member's <tr>, which the row's htmx requests target."""
    return f"member-{membership.pk}"


def _members(request: HttpRequest) -> list[Membership]:
    members = list(request.application.memberships.select_related("user"))
    # Owners first, then editors, then viewers; by username within a role.
    members.sort(key=lambda m: (-RANK[Role(m.role)], m.user.get_username().lower(), m.pk))
    return members


def _page(
    request: HttpRequest, status: int = 200, row_errors: dict[int, str] | None = None, **extra: Any
) -> HttpResponse:
    members = _members(request)
    for member in members:  # a role change or removal refused, without JavaScript
        member.row_error = (row_errors or {}).get(member.pk, "")
    invites = Invite.objects.pending().filter(application=request.application)
    context = {
        "members": members,
        "invites": list(invites.select_related("created_by")),
        "roles": ROLES,
        "new": {"role": Role.EDITOR},
        "errors": {},
        **extra,
    }
    return render(request, TEMPLATE, context, status=status)


def _row(
    request: HttpRequest, membership: Membership, status: int = 200, row_error: str = "", **extra
) -> HttpResponse:
    membership.row_error = row_error
    context = {"member": membership, "roles": ROLES, **extra}
    return render(request, f"{TEMPLATE}#member-row", context, status=status)


def _to_list(request: HttpRequest) -> HttpResponse:
    return redirect("segments:members", app_id=request.application.pk)


@require_GET
@application_view
def member_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@application_view(write_role=Role.OWNER)
def member_add(request: HttpRequest) -> HttpResponse:
    new = {field: request.POST.get(field, "") for field in ("who", "role")}
    try:
        added = actions.member_add_or_invite(
            application=request.application, created_by=request.user, **new
        )
    except ValidationError as error:
        return _page(request, status=400, new=new, errors=error_dict(error))
    if added.membership is not None:
        user = added.membership.user.get_username()
        messages.success(request, f"{user} is now a member ({added.membership.role}).")
        return _to_list(request)
    # The link is shown on this response only: the token is not stored anywhere.
    link = request.build_absolute_uri(reverse("invite", args=[added.token]))
    return _page(request, status=201, new_invite=added.invite, invite_link=link)


@require_POST
@application_view(write_role=Role.OWNER)
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_in_application(Membership.objects.select_related("user"), request, pk=pk)
    role = request.POST.get("role", "")
    try:
        actions.membership_change_role(membership=membership, role=role)
    except ValidationError as error:
        message = " ".join(error.messages)
        if wants_fragment(request, _row_id(membership)):
            return _row(request, membership, status=400, row_error=message)
        return _page(request, status=400, row_errors={membership.pk: message})
    name = membership.user.get_username()
    if membership.pk == request.membership.pk and role != Role.OWNER:
        # No longer an owner: the whole page changes (no more controls), not just the row.
        messages.success(request, f"You are now {_a(role)} of {request.application.name}.")
        if request.htmx:
            return HttpResponseClientRedirect(
                reverse("segments:members", args=[request.application.pk])
            )
        return _to_list(request)
    if wants_fragment(request, _row_id(membership)):
        return _row(request, membership, saved=True)
    messages.success(request, f"{name} is now {_a(role)}.")
    return _to_list(request)


@require_http_methods(["GET", "POST"])
@application_view(write_role=Role.OWNER)
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation (without JavaScript); POST: remove."""
    membership = get_in_application(Membership.objects.select_related("user"), request, pk=pk)
    if request.method == "GET":
        return render(request, "segments/member_confirm_remove.html", {"member": membership})
    try:
        actions.membership_remove(membership=membership)
    except ValidationError as error:
        message = " ".join(error.messages)
        if wants_fragment(request, _row_id(membership)):
            return _row(request, membership, status=400, row_error=message)
        return _page(request, status=400, row_errors={membership.pk: message})
    name = membership.user.get_username()
    if membership.pk == request.membership.pk:
        messages.success(request, f"You left {request.application.name}.")
        if request.htmx:
            return HttpResponseClientRedirect(reverse("home"))
        return redirect("home")
    if wants_fragment(request, _row_id(membership)):
        return HttpResponse("")
    messages.success(request, f"{name} is no longer a member of {request.application.name}.")
    return _to_list(request)


@require_POST
@application_view(write_role=Role.OWNER)
def invite_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invite = get_in_application(Invite.objects, request, pk=pk)
    try:
        actions.invite_revoke(invite=invite)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return _to_list(request)
    messages.success(
        request, f"The invite for {invite.invitee} is revoked: its link no longer works."
    )
    return _to_list(request)


# --- The invite link -----------------------------------------------------------------------

# What each refusal answers (ValidationError codes of actions.invite_check).
STATUS = {"unknown": 404, "revoked": 410, "used": 410, "expired": 410, "someone_else": 403}


@require_http_methods(["GET", "POST"])
@login_required
def invite(request: HttpRequest, token: str) -> HttpResponse:
    """``/invite/<token>/``: GET says what the invite is (or why it no longer works); POST (the
    Join button) accepts it. Someone not logged in logs in first and comes back here."""
    found = actions.invite_find(token)
    try:
        if request.method == "POST":
            membership = actions.invite_accept(token=token, user=request.user)
            name = membership.application.name
            messages.success(request, f"Welcome to {name}: you are {_a(membership.role)}.")
            return redirect("segments:list", app_id=membership.application_id)
        actions.invite_check(found, request.user)
    except ValidationError as error:
        code = error.code or ""
        context = {"invite": found, "problem": " ".join(error.messages), "code": code}
        return render(request, "segments/invite.html", context, status=STATUS.get(code, 200))
    return render(request, "segments/invite.html", {"invite": found})
