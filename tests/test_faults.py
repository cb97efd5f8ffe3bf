"""Faults an operator will meet, injected for real, and what the app does about them
(docs/operations.md, 故障 / Faults):

- PostgreSQL drops every connection (``pg_terminate_backend``, as a restart does): no request
  fails because of a connection gunicorn kept, and ``run_outbox`` keeps running;
- a gunicorn worker killed mid-request: its Idempotency-Key is retryable within seconds, and a
  replay meanwhile answers 409 at once;
- a request whose database connection dies: its key is forgotten on a fresh connection;
- Redis stopped or frozen under REDIS_URL: throttles and the login rate still count (the database
  cache), no 500, no request held for seconds;
- a WeChat that answers slowly: a batch outliving the outbox lease sends no row twice.

Each test keeps to a few seconds: short leases, small counts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import caches
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from accounts import outbox
from accounts.audit import notify
from accounts.models import Notification
from accounts.throttles import hit
from backend import cache as backend_cache
from services import errors, idempotency
from services.models import Claim, IdempotencyKey
from tests import fake_wechat, services_fixtures
from tests.conftest import bearer
from tests.factories import UserFactory
from tests.servers import Gunicorn
from tests.services_fixtures import request_url
from tests.test_observability import sample
from tests.test_outbox_command import Process, subprocess_env, wait_until
from tests.test_throttle_shared import DATABASE_CACHE, database_cache

pytestmark = pytest.mark.django_db(transaction=True)

campaign = services_fixtures.campaign
open_request = services_fixtures.open_request
# The servers' cache is the database cache: its table on the test database.
database_cache = database_cache

on_postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_terminate_backend and row locks: PostgreSQL"
)


@contextlib.contextmanager
def database_refusing_connections():
    """The test database accepts no new connection inside the block (as during a restart);
    set from the server's maintenance database, as PostgreSQL requires."""
    import psycopg

    db = connection.settings_dict
    admin = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    name = db["NAME"]
    try:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        yield
    finally:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        admin.close()


def kill_other_connections() -> int:
    """``pg_terminate_backend`` every other connection to the test database; how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


# ------------------------------------------------------------------ 1. stale pooled connections


def _me_statuses(server: Gunicorn, token: str, count: int) -> Counter[int]:
    def one(_) -> int:
        return server.request("GET", "/api/v1/me/", headers={"Authorization": token})[0]

    with ThreadPoolExecutor(8) as pool:
        return Counter(pool.map(one, range(count)))


@pytest.mark.postgres
@on_postgres_only
@pytest.mark.parametrize("health_checks", ["1", "0"], ids=["checked", "unchecked"])
def test_after_the_database_drops_every_connection_no_request_fails(world, health_checks, settings):
    token = bearer(world.alice.user)
    server = Gunicorn("--workers", "2", "--threads", "4", "--log-level", "warning")
    server.env.update(
        DB_CONN_MAX_AGE="60", DB_CONN_HEALTH_CHECKS=health_checks, SECRET_KEY=settings.SECRET_KEY
    )
    with server:
        assert _me_statuses(server, token, 40) == {200: 40}  # every thread keeps a connection
        killed = kill_other_connections()
        assert killed >= 2
        after = _me_statuses(server, token, 40)
    if health_checks == "1":
        assert after == {200: 40}, server.output()
    else:
        # The control: without the checks each kept connection fails its next request.
        assert after[500] >= 1 and after[500] + after[200] == 40


@pytest.mark.postgres
@on_postgres_only
def test_run_outbox_survives_the_database_refusing_connections_and_resumes(httpserver, settings):
    wx = fake_wechat.serve_subscribe(httpserver, settings)
    user = UserFactory(wechat_openid="openid-restart")
    env = subprocess_env(
        httpserver.url_for("").rstrip("/"),
        OUTBOX_DB_RETRY_SECONDS="0.1",
        OUTBOX_DB_RETRY_MAX_SECONDS="0.4",
    )
    process = Process([sys.executable, "manage.py", "run_outbox", "--interval", "0.1"], env)
    try:
        process.wait_for("run_outbox: started")
        # A restart, as the outbox sees it: its connection dies and no new one is accepted.
        with database_refusing_connections():
            kill_other_connections()
            process.wait_for("database unavailable, retrying", timeout=10)
            process.wait_for("database unavailable, retrying", timeout=10)  # and again, later
            assert process.popen.poll() is None
        row = notify(user=user, kind="reminder", title="服务提醒")
        assert wait_until(
            lambda: Notification.objects.get(pk=row.pk).status == Notification.Status.SENT, 10
        ), process.text()
        assert process.popen.poll() is None
    finally:
        process.stop()
    assert [send["body"]["touser"] for send in wx.delivered()] == ["openid-restart"]


# ------------------------------------------------------------------ 2. Idempotency-Key leases


def _admin_connection(dbname: str | None = None):
    """A psycopg connection of the test's own, outside Django (it holds locks for a test)."""
    import psycopg

    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=dbname or db["NAME"],
    )


