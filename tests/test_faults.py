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
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from accounts.audit import notify
from accounts.models import Notification
from tests import fake_wechat, services_fixtures
from tests.conftest import bearer
from tests.factories import UserFactory
from tests.servers import Gunicorn
from tests.test_outbox_command import Process, subprocess_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
campaign = services_fixtures.campaign
open_request = services_fixtures.open_request

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
