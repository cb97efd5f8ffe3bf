"""/healthz answers 200 with the database up, 503 in the error shape when it is not."""

from __future__ import annotations

from django.db import connections

from accounts import errors
from tests.test_errors import assert_error


def test_healthz_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_503_when_database_unreachable(client, django_db_blocker):
    with django_db_blocker.unblock():
        conn = connections["default"]
        saved = dict(conn.settings_dict)
        conn.close()
        if conn.vendor == "sqlite":
            conn.settings_dict["NAME"] = "/nonexistent-dir/for-health-test/db.sqlite3"
        else:
            conn.settings_dict.update(HOST="127.0.0.1", PORT="9")  # nothing listens there
        try:
            response = client.get("/healthz")
        finally:
            conn.close()
            conn.settings_dict.clear()
            conn.settings_dict.update(saved)
    assert_error(response, 503, errors.SERVICE_UNAVAILABLE)
