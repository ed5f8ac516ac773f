"""API tokens of the management API (docs/api.md, "Management API")."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models

from segments.models import Application


def token_hash(plaintext: str) -> str:
    """SHA-256, not a slow password hash: a token is 256 random bits, so there is nothing to
    guess and nothing a slow hash would protect, and the lookup runs on every API request
    (a unique index on the digest finds it; PBKDF2 would cost ~100 ms a request)."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


class ApiToken(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer (reads only)"
        EDITOR = "editor", "Editor (reads and writes)"

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, shown in lists so that an owner can tell tokens apart.
    prefix = models.CharField(max_length=12, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_write(self) -> bool:
        return self.role == self.Role.EDITOR
