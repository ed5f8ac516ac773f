import html
from pathlib import Path

import pytest
from django.urls import reverse

from segments.install import embed
from segments.models import Membership
from tests.factories import ApplicationFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_the_embed_is_the_one_the_api_docs_show():
    docs = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    assert embed("https://callout.example.com") in docs


def test_install_shows_the_key_and_the_snippet_but_the_secret_only_to_owners(client):
    membership = MembershipFactory(role=Membership.Role.EDITOR)
    application = membership.application
    client.force_login(membership.user)
    page = client.get(reverse("segments:install", args=[application.pk])).content.decode()
    assert application.public_key in page
    assert embed("http://testserver") in html.unescape(page)
    assert application.secret_key not in page

    membership.role = Membership.Role.OWNER
    membership.save()
    page = client.get(reverse("segments:install", args=[application.pk])).content.decode()
    assert application.secret_key in page


def test_only_an_owner_can_rotate_the_keys(client):
    membership = MembershipFactory(role=Membership.Role.EDITOR)
    application = membership.application
    client.force_login(membership.user)
    rotate = reverse("segments:rotate_keys", args=[application.pk])
    assert client.post(rotate).status_code == 403
    membership.role = Membership.Role.OWNER
    membership.save()
    old = application.public_key
    assert client.post(rotate).status_code == 302
    application.refresh_from_db()
    assert application.public_key != old


def test_another_applications_install_page_is_a_404(client):
    membership = MembershipFactory()
    client.force_login(membership.user)
    other = ApplicationFactory()
    assert client.get(reverse("segments:install", args=[other.pk])).status_code == 404
    assert client.post(reverse("segments:rotate_keys", args=[other.pk])).status_code == 404
