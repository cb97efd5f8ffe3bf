"""/healthz is liveness (no database); /readyz checks the database, the cache, the broker, the
replica and the outbox, and answers 503 naming each check that failed."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from accounts import errors
from accounts.models import Notification
from tests.factories import UserFactory
from tests.test_errors import assert_error

# Every alias: with DATABASE_REPLICA_URL (the replica leg) /readyz asks the replica too.
every_database = pytest.mark.django_db(databases=list(settings.DATABASES))
ENABLED = ["database", "cache", *(["replica"] if "replica" in settings.DATABASES else []), "outbox"]

# Nothing listens on port 9 (discard) on this machine: connections there are refused at once.
CLOSED = "127.0.0.1:9"


@contextlib.contextmanager
def database_unreachable(django_db_blocker, alias="default"):
    with django_db_blocker.unblock():
        conn = connections[alias]
        saved = dict(conn.settings_dict)
        conn.close()
        if conn.vendor == "sqlite":
            conn.settings_dict["NAME"] = "/nonexistent-dir/for-health-test/db.sqlite3"
        else:
            conn.settings_dict.update(HOST="127.0.0.1", PORT="9")
        try:
            yield
        finally:
            conn.close()
            conn.settings_dict.clear()
            conn.settings_dict.update(saved)


def test_healthz_is_liveness_without_the_database(client, django_db_blocker):
    with database_unreachable(django_db_blocker):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_refuses_post(client):
    assert client.post("/healthz").status_code == 405


@every_database
def test_readyz_ok_lists_its_checks(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert list(body["checks"]) == ENABLED
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["outbox"]["oldest_pending_age_seconds"] == 0
    assert response["Cache-Control"].startswith("max-age=0")


def _failed(response, *names):
    body = assert_error(response, 503, errors.SERVICE_UNAVAILABLE)
    assert body["failed"] == list(names), body
    for name in names:
        assert body["checks"][name]["ok"] is False
        assert body["checks"][name]["code"]
    return body


def test_readyz_503_when_the_database_is_unreachable(client, django_db_blocker):
    with database_unreachable(django_db_blocker):
        response = client.get("/readyz")
    body = _failed(response, "database", "outbox")
    assert body["checks"]["database"]["code"] == "database_unavailable"
    assert "数据库" in body["detail"]


@every_database
def test_readyz_503_when_the_cache_is_unreachable(client, db, settings):
    settings.REDIS_URL = f"redis://{CLOSED}/0"
    body = _failed(client.get("/readyz"), "cache")
    assert body["checks"]["cache"]["code"] == "cache_unavailable"
    assert body["checks"]["database"]["ok"] is True


@every_database
def test_readyz_checks_a_real_redis(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/12"
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["cache"]["backend"] == "redis"


@every_database
def test_readyz_503_when_the_broker_is_unreachable(client, db, settings):
    settings.CELERY_BROKER_URL = f"redis://{CLOSED}/0"
    body = _failed(client.get("/readyz"), "broker")
    assert body["checks"]["broker"]["code"] == "broker_unavailable"


@every_database
def test_readyz_checks_a_real_broker(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/12"
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["broker"]["ok"] is True


@every_database
def test_readyz_503_when_the_outbox_is_stale(client, db, settings):
    user = UserFactory()
    row = Notification.objects.create(user=user, kind="reminder", title="提醒")
    old = timezone.now() - timedelta(seconds=settings.READYZ_OUTBOX_MAX_AGE_SECONDS + 60)
    Notification.objects.filter(pk=row.pk).update(created_at=old)
    # A sent row, however old, is no backlog.
    sent = Notification.objects.create(user=user, kind="reminder", title="提醒", status="sent")
    Notification.objects.filter(pk=sent.pk).update(created_at=old - timedelta(days=1))
    body = _failed(client.get("/readyz"), "outbox")
    outbox = body["checks"]["outbox"]
    assert outbox["code"] == "outbox_stale"
    assert outbox["oldest_pending_age_seconds"] >= settings.READYZ_OUTBOX_MAX_AGE_SECONDS + 60
    Notification.objects.filter(pk=row.pk).update(status="sent")
    assert client.get("/readyz").status_code == 200


@every_database
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_are_not_redirected_to_https(client, db, settings, path):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    assert client.get(path).status_code == 200
