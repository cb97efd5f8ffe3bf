"""Claims under real concurrency: threads released together by a barrier, real transactions,
on whichever database the suite runs (SQLite file in WAL mode, or PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from services import errors
from services.models import Claim, ServiceRequest
from services.requests.expiry import expire_overdue
from tests.factories import (
    CampaignFactory,
    ClaimFactory,
    MemberFactory,
    ServiceRequestFactory,
    UserFactory,
)
from tests.services_fixtures import assert_consistent, claim_url, request_url

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(calls: list[Callable[[], Any]], *, workers: int) -> list[Any]:
    """Run ``calls`` on ``workers`` threads that all start at one barrier; results in order.

    Each thread closes its database connection when done (Django opens one per thread)."""
    workers = min(workers, len(calls))
    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * len(calls)

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            for position in range(index, len(calls), workers):
                try:
                    results[position] = calls[position]()
                except Exception as exc:  # a crash is a result the test must see
                    results[position] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return results


@contextmanager
def row_locked(queryset: QuerySet, *, hold: float = 30) -> Iterator[None]:
    """Hold ``queryset``'s rows locked (``SELECT … FOR UPDATE``) in another thread's
    transaction while the block runs, as a writer mid-transaction would."""
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                list(queryset.select_for_update())
                locked.set()
                release.wait(timeout=hold)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(timeout=10), "the lock was never taken"
        yield
    finally:
        release.set()
        holder.join(timeout=hold)


def post(client, url: str, data=None, **headers) -> Callable[[], tuple[int, Any]]:
    def call():
        response = client.post(url, data or {}, format="json", headers=headers or None)
        return response.status_code, response.json()

    return call


def post_until_answered(
    client, url: str, data=None, *, key: str
) -> Callable[[], tuple[int, Any, int]]:
    """POST with ``key`` until the answer is not 409 ``idempotency_in_progress`` (a replay while
    the first request runs gets it at once), waiting its ``Retry-After`` as a client should;
    status, body and how many times it was told to ask again."""

    def call():
        refused = 0
        while True:
            response = client.post(url, data or {}, format="json", headers={"Idempotency-Key": key})
            if response.status_code != 409 or (
                response.json()["code"] != errors.IDEMPOTENCY_IN_PROGRESS
            ):
                return response.status_code, response.json(), refused
            refused += 1
            assert refused < 10, "still in progress after ten tries"
            time.sleep(int(response["Retry-After"]))

    return call


def unthrottled(settings, scope: str) -> None:
    """Lift ``scope``'s throttle: replays asking again count against it, and are not the
    subject."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            scope: "1000/min",
        },
    }


def get(client, url: str) -> Callable[[], tuple[int, Any]]:
    def call():
        return client.get(url).status_code, None

    return call


def _request(**kwargs) -> ServiceRequest:
    return ServiceRequestFactory(campaign=CampaignFactory(), **kwargs)


def test_200_members_race_for_5_slots(client_for):
    service_request = _request(slots=5)
    members = [MemberFactory() for _ in range(200)]
    url = request_url(service_request, "claims/")
    calls = [post(client_for(member.user), url) for member in members]

    results = run_together(calls, workers=32)

    assert not [r for r in results if not isinstance(r, tuple)], results
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 5, 409: 195}, statuses
    assert {body["code"] for status, body in results if status == 409} == {errors.REQUEST_FULL}
    service_request = assert_consistent(service_request)
    assert service_request.claimed == 5
    assert service_request.status == ServiceRequest.Status.FULL
    live = Claim.objects.filter(request=service_request, status__in=Claim.LIVE)
    assert live.count() == 5
    winners = {body["member"]["id"] for status, body in results if status == 201}
    assert winners == set(live.values_list("member_id", flat=True))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL")