def _ignoring_errors(function):
    def run() -> None:
        with contextlib.suppress(OSError):
            function()

    return run


def _worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


@pytest.mark.postgres
@on_postgres_only
def test_a_key_whose_worker_was_killed_mid_request_is_retryable_within_seconds(
    world, open_request, settings, database_cache
):
    # --preload: the replacement worker is a fork of a master that has loaded the app, so it
    # answers at once (a fresh import of Django takes seconds on a loaded machine).
    server = Gunicorn("--workers", "1", "--threads", "4", "--preload", "--log-level", "warning")
    server.env.update(SECRET_KEY=settings.SECRET_KEY, IDEMPOTENCY_LEASE_SECONDS="0.5")
    headers = {
        "Authorization": bearer(world.alice.user),
        "Content-Type": "application/json",
        "Idempotency-Key": "killed-mid-claim",
    }
    path = request_url(open_request, "claims/")

    def claim() -> tuple[int, dict, float]:
        started = time.monotonic()
        status, response_headers, _ = server.request("POST", path, b"{}", headers)
        return status, response_headers, time.monotonic() - started

    lock = _admin_connection()
    try:
        with server:
            # The claim locks its Member first: hold that row, so the claim stops mid-request.
            lock.execute("SELECT 1 FROM members_member WHERE id = %s FOR UPDATE", [world.alice.pk])
            first = threading.Thread(target=_ignoring_errors(claim), daemon=True)
            first.start()
            assert wait_until(lambda: IdempotencyKey.objects.filter(state="in_flight").exists(), 10)

            # The owner lives: a replay answers at once, and still after three of its leases.
            for pause in (0, 1.6):
                time.sleep(pause)
                status, response_headers, elapsed = claim()
                assert (status, response_headers.get("Retry-After")) == (409, "1")
                assert elapsed < 0.5
            renewed = IdempotencyKey.objects.get()
            assert renewed.locked_at > timezone.now() - timedelta(seconds=0.5)

            # kill -9 of the worker in the middle of the claim; gunicorn starts another one.
            (worker,) = _worker_pids(server.process.pid)
            os.kill(worker, signal.SIGKILL)
            killed = time.monotonic()
            lock.rollback()
            statuses, answered = [], None
            while time.monotonic() - killed < 30:
                with contextlib.suppress(OSError):
                    status, _, _ = claim()
                    answered = answered or time.monotonic()
                    statuses.append(status)
                    if status != 409:
                        break
                time.sleep(0.1)
            retried_after = time.monotonic() - killed
            assert answered is not None, server.output()
            # How long the key stayed stuck once a worker was there to answer: the lease at most.
            stuck = time.monotonic() - answered
            first.join(timeout=5)
            log = server.output()
    finally:
        lock.close()  # a lock left held would block the database flush after the test
    assert statuses[-1] == 201, (statuses, log)
    assert set(statuses[:-1]) <= {409}
    assert stuck < 0.5 + 1.5, (stuck, retried_after)  # the lease (0.5 s), and some slack
    assert Claim.objects.filter(request=open_request, member=world.alice).count() == 1
    assert IdempotencyKey.objects.get().state == "done"


