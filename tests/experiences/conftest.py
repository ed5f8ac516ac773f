import pytest


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Managers are created per test; the production hasher costs about a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
