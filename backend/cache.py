"""The embedded shared cache: Django's database cache with an atomic ``incr``, and its table.

Without ``REDIS_URL`` the cache is a table in the project's own database, so every process that
uses the database (gunicorn workers, the Celery worker, management commands; on every machine,
with PostgreSQL) sees the same throttle counters and cached WeChat tokens. LocMemCache, the old
default, kept one private cache per worker: with 4 gunicorn workers a 10/min login limit let
37–40 guesses a minute through.

Django's ``DatabaseCache.incr`` is the generic get-then-set: two processes can both read 9 and
both write 10, and the set also resets the entry's expiry to the default timeout. The throttle
counts with ``incr`` (accounts.throttles.hit), so here it is one compare-and-set UPDATE that keeps
the expiry. ``add`` is already atomic for a key that is not there (the table's primary key refuses
the second INSERT); the throttle's keys carry their window, so it never re-adds an expired one.

The table is created whenever ``migrate`` runs (:class:`CacheTableConfig`), so ``make run``, the
deploy steps and the test database get it without a separate ``createcachetable``.

With ``REDIS_URL`` set the cache is :class:`RedisWithFallback`: Redis, with short socket timeouts,
and the same table as its fallback. When a Redis call fails (down: connection refused; frozen: the
read times out) the call is served by the table, and so is every call of this process for
``RETRY_SECONDS``; then Redis is tried again. So every use keeps working on a store shared by all
processes — the throttles and the dashboard's login rate still count (from zero: the counts in
Redis are out of reach), the WeChat token is fetched once more — and a frozen Redis costs one
request per process per ``RETRY_SECONDS`` a socket timeout, not every request 5 s. Each switch is
a WARNING of logger ``backend.cache`` with ``extra={"use": ...}`` (docs/operations.md, 故障 /
Faults).
"""

from __future__ import annotations

import base64
import logging
import pickle
import threading
import time

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.core.management import call_command
from django.db import connections, router
from django.db.models.signals import post_migrate
from django.utils.timezone import now as tz_now
from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# A counter read and overwritten by another process in between is read again; each retry means
# another request's increment went through, so this bound is only reached under a pile-up no
# real client produces.
_CAS_ATTEMPTS = 1000


class DatabaseCache(DjangoDatabaseCache):
    """``django.core.cache.backends.db.DatabaseCache`` whose ``incr``/``decr`` are atomic."""

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        table, cache_key, value, expires = (
            connection.ops.quote_name(name)
            for name in (self._table, "cache_key", "value", "expires")
        )
        read = f"SELECT {value} FROM {table} WHERE {cache_key} = %s AND {expires} > %s"  # noqa: S608
        # Written only if nobody else wrote since the read; the expiry is left as it was.
        write = f"UPDATE {table} SET {value} = %s WHERE {cache_key} = %s AND {value} = %s"  # noqa: S608
        now = connection.ops.adapt_datetimefield_value(tz_now())
        with connection.cursor() as cursor:
            for _ in range(_CAS_ATTEMPTS):
                cursor.execute(read, [key, now])
                row = cursor.fetchone()
                if row is None:
                    raise ValueError(f"Key '{key}' not found")
                stored = connection.ops.process_clob(row[0])
                new_value = _decode(stored) + delta
                cursor.execute(write, [_encode(new_value, self.pickle_protocol), key, stored])
                if cursor.rowcount == 1:
                    return new_value
        raise RuntimeError(f"cache counter {key!r} kept changing over {_CAS_ATTEMPTS} attempts")


# The database cache's own encoding of a value (django.core.cache.backends.db).
def _decode(stored: str):
    return pickle.loads(base64.b64decode(stored.encode()))  # noqa: S301 - rows this cache wrote


def _encode(value, protocol: int) -> str:
    return base64.b64encode(pickle.dumps(value, protocol)).decode("latin1")


# Until when (time.monotonic()) each Redis location is skipped. One state per process, not per
# cache object: Django gives every thread its own cache object, and each would pay the timeout.
_down_until: dict[str, float] = {}
# Locations that failed and have not answered since: one WARNING per outage, not per retry.
_outage: set[str] = set()
_state_lock = threading.Lock()


# What django-redis raises when Redis cannot be reached or does not answer in time (it re-raises
# redis-py's own error unless IGNORE_EXCEPTIONS, which would fail every use open silently).
_REDIS_FAILURES = (ConnectionInterrupted, RedisConnectionError, RedisTimeoutError, TimeoutError)


