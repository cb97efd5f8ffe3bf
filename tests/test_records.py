"""Submitting a service record: who may, what it must contain, what it writes."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts import errors as common
from accounts.models import Event, Notification
from services import errors
from services.models import Claim, IdempotencyKey, ServiceRecord, ServiceRequest
from tests import records_fixtures
from tests.factories import ClaimFactory, ServiceRequestFactory, UserFactory
from tests.records_fixtures import checked_in, submit_url
from tests.test_errors import assert_error

rules = records_fixtures.rules
service = records_fixtures.service


def submit(client, service_request, body, **headers):
    return client.post(submit_url(service_request), body, format="json", headers=headers or None)


def assert_nothing_written(service_request: ServiceRequest, status: str = "in_progress") -> None:
    assert not ServiceRecord.objects.filter(request=service_request).exists()
    assert not Event.objects.filter(verb="record_submitted").exists()
    service_request.refresh_from_db()
    assert service_request.status == status


# ---------------------------------------------------------------- the happy paths


def test_a_checked_in_claimant_submits_the_record(world, client_for, service):
    response = submit(client_for(world.alice.user), service.request, service.payload())

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "submitted" and body["version"] == 1
    assert (body["people_served"], body["enterprises_served"], body["households_visited"]) == (
        30,
        0,
        8,
    )
    assert [p["claim"] for p in body["participants"]] == [service.alice.pk, service.bob.pk]
    assert body["participants_count"] == 2
    assert body["flags"] == [] and body["flag_count"] == 0
    assert body["submitted_by"] == {"id": world.alice.user.pk, "name": "王丽"}
    assert body["verified_by"] is None and body["points_awarded"] == 0
    assert body["request"]["id"] == service.request.pk
    assert body["request"]["status"] == "completed"
    assert body["station"] == {"id": world.station.pk, "name": "昌国协商驿站"}
    assert body["town"]["id"] == world.town.pk
    assert body["campaign_kind"] == "warm_village"
    # Alice sees her own name, and bob's masked (she is not a manager).
    names = {p["claim"]: p["member"]["name"] for p in body["participants"]}
    assert names == {service.alice.pk: "王丽", service.bob.pk: "鲍*"}

    record = ServiceRecord.objects.get()
    assert record.submitted_by == world.alice.user
    assert set(record.participants.values_list("id", flat=True)) == {
        service.alice.pk,
        service.bob.pk,
    }
    # The statistics columns are filled from the request.
    assert (record.station_id, record.town_id, record.campaign_id) == (
        world.station.pk,
        world.town.pk,
        service.campaign.pk,
    )
    assert record.service_date == timezone.localtime(service.request.starts_at).date()
    service.request.refresh_from_db()
    assert service.request.status == ServiceRequest.Status.COMPLETED
    event = Event.objects.get(verb="record_submitted")
    assert event.actor == world.alice.user and event.to_status == "submitted"
    assert event.payload["participants"] == [service.alice.pk, service.bob.pk]
    assert Event.objects.filter(verb="request_completed", to_status="completed").count() == 1
    # The station's manager is asked to verify it.
    notice = Notification.objects.get(kind="record_submitted")
    assert notice.user == world.mary and notice.payload["record"] == record.pk
    # Claims stay checked in until the record is verified.
    assert set(Claim.objects.values_list("status", flat=True)) == {"checked_in"}


def test_the_station_manager_and_staff_may_submit(world, client_for, service):
    response = submit(client_for(world.mary), service.request, service.payload())
    assert response.status_code == 201, response.content
    assert response.json()["submitted_by"]["id"] == world.mary.pk
    # The manager who submitted is not told to verify their own record.
    assert not Notification.objects.filter(kind="record_submitted").exists()

    other = records_fixtures.under_way(station=world.station, campaign=service.campaign)
    claim = checked_in(other, world.charlie)
    response = submit(
        client_for(world.sam), other, service.payload(participants=[claim.pk], people_served=3)
    )
    assert response.status_code == 201, response.content
    # Staff see every name in full.
    assert response.json()["participants"][0]["member"]["name"] == "陈晨"


def test_a_participant_may_be_left_out_and_duplicates_count_once(world, client_for, service):
    response = submit(
        client_for(world.bob.user),
        service.request,
        service.payload(participants=[service.bob.pk, service.bob.pk]),
    )
    assert response.status_code == 201, response.content
    assert [p["claim"] for p in response.json()["participants"]] == [service.bob.pk]
    assert ServiceRecord.objects.get().participants_count == 1


# ---------------------------------------------------------------- who may not


def test_others_may_not_submit(world, client_for, service, anon):
    claimed_only = ClaimFactory(request=service.request, member=world.charlie)
    for user in (world.charlie.user, world.oscar, world.lily):
        response = submit(client_for(user), service.request, service.payload())
        assert_error(response, 403, errors.NOT_RECORD_SUBMITTER)
    assert_error(submit(anon, service.request, service.payload()), 401, common.NOT_AUTHENTICATED)
    assert claimed_only.status == "claimed"
    assert_nothing_written(service.request)


def test_unknown_and_malformed_request_ids_are_404(world, client_for, service):
    client = client_for(world.mary)
    assert_error(submit(client, 999_999, service.payload()), 404, common.NOT_FOUND)
    assert_error(submit(client, 2**64, service.payload()), 404, common.NOT_FOUND)
    response = client.post("/api/v1/requests/abc/record/", service.payload(), format="json")
    assert_error(response, 404, common.NOT_FOUND)
    assert_nothing_written(service.request)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"people_served": -1}, "people_served"),
        ({"people_served": 10_001}, "people_served"),
        ({"people_served": "many"}, "people_served"),
        ({"people_served": 2.5}, "people_served"),
        ({"people_served": True}, "people_served"),
        ({"people_served": None}, "people_served"),
        ({"enterprises_served": -3}, "enterprises_served"),
        ({"enterprises_served": 1001}, "enterprises_served"),
        ({"households_visited": 5001}, "households_visited"),
        ({"households_visited": -1}, "households_visited"),
        ({"summary": ""}, "summary"),
        ({"summary": "   "}, "summary"),
        ({"summary": "长" * 2001}, "summary"),
        ({"summary": None}, "summary"),
        ({"participants": []}, "participants"),
        ({"participants": "1,2"}, "participants"),
        ({"participants": [0]}, "participants.0"),
        ({"participants": [2**63]}, "participants.0"),
        ({"participants": ["x"]}, "participants.0"),
        ({"participants": [True]}, "participants.0"),
        ({"participants": list(range(1, 502))}, "participants"),
    ],
)
def test_bad_input_is_400_and_writes_nothing(world, client_for, service, overrides, field):
    response = submit(client_for(world.alice.user), service.request, service.payload(**overrides))
    body = assert_error(response, 400, common.VALIDATION_ERROR)
    assert field in body["fields"], body
    assert_nothing_written(service.request)


def test_missing_fields_are_named(world, client_for, service):
    response = submit(client_for(world.alice.user), service.request, {})
    body = assert_error(response, 400, common.VALIDATION_ERROR)
    assert {"people_served", "summary", "participants"} <= set(body["fields"])
    # The optional counts default to zero.
    ok = submit(
        client_for(world.alice.user),
        service.request,
        {"people_served": 5, "summary": "宣讲", "participants": [service.alice.pk]},
    )
    assert ok.status_code == 201, ok.content
    assert (ok.json()["enterprises_served"], ok.json()["households_visited"]) == (0, 0)


def test_the_caps_are_settings(world, client_for, service, settings):
    settings.RECORDS_MAX_PEOPLE_SERVED = 20
    response = submit(client_for(world.alice.user), service.request, service.payload())
    body = assert_error(response, 400, common.VALIDATION_ERROR)
    assert "20" in body["fields"]["people_served"][0]
    assert_nothing_written(service.request)


def test_participants_must_be_checked_in_claims_of_this_request(world, client_for, service):
    other = records_fixtures.under_way(station=world.station, campaign=service.campaign)
    elsewhere = checked_in(other, world.charlie)
    not_yet = ClaimFactory(request=service.request, member=world.charlie)
    cancelled = ClaimFactory(
        request=service.request,
        status=Claim.Status.CANCELLED,
        claimed_at=None,
        check_in_by=None,
    )
    client = client_for(world.alice.user)
    for bad in (elsewhere.pk, not_yet.pk, cancelled.pk, 999_999):
        response = submit(
            client, service.request, service.payload(participants=[service.alice.pk, bad])
        )
        body = assert_error(response, 400, errors.INVALID_PARTICIPANTS)
        assert body["invalid"] == [bad]
        assert str(bad) in body["fields"]["participants"][0]
    assert_nothing_written(service.request)


# ---------------------------------------------------------------- states


def test_a_request_nobody_checked_in_to_takes_no_record(world, client_for, rules):
    service_request = ServiceRequestFactory(station=world.station)
    response = submit(
        client_for(world.mary),
        service_request,
        {"people_served": 1, "summary": "x", "participants": [1]},
    )
    assert_error(response, 409, errors.REQUEST_NOT_RECORDABLE)
    cancelled = ServiceRequestFactory(station=world.station, status="cancelled")
    response = submit(
        client_for(world.mary), cancelled, {"people_served": 1, "summary": "x", "participants": [1]}
    )
    body = assert_error(response, 409, errors.REQUEST_NOT_RECORDABLE)
    assert "取消" in body["detail"]
    assert not ServiceRecord.objects.exists()


def test_one_live_record_per_request(world, client_for, service):
    first = submit(client_for(world.alice.user), service.request, service.payload())
    assert first.status_code == 201
    for user in (world.bob.user, world.mary, world.sam):
        response = submit(client_for(user), service.request, service.payload(people_served=99))
        body = assert_error(response, 409, errors.RECORD_EXISTS)
        assert body["record"] == first.json()["id"]
    assert ServiceRecord.objects.count() == 1
    assert ServiceRecord.objects.get().people_served == 30


def test_a_rejected_record_is_resubmitted_as_a_new_version(world, client_for, service):
    first = submit(client_for(world.alice.user), service.request, service.payload())
    record_id = first.json()["id"]
    rejected = client_for(world.mary).post(
        records_fixtures.record_url(record_id, "verify/"),
        {"approved": False, "note": "人次与签到人数不符，请核对。"},
        format="json",
    )
    assert rejected.status_code == 200, rejected.content
    service.request.refresh_from_db()
    assert service.request.status == ServiceRequest.Status.IN_PROGRESS

    again = submit(client_for(world.bob.user), service.request, service.payload(people_served=12))

    assert again.status_code == 201, again.content
    assert again.json()["version"] == 2 and again.json()["id"] != record_id
    old = ServiceRecord.objects.get(pk=record_id)
    assert (old.status, old.people_served, old.version) == ("rejected", 30, 1)
    assert old.note == "人次与签到人数不符，请核对。"
    service.request.refresh_from_db()
    assert service.request.status == ServiceRequest.Status.COMPLETED


# ---------------------------------------------------------------- Idempotency-Key


def test_a_replayed_key_returns_the_first_response(world, client_for, service):
    client = client_for(world.alice.user)
    key = "b9f0-record-once"
    first = submit(client, service.request, service.payload(), **{"Idempotency-Key": key})
    again = submit(client, service.request, service.payload(), **{"Idempotency-Key": key})

    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert ServiceRecord.objects.count() == 1
    assert IdempotencyKey.objects.get().response_status == 201

    other = submit(
        client, service.request, service.payload(people_served=1), **{"Idempotency-Key": key}
    )
    assert_error(other, 422, errors.IDEMPOTENCY_MISMATCH)
    bad = submit(client, service.request, service.payload(), **{"Idempotency-Key": "é" * 3})
    assert_error(bad, 400, errors.INVALID_IDEMPOTENCY_KEY)
    # A new key is a new attempt: the request already has its record.
    new = submit(client, service.request, service.payload(), **{"Idempotency-Key": "another"})
    assert_error(new, 409, errors.RECORD_EXISTS)
    assert ServiceRecord.objects.count() == 1


def test_a_refused_submission_is_replayed_too(world, client_for, service):
    other_user = UserFactory(is_station_manager=True)
    client = client_for(other_user)
    first = submit(client, service.request, service.payload(), **{"Idempotency-Key": "k-403"})
    assert_error(first, 403, errors.NOT_RECORD_SUBMITTER)
    # Even after they become its manager, the key answers what it answered.
    world.station.managers.add(other_user)
    again = submit(client, service.request, service.payload(), **{"Idempotency-Key": "k-403"})
    assert again.status_code == 403 and again.json() == first.json()
    assert not ServiceRecord.objects.exists()
