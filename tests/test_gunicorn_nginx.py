"""gunicorn.conf.py: the shipped configuration starts, and the errors gunicorn answers before
Django sees the request (a request line over limit_request_line, a malformed header or
Content-Length, too many or too large headers) are JSON in the error shape, not gunicorn's HTML.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT, Gunicorn, parse_response, raw_request, server_env
from tests.test_errors import CJK


def assert_error_shape(received: bytes, status: int, code: str) -> dict:
    got, headers, body = parse_response(received)
    assert got == status, received[:500]
    assert headers["content-type"].startswith("application/json"), headers
    data = json.loads(body)
    assert set(data) == {"code", "detail"} and data["code"] == code, data
    assert CJK.search(data["detail"]), data
    return data


def _request(line: bytes, *headers: bytes) -> bytes:
    """A request as raw bytes; the server closes after answering, so it can be read to the end."""
    return b"\r\n".join([line, b"Host: 127.0.0.1", *headers, b"Connection: close", b"", b""])


# ------------------------------------------------------------------ gunicorn.conf.py

GUNICORN_CONF = (sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py")


def _print_config(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    result = subprocess.run(
        [*GUNICORN_CONF, "--print-config", "backend.wsgi"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (line.partition("=") for line in result.stdout.splitlines())
    return {name.strip(): value.strip() for name, _, value in lines}


def test_the_config_file_reads_its_sizes_from_the_environment():
    config = _print_config(
        GUNICORN_BIND="127.0.0.1:9001",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="2",
        GUNICORN_TIMEOUT="30",
    )
    assert config["bind"] == "['127.0.0.1:9001']"
    assert (config["workers"], config["threads"], config["timeout"]) == ("3", "2", "30")


def test_the_config_file_has_sane_defaults():
    config = _print_config()
    assert config["bind"] == "['127.0.0.1:8000']"  # loopback: nginx is the only client
    assert config["workers"] == str(2 * (os.cpu_count() or 1) + 1)
    assert (config["threads"], config["timeout"], config["graceful_timeout"]) == ("1", "60", "30")
    assert config["limit_request_line"] == "4094"
    assert config["limit_request_fields"] == "100"
    assert config["limit_request_field_size"] == "8190"
    assert config["secure_scheme_headers"] == "{'X-FORWARDED-PROTO': 'https'}"
    assert config["accesslog"] == "-"
    assert "%({x-forwarded-for}i)s" in config["access_log_format"]


def test_a_value_that_is_not_a_number_stops_start_up():
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_")}
    result = subprocess.run(
        [*GUNICORN_CONF, "--check-config", "backend.wsgi"],
        cwd=ROOT,
        env={**env, "GUNICORN_WORKERS": "many"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "GUNICORN_WORKERS must be an integer" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def gunicorn(django_db_setup):
    """``gunicorn -c gunicorn.conf.py backend.wsgi``, 2 workers, as behind nginx (NUM_PROXIES=1)."""
    env = server_env(GUNICORN_WORKERS="2", NUM_PROXIES="1", THROTTLE_LOGIN="10/min")
    with Gunicorn(config="gunicorn.conf.py", env=env) as server:
        yield server


def test_gunicorn_starts_with_the_config_file(gunicorn):
    status, _, body = gunicorn.request("GET", "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    if Path("/proc").is_dir():
        master = gunicorn.process.pid
        workers = [
            pid
            for pid in os.listdir("/proc")
            if pid.isdigit() and (Path("/proc") / pid / "stat").exists() and _parent(pid) == master
        ]
        assert len(workers) == 2  # GUNICORN_WORKERS


def _parent(pid: str) -> int | None:
    try:
        stat = (Path("/proc") / pid / "stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


GUNICORN_ERRORS = {
    # A request line over limit_request_line (4094 bytes): gunicorn's 414 used to be HTML.
    "long-request-line": (_request(b"GET /" + b"a" * 5000 + b" HTTP/1.1"), 414, "uri_too_long"),
    "bad-content-length": (
        _request(b"POST /api/v1/auth/token/ HTTP/1.1", b"Content-Length: abc"),
        400,
        "validation_error",
    ),
    "two-content-lengths": (
        _request(b"POST /api/v1/auth/token/ HTTP/1.1", b"Content-Length: 2", b"Content-Length: 3"),
        400,
        "validation_error",
    ),
    "too-many-headers": (
        _request(b"GET /healthz HTTP/1.1", *(b"X-H%d: 1" % n for n in range(120))),
        431,
        "headers_too_large",
    ),
    "header-too-large": (
        _request(b"GET /healthz HTTP/1.1", b"X-Big: " + b"b" * 9000),
        431,
        "headers_too_large",
    ),
    "not-http": (b"GARBAGE\r\n\r\n", 400, "validation_error"),
    "bad-method": (_request(b"G(T /healthz HTTP/1.1"), 400, "validation_error"),
}


@pytest.mark.parametrize(
    ("data", "status", "code"), list(GUNICORN_ERRORS.values()), ids=list(GUNICORN_ERRORS)
)
def test_gunicorns_own_errors_are_json_in_the_error_shape(gunicorn, data, status, code):
    assert_error_shape(raw_request(gunicorn.port, data), status, code)


def test_a_request_line_within_the_limit_reaches_django(gunicorn):
    line = b"GET /" + b"a" * (4094 - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    assert len(line) == 4094
    assert_error_shape(raw_request(gunicorn.port, _request(line)), 404, "not_found")
