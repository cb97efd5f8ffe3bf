"""Reviewing a service record: approve, reject, who may, and revoking a verification."""

from __future__ import annotations

import pytest

from accounts import errors as common
from accounts.errors import Forbidden
from accounts.models import Event, Notification
from services import errors
from services.models import Claim, PointEntry, ServiceRecord, ServiceRequest
from services.records.writes import revoke_record, submit_record, verify_record
from tests import records_fixtures
from tests.factories import MemberFactory, UserFactory
from tests.records_fixtures import checked_in, record_url
from tests.test_errors import assert_error

rules = records_fixtures.rules
service = records_fixtures.service


def verify(client, record, body):
    return client.post(record_url(record, "verify/"), body, format="json")


def revoke(client, record, body):
    return client.post(record_url(record, "revoke/"), body, format="json")


@pytest.fixture
def record(world, service) -> ServiceRecord:
    """Alice's record of the service (alice and bob took part), awaiting review."""
    return submit_record(user=world.alice.user, request_id=service.request.pk, **_body(service))


def _body(service) -> dict:
    body = service.payload()
    return {
        "people_served": body["people_served"],
        "households_visited": body["households_visited"],
        "summary": body["summary"],
        "participants": body["participants"],
    }


def assert_untouched(record: ServiceRecord) -> None:
    """Nothing moved: the record awaits review, claims checked in, no points."""
    record.refresh_from_db()
    assert record.status == "submitted" and record.verified_by is None and record.note == ""
    assert record.request.status == "completed"
    assert set(record.participants.values_list("status", flat=True)) == {"checked_in"}
    assert not PointEntry.objects.exists()
    assert not Event.objects.filter(verb__in=["record_verified", "record_rejected"]).exists()


# ---------------------------------------------------------------- approve


