"""Project-wide middleware (callout/middleware.py)."""

import pytest
from django.urls import reverse

from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_pages_vary_on_hx_request__the_json_api_does_not(client):
    """One URL answers htmx a region and the browser the whole page: a browser cache that
    ignored the header gave Back the bare region."""
    membership = MembershipFactory()
    client.force_login(membership.user)
    page = reverse("segments:list", args=[membership.application.pk])

    for headers in ({}, {"HX-Request": "true"}):
        response = client.get(page, {"q": "adm"}, headers=headers)
        assert response.status_code == 200
        assert "HX-Request" in response["Vary"]
    api = client.get("/api/v1/experiences")
    assert "HX-Request" not in api.get("Vary", "")
