"""Throwaway servers for tests that need to break them: a PostgreSQL cluster the test starts,
freezes (SIGSTOP) and stops itself, and gunicorn started the way docs/deploy.md says.

PostgreSQL's binaries are not on PATH on Debian (/usr/lib/postgresql/<version>/bin) and
initdb refuses to run as root, so the cluster runs as the postgres user: tests using it skip
when not root or without the binaries, saying so.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not found:
        pytest.skip("No PostgreSQL under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("A throwaway PostgreSQL runs as the postgres user: run the tests as root")
    return found[-1]


class PostgreSQL:
    """One throwaway cluster on a free port; ``url`` names its ``callout`` database.

    ``PostgreSQL(primary=True)`` can stream to standbys; ``PostgreSQL(standby_of=that)`` is a
    streaming hot standby of it (pg_basebackup -R), as docs/deploy.md's replica."""

    def __init__(self, *, primary: bool = False, standby_of: PostgreSQL | None = None):
        self.bin = _pg_bin()
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="callout-test-pg.")
        shutil.chown(self.data, "postgres", "postgres")
        options = [f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"]
        if standby_of is None:
            self._as_postgres(
                "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                "--no-sync",
            )  # fmt: skip
        else:
            os.rmdir(self.data)  # pg_basebackup makes it
            self._as_postgres(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(standby_of.port), "-U", "postgres",
                "-D", self.data, "-R", "-X", "stream", "--checkpoint=fast",
            )  # fmt: skip
            options.append("-c hot_standby=on")
        if primary:
            options.append("-c wal_level=replica -c max_wal_senders=4")
        self._as_postgres(
            "pg_ctl", "-D", self.data, "-l", f"{self.data}/log", "-w",
            "-o", " ".join(options), "start",
        )  # fmt: skip
        if standby_of is None:
            self._as_postgres("createdb", "-h", "127.0.0.1", "-p", str(self.port), "callout")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/callout"

    def sql(self, statement: str) -> str:
        """Runs one statement with psql; its output, unaligned."""
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{self.bin}/psql", "-h", "127.0.0.1",
             "-p", str(self.port), "-d", "callout", "-Atc", statement],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"psql failed: {statement}\n{result.stderr}")
        return result.stdout.strip()

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{self.bin}/{tool}", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, ...)."""
        postmaster = int(Path(self.data, "postmaster.pid").read_text().split()[0])
        children = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.split("/")[2]))
        return [postmaster, *children]

    def freeze(self) -> None:
        self._frozen = []
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):  # a backend that exited meanwhile
                os.kill(pid, signal.SIGSTOP)
                self._frozen.append(pid)

    def thaw(self) -> None:
        for pid in getattr(self, "_frozen", []):
            with contextlib.suppress(ProcessLookupError):  # a backend that had already exited
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    def stop(self, *, remove: bool = True) -> None:
        self.thaw()
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{self.bin}/pg_ctl", "-D", self.data,
             "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if remove:
            shutil.rmtree(self.data, ignore_errors=True)


def server_env(**overrides: str) -> dict[str, str]:
    """The environment of a server process: this one's, minus what makes settings think they
    are under pytest or in development."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "REDIS_URL", "DEBUG")}
    return env | {
        "DJANGO_SETTINGS_MODULE": "callout.settings",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "throwaway-test-" + "x" * 40,
        "PYTHONPATH": str(ROOT),
        **overrides,
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return result.stdout


class Gunicorn:
    """gunicorn with the deployment's configuration (callout/gunicorn.conf.py), one worker."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "callout.wsgi:application",
                "--config", str(ROOT / "callout" / "gunicorn.conf.py"),
                "--workers", "1", "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning",
            ],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited: {self.process.stderr.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"gunicorn did not answer on {self.base}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
