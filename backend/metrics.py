"""Prometheus metrics, served at ``/metrics`` in the text format (docs/operations.md, 指标 /
Metrics).

A leaf module: at import it loads prometheus_client and Django only, never the apps, so the
apps' one-line calls (claims won and refused, sends failed) do not pull ``backend/`` in
(docs/architecture.md, the import rule).

Under gunicorn every worker is a process of its own: with ``PROMETHEUS_MULTIPROC_DIR`` set (an
empty directory, writable by the app; gunicorn.conf.py marks dead workers there) the counters
and histograms go to files in it and a scrape of any worker sums them all. Without it they live
in the process that serves the scrape (``make run``, tests).

The outbox gauges are not counted: they are read from the database at each scrape (two indexed
queries), so every process agrees on them.

``/metrics`` is not public: with ``METRICS_TOKEN`` set it answers ``Authorization: Bearer
<token>`` only (401 otherwise); without the variable it answers 404, as if it did not exist.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Request latency in seconds, per route template (never the raw path: ids would explode the
# series), method and status. Buckets from 5 ms to 10 s: the API's reads sit at 5–50 ms, the
# largest export near the top.
REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time to answer one request, by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Time spent inside the database driver during one request (every alias), per route template.
REQUEST_DB_SECONDS = Histogram(
    "http_request_db_seconds",
    "Database time of one request (all connections), by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
THROTTLED = Counter(
    "http_requests_throttled_total",
    "Requests refused with 429 by a throttle, by throttle scope.",
    ["scope"],
)
CLAIMS = Counter(
    "claims_total",
    "Claim attempts, by outcome (won, waitlisted, refused) and, when refused, the error code.",
    ["outcome", "reason"],
)
SENDS = Counter(
    "outbox_sends_total",
    "Outbox send attempts, by outcome (sent, skipped, failed, retry).",
    ["outcome"],
)
SEND_FAILURES = Counter(
    "outbox_send_failures_total",
    "WeChat sends that did not go out, by errcode (or http_<status>, network, internal).",
    ["errcode"],
)
CACHE_ERRORS = Counter(
    "cache_errors_total",
    "Cache operations that failed (the cache was unreachable or answered an error), by use.",
    ["use"],
)

UNMATCHED_ROUTE = "<unmatched>"

logger = logging.getLogger(__name__)


def observe_request(route: str, method: str, status: int, seconds: float, db_seconds: float):
    """One answered request (backend.logging.RequestLogMiddleware)."""
    REQUEST_SECONDS.labels(route, method, str(status)).observe(seconds)
    REQUEST_DB_SECONDS.labels(route).observe(db_seconds)


def throttled(scope: str) -> None:
    """One request refused by the throttle of ``scope`` (backend.exceptions)."""
    THROTTLED.labels(scope or "other").inc()


def counted_claims(claim_function: Callable[..., Any]) -> Callable[..., Any]:
    """Decorates ``services.requests.claims.claim_request``: counts each call once it returned
    (the transaction committed) as ``won`` (a slot), ``waitlisted``, or ``refused`` with the
    error code it raised. An error without a code (a bug) is not a refusal and is not counted."""

    @functools.wraps(claim_function)
    def counted(*args, **kwargs):
        try:
            claim = claim_function(*args, **kwargs)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if isinstance(code, str):
                CLAIMS.labels("refused", code).inc()
            raise
        CLAIMS.labels("won" if claim.status == "claimed" else str(claim.status), "").inc()
        return claim

    return counted


_ERRCODE = re.compile(r"errcode (-?\d+)")
_HTTP = re.compile(r"^HTTP (\d{3})")


def send_finished(outcome: str, error: str = "") -> None:
    """One outbox send (accounts.outbox): its outcome, and its errcode when it did not go out.

    ``error`` is ``Delivery.error``: ``"errcode 43101: ..."`` from WeChat, ``"HTTP 502"``,
    a network failure's class name, or ``"internal error: ..."`` for a bug in sending.
    """
    SENDS.labels(outcome).inc()
    if outcome == "sent" or (outcome == "skipped" and not _ERRCODE.search(error)):
        return  # in-app only (no template, no openid) is not a failed send
    if match := _ERRCODE.search(error):
        label = match.group(1)
    elif match := _HTTP.match(error):
        label = f"http_{match.group(1)}"
    elif error.startswith("internal error"):
        label = "internal"
    else:
        label = "network"
    SEND_FAILURES.labels(label).inc()


def record_cache_error(use: str) -> None:
    """Count one failed cache operation; ``use`` names what the cache was for.

    For the code that talks to the cache, right where it catches the cache's error: e.g.
    ``record_cache_error("throttle")``, ``"idempotency"``, ``"wechat_token"``, ``"readyz"``.
    Keep ``use`` to a short fixed word (it is a label: one series per value).
    """
    CACHE_ERRORS.labels(use).inc()


class OutboxCollector(Collector):
    """The outbox backlog and the age of its oldest pending row, read at scrape time."""

    def collect(self):
        # Imported here: this module stays a leaf, and the apps are loaded by scrape time.
        from accounts.models import Notification

        try:
            counts = dict.fromkeys(("pending", "sending"), 0)
            for row in (
                Notification.objects.filter(status__in=counts)
                .values("status")
                .order_by()
                .annotate(n=Count("id"))
            ):
                counts[row["status"]] = row["n"]
            age_seconds = oldest_pending_age()
        except DatabaseError as exc:
            # The counters still leave; the database's absence shows in /readyz and the alerts
            # (the gauges go missing, which absent() can catch).
            logger.error("metrics: outbox gauges unreadable: %s", type(exc).__name__)
            return
        backlog = GaugeMetricFamily(
            "outbox_backlog", "Outbox rows waiting to be sent, by status.", labels=["status"]
        )
        for status, n in counts.items():
            backlog.add_metric([status], n)
        yield backlog
        age = GaugeMetricFamily(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox row (0 when none is pending).",
        )
        age.add_metric([], age_seconds)
        yield age


def oldest_pending_age(now: datetime | None = None) -> float:
    """Seconds since the oldest pending outbox row was written; 0 when none is pending."""
    from accounts.models import Notification

    oldest = (
        Notification.objects.filter(status="pending")
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if oldest is None:
        return 0.0
    return max(((now or timezone.now()) - oldest).total_seconds(), 0.0)


def registry() -> CollectorRegistry:
    """What one scrape reports: every process's counters (multiprocess mode) or this one's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)
    else:
        scrape = CollectorRegistry(auto_describe=True)
        scrape.register(_Forward(REGISTRY))
    scrape.register(OutboxCollector())
    return scrape


class _Forward(Collector):
    """The default registry's metrics, inside a per-scrape registry."""

    def __init__(self, source: CollectorRegistry):
        self.source = source

    def collect(self):
        return self.source.collect()


def _bearer_ok(request, token: str) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@require_GET
def metrics_view(request):
    """``GET /metrics``: 404 without METRICS_TOKEN, 401 without the right bearer token."""
    from accounts import errors
    from backend.exceptions import _json_error

    token = settings.METRICS_TOKEN
    if not token:
        return _json_error(errors.NOT_FOUND, "未找到该资源。", 404)
    if not _bearer_ok(request, token):
        response = _json_error(errors.NOT_AUTHENTICATED, "请提供指标令牌。", 401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
