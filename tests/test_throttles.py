"""Scoped throttles: claims, record submissions and exports per user; 429 with Retry-After.

Login and WeChat login throttles are tested where those endpoints are
(tests/test_auth.py::test_it_throttles_login, tests/test_wechat_login.py::
test_wechat_login_is_throttled, the 429 shape in tests/test_errors.py); Open311's in
tests/test_open311.py; member activation in tests/test_teams_members.py.
"""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from accounts import errors
from accounts.throttles import ScopedThrottle
from services.models import Claim, ServiceRecord
from tests.factories import ServiceRequestFactory
from tests.schemathesis_support import build_stage
from tests.test_errors import assert_error


def _rates(settings, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            **rates,
        },
    }


def _assert_throttled(response) -> None:
    assert_error(response, 429, errors.THROTTLED)
    assert int(response["Retry-After"]) > 0


def test_claims_are_throttled_per_member(world, client_for, settings):
    _rates(settings, claims="2/min")
    # A day apart: overlapping windows would be a 409 time_conflict, not a throttle.
    requests = [
        ServiceRequestFactory(station=world.station, starts_at=timezone.now() + timedelta(days=d))
        for d in (2, 4, 6)
    ]
    alice = client_for(world.alice.user)
    assert [alice.post(f"/api/v1/requests/{r.pk}/claims/").status_code for r in requests[:2]] == [
        201,
        201,
    ]
    _assert_throttled(alice.post(f"/api/v1/requests/{requests[2].pk}/claims/"))
    assert Claim.objects.filter(member=world.alice).count() == 2
    # Another member has a counter of their own.
    bob = client_for(world.bob.user)
    assert bob.post(f"/api/v1/requests/{requests[2].pk}/claims/").status_code == 201


def test_record_submissions_are_throttled_per_user(world, client_for, settings):
    _rates(settings, records="1/min")
    stage = build_stage(world)
    running, claim = stage.ids["requests"][1], stage.ids["claims"][1]
    body = {
        "people_served": 5,
        "enterprises_served": 0,
        "households_visited": 1,
        "summary": "法律咨询 5 人次",
        "participants": [claim],
    }
    alice = client_for(world.alice.user)
    assert alice.post(f"/api/v1/requests/{running}/record/", body, format="json").status_code == 201
    # The second would be a 409 record_exists; the throttle answers first.
    _assert_throttled(alice.post(f"/api/v1/requests/{running}/record/", body, format="json"))
    assert ServiceRecord.objects.filter(request_id=running).count() == 1


def test_exports_are_throttled_per_user(world, client_for, settings):
    _rates(settings, exports="1/min")
    sam, mary = client_for(world.sam), client_for(world.mary)
    assert sam.get("/api/v1/stats/export/?format=csv").status_code == 200
    response = sam.get("/api/v1/stats/export/?format=csv")
    _assert_throttled(response)
    assert response["Content-Type"].startswith("application/json")
    assert mary.get("/api/v1/stats/export/?format=csv").status_code == 200


def test_default_rates_are_configured():
    rates = django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    for scope in ("login", "wechat_login", "claims", "records", "exports"):
        assert rates[scope], scope


# ------------------------------------------------------------------ shared across processes

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def _redis_up() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
def test_the_count_is_shared_by_two_redis_cache_clients(world, settings):
    """Two cache clients (as two gunicorn workers would hold) see one counter in Redis db 6."""
    from django_redis.cache import RedisCache

    _rates(settings, claims="2/min")
    location = f"redis://{REDIS_HOST}:{REDIS_PORT}/6"
    prefix = f"throttle-test-{uuid.uuid4().hex}"  # no clash with another run on this Redis
    options = {"OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"}}
    worker_a = RedisCache(location, {**options, "KEY_PREFIX": prefix})
    worker_b = RedisCache(location, {**options, "KEY_PREFIX": prefix})

    class ClaimLike(APIView):
        throttle_scope = "claims"

    def allowed(cache) -> bool:
        request = APIRequestFactory().post("/api/v1/requests/1/claims/")
        force_authenticate(request, user=world.alice.user)
        view = ClaimLike()
        drf_request = view.initialize_request(request)
        drf_request.user = world.alice.user
        throttle = ScopedThrottle()
        throttle.cache = cache
        return throttle.allow_request(drf_request, view)

    try:
        assert [allowed(worker_a), allowed(worker_b)] == [True, True]
        # Each client alone has seen one request; together they have used up the rate.
        assert allowed(worker_a) is False
        assert allowed(worker_b) is False
    finally:
        worker_a.clear()
