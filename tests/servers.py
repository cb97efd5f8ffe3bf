"""Real server processes for tests: gunicorn on a free loopback port against the test database.

The processes run ``tests.process_settings`` (the real settings, fast hashing), so their cache is
the database cache on the test database, shared by every worker, as in production without Redis.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

# Settings a developer's shell or CI may carry that would change what the server does.
_NOT_INHERITED = ("REDIS_URL", "NUM_PROXIES", "CELERY_BROKER_URL", "DEBUG", "HTTPS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server process on this test's database, real settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _NOT_INHERITED and not name.startswith(("THROTTLE_", "GUNICORN_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.process_settings",
        SECRET_KEY="test-only-secret-key-for-server-processes",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
    else:
        credentials = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            credentials += ":" + quote(db["PASSWORD"], safe="")
        env["DATABASE_URL"] = (
            f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{db['NAME']}"
        )
    env.update(extra)
    return env


class Gunicorn:
    """``gunicorn <args> --bind 127.0.0.1:<free port> backend.wsgi``; a context manager that
    waits for /healthz and stops it (SIGTERM, then SIGKILL) on the way out."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.args = args
        self.env = env if env is not None else server_env()
        self.log = Path(tempfile.mkstemp(prefix="gunicorn-test-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "gunicorn", *self.args),
                    *("--bind", f"127.0.0.1:{self.port}", "backend.wsgi"),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        output = self.output()
        self.__exit__()
        raise RuntimeError(f"gunicorn did not answer /healthz:\n{output}")

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.unlink(missing_ok=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()