@pytest.mark.postgres
@on_postgres_only
def test_a_request_whose_connection_died_forgets_its_key_on_a_fresh_connection(world):
    def dies() -> tuple[int, dict]:
        notify(user=world.alice.user, kind="reminder", title="不会留下")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return 201, {}

    # The database also refuses new connections for a moment, as while it restarts.
    refusing = database_refusing_connections()
    refusing.__enter__()
    reopen = threading.Timer(0.3, refusing.__exit__, args=(None, None, None))
    reopen.start()
    try:
        with pytest.raises(OperationalError):
            idempotency.run_idempotent(
                user=world.alice.user, key="died", fingerprint="f" * 64, execute=dies
            )
    finally:
        reopen.join()
    assert not IdempotencyKey.objects.exists()
    assert not Notification.objects.exists()
    outcome = idempotency.run_idempotent(
        user=world.alice.user, key="died", fingerprint="f" * 64, execute=lambda: (201, {"ok": 1})
    )
    assert (outcome.status, outcome.replayed) == (201, False)


def test_parallel_replays_run_the_work_once_while_its_owner_renews_a_short_lease(world, settings):
    # Work of 2 s under a 0.3 s lease: only the renewals (every 0.1 s) keep the key its owner's.
    settings.IDEMPOTENCY_LEASE_SECONDS = 0.3
    started = threading.Event()
    user = world.alice.user

    def work() -> tuple[int, dict]:
        started.set()
        notify(user=user, kind="reminder", title="只发一次")
        time.sleep(2)
        return 201, {"done": True}

    def owner():
        try:
            return idempotency.run_idempotent(
                user=user, key="parallel", fingerprint="f" * 64, execute=work
            )
        finally:
            connection.close()

    def replayer(_) -> tuple[list[float], idempotency.Outcome]:
        refusals = []
        started.wait(10)
        try:
            while True:
                asked = time.monotonic()
                try:
                    return refusals, idempotency.run_idempotent(
                        user=user, key="parallel", fingerprint="f" * 64, execute=work
                    )
                except errors.IdempotencyInProgress as exc:
                    assert exc.wait == 1
                    refusals.append(time.monotonic() - asked)
                    time.sleep(0.05)
        finally:
            connection.close()

    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(owner)
        replays = list(pool.map(replayer, range(8)))
    assert first.result().replayed is False
    assert all(outcome.replayed and outcome.body == {"done": True} for _, outcome in replays)
    assert Notification.objects.filter(title="只发一次").count() == 1
    if connection.vendor == "postgresql":
        # Refused at once, again and again, over six leases: never taken over, never waiting.
        refusals = [elapsed for elapsed_list, _ in replays for elapsed in elapsed_list]
        assert len(refusals) >= 8 * 5 and max(refusals) < 0.5


@pytest.mark.postgres
@on_postgres_only
def test_an_owner_taken_for_dead_rolls_its_work_back_and_answers_with_the_new_owners(
    world, settings
):
    user = world.alice.user
    frozen, taken = threading.Event(), threading.Event()

    def slow_owner_work() -> tuple[int, dict]:
        notify(user=user, kind="reminder", title="旧的处理者")
        # Its renewals run every third of the 10 s lease it started with; the replay below sees
        # a lease of 0.05 s: to it, this owner is long dead (frozen).
        settings.IDEMPOTENCY_LEASE_SECONDS = 0.05
        frozen.set()
        assert taken.wait(10)
        return 201, {"by": "old"}

    def new_work() -> tuple[int, dict]:
        notify(user=user, kind="reminder", title="新的处理者")
        return 201, {"by": "new"}

    def new_owner() -> idempotency.Outcome:
        assert frozen.wait(10)
        time.sleep(0.1)
        try:
            return idempotency.run_idempotent(
                user=user,
                key="frozen",
                fingerprint="f" * 64,
                execute=lambda: (
                    notify(user=user, kind="reminder", title="新的处理者"),
                    (201, {"by": "new"}),
                )[1],
            )
        finally:
            taken.set()
            connection.close()

    settings.IDEMPOTENCY_LEASE_SECONDS = 10
    with ThreadPoolExecutor(1) as pool:
        replay = pool.submit(new_owner)
        old = idempotency.run_idempotent(
            user=user, key="frozen", fingerprint="f" * 64, execute=slow_owner_work
        )
    assert (replay.result().body, replay.result().replayed) == ({"by": "new"}, False)
    # The old owner's fenced write found the key taken: its work is rolled back and it answers
    # what the new owner stored, so the request ran once.
    assert (old.body, old.replayed) == ({"by": "new"}, True)
    assert list(Notification.objects.values_list("title", flat=True)) == ["新的处理者"]


