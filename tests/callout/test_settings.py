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
