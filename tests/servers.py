"""Real server processes for tests: gunicorn on a free loopback port against the test database.

The processes run ``tests.process_settings`` (the real settings, fast hashing), so their cache is
the database cache on the test database, shared by every worker, as in production without Redis.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import gunicorn
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

# Settings a developer's shell or CI may carry that would change what the server does.
_NOT_INHERITED = ("REDIS_URL", "NUM_PROXIES", "CELERY_BROKER_URL", "DEBUG", "HTTPS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def point_at_test_database(env: dict[str, str]) -> None:
    """Point a child process's environment at the test database this test runs on."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
        return
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    env["DATABASE_URL"] = f"postgres://{credentials}@{host}:{port}/{db['NAME']}"


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
    point_at_test_database(env)
    env.update(extra)
    return env


class Gunicorn:
    """gunicorn serving ``backend.wsgi`` on a free loopback port; a context manager that waits for
    /healthz and stops it (SIGTERM, then SIGKILL) on the way out.

    ``config`` given: ``gunicorn -c <config> <args>``, the port in ``GUNICORN_BIND`` as the
    config file reads it; otherwise ``--bind`` on the command line (gunicorn still reads
    ./gunicorn.conf.py, the command line winning)."""

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, config: str | None = None
    ) -> None:
        self.port = free_port()
        self.args = args
        self.config = config
        self.env = env if env is not None else server_env()
        self.log = Path(tempfile.mkstemp(prefix="gunicorn-test-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "gunicorn"]
        if gunicorn.version_info >= (25, 1):
            # Not the user's one control socket ($HOME/.gunicorn), which another gunicorn may own.
            command.append("--no-control-socket")
        if self.config:
            return [*command, "-c", self.config, *self.args, "backend.wsgi"]
        return [*command, *self.args, "--bind", f"127.0.0.1:{self.port}", "backend.wsgi"]

    def __enter__(self) -> Gunicorn:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env={**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"},
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


def raw_request(port: int, data: bytes, *, tls: bool = False, timeout: float = 15) -> bytes:
    """Send ``data`` as it is (no client library to fix it up) and read until the server closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
        sock = context.wrap_socket(sock)
    with sock:
        sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            received += chunk
        return received


def parse_response(received: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one HTTP/1.x response."""
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return status, headers, body


NGINX_SITE = ROOT / "deploy" / "nginx" / "wwqz.conf"
NGINX_ERRORS = ROOT / "deploy" / "nginx" / "wwqz-errors.conf"


class Nginx:
    """deploy/nginx/wwqz.conf run by a private nginx (``nginx -p <tmp>``, foreground), with only
    what a test machine must change: ports, the upstream, certificates, the snippet's path."""

    def __init__(
        self, workdir: Path, *, upstream_port: int, cert: Path, key: Path, **replace: str
    ) -> None:
        self.dir = workdir
        self.http_port, self.https_port = free_port(), free_port()
        # Readable by nginx's workers, which run as nobody when the tests run as root.
        self.static = Path(tempfile.mkdtemp(prefix="nginx-static-"))
        self.static.chmod(0o755)
        (self.static / "present.txt").write_text("static\n")
        (self.static / "present.txt").chmod(0o644)
        # Buffered request bodies (over client_body_buffer_size, e.g. photo uploads) are written
        # by the workers too: the temp folders nginx creates (and hands to nobody) live in a
        # folder they can reach.
        self.temp = Path(tempfile.mkdtemp(prefix="nginx-temp-"))
        self.temp.chmod(0o711)
        site = NGINX_SITE.read_text()
        for old, new in {
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "listen [::]:80;": "",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{self.https_port} ssl http2;",
            "listen [::]:443 ssl http2;": "",
            "/etc/letsencrypt/live/api.example.org/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/api.example.org/privkey.pem": str(key),
            "/etc/nginx/snippets/wwqz-errors.conf": str(NGINX_ERRORS),
            "/srv/wwqz/staticfiles/": f"{self.static}/",
            **replace,
        }.items():
            assert old in site, f"{old!r} is no longer in {NGINX_SITE.name}"
            site = site.replace(old, new)
        (workdir / "site.conf").write_text(site)
        temp = "\n".join(
            f"    {kind}_temp_path {self.temp}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (workdir / "nginx.conf").write_text(
            f"pid {workdir}/nginx.pid;\n"
            f"error_log {workdir}/error.log warn;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            f"    access_log off;\n{temp}\n"
            f"    include {workdir}/site.conf;\n"
            "}\n"
        )
        self.process: subprocess.Popen | None = None

    def command(self, *extra: str) -> list[str]:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        return [
            nginx, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
            "-e", str(self.dir / "error.log"), *extra,
        ]  # fmt: skip

    def check(self) -> subprocess.CompletedProcess:
        """``nginx -t`` of this configuration (instead of running it)."""
        try:
            return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)
        finally:
            shutil.rmtree(self.static, ignore_errors=True)
            shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> Nginx:
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"nginx did not start:\n{self.errors()}")

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.static, ignore_errors=True)
        shutil.rmtree(self.temp, ignore_errors=True)

    def errors(self) -> str:
        """nginx's error log (and, once it has exited, what it printed)."""
        log = self.dir / "error.log"
        output = ""
        if self.process is not None and self.process.poll() is not None:
            output = self.process.stdout.read().decode(errors="replace")
        return output + (log.read_text(errors="replace") if log.exists() else "")
