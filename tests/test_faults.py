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
import os
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from accounts.audit import notify
from accounts.models import Notification
from services import errors, idempotency
from services.models import Claim, IdempotencyKey
from tests import fake_wechat, services_fixtures
from tests.conftest import bearer
from tests.factories import UserFactory
from tests.servers import Gunicorn
from tests.services_fixtures import request_url
from tests.test_outbox_command import Process, subprocess_env, wait_until
from tests.test_throttle_shared import database_cache

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
    server = Gunicorn("--workers", "1", "--threads", "4", "--log-level", "warning")
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
            statuses = []
            while time.monotonic() - killed < 15:
                with contextlib.suppress(OSError):
                    status, _, _ = claim()
                    statuses.append(status)
                    if status != 409:
                        break
                time.sleep(0.2)
            retried_after = time.monotonic() - killed
            first.join(timeout=5)
            log = server.output()
    finally:
        lock.close()  # a lock left held would block the database flush after the test
    assert statuses[-1] == 201, (statuses, log)
    assert set(statuses[:-1]) <= {409}
    assert retried_after < 6, retried_after  # the lease (0.5 s) and a new worker's start
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