# ------------------------------------------------------------------ 4. Redis down or frozen

# Our own Redis servers, on ports no shared one uses.
REDIS_PORTS = range(6391, 6400)


class RedisServer:
    """A private ``redis-server`` (no persistence) that a test may stop, start or freeze."""

    def __init__(self) -> None:
        self.port = next(port for port in REDIS_PORTS if _port_free(port))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)

    def freeze(self) -> None:
        """Alive to the kernel (connections are accepted), deaf to every command."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_cache(redis_server, database_cache, settings):
    """The production cache of REDIS_URL (backend/settings.py) on our Redis, the database cache
    behind it, and a fresh "Redis is up" state."""
    settings.CACHES = {
        "default": {
            "BACKEND": "backend.cache.RedisWithFallback",
            "LOCATION": redis_server.url,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 0.25,
                "SOCKET_TIMEOUT": 0.25,
                "FALLBACK": "fallback",
                "RETRY_SECONDS": 0.5,
            },
            "KEY_PREFIX": "wwqz",
        },
        "fallback": {**DATABASE_CACHE["default"], "KEY_PREFIX": "wwqz"},
    }
    backend_cache._down_until.clear()
    backend_cache._outage.clear()
    yield caches["default"]
    backend_cache._down_until.clear()
    backend_cache._outage.clear()


def _redis_keys(server: RedisServer) -> list[str]:
    import redis

    with contextlib.closing(redis.Redis(port=server.port, socket_timeout=1)) as client:
        return sorted(key.decode() for key in client.keys("*"))


def test_with_redis_stopped_the_throttle_still_counts_in_the_database_and_says_so(
    redis_server, redis_cache, caplog
):
    key = "throttle_login_127.0.0.1"
    assert [hit(redis_cache, key, 3, 60, 600.0) for _ in range(4)][:3] == [None] * 3
    assert any(name.endswith(f"{key}:10") for name in _redis_keys(redis_server))

    redis_server.stop()
    failures = sample("cache_errors_total", use="throttle:login")
    with caplog.at_level(logging.INFO, logger="backend.cache"):
        # The counts in Redis are out of reach: the database cache counts from zero, and holds.
        waits = [hit(redis_cache, key, 3, 60, 600.0) for _ in range(5)]
        # Still down after RETRY_SECONDS: asked again, no second warning for the same outage.
        time.sleep(0.6)
        assert hit(redis_cache, key, 3, 60, 600.0)
    assert waits[:3] == [None] * 3 and all(wait for wait in waits[3:])
    # Each failed call is counted for the operator (/metrics): at least the first, more if the
    # calls outlasted REDIS_RETRY_SECONDS (0.5 s here) and Redis was tried again.
    assert sample("cache_errors_total", use="throttle:login") >= failures + 1
    assert caches["fallback"].get(f"{key}:10") == 3
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.name == "backend.cache" and warning.use == "throttle:login"
    assert "127.0.0.1" not in warning.getMessage()

    # Back after RETRY_SECONDS: Redis is asked again, and says so.
    redis_server.start()
    time.sleep(0.6)
    with caplog.at_level(logging.INFO, logger="backend.cache"):
        redis_cache.set("wechat:stable_token:wx", {"token": "t"}, 60)
    assert _redis_keys(redis_server) == ["wwqz:1:wechat:stable_token:wx"]
    assert caplog.records[-1].getMessage() == "cache: Redis answers again"


def test_a_frozen_redis_costs_one_short_timeout_not_seconds_per_request(redis_server, redis_cache):
    redis_cache.set("warm", 1)  # connected before the freeze, as a running worker is
    redis_server.freeze()
    try:
        timings = []
        for _ in range(20):
            started = time.monotonic()
            assert hit(redis_cache, "throttle_claims_7", 100, 60, 600.0) is None
            timings.append(time.monotonic() - started)
    finally:
        redis_server.thaw()
    # The first call waits out the 0.25 s read timeout (for its get); then Redis is skipped.
    assert 0.2 <= timings[0] < 1.5
    assert max(timings[1:]) < 0.2
    assert caches["fallback"].get("throttle_claims_7:10") == 20


def test_the_dashboard_login_rate_holds_with_redis_stopped(
    world, redis_server, redis_cache, settings
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "login": "3/min",
        },
    }
    redis_server.stop()
    client = Client()
    answers = [
        client.post("/dashboard/login/", {"username": "sam", "password": "nope"}) for _ in range(4)
    ]
    assert all(answer.status_code == 200 for answer in answers)  # the form again, no 500
    throttled = ["登录尝试过于频繁" in answer.content.decode() for answer in answers]
    assert throttled == [False] * 3 + [True]  # the limit holds: it does not fail open


def test_gunicorn_with_redis_stopped_answers_logins_and_keeps_the_limit(
    redis_server, database_cache
):
    server = Gunicorn("--workers", "2", "--log-level", "warning")
    server.env.update(REDIS_URL=redis_server.url, THROTTLE_LOGIN="3/min")
    body = b'{"username": "nobody", "password": "wrong-password"}'
    json_headers = {"Content-Type": "application/json"}

    def attempts() -> list[int]:
        return [
            server.request("POST", "/api/v1/auth/token/", body, json_headers)[0] for _ in range(5)
        ]

    with server:
        assert attempts() == [401, 401, 401, 429, 429]
        redis_server.stop()
        started = time.monotonic()
        down = attempts()
        elapsed = time.monotonic() - started
        log = server.output()
    # No 500: the limit restarts in the database cache (shared by both workers) and holds.
    assert down == [401, 401, 401, 429, 429], log
    assert elapsed < 3
    assert "Redis failed" in log and "throttle:login" in log


# ------------------------------------------------------------------ 5. the outbox lease


def test_a_batch_outliving_its_lease_on_a_slow_wechat_sends_no_row_twice(httpserver, settings):
    wx = fake_wechat.serve_subscribe(httpserver, settings)
    wx.delay_seconds = 0.25  # WeChat answers, slowly: 8 sends take 2 s
    settings.WECHAT_TIMEOUT = 5.0
    # Far below what the settings accept (one send's longest time): the batch outlives it.
    settings.OUTBOX_LEASE_SECONDS = 1
    users = [UserFactory(wechat_openid=f"openid-slow-{n}") for n in range(8)]
    rows = [notify(user=user, kind="reminder", title="服务提醒") for user in users]

    def sender(index: int):
        if index:
            time.sleep(1.3)  # the first sender's lease on the rows it has not reached ran out
        try:
            return outbox.drain(batch_size=len(rows))
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(sender, range(2))
    # Before, the first sender sent every row of its batch, the second the expired ones again.
    per_openid = Counter(send["body"]["touser"] for send in wx.sends)
    assert per_openid == {user.wechat_openid: 1 for user in users}
    assert second["sent"] >= 2 and first["lost_lease"] == second["sent"], (first, second)
    assert first["sent"] + second["sent"] == len(rows)
    statuses = set(Notification.objects.values_list("status", flat=True))
    assert statuses == {Notification.Status.SENT}


@pytest.mark.parametrize(
    ("lease", "timeout", "accepted"),
    [("16", "4.5", False), ("39", "5", False), ("40", "5", True), ("300", "5", True)],
)
def test_the_settings_refuse_an_outbox_lease_one_send_can_outlive(lease, timeout, accepted):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parent.parent,
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "backend.settings",
            "SECRET_KEY": "k",
            "OUTBOX_LEASE_SECONDS": lease,
            "WECHAT_TIMEOUT": timeout,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode == 0) == accepted, result.stderr
    if not accepted:
        assert "OUTBOX_LEASE_SECONDS must be at least 6 * WECHAT_TIMEOUT + 10" in result.stderr
