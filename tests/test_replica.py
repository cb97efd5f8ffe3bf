"""Against a real streaming standby (the replica leg of .ci/run): reporting reads are served by
the replica, workflow reads and writes by the primary, and /readyz shows the lag.

Run with DATABASE_URL (the primary) and DATABASE_REPLICA_URL (a hot standby streaming from it);
skipped otherwise. These tests commit (transaction=True) and wait for the standby to replay the
primary's WAL before they read, so they do not depend on lag. The other tests of the leg run in
a transaction, where the router keeps every read on the primary (docs/operations.md)."""

from __future__ import annotations

import os
import time

import pytest
from django.conf import settings
from django.db import connections

from tests import stats_fixtures
from tests.stats_fixtures import PERIOD, SUMMARY_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not settings.DATABASE_REPLICA_URL, reason="needs DATABASE_REPLICA_URL (a real standby)"
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]

ledger = stats_fixtures.ledger

if os.environ.get("REQUIRE_REPLICA") and not settings.DATABASE_REPLICA_URL:
    raise RuntimeError("REQUIRE_REPLICA is set but DATABASE_REPLICA_URL is not (.ci/replica)")


def wait_for_replica(timeout: float = 20.0) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        (target,) = cursor.fetchone()
    deadline = time.monotonic() + timeout
    while True:
        with connections["replica"].cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
            (caught_up,) = cursor.fetchone()
        if caught_up:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the standby did not replay up to {target} in {timeout} s")
        time.sleep(0.05)


class Queries:
    """The SQL each alias ran meanwhile."""

    def __init__(self):
        self.by_alias = {"default": [], "replica": []}

    def __enter__(self):
        self._wrappers = []
        for alias, seen in self.by_alias.items():

            def wrapper(execute, sql, params, many, context, seen=seen):
                seen.append(sql)
                return execute(sql, params, many, context)

            manager = connections[alias].execute_wrapper(wrapper)
            manager.__enter__()
            self._wrappers.append(manager)
        return self.by_alias

    def __exit__(self, *exc):
        for manager in reversed(self._wrappers):
            manager.__exit__(*exc)


def test_the_replica_is_a_standby_of_the_primary():
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_database()")
        in_recovery, name = cursor.fetchone()
    assert in_recovery is True
    assert name == connections["default"].settings_dict["NAME"]
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0] is False


def test_statistics_are_read_from_the_replica(world, ledger, client_for):
    client = client_for(world.sam)
    wait_for_replica()
    with Queries() as queries:
        response = client.get(SUMMARY_URL, PERIOD)
    assert response.status_code == 200, response.content
    replica_sql = " ".join(queries["replica"])
    assert "services_" in replica_sql, queries
    # The primary answered who the user is (token, session state), never a statistic.
    assert not any("services_" in sql for sql in queries["default"]), queries["default"]
    # The replica's figures are the primary's, once it has caught up.
    assert response.json()["people_served"] == ledger.people_served


def test_a_claim_reads_and_writes_on_the_primary_only(world, client_for):
    from tests.factories import CampaignFactory, ServiceRequestFactory

    service_request = ServiceRequestFactory(
        station=world.station,
        village=world.village,
        campaign=CampaignFactory(),
        lat=world.village.lat,
        lng=world.village.lng,
        slots=2,
        created_by=world.mary,
        specialties=[world.law],
    )
    client = client_for(world.alice.user)
    with Queries() as queries:
        response = client.post(f"/api/v1/requests/{service_request.pk}/claims/")
        listed = client.get("/api/v1/claims/")
    assert response.status_code == 201, response.content
    assert listed.status_code == 200
    assert queries["replica"] == []
    assert any("services_claim" in sql for sql in queries["default"])


def test_readyz_shows_the_replica_lag(client):
    wait_for_replica()
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    replica = response.json()["checks"]["replica"]
    assert replica["ok"] is True and 0 <= replica["lag_seconds"] < 30


def test_readyz_503_when_the_replica_lags_past_the_limit(client, settings):
    settings.READYZ_REPLICA_MAX_LAG_SECONDS = -1  # any lag, even none, is too much
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503 and body["failed"] == ["replica"]
    assert body["checks"]["replica"]["code"] == "replica_lagging"


def test_readyz_503_when_the_replica_is_unreachable(client, django_db_blocker):
    conn = connections["replica"]
    saved = dict(conn.settings_dict)
    conn.close()
    conn.settings_dict.update(HOST="127.0.0.1", PORT="9")
    try:
        response = client.get("/readyz")
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)
    body = response.json()
    assert response.status_code == 503 and body["failed"] == ["replica"]
    assert body["checks"]["replica"]["code"] == "replica_unavailable"
