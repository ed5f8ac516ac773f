"""Writes to API tokens: keyword-only and atomic, as segments/actions.py."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from segments import audit
from segments.models import Application

from .models import ApiToken, token_hash

PREFIX = "clt_"
# last_used_at is written at most this often per token: not one write per request.
LAST_USED_EVERY = timedelta(minutes=1)


@transaction.atomic
def api_token_create(
    *, application: Application, name: str, role: str, created_by: Any = None
) -> tuple[ApiToken, str]:
    """A new token and its plaintext, which is never stored (only its digest is)."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = ["Give the token a name."]
    elif len(name) > 100:
        errors["name"] = ["A name is at most 100 characters."]
    if role not in ApiToken.Role.values:
        errors["role"] = [f"Role must be one of {', '.join(ApiToken.Role.values)}."]
    if errors:
        raise ValidationError(errors)
    plaintext = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        application=application,
        name=name,
        role=role,
        digest=token_hash(plaintext),
        prefix=plaintext[:8],
        created_by=created_by,
    )
    audit.record(
        application=application,
        action="token.created",
        obj=token,
        summary=f"Created the API token “{name}” ({role})",
    )
    return token, plaintext


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(application=token.application, action="token.revoked", obj=token)
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Record a use, at most once a minute (one guarded UPDATE, so that parallel requests do
    not each write)."""
    now = timezone.now()
    stale = now - LAST_USED_EVERY
    if token.last_used_at is not None and token.last_used_at > stale:
        return
    ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale)).filter(
        pk=token.pk
    ).update(last_used_at=now)
    token.last_used_at = now
