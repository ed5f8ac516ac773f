import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def check_deploy(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    environment.update(SECRET_KEY="s" * 60 + "-production-like", DEBUG="0", **env)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    return result.stdout + result.stderr


def test_https_1__answers_the_deploy_checks_on_tls():
    without = check_deploy()
    with_https = check_deploy(HTTPS="1")
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in without
        assert warning not in with_https


def test_hsts_include_subdomains_and_preload__set_by_environment():
    without = check_deploy(HTTPS="1")
    assert "security.W005" in without  # includeSubDomains
    assert "security.W021" in without  # preload
    both = check_deploy(HTTPS="1", HSTS_INCLUDE_SUBDOMAINS="1", HSTS_PRELOAD="1")
    assert "security.W005" not in both
    assert "security.W021" not in both


def test_passwords__djangos_four_validators(db):
    import pytest
    from django.conf import settings
    from django.contrib.auth.password_validation import get_password_validators, validate_password
    from django.core.exceptions import ValidationError

    names = {type(v).__name__ for v in get_password_validators(settings.AUTH_PASSWORD_VALIDATORS)}
    assert names == {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }
    for weak in ("password123", "83749217364", "short"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("correct horse battery staple")


def test_content_security_policy__on_engage_pages_with_a_nonce(client):
    response = client.get("/login/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe" not in policy and "*" not in policy


def test_content_security_policy__not_on_the_json_api(client):
    response = client.get("/api/v1/experiences")
    assert response.status_code == 400
    assert "Content-Security-Policy" not in response
