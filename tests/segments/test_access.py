import pytest
from django.urls import reverse

from tests.factories import ApplicationFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client):
    membership = MembershipFactory()
    client.force_login(membership.user)
    return membership


def test_pages_require_login(client):
    application = ApplicationFactory()
    response = client.get(reverse("segments:list", args=[application.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_home_opens_the_managers_first_application(client, member):
    response = client.get("/")
    assert response.url == reverse("segments:list", args=[member.application.pk])


def test_another_applications_pages_answer_404(client, member):
    other = ApplicationFactory()
    for name in ("segments:list", "experiences:list"):
        assert client.get(reverse(name, args=[other.pk])).status_code == 404
        assert client.get(reverse(name, args=[member.application.pk])).status_code == 200


def test_the_switcher_lists_only_the_managers_applications(client, member):
    ApplicationFactory(name="Someone Else's App")
    page = client.get(reverse("segments:list", args=[member.application.pk])).content.decode()
    assert member.application.name in page
    assert "Someone Else&#x27;s App" not in page and "Someone Else's App" not in page
