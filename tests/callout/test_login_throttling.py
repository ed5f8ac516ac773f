"""Login throttling (django-axes, callout/settings.py): a username, or an IP address, with
LOGIN_FAILURE_LIMIT failed logins in a row is locked out with a clear page, on the Engage login
and the admin's; a success resets the count; manage.py axes_reset_* lifts a lockout."""

import pytest
from django.core.management import call_command
from django.test import Client

from callout.clientip import client_ip
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # UserFactory's


@pytest.fixture(autouse=True)
def limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(username, password, ip="10.0.0.1", path="/login/", **extra):
    client = Client()
    response = client.post(
        path, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra
    )
    return response, client


def logged_in(client):
    return "_auth_user_id" in client.session


def test_a_username_is_locked_out_after_the_limit__even_with_the_right_password():
    UserFactory(username="pm")
    for n in range(2):
        response, _ = log_in("pm", "wrong", ip=f"10.0.0.{n}")  # from several addresses
        assert response.status_code == 200  # the form again, with its error
    assert log_in("pm", "wrong", ip="10.0.0.2")[0].status_code == 429  # the limit's failure
    response, client = log_in("pm", PASSWORD, ip="10.0.0.9")
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert b"axes_reset_username" in response.content
    assert not logged_in(client)


def test_an_ip_address_is_locked_out_after_the_limit__across_usernames():
    UserFactory(username="pm")
    for name in ("alice", "bob", "carol"):
        log_in(name, "wrong", ip="10.0.0.5")
    response, client = log_in("pm", PASSWORD, ip="10.0.0.5")
    assert response.status_code == 429 and not logged_in(client)
    # The same user from elsewhere still logs in: the lock is on the address.
    response, client = log_in("pm", PASSWORD, ip="10.0.0.6")
    assert response.status_code == 302 and logged_in(client)


def test_a_success_resets_the_count():
    UserFactory(username="pm")
    for _ in range(2):
        log_in("pm", "wrong")
    assert log_in("pm", PASSWORD)[0].status_code == 302
    for _ in range(2):
        log_in("pm", "wrong")
    response, client = log_in("pm", PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_the_admin_login_is_throttled_too():
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    for _ in range(3):
        log_in("boss", "wrong", path="/admin/login/")
    response, client = log_in("boss", PASSWORD, path="/admin/login/")
    assert response.status_code == 429 and not logged_in(client)


def test_axes_reset_username_lifts_the_lockout():
    UserFactory(username="pm")
    for n in range(3):
        log_in("pm", "wrong", ip=f"10.0.1.{n}")
    assert log_in("pm", PASSWORD, ip="10.0.1.9")[0].status_code == 429
    call_command("axes_reset_username", "pm")
    response, client = log_in("pm", PASSWORD, ip="10.0.1.9")
    assert response.status_code == 302 and logged_in(client)


def test_client_ip__behind_proxies__the_address_the_nearest_trusted_proxy_saw(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4")
    settings.PROXY_COUNT = 0
    assert client_ip(request) == "10.1.1.1"
    settings.PROXY_COUNT = 1
    assert client_ip(request) == "1.2.3.4"  # not 6.6.6.6, which the client itself wrote
    settings.PROXY_COUNT = 3  # fewer entries than proxies: the direct peer
    assert client_ip(request) == "10.1.1.1"
