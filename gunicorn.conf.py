"""gunicorn's configuration: ``gunicorn -c gunicorn.conf.py backend.wsgi`` (docs/operations.md,
Gunicorn). gunicorn also reads ./gunicorn.conf.py on its own when started in this directory.

Sized from the environment (``GUNICORN_*``, defaults for one machine behind the nginx of
deploy/nginx/); anything given on the command line wins over this file. A value that is not a
number stops start-up.

The errors gunicorn answers itself, before Django sees the request (a request line over
``limit_request_line``, a malformed header or ``Content-Length``, too many or too large headers),
leave in the API's error shape ``{"code", "detail"}`` instead of gunicorn's HTML page.
"""

from __future__ import annotations

import json
import os

from gunicorn import util as _gunicorn_util


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


# SERVER
# ------------------------------------------------------------------------------
# Loopback: nginx in front is the only client (comma-separate several addresses).
bind = [item.strip() for item in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")]
# 2 × CPU cores + 1. Every worker (and every thread) holds one database connection.
workers = _env_int("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1) + 1)
# More than 1 switches to the gthread worker.
threads = _env_int("GUNICORN_THREADS", 1)
# A worker silent this long is killed and replaced (nginx then answers 502); the largest xlsx
# export (STATS_EXPORT_MAX_ROWS) fits well inside. nginx's proxy_read_timeout is a little over.
timeout = _env_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# Workers are recycled now and then, so slow leaks never add up — staggered, so the pool never
# recycles at once. gunicorn gives each worker a limit of max_requests + randint(0, jitter);
# under even load every worker counts requests at the same pace, so a narrow jitter (the old
# 200 on 2000) made all five workers restart within ~3 s of each other, and the pool stalled
# while they booted (issue 22: 3–10 req/s for 2 s, p99 2.8 s). A jitter as wide as
# max_requests spreads the limits over [N, 2N]: five workers then restart ~N/6 requests apart
# on average, and all five within one boot (~3 s, ~170 requests each at full load) has a
# chance of ~3 in 10,000 per cycle (tests/test_gunicorn_nginx.py simulates it); each restarted
# worker draws its next limit afresh, so the spread does not close up over time.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 2000, minimum=0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", max_requests, minimum=0)

# REQUEST LIMITS (gunicorn's defaults, stated): what is over them is refused here, in JSON.
# ------------------------------------------------------------------------------
limit_request_line = 4094  # bytes of "GET /path?query HTTP/1.1" → 414
limit_request_fields = 100  # headers → 431
limit_request_field_size = 8190  # bytes of one header → 431

# PROXY
# ------------------------------------------------------------------------------
# X-Forwarded-Proto is believed from nginx on this machine only, and no other scheme header:
# nginx overwrites X-Forwarded-Proto, but passes X-Forwarded-Ssl and the like as the client
# wrote them. (X-Forwarded-For is the throttles' business: NUM_PROXIES.)
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# LOGGING
# ------------------------------------------------------------------------------
# Both to stderr/stdout for the service manager's journal; GUNICORN_ACCESS_LOG= (empty) turns
# the access log off.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Forwarded-for chain, peer, time, method, path without the query string (queries can hold
# search words and phone numbers), status, bytes, milliseconds, worker pid, user agent.
access_log_format = (
    '%({x-forwarded-for}i)s %(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms %(p)s "%(a)s"'
)

# ERRORS BEFORE DJANGO
# ------------------------------------------------------------------------------
# gunicorn writes them with gunicorn.util.write_error(sock, status, reason, message) and offers
# no setting for the body, so that one function is replaced (before the workers fork). Its
# English message can quote the client's bytes and is only logged, as gunicorn already does.
_ERRORS = {
    400: ("validation_error", "请求格式有误。"),
    403: ("permission_denied", "您没有执行该操作的权限。"),
    414: ("uri_too_long", "请求地址过长。"),
    417: ("expectation_failed", "不支持该 Expect 请求头。"),
    431: ("headers_too_large", "请求头过多或过大。"),
    500: ("server_error", "服务器内部错误，请稍后再试。"),
    501: ("not_implemented", "不支持该传输编码。"),
}


def _write_json_error(sock, status_int, reason, mesg):
    code, detail = _ERRORS.get(
        status_int, ("validation_error", "请求有误。") if status_int < 500 else _ERRORS[500]
    )
    body = json.dumps({"code": code, "detail": detail}, ensure_ascii=False).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    _gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


_gunicorn_util.write_error = _write_json_error


# METRICS (docs/operations.md, Metrics)
# ------------------------------------------------------------------------------
# With PROMETHEUS_MULTIPROC_DIR set, every worker writes its counters to files there and a scrape
# of any worker sums them (prometheus_client's multiprocess mode). The Celery worker and
# run_outbox may share the directory, so their send counters are scraped too.
def _pid_of(path: str) -> int | None:
    # prometheus_client names its files <kind>_<pid>.db (gauges: <kind>_<mode>_<pid>.db).
    stem = os.path.basename(path).rsplit(".", 1)[0]
    tail = stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_starting(server):
    """Drop the files of processes that are gone (the last run's workers): their counts end
    with them, which Prometheus reads as a counter reset. Live processes' files stay."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        pid = _pid_of(name)
        if name.endswith(".db") and pid is not None and not _alive(pid):
            os.unlink(os.path.join(directory, name))


def child_exit(server, worker):
    """A worker is gone: prometheus_client stops counting its live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