def test_the_manager_approves_and_everything_moves_together(world, client_for, service, record):
    response = verify(client_for(world.mary), record, {"approved": True, "note": "属实"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "verified" and body["note"] == "属实"
    assert body["verified_by"] == {"id": world.mary.pk, "name": "马芸"}
    assert body["verified_at"] and body["request"]["status"] == "verified"
    # alice: participation 5; bob: participation 5 + team leader 1 (world.village is not remote).
    assert body["points_awarded"] == 11
    record.refresh_from_db()
    assert record.status == ServiceRecord.Status.VERIFIED and record.verified_by == world.mary
    service.request.refresh_from_db()
    assert service.request.status == ServiceRequest.Status.VERIFIED
    assert set(Claim.objects.values_list("status", flat=True)) == {"done"}
    ledger = sorted(PointEntry.objects.values_list("member__name", "rule__kind", "points", "award"))
    assert ledger == [
        ("王丽", "participation", 5, True),
        ("鲍勃", "participation", 5, True),
        ("鲍勃", "team_leader", 1, True),
    ]
    entry = PointEntry.objects.filter(member=world.alice).get()
    assert entry.team == world.team and entry.record == record
    assert entry.service_date == record.service_date
    assert "新螺头村法律咨询" in entry.reason
    # Participants are told, with their points.
    notices = {n.user_id: n for n in Notification.objects.filter(kind="record_verified")}
    assert set(notices) == {world.alice.user.pk, world.bob.user.pk}
    assert notices[world.bob.user.pk].payload["points"] == 6
    assert notices[world.alice.user.pk].payload["note"] == "属实"
    verbs = set(Event.objects.values_list("verb", flat=True))
    assert {"record_verified", "request_verified", "claim_done"} <= verbs
    event = Event.objects.get(verb="record_verified")
    assert event.payload["points"] == {str(world.alice.pk): 5, str(world.bob.pk): 6}


def test_staff_may_approve_without_a_note_when_there_are_no_flags(world, client_for, record):
    response = verify(client_for(world.sam), record, {"approved": True})
    assert response.status_code == 200, response.content
    assert response.json()["note"] == ""


def test_verifying_twice_is_409(world, client_for, record):
    assert verify(client_for(world.mary), record, {"approved": True}).status_code == 200
    for user in (world.mary, world.sam):
        response = verify(client_for(user), record, {"approved": True})
        assert_error(response, 409, errors.ALREADY_VERIFIED)
        response = verify(client_for(user), record, {"approved": False, "note": "再看看"})
        assert_error(response, 409, errors.ALREADY_VERIFIED)
    assert PointEntry.objects.count() == 3
    assert Event.objects.filter(verb="record_verified").count() == 1


# ---------------------------------------------------------------- reject


def test_rejecting_needs_a_note(world, client_for, record):
    for body in ({"approved": False}, {"approved": False, "note": "   "}):
        response = verify(client_for(world.mary), record, body)
        body = assert_error(response, 400, errors.NOTE_REQUIRED)
        assert "note" in body["fields"]
    assert_untouched(record)


def test_a_rejection_reopens_the_request_and_tells_the_submitter(world, client_for, record):
    response = verify(client_for(world.mary), record, {"approved": False, "note": "人次偏高"})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "rejected"
    record.refresh_from_db()
    assert (record.status, record.note, record.verified_by) == ("rejected", "人次偏高", world.mary)
    record.request.refresh_from_db()
    assert record.request.status == ServiceRequest.Status.IN_PROGRESS
    assert set(record.participants.values_list("status", flat=True)) == {"checked_in"}
    assert not PointEntry.objects.exists()
    notice = Notification.objects.get(kind="record_rejected")
    assert notice.user == world.alice.user and notice.payload["note"] == "人次偏高"
    assert "人次偏高" in notice.body
    assert Event.objects.filter(verb="request_record_rejected", to_status="in_progress").exists()
    # A rejected record cannot be approved afterwards; a new version is the way.
    again = verify(client_for(world.sam), record, {"approved": True, "note": "ok"})
    assert_error(again, 409, errors.RECORD_NOT_PENDING)


# ---------------------------------------------------------------- who may not


def test_nobody_verifies_their_own_record_not_even_a_manager(world, client_for, service):
    own = submit_record(user=world.mary, request_id=service.request.pk, **_body(service))
    response = verify(client_for(world.mary), own, {"approved": True, "note": "自己看过了"})
    body = assert_error(response, 403, errors.CANNOT_VERIFY_OWN_RECORD)
    assert "自己" in body["detail"]
    # The rule holds below the API too.
    with pytest.raises(errors.CannotVerifyOwnRecord):
        verify_record(actor=world.mary, record_id=own.pk, approved=True, note="x")
    assert_untouched(own)
    # Another manager of the station (or staff) may.
    colleague = UserFactory(is_station_manager=True)
    world.station.managers.add(colleague)
    assert verify(client_for(colleague), own, {"approved": True}).status_code == 200


def test_nobody_verifies_a_service_they_took_part_in(world, client_for, service):
    """谁记录谁证明: a manager who also served is a participant, not a second party."""
    ServiceRequest.objects.filter(pk=service.request.pk).update(slots=5)
    serving_manager = MemberFactory(user=UserFactory(is_member=True, is_station_manager=True))
    world.station.managers.add(serving_manager.user)
    theirs = checked_in(service.request, serving_manager)
    record = submit_record(
        user=world.alice.user,
        request_id=service.request.pk,
        **service.payload(participants=[service.alice.pk, theirs.pk]),
    )
    response = verify(client_for(serving_manager.user), record, {"approved": True, "note": "ok"})
    body = assert_error(response, 403, errors.VERIFIER_IS_PARTICIPANT)
    assert "参与" in body["detail"]
    assert_untouched(record)
    assert not PointEntry.objects.exists()
    # Staff who served are no exception.
    serving_staff = MemberFactory(user=UserFactory(is_member=True, is_staff=True))
    staff_claim = checked_in(service.request, serving_staff)
    record.participants.add(staff_claim)
    with pytest.raises(errors.VerifierIsParticipant):
        verify_record(actor=serving_staff.user, record_id=record.pk, approved=True, note="x")
    assert_untouched(record)
    # A manager of the station who did not serve may.
    assert (
        verify(client_for(world.mary), record, {"approved": True, "note": "ok"}).status_code == 200
    )


def test_a_member_submitter_gets_the_own_record_code(world, client_for, record):
    response = verify(client_for(world.alice.user), record, {"approved": True})
    assert_error(response, 403, errors.CANNOT_VERIFY_OWN_RECORD)
    assert_untouched(record)


def test_members_liaisons_and_other_managers_may_not_verify(world, client_for, record, anon):
    # bob took part, so he sees the record, but members do not verify.
    assert_error(
        verify(client_for(world.bob.user), record, {"approved": True}),
        403,
        errors.NOT_RECORD_VERIFIER,
    )
    # The manager of another station does not see it at all.
    assert_error(verify(client_for(world.oscar), record, {"approved": True}), 404, common.NOT_FOUND)
    assert_error(
        verify(client_for(world.charlie.user), record, {"approved": True}), 404, common.NOT_FOUND
    )
    assert_error(verify(client_for(world.lily), record, {"approved": True}), 404, common.NOT_FOUND)
    assert_error(verify(anon, record, {"approved": True}), 401, common.NOT_AUTHENTICATED)
    with pytest.raises(errors.NotRecordVerifier):
        verify_record(actor=world.oscar, record_id=record.pk, approved=True)
    assert_untouched(record)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "approved"),
        ({"approved": "maybe"}, "approved"),
        ({"approved": None}, "approved"),
        ({"approved": True, "note": "长" * 501}, "note"),
    ],
)
def test_bad_review_input_is_400(world, client_for, record, body, field):
    response = verify(client_for(world.mary), record, body)
    payload = assert_error(response, 400, common.VALIDATION_ERROR)
    assert field in payload["fields"]
    assert_untouched(record)


