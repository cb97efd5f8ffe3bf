"""Health checks for load balancers and monitors (docs/operations.md, 健康检查 / Health).

- ``GET /healthz`` — liveness: the process answers. No database, no cache: a restart would not
  cure an outage of those, so a liveness probe must not fail on them.
- ``GET /readyz`` — readiness: may this instance take traffic? The database, the cache, the
  broker (when ``CELERY_BROKER_URL`` is set), the replica's lag (when ``DATABASE_REPLICA_URL`` is
  set) and the outbox's oldest pending row against ``READYZ_OUTBOX_MAX_AGE_SECONDS``. 200 with
  every check; 503 in the error shape, ``failed`` naming the checks that failed and each check's
  machine ``code``, when any fails.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts import errors
from backend import metrics
from backend.exceptions import error_body
from backend.routers import REPLICA, replica_configured

logger = logging.getLogger(__name__)

# Seconds each network check may take; a probe answers well inside its own timeout.
CHECK_TIMEOUT = 1.0


class CheckFailed(Exception):
    def __init__(self, code: str, detail: str, **extra: Any):
        super().__init__(code)
        self.code, self.detail, self.extra = code, detail, extra


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def check_database() -> dict[str, Any]:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        raise CheckFailed(
            "database_unavailable", "数据库不可用。", error=type(exc).__name__
        ) from None
    return {"vendor": connections["default"].vendor}


def check_cache() -> dict[str, Any]:
    key = f"readyz:{uuid.uuid4().hex}"
    value = uuid.uuid4().hex
    try:
        if settings.REDIS_URL:
            # Its own client with a short timeout: the cache's pool waits as long as it is set to.
            import redis

            client = redis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=CHECK_TIMEOUT,
                socket_connect_timeout=CHECK_TIMEOUT,
            )
            try:
                client.set(key, value, ex=10)
                answered = client.get(key)
                client.delete(key)
            finally:
                client.close()
            answered = answered.decode() if isinstance(answered, bytes) else answered
        else:
            cache.set(key, value, timeout=10)
            answered = cache.get(key)
            cache.delete(key)
    except Exception as exc:  # every backend raises its own types
        metrics.record_cache_error("readyz")
        raise CheckFailed("cache_unavailable", "缓存不可用。", error=type(exc).__name__) from None
    if answered != value:
        metrics.record_cache_error("readyz")
        raise CheckFailed("cache_unavailable", "缓存读写不一致。")
    return {"backend": "redis" if settings.REDIS_URL else "database"}


def check_broker() -> dict[str, Any]:
    from kombu import Connection

    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=CHECK_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=CHECK_TIMEOUT)
            conn.default_channel  # noqa: B018 - opens the channel: the broker really answers
    except Exception as exc:
        raise CheckFailed(
            "broker_unavailable", "消息队列不可用。", error=type(exc).__name__
        ) from None
    return {}


def replica_lag_seconds() -> float:
    """Seconds the replica's replay is behind (0 when it has replayed all it received)."""
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(
            "SELECT pg_is_in_recovery(), CASE "
            "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
            "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
        )
        in_recovery, lag = cursor.fetchone()
    return float(lag or 0) if in_recovery else 0.0


def check_replica() -> dict[str, Any]:
    try:
        lag = replica_lag_seconds()
    except DatabaseError as exc:
        raise CheckFailed(
            "replica_unavailable", "只读副本不可用。", error=type(exc).__name__
        ) from None
    limit = settings.READYZ_REPLICA_MAX_LAG_SECONDS
    if lag > limit:
        raise CheckFailed(
            "replica_lagging",
            f"只读副本落后 {lag:.0f} 秒（上限 {limit:.0f} 秒）。",
            lag_seconds=lag,
        )
    return {"lag_seconds": round(lag, 3)}


def check_outbox() -> dict[str, Any]:
    try:
        age = metrics.oldest_pending_age()
    except DatabaseError as exc:
        raise CheckFailed(
            "database_unavailable", "数据库不可用。", error=type(exc).__name__
        ) from None
    limit = settings.READYZ_OUTBOX_MAX_AGE_SECONDS
    if age > limit:
        raise CheckFailed(
            "outbox_stale",
            f"最早的待发送通知已等待 {age:.0f} 秒（上限 {limit} 秒），发送程序可能已停止。",
            oldest_pending_age_seconds=round(age, 1),
        )
    return {"oldest_pending_age_seconds": round(age, 1)}


# Name → check, in the order they run (and appear in the answer).
CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "replica": check_replica,
    "outbox": check_outbox,
}


def enabled_checks() -> list[str]:
    names = ["database", "cache"]
    if settings.CELERY_BROKER_URL:
        names.append("broker")
    if replica_configured():
        names.append("replica")
    names.append("outbox")
    return names


def run_checks() -> tuple[dict[str, dict[str, Any]], list[str]]:
    results: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for name in enabled_checks():
        start = time.perf_counter()
        try:
            result = {"ok": True, **CHECKS[name]()}
        except CheckFailed as exc:
            failed.append(name)
            result = {"ok": False, "code": exc.code, "detail": exc.detail, **exc.extra}
            logger.error("readiness: %s failed: %s %s", name, exc.code, exc.extra or "")
        result["ms"] = round((time.perf_counter() - start) * 1000, 1)
        results[name] = result
    return results, failed


@never_cache
@require_GET
def readyz(request):
    checks, failed = run_checks()
    if not failed:
        return JsonResponse({"status": "ok", "checks": checks})
    detail = (
        "服务未就绪：" + "、".join(checks[name]["detail"].rstrip("。") for name in failed) + "。"
    )
    body = error_body(errors.SERVICE_UNAVAILABLE, detail)
    body.update(failed=failed, checks=checks)
    return JsonResponse(body, status=503, json_dumps_params={"ensure_ascii": False})
