"""Records, verification and points under real concurrency: threads released together, real
transactions, on whichever database the suite runs (SQLite file in WAL mode, or PostgreSQL)."""

from __future__ import annotations

from collections import Counter

import pytest

from accounts.models import Event, Notification
from services import errors
from services.models import Claim, PointEntry, ServiceRecord, ServiceRequest
from services.records.writes import submit_record, verify_record
from tests.factories import CampaignFactory, MemberFactory, StationFactory, TeamFactory, UserFactory
from tests.records_fixtures import checked_in, ensure_rules, record_url, submit_url, under_way
from tests.test_claim_concurrency import post, post_until_answered, run_together, unthrottled

pytestmark = pytest.mark.django_db(transaction=True)


def _service(*, participants: int = 3):
    """A request under way with ``participants`` checked-in members; the first leads a team."""
    ensure_rules()
    managers = [UserFactory(is_station_manager=True) for _ in range(4)]
    station = StationFactory(managers=managers)
    service_request = under_way(station=station, campaign=CampaignFactory(), slots=10)
    leader = MemberFactory()
    team = TeamFactory(leader=leader.user)
    leader.team = team
    leader.save(update_fields=["team"])
    members = [leader, *[MemberFactory(team=team) for _ in range(participants - 1)]]
    claims = [checked_in(service_request, member) for member in members]
    return service_request, managers, claims


def _submit(service_request, claims, *, user) -> ServiceRecord:
    return submit_record(
        user=user,
        request_id=service_request.pk,
        people_served=20,
        summary="集中宣讲",
        participants=[c.pk for c in claims],
    )


def test_20_parallel_verifications_verify_once_and_award_once(client_for):
    service_request, managers, claims = _service()
    record = _submit(service_request, claims, user=claims[0].member.user)
    reviewers = [*managers, *[UserFactory(is_staff=True) for _ in range(4)]]
    calls = [
        post(
            client_for(reviewers[i % len(reviewers)]),
            record_url(record, "verify/"),
            {"approved": True},
        )
        for i in range(20)
    ]

    results = run_together(calls, workers=20)

    assert all(isinstance(r, tuple) for r in results), results
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 409: 19}, statuses
    assert {body["code"] for status, body in results if status == 409} == {errors.ALREADY_VERIFIED}
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.VERIFIED
    service_request.refresh_from_db()
    assert service_request.status == ServiceRequest.Status.VERIFIED
    assert set(Claim.objects.filter(request=service_request).values_list("status", flat=True)) == {
        "done"
    }
    # Participation 5 each, and the leader's bonus once: 3 + 1 lines, each member once per rule.
    per_member_rule = Counter(PointEntry.objects.values_list("member_id", "rule__kind"))
    assert len(per_member_rule) == 4 and set(per_member_rule.values()) == {1}
    assert sum(PointEntry.objects.values_list("points", flat=True)) == 16
    assert Event.objects.filter(verb="record_verified").count() == 1
    assert Notification.objects.filter(kind="record_verified").count() == 3


def test_approvals_and_rejections_racing_leave_one_outcome(client_for):
    for _ in range(3):
        service_request, managers, claims = _service(participants=2)
        record = _submit(service_request, claims, user=managers[0])
        calls = []
        for i in range(16):
            body = {"approved": i % 2 == 0, "note": "核对"}
            calls.append(post(client_for(managers[1 + i % 3]), record_url(record, "verify/"), body))

        results = run_together(calls, workers=16)

        statuses = Counter(status for status, _ in results)
        assert statuses[200] == 1 and statuses[409] == 15, results
        record.refresh_from_db()
        service_request.refresh_from_db()
        entries = PointEntry.objects.filter(record=record)
        if record.status == ServiceRecord.Status.VERIFIED:
            assert service_request.status == "verified" and entries.count() == 3
        else:
            assert record.status == ServiceRecord.Status.REJECTED
            assert service_request.status == "in_progress" and not entries.exists()
        codes = {body["code"] for status, body in results if status == 409}
        assert codes <= {errors.ALREADY_VERIFIED, errors.RECORD_NOT_PENDING}


def test_20_parallel_submissions_make_one_live_record(client_for):
    service_request, managers, claims = _service(participants=5)
    submitters = [c.member.user for c in claims] + managers[:2] + [UserFactory(is_staff=True)]
    body = {"people_served": 20, "summary": "宣讲", "participants": [c.pk for c in claims]}
    calls = [
        post(client_for(submitters[i % len(submitters)]), submit_url(service_request), body)
        for i in range(20)
    ]

    results = run_together(calls, workers=20)

    assert all(isinstance(r, tuple) for r in results), results
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 409: 19}, statuses
    assert {b["code"] for s, b in results if s == 409} == {errors.RECORD_EXISTS}
    assert ServiceRecord.objects.filter(request=service_request).count() == 1
    record = ServiceRecord.objects.get()
    assert (record.version, record.participants_count) == (1, 5)
    assert Event.objects.filter(verb="record_submitted").count() == 1


def test_20_replays_of_one_idempotency_key_make_one_record(client_for, settings):
    unthrottled(settings, "records")
    service_request, _, claims = _service()
    client = client_for(claims[1].member.user)
    body = {"people_served": 20, "summary": "宣讲", "participants": [c.pk for c in claims]}
    url = submit_url(service_request)
    calls = [post_until_answered(client, url, body, key="4e1f-record-once") for _ in range(20)]

    results = run_together(calls, workers=20)

    assert all(isinstance(r, tuple) for r in results), results
    assert {status for status, _, _ in results} == {201}
    bodies = [b for _, b, _ in results]
    assert all(b == bodies[0] for b in bodies)
    assert ServiceRecord.objects.filter(request=service_request).count() == 1


def test_parallel_revocations_reverse_once(client_for):
    service_request, managers, claims = _service(participants=2)
    record = _submit(service_request, claims, user=managers[0])
    verify_record(actor=managers[1], record_id=record.pk, approved=True)
    staff = [UserFactory(is_staff=True) for _ in range(5)]
    calls = [
        post(client_for(staff[i % 5]), record_url(record, "revoke/"), {"reason": "重复填报"})
        for i in range(10)
    ]

    results = run_together(calls, workers=10)

    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 1, 409: 9}, results
    assert PointEntry.objects.filter(award=False).count() == 3
    assert sum(PointEntry.objects.values_list("points", flat=True)) == 0
    assert set(Claim.objects.values_list("status", flat=True)) == {"checked_in"}