def test_unknown_and_malformed_record_ids_are_404(world, client_for, record):
    client = client_for(world.sam)
    for pk in (999_999, 2**64):
        assert_error(verify(client, pk, {"approved": True}), 404, common.NOT_FOUND)
        assert_error(revoke(client, pk, {"reason": "x"}), 404, common.NOT_FOUND)
    response = client.post("/api/v1/records/abc/verify/", {"approved": True}, format="json")
    assert_error(response, 404, common.NOT_FOUND)
    assert_untouched(record)


# ---------------------------------------------------------------- flags need acknowledging


def test_flags_must_be_acknowledged_in_the_note(world, client_for, service):
    flagged = submit_record(
        user=world.alice.user,
        request_id=service.request.pk,
        **{**_body(service), "people_served": 400},
    )
    assert flagged.flag_count == 2
    response = verify(client_for(world.mary), flagged, {"approved": True})
    body = assert_error(response, 400, errors.FLAGS_NOT_ACKNOWLEDGED)
    assert body["flags"] == ["people_above_expected", "people_above_bound"]
    assert_untouched(flagged)
    ok = verify(
        client_for(world.mary),
        flagged,
        {"approved": True, "note": "已电话核实：集中宣讲，400 人。"},
    )
    assert ok.status_code == 200, ok.content
    assert Event.objects.get(verb="record_verified").payload["flags"] == [
        "people_above_expected",
        "people_above_bound",
    ]


# ---------------------------------------------------------------- revoke


@pytest.fixture
def verified(world, record) -> ServiceRecord:
    return verify_record(actor=world.mary, record_id=record.pk, approved=True, note="属实")


def test_staff_revoke_a_verification_and_points_are_reversed(world, client_for, verified):
    response = revoke(client_for(world.sam), verified, {"reason": "重复填报"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "revoked" and body["revoke_reason"] == "重复填报"
    assert body["revoked_at"] and body["points_awarded"] == 0
    verified.refresh_from_db()
    assert verified.status == ServiceRecord.Status.REVOKED
    verified.request.refresh_from_db()
    assert verified.request.status == ServiceRequest.Status.COMPLETED
    assert set(Claim.objects.values_list("status", flat=True)) == {"checked_in"}
    # The ledger only grows: three awards and three reversals.
    assert PointEntry.objects.filter(award=True).count() == 3
    reversals = PointEntry.objects.filter(award=False)
    assert sorted(reversals.values_list("member__name", "rule__kind", "points")) == [
        ("王丽", "participation", -5),
        ("鲍勃", "participation", -5),
        ("鲍勃", "team_leader", -1),
    ]
    assert all("重复填报" in e.reason for e in reversals)
    assert {e.service_date for e in reversals} == {verified.service_date}
    for member in (world.alice, world.bob):
        assert sum(PointEntry.objects.filter(member=member).values_list("points", flat=True)) == 0
    assert Notification.objects.filter(kind="record_revoked").count() == 2
    event = Event.objects.get(verb="record_revoked")
    assert event.actor == world.sam and event.payload["points_reversed"][str(world.bob.pk)] == 6

    # Revoking again, or a record never verified, is 409; the ledger does not move.
    assert_error(
        revoke(client_for(world.sam), verified, {"reason": "再撤"}), 409, errors.RECORD_NOT_VERIFIED
    )
    assert PointEntry.objects.count() == 6


def test_after_a_revocation_a_new_version_earns_points_again(world, client_for, service, verified):
    revoke_record(actor=world.sam, record_id=verified.pk, reason="人次有误")
    second = submit_record(
        user=world.bob.user,
        request_id=service.request.pk,
        **{**_body(service), "people_served": 20},
    )
    assert second.version == 2
    assert verify(client_for(world.mary), verified, {"approved": True}).status_code == 409
    assert verify(client_for(world.sam), second, {"approved": True}).status_code == 200
    totals = {
        m.name: sum(PointEntry.objects.filter(member=m).values_list("points", flat=True))
        for m in (world.alice, world.bob)
    }
    assert totals == {"王丽": 5, "鲍勃": 6}


def test_only_staff_revoke(world, client_for, verified, record):
    for user in (world.mary, world.alice.user, world.oscar):
        response = revoke(client_for(user), verified, {"reason": "x"})
        assert_error(response, 403, common.PERMISSION_DENIED)
    with pytest.raises(Forbidden):
        revoke_record(actor=world.mary, record_id=verified.pk, reason="x")
    verified.refresh_from_db()
    assert verified.status == "verified"
    assert not PointEntry.objects.filter(award=False).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "长" * 201}, "reason")],
)
def test_bad_revoke_input_is_400(world, client_for, verified, body, field):
    payload = assert_error(
        revoke(client_for(world.sam), verified, body), 400, common.VALIDATION_ERROR
    )
    assert field in payload["fields"]
    verified.refresh_from_db()
    assert verified.status == "verified"


def test_a_submitted_record_cannot_be_revoked(world, client_for, record):
    assert_error(
        revoke(client_for(world.sam), record, {"reason": "x"}), 409, errors.RECORD_NOT_VERIFIED
    )
    assert_untouched(record)
