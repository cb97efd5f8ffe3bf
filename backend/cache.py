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
"""

from __future__ import annotations

import base64
import pickle

from django.apps import AppConfig, apps
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.core.management import call_command
from django.db import connections, router
from django.db.models.signals import post_migrate
from django.utils.timezone import now as tz_now

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
