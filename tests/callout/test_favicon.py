"""The icon: linked by every page of base.html, and at /favicon.ico for the pages that do not
link one (callout/views.py:favicon)."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_pages_link_the_icon_and_it_is_served(client):
    page = client.get("/login/").content.decode()
    href = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page).group(1)
    icon = client.get(href)
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("/favicon.svg")
    assert client.get(response["Location"]).status_code == 200