def test_claims_of_a_full_request_are_refused_while_its_lock_is_held(client_for):
    """The claim drive's losers: while a winner's transaction holds the request's row lock,
    taps on the full request are answered 409 at once instead of queueing behind it."""
    service_request = _request(slots=2)
    holders = [MemberFactory() for _ in range(2)]
    for member in holders:
        assert post(client_for(member.user), request_url(service_request, "claims/"))()[0] == 201
    late = [MemberFactory() for _ in range(8)]
    url = request_url(service_request, "claims/")
    with row_locked(ServiceRequest.objects.filter(pk=service_request.pk)):
        started = time.perf_counter()
        results = run_together([post(client_for(m.user), url) for m in late], workers=8)
        took = time.perf_counter() - started
    assert [(status, body["code"]) for status, body in results] == [(409, errors.REQUEST_FULL)] * 8
    assert took < 10, took  # the lock was never released while they ran
    assert assert_consistent(service_request).claimed == 2


def test_requests_filling_at_once_keep_their_map_cells_exact(client_for):
    """Requests at one spot filling in parallel move open → full in the same map grid cells
    (one row per level and status, shared by all of them): no move lost, none counted twice."""
    from services import rollups
    from services.models import MapCellStat

    def cells():
        return set(
            MapCellStat.objects.values_list(
                "level", "cell_row", "cell_column", "status", "requests", "lat_sum", "lng_sum"
            )
        )

    campaign = CampaignFactory()
    requests = [
        ServiceRequestFactory(campaign=campaign, slots=2, lat=30.02 + i * 1e-4, lng=122.1)
        for i in range(6)
    ]
    with connection.cursor() as cursor:
        rollups.fill_map_cells(cursor)
    members = [MemberFactory() for _ in range(24)]
    calls = [
        post(client_for(member.user), request_url(requests[i % 6], "claims/"))
        for i, member in enumerate(members)
    ]

    results = run_together(calls, workers=12)

    assert Counter(status for status, _ in results) == {201: 12, 409: 12}, results
    assert set(ServiceRequest.objects.values_list("status", flat=True)) == {"full"}
    kept = cells()
    assert {row[3] for row in kept} == {"full"}
    assert sum(row[4] for row in kept if row[0] == 0) == 6
    with connection.cursor() as cursor:
        rollups.fill_map_cells(cursor)
    assert cells() == kept


def test_one_member_claiming_20_times_at_once_gets_one_claim(client_for):
    service_request = _request(slots=5)
    member = MemberFactory()
    url = request_url(service_request, "claims/")
    calls = [post(client_for(member.user), url) for _ in range(20)]

    results = run_together(calls, workers=20)

    assert all(isinstance(r, tuple) for r in results), results
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 409: 19}, statuses
    assert {body["code"] for status, body in results if status == 409} == {errors.ALREADY_CLAIMED}
    assert Claim.objects.filter(request=service_request, member=member).count() == 1
    assert assert_consistent(service_request).claimed == 1


def test_one_member_racing_for_two_overlapping_requests_gets_one(client_for):
    first = _request(slots=5)
    second = _request(slots=5, starts_at=first.starts_at, ends_at=first.ends_at)
    member = MemberFactory()
    calls = []
    for _ in range(5):
        for target in (first, second):
            calls.append(post(client_for(member.user), request_url(target, "claims/")))

    results = run_together(calls, workers=10)

    statuses = Counter(status for status, _ in results)
    assert statuses[201] == 1, results
    assert Claim.objects.filter(member=member, status__in=Claim.LIVE).count() == 1
    codes = {body["code"] for status, body in results if status == 409}
    assert codes <= {errors.ALREADY_CLAIMED, errors.TIME_CONFLICT}
    assert_consistent(first)
    assert_consistent(second)


def test_20_replays_of_one_idempotency_key_make_one_claim(client_for, settings):
    unthrottled(settings, "claims")
    service_request = _request(slots=5)
    member = MemberFactory()
    url = request_url(service_request, "claims/")
    key = "a3f1c2e4-claim-once"
    calls = [post_until_answered(client_for(member.user), url, key=key) for _ in range(20)]

    results = run_together(calls, workers=20)

    assert all(isinstance(r, tuple) for r in results), results
    assert {status for status, _, _ in results} == {201}
    bodies = [body for _, body, _ in results]
    assert all(body == bodies[0] for body in bodies)
    assert Claim.objects.filter(request=service_request).count() == 1
    assert assert_consistent(service_request).claimed == 1


