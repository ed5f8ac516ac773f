import html
import re
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


def test_the_embed_loads_the_minified_snippet():
    assert 's.src=h+"/static/callout.min.js"' in embed("https://callout.example.com")


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


def test_the_install_page_links_the_api_reference_and_its_identity_verification(client):
    membership = MembershipFactory(role=Membership.Role.EDITOR)
    client.force_login(membership.user)
    page = client.get(reverse("segments:install", args=[membership.application.pk]))
    page = page.content.decode()
    links = re.findall(r'<a href="([^"]+)">', page)
    reference = reverse("snippet_docs")
    assert reference in links and f"{reference}#identity-verification" in links

    docs = client.get(reference)
    assert docs.status_code == 200
    text = docs.content.decode()
    assert '<h2 id="identity-verification">Identity verification</h2>' in text
    assert '<h2 id="embed-the-snippet">Embed the snippet</h2>' in text
    # A "#" inside a code block is not a heading: the error examples stay in their block.
    assert "# 400 invalid_json: the body is cut short" in text
    assert 'id="400-invalid_json' not in text


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


# --- Identity verification -----------------------------------------------------------------

WARNING = "Anyone who knows a user id can identify as that user"


def _install(client, application):
    return client.get(reverse("segments:install", args=[application.pk])).content.decode()


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.EDITOR])
def test_the_install_page_says_identity_verification_is_off_and_warns_every_role(client, role):
    membership = MembershipFactory(role=role)
    client.force_login(membership.user)
    page = _install(client, membership.application)
    assert '<span class="badge">Off</span>' in page
    assert WARNING in page
    assert "Only an owner of" in page
    assert "Require identity verification" not in page


def test_an_owner_turns_identity_verification_on_and_off_from_the_install_page(client):
    from experiences.checks import user_hash

    membership = MembershipFactory(role=Membership.Role.OWNER)
    application = membership.application
    client.force_login(membership.user)
    url = reverse("segments:set_identity_verification", args=[application.pk])
    assert "Require identity verification" in _install(client, application)

    response = client.post(url, {"required": "1"}, follow=True)
    application.refresh_from_db()
    assert application.require_user_hash is True
    page = response.content.decode()
    assert "Identity verification is on: identify needs user_hash." in page
    assert '<span class="badge ok">On</span>' in page
    assert WARNING not in page
    assert "Turn identity verification off" in page
    # The serve reads it at once: identify without a hash is refused, with one accepted.
    identify = {"key": application.public_key, "id": "u1"}
    api = "/api/v1/identify"
    assert client.post(api, identify, content_type="application/json").status_code == 403
    signed = {**identify, "user_hash": user_hash(application.secret_key, "u1")}
    assert client.post(api, signed, content_type="application/json").status_code == 200

    client.post(url, {"required": "0"})
    application.refresh_from_db()
    assert application.require_user_hash is False
    assert WARNING in _install(client, application)
    assert client.post(api, identify, content_type="application/json").status_code == 200


@pytest.mark.parametrize("role", [Membership.Role.VIEWER, Membership.Role.EDITOR])
def test_only_an_owner_can_change_identity_verification(client, role):
    membership = MembershipFactory(role=role)
    client.force_login(membership.user)
    url = reverse("segments:set_identity_verification", args=[membership.application.pk])
    assert client.post(url, {"required": "1"}).status_code == 403
    membership.application.refresh_from_db()
    assert membership.application.require_user_hash is False


def test_application_set_identity_verification__sets_it_and_only_it():
    from segments import actions

    application = ApplicationFactory(name="Acme")
    keys = (application.public_key, application.secret_key)
    actions.application_set_identity_verification(application=application, required=True)
    application.refresh_from_db()
    assert application.require_user_hash is True
    assert (application.public_key, application.secret_key, application.name) == (*keys, "Acme")
    actions.application_set_identity_verification(application=application, required=False)
    application.refresh_from_db()
    assert application.require_user_hash is False
