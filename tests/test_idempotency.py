"""Idempotency-Key on claim creation, and the reusable helper behind it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from services import errors, idempotency
from services.models import Claim, IdempotencyKey
from tests import services_fixtures
from tests.factories import ClaimFactory, ServiceRequestFactory
from tests.services_fixtures import claim_url, request_url
from tests.test_errors import assert_error

# Shared fixtures of the services tests (pytest finds fixtures among module attributes).
campaign = services_fixtures.campaign
open_request = services_fixtures.open_request

KEY = "7d1b9c2e-0f4a-4f43-9a51-claim"


def claim(client, service_request, key=KEY, query=""):
    headers = {"Idempotency-Key": key} if key is not None else None
    return client.post(
        request_url(service_request, f"claims/{query}"), format="json", headers=headers
    )


def test_a_replay_gets_the_same_response_without_a_second_claim(world, client_for, open_request):
    client = client_for(world.alice.user)
    first = claim(client, open_request)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    # Even after the claim moved on, the replay answers what the first request got.
    client.post(claim_url(first.json()["id"], "cancel/"), {"reason": "改期"}, format="json")
    again = claim(client, open_request)
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Claim.objects.filter(request=open_request).count() == 1
    row = IdempotencyKey.objects.get()
    assert (row.user, row.key, row.state, row.response_status) == (
        world.alice.user,
        KEY,
        "done",
        201,
    )
    assert timedelta(hours=23) < row.expires_at - row.created_at <= timedelta(hours=24)


def test_the_same_key_with_another_payload_is_422(world, client_for, open_request, campaign):
    client = client_for(world.alice.user)
    assert claim(client, open_request).status_code == 201
    other = ServiceRequestFactory(
        station=world.station, campaign=campaign, starts_at=open_request.ends_at
    )
    assert_error(claim(client, other), 422, errors.IDEMPOTENCY_MISMATCH)
    assert_error(claim(client, open_request, query="?waitlist=1"), 422, errors.IDEMPOTENCY_MISMATCH)
    assert not Claim.objects.filter(request=other).exists()


def test_keys_belong_to_one_user(world, client_for, open_request):
    assert claim(client_for(world.alice.user), open_request).status_code == 201
    response = claim(client_for(world.bob.user), open_request)
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Claim.objects.filter(request=open_request).count() == 2


def test_a_refusal_is_replayed_too(world, client_for, open_request):
    holders = [ClaimFactory(request=open_request) for _ in range(3)]
    client = client_for(world.alice.user)
    first = claim(client, open_request)
    assert_error(first, 409, errors.REQUEST_FULL)
    client_for(holders[0].member.user).post(
        claim_url(holders[0], "cancel/"), {"reason": "让位"}, format="json"
    )
    again = claim(client, open_request)
    assert again.status_code == 409 and again.json() == first.json()
    # A new key is a new attempt.
    assert claim(client, open_request, key="another-key").status_code == 201


def test_a_key_still_in_flight_is_409_at_once_with_retry_after(world, client_for, open_request):
    response = claim(client_for(world.alice.user), open_request)
    fingerprint = IdempotencyKey.objects.get().fingerprint
    IdempotencyKey.objects.all().delete()
    Claim.objects.all().delete()
    now = timezone.now()
    IdempotencyKey.objects.create(
        user=world.alice.user,
        key=KEY,
        fingerprint=fingerprint,
        locked_at=now,
        expires_at=now + timedelta(hours=24),
    )
    assert response.status_code == 201
    started = time.monotonic()
    replay = claim(client_for(world.alice.user), open_request)
    # No waiting inside the request for the first one to finish: the client asks again.
    assert time.monotonic() - started < 1
    assert_error(replay, 409, errors.IDEMPOTENCY_IN_PROGRESS)
    assert replay["Retry-After"] == "1"
    assert not Claim.objects.exists()


def test_an_abandoned_attempt_is_retried_after_its_lease(world, client_for, open_request):
    client = client_for(world.alice.user)
    # A probe with another key yields this request's fingerprint.
    assert claim(client, open_request, key="probe").status_code == 201
    fingerprint = IdempotencyKey.objects.get(key="probe").fingerprint
    Claim.objects.all().delete()
    IdempotencyKey.objects.all().delete()
    # The process died mid-request long ago: its row says in flight, nothing was written.
    stale = timezone.now() - timedelta(minutes=10)
    IdempotencyKey.objects.create(
        user=world.alice.user,
        key=KEY,
        fingerprint=fingerprint,
        locked_at=stale,
        expires_at=stale + timedelta(hours=24),
    )
    response = claim(client, open_request)
    assert response.status_code == 201, response.content
    assert Claim.objects.filter(request=open_request).count() == 1
    assert IdempotencyKey.objects.get(key=KEY).state == "done"


def test_a_key_past_its_day_is_forgotten(world, client_for, open_request):
    client = client_for(world.alice.user)
    first = claim(client, open_request).json()
    client.post(claim_url(first["id"], "cancel/"), {"reason": "改期"}, format="json")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    again = claim(client, open_request)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert again.json()["id"] != first["id"]


@pytest.mark.parametrize("bad", ["", "x" * 101, "键", "has space", "tab\tkey"])
def test_malformed_keys_are_400(world, client_for, open_request, bad):
    response = claim(client_for(world.alice.user), open_request, key=bad)
    assert_error(response, 400, errors.INVALID_IDEMPOTENCY_KEY)
    assert not Claim.objects.exists() and not IdempotencyKey.objects.exists()


def test_without_a_key_each_request_runs(world, client_for, open_request):
    client = client_for(world.alice.user)
    assert claim(client, open_request, key=None).status_code == 201
    assert_error(claim(client, open_request, key=None), 409, errors.ALREADY_CLAIMED)
    assert not IdempotencyKey.objects.exists()


# ---------------------------------------------------------------- the helper itself


def test_the_helper_runs_once_per_key(world):
    runs = []

    def execute():
        runs.append(1)
        return 200, {"n": len(runs), "名": "值"}

    outcomes = [
        idempotency.run_idempotent(
            user=world.alice.user, key="k1", fingerprint="f" * 64, execute=execute
        )
        for _ in range(3)
    ]
    assert len(runs) == 1
    assert [o.body for o in outcomes] == [{"n": 1, "名": "值"}] * 3
    assert [o.replayed for o in outcomes] == [False, True, True]


def test_an_unexpected_failure_forgets_the_key_so_the_client_can_retry(world):
    def boom():
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        idempotency.run_idempotent(
            user=world.alice.user, key="k2", fingerprint="f" * 64, execute=boom
        )
    assert not IdempotencyKey.objects.exists()
    outcome = idempotency.run_idempotent(
        user=world.alice.user, key="k2", fingerprint="f" * 64, execute=lambda: (201, {"ok": 1})
    )
    assert (outcome.status, outcome.replayed) == (201, False)


def test_fingerprints_ignore_key_order_but_not_content():
    a = idempotency.fingerprint(method="POST", path="/x/", body={"a": 1, "b": 2}, query={})
    b = idempotency.fingerprint(method="POST", path="/x/", body={"b": 2, "a": 1}, query={})
    c = idempotency.fingerprint(method="POST", path="/x/", body={"a": 1, "b": 3}, query={})
    d = idempotency.fingerprint(method="POST", path="/y/", body={"a": 1, "b": 2}, query={})
    assert a == b and len({a, c, d}) == 3
