"""Throttle counts are one count for every process, and parallel requests cannot share a slot.

The suite's own settings keep a LocMemCache for speed (tests/settings.py); these tests use the
real embedded default, the database cache of backend/cache.py on the test database, and the last
one runs gunicorn with 4 workers: before, each worker counted alone and a 10/min login limit let
37–40 wrong passwords a minute through (all 40 with a random X-Forwarded-For).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache, caches
from django.core.management import call_command
from django.db import connection, connections

from accounts.throttles import hit
from tests.servers import Gunicorn
from tests.test_deploy_check import _settings

DATABASE_CACHE = {
    "default": {"BACKEND": "backend.cache.DatabaseCache", "LOCATION": "wwqz_cache"},
}


@pytest.fixture
def database_cache(transactional_db, settings):
    """The real embedded cache on the test database, its table created and empty."""
    settings.CACHES = DATABASE_CACHE
    call_command("createcachetable", verbosity=0)
    cache.clear()
    yield cache
    cache.clear()


# ------------------------------------------------------------------ the settings


def test_without_redis_the_default_cache_is_the_database():
    caches_setting = _settings("CACHES", SECRET_KEY="k")["CACHES"]
    assert caches_setting["default"]["BACKEND"] == "backend.cache.DatabaseCache"


def test_with_redis_the_cache_is_redis_with_short_timeouts_and_the_database_behind_it():
    caches_setting = _settings("CACHES", SECRET_KEY="k", REDIS_URL="redis://127.0.0.1:6379/0")
    default, fallback = caches_setting["CACHES"]["default"], caches_setting["CACHES"]["fallback"]
    assert default["BACKEND"] == "backend.cache.RedisWithFallback"
    assert default["OPTIONS"]["SOCKET_CONNECT_TIMEOUT"] <= 0.5
    assert default["OPTIONS"]["SOCKET_TIMEOUT"] <= 0.5
    assert default["OPTIONS"]["FALLBACK"] == "fallback"
    assert fallback["BACKEND"] == "backend.cache.DatabaseCache"


def test_migrate_creates_the_cache_table(database_cache):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE wwqz_cache")
    # migrate (make run, the deploy steps, the test database) creates it again.
    call_command("migrate", verbosity=0)
    assert "wwqz_cache" in connection.introspection.table_names()


# ------------------------------------------------------------------ the count


def test_a_window_lets_exactly_the_limit_through_and_refusals_do_not_count(settings):
    key = f"test-{random.random()}"
    assert [hit(cache, key, 10, 60, 600.0 + n) for n in range(10)] == [None] * 10
    # Full: the wait reaches into the next window, where this one still weighs 9/10 at 666.
    assert hit(cache, key, 10, 60, 610.0) == 56
    assert [hit(cache, key, 10, 60, 611.0) for _ in range(20)] == [55] * 20


def test_the_previous_window_still_counts_so_a_turn_of_the_minute_does_not_double_the_rate():
    key = f"test-{random.random()}"
    for _ in range(10):
        assert hit(cache, key, 10, 60, 659.0) is None
    # One second into the next window, the last one still weighs 59/60 of its 10.
    assert hit(cache, key, 10, 60, 660.5) == 6
    assert hit(cache, key, 10, 60, 665.9) == 1
    # 6 s in, it weighs 9: one more may pass, and only one.
    assert hit(cache, key, 10, 60, 666.0) is None
    assert hit(cache, key, 10, 60, 666.0) is not None
    # Halfway through, half of the last window is left: five in all for this one.
    assert [hit(cache, key, 10, 60, 690.0) for _ in range(5)] == [None] * 4 + [6]


def test_retry_after_is_when_the_next_request_passes():
    key = f"test-{random.random()}"
    for _ in range(3):
        hit(cache, key, 3, 60, 120.0)
    wait = hit(cache, key, 3, 60, 130.0)
    assert hit(cache, key, 3, 60, 130.0 + wait - 1) is not None
    assert hit(cache, key, 3, 60, 130.0 + wait) is None


# ------------------------------------------------------------------ the database cache


def test_incr_keeps_the_expiry_and_refuses_missing_or_expired_keys(database_cache):
    database_cache.add("counter", 1, 300)

    def expires():
        with connection.cursor() as cursor:
            cursor.execute("SELECT expires FROM wwqz_cache")
            return cursor.fetchone()[0]

    before = expires()
    assert database_cache.incr("counter") == 2
    assert database_cache.incr("counter", 5) == 7
    assert database_cache.decr("counter") == 6
    assert expires() == before  # Django's own incr reset it to the default timeout
    with pytest.raises(ValueError):
        database_cache.incr("missing")
    database_cache.set("gone", 1, -1)  # already expired
    with pytest.raises(ValueError):
        database_cache.incr("gone")


def _in_threads(count: int, work) -> list:
    """``work()`` in ``count`` threads started together, each with its own connection."""
    barrier = threading.Barrier(count)

    def run():
        try:
            barrier.wait()
            return work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: run(), range(count)))


def test_parallel_increments_are_never_lost(database_cache):
    database_cache.add("counter", 0, 300)

    def work():
        backend = caches["default"]
        return [backend.incr("counter") for _ in range(20)]

    results = [value for values in _in_threads(8, work) for value in values]
    assert sorted(results) == list(range(1, 161))  # each increment saw its own value
    assert database_cache.get("counter") == 160


def test_parallel_requests_cannot_both_take_the_last_slot(database_cache):
    def work():
        backend = caches["default"]
        return [hit(backend, "race", 10, 3600, 7200.0) for _ in range(5)]

    outcomes = [wait for waits in _in_threads(8, work) for wait in waits]
    assert outcomes.count(None) == 10


# ------------------------------------------------------------------ across gunicorn workers

WRONG_LOGIN = (
    "/api/v1/auth/token/",
    b'{"username": "nobody", "password": "wrong-password"}',
    401,
)
WRONG_ACTIVATION = (
    "/api/v1/members/activate/",
    b'{"phone": "13800000000", "code": "WRONGCODE", "password": "Xk29!pqLm-wrong"}',
    400,
)


@pytest.fixture(scope="module")
def four_workers(django_db_setup):
    server = Gunicorn("--workers", "4", "--log-level", "warning")
    server.env.update(THROTTLE_LOGIN="10/min", THROTTLE_MEMBER_ACTIVATE="10/min")
    with server:
        yield server


@pytest.mark.parametrize("endpoint", [WRONG_LOGIN, WRONG_ACTIVATION], ids=["login", "activate"])
@pytest.mark.parametrize("forwarded", [False, True], ids=["peer", "random-xff"])
def test_a_10_per_minute_limit_lets_exactly_10_through_across_4_workers(
    four_workers, database_cache, endpoint, forwarded
):
    path, body, refused = endpoint

    def attempt(_) -> int:
        headers = {"Content-Type": "application/json"}
        if forwarded:
            headers["X-Forwarded-For"] = ".".join(str(random.randint(1, 254)) for _ in range(4))
        return four_workers.request("POST", path, body, headers)[0]

    # 40 guesses, 10 at a time, spread over the workers by the kernel. The sliding window admits
    # an 11th only 6 s after a minute turns, far longer than this burst takes.
    with ThreadPoolExecutor(10) as pool:
        statuses = Counter(pool.map(attempt, range(40)))
    assert statuses == {refused: 10, 429: 30}, four_workers.output()
