"""gunicorn.conf.py and deploy/nginx/: the shipped configuration starts, and every error a client
can get — also those answered before Django sees the request — is JSON in the error shape.

gunicorn's own error pages (a request line over limit_request_line, a malformed header or
Content-Length, too many or too large headers) were HTML; gunicorn.conf.py rewrites them. nginx's
(413, 414, a header too large, 502, 504) are mapped by deploy/nginx/wwqz-errors.conf. The nginx
tests run the real site file with a private nginx and skip where nginx (Debian's ``nginx-light``)
or ``openssl`` is not installed; with REQUIRE_NGINX=1 they fail instead.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.servers import (
    NGINX_ERRORS,
    ROOT,
    Gunicorn,
    Nginx,
    free_port,
    parse_response,
    raw_request,
    server_env,
)
from tests.test_errors import CJK
from tests.test_throttle_shared import database_cache  # noqa: F401 - fixture

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
OPENSSL = shutil.which("openssl")


def require_nginx() -> None:
    """Skip without nginx and openssl; with REQUIRE_NGINX=1 (for CI) fail instead."""
    if NGINX and OPENSSL:
        return
    reason = "needs nginx (apt-get install nginx-light) and openssl"
    if os.environ.get("REQUIRE_NGINX") == "1":
        pytest.fail(f"REQUIRE_NGINX=1 but the test {reason}")
    pytest.skip(reason)


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


def _whole_pool_restarts(max_requests: int, jitter: int, *, workers=5, window=170, trials=20000):
    """How often every worker of a pool under even load restarts within ``window`` requests of
    the others, drawing their limits as gunicorn does (``max_requests + randint(0, jitter)``)."""
    rng = random.Random(22)
    together = 0
    for _ in range(trials):
        limits = [max_requests + rng.randint(0, jitter) for _ in range(workers)]
        together += max(limits) - min(limits) <= window
    return together / trials


def test_worker_recycling_never_takes_the_whole_pool_down_at_once():
    config = _print_config()
    max_requests, jitter = int(config["max_requests"]), int(config["max_requests_jitter"])
    assert (max_requests, jitter) == (2000, 2000)
    # ~170 requests: what each of five workers serves at full load while one boots (~3 s).
    assert _whole_pool_restarts(max_requests, jitter) < 0.001
    # The old jitter of 200 on 2000 restarted the whole pool together most of the time.
    assert _whole_pool_restarts(2000, 200) > 0.3
    # An operator's own values are kept.
    config = _print_config(GUNICORN_MAX_REQUESTS="500", GUNICORN_MAX_REQUESTS_JITTER="50")
    assert (config["max_requests"], config["max_requests_jitter"]) == ("500", "50")
    config = _print_config(GUNICORN_MAX_REQUESTS="500")
    assert config["max_requests_jitter"] == "500"


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


# ------------------------------------------------------------------ deploy/nginx/


def test_every_nginx_error_body_is_the_error_shape():
    text = NGINX_ERRORS.read_text()
    bodies = re.findall(r"return (\d{3}) '(.*)';", text)
    assert {int(status) for status, _ in bodies} == {400, 403, 404, 413, 414, 500, 502, 504}
    for _, body in bodies:
        data = json.loads(body)
        assert set(data) == {"code", "detail"} and CJK.search(data["detail"]), body


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for the site's HTTPS server; every nginx test needs one."""
    require_nginx()
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            *(OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=api.example.org", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def _nginx(tmp_path_factory, certificate, upstream_port: int, **replace: str) -> Nginx:
    cert, key = certificate
    return Nginx(
        tmp_path_factory.mktemp("nginx"),
        upstream_port=upstream_port,
        cert=cert,
        key=key,
        **replace,
    )


@pytest.fixture(scope="module")
def nginx(tmp_path_factory, certificate, gunicorn):
    with _nginx(tmp_path_factory, certificate, gunicorn.port) as server:
        yield server


def test_nginx_accepts_the_site_file(tmp_path_factory, certificate):
    result = _nginx(tmp_path_factory, certificate, 8000).check()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_proxies_to_gunicorn(nginx):
    received = raw_request(nginx.https_port, _request(b"GET /healthz HTTP/1.1"), tls=True)
    status, _, body = parse_response(received)
    assert status == 200 and json.loads(body)["status"] == "ok", nginx.errors()
    # Static files come from nginx itself.
    status, _, body = parse_response(
        raw_request(nginx.https_port, _request(b"GET /static/present.txt HTTP/1.1"), tls=True)
    )
    assert (status, body) == (200, b"static\n")
    # Plain HTTP: the health check for probes, a redirect for everything else.
    assert (
        parse_response(raw_request(nginx.http_port, _request(b"GET /healthz HTTP/1.1")))[0] == 200
    )
    status, headers, _ = parse_response(
        raw_request(nginx.http_port, _request(b"GET /api/v1/ HTTP/1.1"))
    )
    assert status == 301 and headers["location"].startswith("https://")


def test_the_photo_upload_location_alone_takes_bodies_over_2m(nginx):
    """client_max_body_size 32m on POST records/{id}/attachments/ (= ATTACHMENTS_MAX_UPLOAD_BYTES):
    a 3 MB body reaches Django (401 here, no token) where every other path is nginx's 413."""
    body = b"x" * 3_000_000
    head = _request(
        b"POST /api/v1/records/1/attachments/ HTTP/1.1",
        b"Content-Type: multipart/form-data; boundary=b",
        b"Content-Length: %d" % len(body),
    )
    status, _, answer = parse_response(raw_request(nginx.https_port, head + body, tls=True))
    assert status == 401, nginx.errors()
    assert json.loads(answer)["code"] == "not_authenticated"


NGINX_ERRORS_CASES = {
    # Over large_client_header_buffers (8k): nginx's own 414.
    "nginx-414": (_request(b"GET /" + b"a" * 10000 + b" HTTP/1.1"), 414, "uri_too_long"),
    # Under nginx's limit, over gunicorn's: gunicorn's JSON 414 passes through.
    "gunicorn-414": (_request(b"GET /" + b"a" * 5000 + b" HTTP/1.1"), 414, "uri_too_long"),
    "header-too-large": (
        _request(b"GET /healthz HTTP/1.1", b"X-Big: " + b"b" * 9000),
        400,
        "headers_too_large",
    ),
    "not-http": (b"GARBAGE / HTTP/1.1\r\n\r\n", 400, "validation_error"),
    "no-host": (b"GET /healthz HTTP/1.1\r\n\r\n", 400, "validation_error"),
    # Over client_max_body_size (2m): refused on the header, before any body is read.
    "body-too-large": (
        _request(
            b"POST /api/v1/auth/token/ HTTP/1.1",
            b"Content-Type: application/json",
            b"Content-Length: 3000000",
        ),
        413,
        "request_too_large",
    ),
    # nginx's own 404s: a file missing under /static/, the error locations themselves.
    "static-404": (_request(b"GET /static/nothing-here.css HTTP/1.1"), 404, "not_found"),
    "internal-404": (_request(b"GET /_wwqz_error/502 HTTP/1.1"), 404, "not_found"),
    # Django's own errors are left as they are.
    "django-404": (_request(b"GET /api/v1/nothing-here/ HTTP/1.1"), 404, "not_found"),
}


@pytest.mark.parametrize(
    ("data", "status", "code"), list(NGINX_ERRORS_CASES.values()), ids=list(NGINX_ERRORS_CASES)
)
def test_errors_through_nginx_are_json_in_the_error_shape(nginx, data, status, code):
    assert_error_shape(raw_request(nginx.https_port, data, tls=True), status, code)


def test_the_plain_http_server_answers_its_errors_in_json_too(nginx):
    received = raw_request(nginx.http_port, _request(b"GET /" + b"a" * 10000 + b" HTTP/1.1"))
    assert_error_shape(received, 414, "uri_too_long")


def test_502_when_gunicorn_is_not_there(tmp_path_factory, certificate):
    with _nginx(tmp_path_factory, certificate, free_port()) as server:
        received = raw_request(server.https_port, _request(b"GET /api/v1/ HTTP/1.1"), tls=True)
    assert_error_shape(received, 502, "service_unavailable")


def test_504_when_gunicorn_does_not_answer_in_time(tmp_path_factory, certificate):
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with _nginx(
            tmp_path_factory,
            certificate,
            port,
            **{"proxy_read_timeout    65s;": "proxy_read_timeout    1s;"},
        ) as server:
            received = raw_request(server.https_port, _request(b"GET /api/v1/ HTTP/1.1"), tls=True)
    assert_error_shape(received, 504, "gateway_timeout")


@pytest.mark.usefixtures("database_cache")
def test_behind_nginx_with_num_proxies_1_a_random_forwarded_for_does_not_escape(nginx):
    """nginx appends the peer it saw; NUM_PROXIES=1 takes that one, not what the client wrote."""

    def attempt() -> int:
        forwarded = ".".join(str(random.randint(1, 254)) for _ in range(4))
        body = b'{"username": "nobody", "password": "wrong-password"}'
        data = _request(
            b"POST /api/v1/auth/token/ HTTP/1.1",
            b"Content-Type: application/json",
            b"Content-Length: %d" % len(body),
            b"X-Forwarded-For: " + forwarded.encode(),
        )
        return parse_response(raw_request(nginx.https_port, data + body, tls=True))[0]

    assert Counter(attempt() for _ in range(14)) == {401: 10, 429: 4}


# ------------------------------------------------------------------ metrics under gunicorn


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


@pytest.fixture(scope="module")
def metered(django_db_setup, tmp_path_factory):
    """gunicorn with 2 workers in prometheus_client's multiprocess mode, and a file left by a
    process that is gone (the last run's worker)."""
    directory = tmp_path_factory.mktemp("prometheus-multiproc")
    stale = directory / f"counter_{_dead_pid()}.db"
    stale.write_bytes(b"\0" * 16)
    env = server_env(
        GUNICORN_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        METRICS_TOKEN="scrape-me-0123",
    )
    with Gunicorn(config="gunicorn.conf.py", env=env) as server:
        yield server, directory, stale


def test_a_scrape_sums_every_gunicorn_worker(metered):
    server, directory, stale = metered
    assert not stale.exists()  # on_starting dropped the dead process's file
    auth = {"Authorization": "Bearer scrape-me-0123"}
    sample = 'http_request_duration_seconds_count{method="GET",route="healthz",status="200"}'

    def count() -> float:
        status, headers, body = server.request("GET", "/metrics", headers=auth)
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        lines = [line for line in body.decode().splitlines() if line.startswith(sample)]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0

    before = count()  # the fixture's start-up probes
    for _ in range(20):
        assert server.request("GET", "/healthz")[0] == 200
    # Whichever worker answers a scrape, it reports both workers' counts.
    assert [count() for _ in range(4)] == [before + 20] * 4
    assert server.request("GET", "/metrics")[0] == 401
    pids = {name.rsplit("_", 1)[1].split(".")[0] for name in os.listdir(directory)}
    assert len(pids) >= 2, os.listdir(directory)  # one set of files per worker


def test_nginx_passes_probes_and_request_ids_and_hides_metrics(nginx):
    status, _, body = parse_response(
        raw_request(nginx.http_port, _request(b"GET /readyz HTTP/1.1"))
    )
    assert status == 200 and json.loads(body)["status"] == "ok", body
    status, headers, _ = parse_response(
        raw_request(
            nginx.https_port,
            _request(b"GET /healthz HTTP/1.1", b"X-Request-ID: lb-abc-123456"),
            tls=True,
        )
    )
    assert status == 200 and headers["x-request-id"] == "lb-abc-123456"
    # None sent: nginx's own $request_id (32 hex digits), which the app keeps.
    status, headers, _ = parse_response(
        raw_request(nginx.https_port, _request(b"GET /healthz HTTP/1.1"), tls=True)
    )
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    status, _, body = parse_response(
        raw_request(
            nginx.https_port,
            _request(b"GET /metrics HTTP/1.1", b"Authorization: Bearer anything"),
            tls=True,
        )
    )
    assert status == 404 and json.loads(body)["code"] == "not_found"