def use_of(key) -> str:
    """What a cache key is for, as logs name it: ``throttle:<scope>``, ``dashboard_login``,
    ``wechat_token``, else the key's first part (never the client's address)."""
    key = str(key)
    if key.startswith("throttle_"):
        scopes = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
        # Longest first: "wechat_login" is not "login".
        for scope in sorted(scopes, key=len, reverse=True):
            if key.startswith(f"throttle_{scope}_"):
                return f"throttle:{scope}"
        return "throttle"
    if key.startswith("dashboard-login:"):
        return "dashboard_login"
    if key.startswith("wechat:stable_token:"):
        return "wechat_token"
    return key.split(":", 1)[0][:40]


class RedisWithFallback(RedisCache):
    """django-redis's cache, each call served by the ``FALLBACK`` cache while Redis fails.

    OPTIONS: ``FALLBACK`` (a CACHES alias, the database cache) and ``RETRY_SECONDS`` (how long
    Redis is skipped after a failure); the rest are django-redis's.
    """

    def __init__(self, server: str, params: dict) -> None:
        options = dict(params.get("OPTIONS") or {})
        self._fallback_alias = options.pop("FALLBACK")
        self._retry_seconds = float(options.pop("RETRY_SECONDS", 5.0))
        self._location = server if isinstance(server, str) else ",".join(server)
        super().__init__(server, {**params, "OPTIONS": options})

    def redis_skipped(self) -> bool:
        """Whether calls go to the fallback now, without trying Redis."""
        until = _down_until.get(self._location)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        with _state_lock:
            _down_until.pop(self._location, None)
        return False

    def _failed(self, operation: str, key, exc: Exception) -> None:
        # Imported here: settings build the cache before the app registry is ready.
        from backend import metrics

        metrics.record_cache_error(use_of(key))
        with _state_lock:
            first = self._location not in _outage
            _outage.add(self._location)
            _down_until[self._location] = time.monotonic() + self._retry_seconds
        if first:
            cause = type(exc.__cause__ if isinstance(exc, ConnectionInterrupted) else exc).__name__
            logger.warning(
                "cache: Redis failed (%s) on %s for %s; the database cache serves every use for "
                "%gs",
                cause,
                operation,
                use_of(key),
                self._retry_seconds,
                extra={"use": use_of(key), "fault": "redis_unavailable"},
            )

    def _call(self, operation: str, key, *args, **kwargs):
        if not self.redis_skipped():
            try:
                result = getattr(super(), operation)(*args, **kwargs)
            except _REDIS_FAILURES as exc:
                self._failed(operation, key, exc)
            else:
                if self._location in _outage:
                    with _state_lock:
                        _outage.discard(self._location)
                    logger.warning("cache: Redis answers again", extra={"use": "cache"})
                return result
        return getattr(caches[self._fallback_alias], operation)(*args, **kwargs)

    # Every operation the project uses, and those Django's helpers build on.
    def get(self, key, *args, **kwargs):
        return self._call("get", key, key, *args, **kwargs)

    def set(self, key, *args, **kwargs):
        return self._call("set", key, key, *args, **kwargs)

    def add(self, key, *args, **kwargs):
        return self._call("add", key, key, *args, **kwargs)

    def incr(self, key, *args, **kwargs):
        return self._call("incr", key, key, *args, **kwargs)

    def decr(self, key, *args, **kwargs):
        return self._call("decr", key, key, *args, **kwargs)

    def delete(self, key, *args, **kwargs):
        return self._call("delete", key, key, *args, **kwargs)

    def touch(self, key, *args, **kwargs):
        return self._call("touch", key, key, *args, **kwargs)

    def has_key(self, key, *args, **kwargs):
        return self._call("has_key", key, key, *args, **kwargs)

    def get_many(self, keys, *args, **kwargs):
        keys = list(keys)
        return self._call("get_many", keys[0] if keys else "", keys, *args, **kwargs)

    def set_many(self, data, *args, **kwargs):
        return self._call("set_many", next(iter(data), ""), data, *args, **kwargs)

    def delete_many(self, keys, *args, **kwargs):
        keys = list(keys)
        return self._call("delete_many", keys[0] if keys else "", keys, *args, **kwargs)

    def clear(self):
        return self._call("clear", "clear")


class CacheTableConfig(AppConfig):
    """Not an app of the domain: it creates the database cache's table whenever ``migrate``
    runs (``manage.py createcachetable``, which skips tables that exist)."""

    name = "backend"
    label = "backend_cache"
    verbose_name = "缓存表 / cache table"

    def ready(self) -> None:
        post_migrate.connect(_create_cache_table, dispatch_uid="backend.cache.create_cache_table")


def _create_cache_table(sender, using, verbosity=1, **kwargs) -> None:
    # post_migrate is sent once per app that has models; create the table once, after the last.
    last = [config for config in apps.get_app_configs() if config.models_module is not None][-1]
    if sender is last:
        # One level quieter than migrate: no "already exists" on every ordinary run.
        call_command("createcachetable", database=using, verbosity=max(verbosity - 1, 0))
