"""The audit log: every write in an application, and every login to it, as one entry (who,
when, through what, on which object, in one line). docs/audit.md says what is recorded.

``record`` is called from inside the atomic write actions, after the write: an action that is
refused or rolls back records nothing, and an entry never says a thing happened that did not.
Who wrote comes from ``callout.actor.current()``, set where the write entered (Engage, the
admin, the management API's token, an import, a command).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import models
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from callout import actor as actors

from .models import Application, AuditEntry

# What an action's verb reads as, when the call gives no summary: "segment.created" on a
# segment named Pro is "Created the segment “Pro”".
VERBS = {
    "created": "Created",
    "updated": "Edited",
    "deleted": "Deleted",
    "published": "Published",
    "unpublished": "Unpublished",
    "revoked": "Revoked",
    "added": "Added",
    "removed": "Removed",
}
# How an object type reads in a summary, where its model's name would not.
NOUNS = {"trait definition": "trait", "event definition": "event", "api token": "API token"}


def object_type(obj: Any) -> str:
    """``segment``, ``experience``, ``trait``, ``API token``..."""
    if getattr(obj, "scope", None) == "company" and obj._meta.model_name == "traitdefinition":
        return "company trait"
    name = str(obj._meta.verbose_name)
    return NOUNS.get(name, name)


def object_name(obj: Any) -> str:
    """What the object is called: its name or key, an invite's invitee, a member's username."""
    for attribute in ("name", "key", "invitee"):
        value = getattr(obj, attribute, None)
        if isinstance(value, str) and value:
            return value
    user = getattr(obj, "user", None)
    if user is not None:
        return user.get_username()
    return str(obj)


# The settings' summaries, kept here so that the actions' calls stay one line each.
KEYS_ROTATED = "Rotated the public and secret keys (the old ones stop working)"


def hmac(required: bool) -> str:
    if required:
        return "Required identity verification (identify calls carry user_hash)"
    return "Stopped requiring identity verification"


def role_changed(user: Any, before: str, after: str) -> str:
    return f"Changed the role of {user.get_username()} from {before} to {after}"


def _file(path: str) -> str:
    return "standard input" if path == "-" else os.path.basename(path)


def imported(noun: str, path: str, result: Any, rejected: int) -> str:
    """import_users' and import_companies' entry: one per run (the rows are not listed)."""
    return (
        f"Imported {noun} from {_file(path)}: {result.rows:,} rows, {result.created:,} created, "
        f"{result.updated:,} updated, {rejected:,} rejected"
    )


def events_imported(path: str, result: Any, rejected: int) -> str:
    return (
        f"Imported events from {_file(path)}: {result.imported:,} events, "
        f"{result.users_created:,} users created, {rejected:,} rejected"
    )


def delivery(application: Application) -> str:
    day = application.cap_per_day or "no cap"
    session = application.cap_per_session or "no cap"
    banners = application.max_banners_per_edge
    return (
        f"Changed delivery: {banners} banner{'' if banners == 1 else 's'} per edge, "
        f"{day} per user per day, {session} per session, "
        f"application-wide holdout {application.holdout_percent}%"
    )


def record(
    *,
    application: Application,
    action: str,
    obj: models.Model | None = None,
    summary: str = "",
    actor: actors.Actor | None = None,
) -> AuditEntry:
    """An entry for ``action`` (``segment.created``) on ``obj`` by the current actor (or
    ``actor``). Without ``summary``: the action's verb and the object's name. Call it inside
    the write's transaction, after the write, and before a delete (the object keeps its id)."""
    who = actor or actors.current()
    kind = object_type(obj) if obj is not None else ""
    name = object_name(obj) if obj is not None else ""
    if not summary:
        verb = VERBS.get(action.rpartition(".")[2], action.rpartition(".")[2].capitalize())
        summary = f"{verb} the {kind} “{name}”" if obj is not None else verb
    return AuditEntry.objects.create(
        application=application,
        at=timezone.now(),
        actor=who.person,
        actor_name=who.name[:200],
        via=who.via,
        token_name=who.token.name if who.token is not None else "",
        action=action,
        object_type=kind,
        object_id=obj.pk if obj is not None else None,
        object_name=name[:200],
        summary=summary[:500],
    )


def prune(*, now: Any = None) -> int:
    """Delete the entries older than their application's retention; how many went. One
    DELETE per application (a few thousand a day each): bounded, and each takes the index
    on (application, at)."""
    now = now or timezone.now()
    deleted = 0
    for application_id, days in Application.objects.values_list("pk", "audit_retention_days"):
        cutoff = now - timedelta(days=days)
        deleted += AuditEntry.objects.filter(application_id=application_id, at__lt=cutoff).prune()
    return deleted


# --- Logins ------------------------------------------------------------------------------


def _via(request: HttpRequest | None) -> str:
    if request is not None and request.path.startswith("/admin/"):
        return AuditEntry.Via.ADMIN
    return AuditEntry.Via.ENGAGE


def _from(request: HttpRequest | None) -> str:
    from callout.clientip import client_ip

    ip = client_ip(request) if request is not None else ""
    return f" from {ip}" if ip else ""


@receiver(user_logged_in, dispatch_uid="audit_login")
def record_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """A login is to every application the person is a member of: an entry in each."""
    who = actors.Actor(via=_via(request), user=user)
    for application in Application.objects.filter(memberships__user=user):
        record(
            application=application,
            action="login",
            summary=f"Logged in{_from(request)}",
            actor=who,
        )


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def record_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """A failed login to a known username, in each of that person's applications (an
    unknown username belongs to no application: nothing). django-axes counts the same
    signal for its lockouts; this only records."""
    User = get_user_model()
    username = credentials.get(User.USERNAME_FIELD) or credentials.get("username")
    if not isinstance(username, str) or not username:
        return
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        return
    who = actors.Actor(via=_via(request), user=user)
    for application in Application.objects.filter(memberships__user=user):
        record(
            application=application,
            action="login.failed",
            summary=f"Failed login as {username}{_from(request)}",
            actor=who,
        )