def _round(client_for, manager) -> ServiceRequest:
    """One request (3 slots, full, 2 waiting), then 12 overlapping actions on it."""
    service_request = _request(slots=3)
    service_request.station.managers.add(manager)
    holders = [ClaimFactory(request=service_request) for _ in range(3)]
    waiting = [
        ClaimFactory(request=service_request, status=Claim.Status.WAITLISTED) for _ in range(2)
    ]
    newcomers = [MemberFactory() for _ in range(4)]
    grace = timedelta(minutes=settings.SERVICES_CLAIM_GRACE_MINUTES)
    # The expiry workers run "later": every claim not checked in by then is overdue.
    later = service_request.starts_at + grace + timedelta(minutes=1)
    claim_path = request_url(service_request, "claims/?waitlist=1")

    def expire():
        report = expire_overdue(now=later)
        return 200, report

    def expire_now():
        report = expire_overdue()
        return 200, report

    calls = [
        post(
            client_for(holders[0].member.user), claim_url(holders[0], "cancel/"), {"reason": "病"}
        ),
        post(
            client_for(holders[1].member.user), claim_url(holders[1], "cancel/"), {"reason": "忙"}
        ),
        post(client_for(manager), claim_url(holders[2], "reject/"), {"reason": "人员已够"}),
        post(
            client_for(waiting[0].member.user), claim_url(waiting[0], "cancel/"), {"reason": "不等"}
        ),
        *[post(client_for(member.user), claim_path) for member in newcomers],
        expire,
        expire,
        expire_now,
        get(client_for(manager), request_url(service_request)),
    ]
    results = run_together(calls, workers=len(calls))
    crashed = [r for r in results if not isinstance(r, tuple) or r[0] >= 500]
    assert not crashed, crashed
    return service_request


def test_cancel_claim_reject_and_expiry_racing_keep_the_counts_right(client_for):
    manager = UserFactory(is_station_manager=True)
    for _ in range(12):
        service_request = assert_consistent(_round(client_for, manager))
        waiting = Claim.objects.filter(
            request=service_request, status=Claim.Status.WAITLISTED
        ).count()
        # Nobody waits while a slot is free: every freed slot went to the waitlist first.
        if service_request.claimed < service_request.slots:
            assert waiting == 0, (service_request.claimed, waiting)
        per_member = Counter(
            Claim.objects.filter(request=service_request, status__in=Claim.LIVE).values_list(
                "member_id", flat=True
            )
        )
        assert all(n == 1 for n in per_member.values())
        promoted = Claim.objects.filter(request=service_request, promoted_at__isnull=False)
        assert promoted.exclude(status=Claim.Status.WAITLISTED).count() == promoted.count()
        # Running expiry again changes nothing: it is idempotent.
        before = service_request.claimed
        expire_overdue(now=timezone.now())
        assert assert_consistent(service_request).claimed == before


def test_claims_expiring_as_fast_as_they_are_made_keep_the_counts_right(client_for, settings):
    # No grace and a request already under way: every claim is overdue at the next read,
    # so claims, lazy expiry on reads and waitlist promotion all run into each other.
    settings.SERVICES_CLAIM_GRACE_MINUTES = 0
    for _ in range(5):
        service_request = _request(
            slots=2,
            starts_at=timezone.now() - timedelta(minutes=5),
            ends_at=timezone.now() + timedelta(hours=1),
        )
        path = request_url(service_request, "claims/?waitlist=1")
        members = [MemberFactory() for _ in range(12)]
        reader = client_for(UserFactory(is_staff=True))
        calls = [post(client_for(member.user), path) for member in members]
        calls += [get(reader, "/api/v1/requests/") for _ in range(4)]
        calls += [get(reader, "/api/v1/claims/") for _ in range(2)]

        results = run_together(calls, workers=len(calls))

        crashed = [r for r in results if not isinstance(r, tuple) or r[0] >= 500]
        assert not crashed, crashed
        assert {status for status, _ in results[:12]} <= {201, 409}
        expire_overdue()
        service_request = assert_consistent(service_request)
        waiting = Claim.objects.filter(request=service_request, status="waitlisted").count()
        if service_request.claimed < service_request.slots:
            assert waiting == 0
