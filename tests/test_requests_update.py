"""PATCH requests/{id}/, POST requests/{id}/cancel/ and GET requests/{id}/events/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import errors as common
from accounts.models import Event, Notification
from services import errors
from services.models import Claim, ServiceRequest
from tests import services_fixtures
from tests.factories import ClaimFactory, ServiceRequestFactory, UserFactory
from tests.services_fixtures import assert_consistent, request_url, soon
from tests.test_errors import assert_error

# Shared fixtures of the services tests (pytest finds fixtures among module attributes).
campaign = services_fixtures.campaign
open_request = services_fixtures.open_request


def patch(client, service_request, data):
    return client.patch(request_url(service_request), data, format="json")


def test_the_stations_manager_edits_an_open_request(world, client_for, open_request):
    data = {
        "title": "新螺头村法律咨询（加场）",
        "slots": 6,
        "specialties": [world.law.pk, world.medical.pk],
        "lat": 30.031,
        "lng": 122.116,
        "contact_phone": "13800138000",
    }
    response = patch(client_for(world.mary), open_request, data)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "新螺头村法律咨询（加场）" and body["slots"] == 6
    assert {s["code"] for s in body["specialties"]} == {"law", "medical"}
    assert (body["lat"], body["lng"]) == (30.031, 122.116)
    open_request.refresh_from_db()
    assert open_request.slots == 6 and open_request.contact_phone == "13800138000"
    event = Event.objects.get(verb="request_updated")
    assert event.actor == world.mary
    assert event.payload["changed"]["slots"] == [3, 6]
    assert event.payload["changed"]["specialties"] == [
        [world.law.pk],
        sorted([world.law.pk, world.medical.pk]),
    ]


def test_staff_edit_any_request(world, client_for, open_request):
    assert patch(client_for(world.sam), open_request, {"title": "改"}).status_code == 200


@pytest.mark.parametrize("who", ["oscar", "lily", "alice", "leo"])
def test_others_cannot_edit(world, client_for, open_request, who):
    user = {"oscar": world.oscar, "lily": world.lily, "alice": world.alice.user, "leo": world.leo}
    response = patch(client_for(user[who]), open_request, {"title": "改"})
    assert_error(response, 403, common.PERMISSION_DENIED)
    open_request.refresh_from_db()
    assert open_request.title == "新螺头村法律咨询"


def test_slots_never_drop_below_the_claimed_places(world, client_for, open_request):
    ClaimFactory.create_batch(2, request=open_request)
    client = client_for(world.mary)
    body = assert_error(patch(client, open_request, {"slots": 1}), 409, errors.SLOTS_BELOW_CLAIMED)
    assert body["claimed"] == 2
    assert patch(client, open_request, {"slots": 2}).json()["status"] == "full"
    assert_consistent(open_request)


def test_times_do_not_move_onto_a_claimants_other_task(world, client_for, open_request):
    ClaimFactory(request=open_request, member=world.alice)
    other = ServiceRequestFactory(
        station=world.station,
        starts_at=timezone.now() + timedelta(days=4),
        ends_at=timezone.now() + timedelta(days=4, hours=3),
    )
    ClaimFactory(request=other, member=world.alice)
    client = client_for(world.mary)
    moved = {"starts_at": soon(days=4, hours=1), "ends_at": soon(days=4, hours=2)}
    body = assert_error(patch(client, open_request, moved), 409, errors.REQUEST_HAS_CLAIMS)
    assert body["conflicting_members"] == 1
    before = open_request.starts_at
    open_request.refresh_from_db()
    assert open_request.starts_at == before
    # Other fields still change, and a time clear of alice's other task is fine.
    assert patch(client, open_request, {"description": "带好身份证"}).status_code == 200
    free = {"starts_at": soon(days=5), "ends_at": soon(days=5, hours=2)}
    assert patch(client, open_request, free).status_code == 200


def test_times_move_while_nobody_claimed(world, client_for, open_request):
    start = (timezone.now() + timedelta(days=4)).replace(microsecond=0)
    moved = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()}
    response = patch(client_for(world.mary), open_request, moved)
    assert response.status_code == 200, response.content
    open_request.refresh_from_db()
    assert (open_request.starts_at, open_request.ends_at) == (start, start + timedelta(hours=2))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"slots": 0}, "slots"),
        ({"slots": 501}, "slots"),
        ({"ends_at": soon(days=1)}, "ends_at"),
        ({"starts_at": soon(hours=-2)}, "starts_at"),
        ({"specialties": [123456]}, "specialties"),
        ({"title": ""}, "title"),
        ({"invite_until": soon(days=1)}, "invite_until"),
        ({"campaign": 987654}, "campaign"),
    ],
)
def test_bad_edits_are_400_and_change_nothing(world, client_for, open_request, data, field):
    before = ServiceRequest.objects.filter(pk=open_request.pk).values().get()
    body = assert_error(patch(client_for(world.mary), open_request, data), 400, "validation_error")
    assert field in body["fields"]
    assert ServiceRequest.objects.filter(pk=open_request.pk).values().get() == before
    assert not Event.objects.filter(verb="request_updated").exists()


def test_the_invite_can_be_set_and_cleared(world, client_for, open_request):
    client = client_for(world.mary)
    response = patch(
        client, open_request, {"invited_team": world.team.pk, "invite_until": soon(days=1)}
    )
    assert response.json()["invited_team"]["id"] == world.team.pk
    cleared = patch(client, open_request, {"invited_team": None}).json()
    assert cleared["invited_team"] is None and cleared["invite_until"] is None


@pytest.mark.parametrize(
    "status",
    [ServiceRequest.Status.IN_PROGRESS, ServiceRequest.Status.CANCELLED, "completed", "expired"],
)
def test_only_open_or_full_requests_are_edited(world, client_for, open_request, status):
    open_request.status = status
    open_request.save()
    response = patch(client_for(world.mary), open_request, {"title": "改"})
    assert_error(response, 409, errors.REQUEST_NOT_EDITABLE)


def test_put_is_not_allowed(world, client_for, open_request):
    response = client_for(world.mary).put(request_url(open_request), {}, format="json")
    assert_error(response, 405, common.METHOD_NOT_ALLOWED)


# ---------------------------------------------------------------- cancel


def cancel(client, service_request, reason="村里临时安排了其他活动"):
    data = {} if reason is None else {"reason": reason}
    return client.post(request_url(service_request, "cancel/"), data, format="json")


def test_cancelling_tells_every_claimant_and_waiting_member(world, client_for, open_request):
    held = ClaimFactory(request=open_request, member=world.alice)
    waiting = ClaimFactory(request=open_request, member=world.bob, status="waitlisted")
    gone = ClaimFactory(request=open_request, member=world.charlie, status="cancelled")

    response = cancel(client_for(world.mary), open_request)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["cancel_reason"] == "村里临时安排了其他活动"
    assert body["claimed"] == 0
    assert set(
        Claim.objects.filter(pk__in=[held.pk, waiting.pk]).values_list("status", flat=True)
    ) == {"cancelled"}
    assert_consistent(open_request)
    notes = Notification.objects.filter(kind="request_cancelled").order_by("user_id")
    assert {n.user_id for n in notes} == {world.alice.user.pk, world.bob.user.pk}
    note = notes.get(user=world.alice.user)
    assert "新螺头村法律咨询" in note.body and "临时安排" in note.body
    assert note.payload["request"] == open_request.pk and note.payload["claim"] == held.pk
    assert not Notification.objects.filter(user=world.charlie.user).exists()
    gone.refresh_from_db()
    assert gone.status == "cancelled"
    assert Event.objects.filter(verb="request_cancelled", to_status="cancelled").count() == 1
    assert Event.objects.filter(verb="claim_cancelled").count() == 2


def test_staff_cancel_too(world, client_for, open_request):
    assert cancel(client_for(world.sam), open_request).status_code == 200


@pytest.mark.parametrize("who", ["oscar", "lily", "alice"])
def test_others_cannot_cancel(world, client_for, open_request, who):
    user = {"oscar": world.oscar, "lily": world.lily, "alice": world.alice.user}[who]
    assert_error(cancel(client_for(user), open_request), 403, common.PERMISSION_DENIED)
    open_request.refresh_from_db()
    assert open_request.status == "open"


@pytest.mark.parametrize("reason", [None, "", "   ", "长" * 201])
def test_cancelling_needs_a_reason(world, client_for, open_request, reason):
    body = assert_error(
        cancel(client_for(world.mary), open_request, reason), 400, "validation_error"
    )
    assert "reason" in body["fields"]
    open_request.refresh_from_db()
    assert open_request.status == "open"


@pytest.mark.parametrize("status", ["in_progress", "cancelled", "expired", "completed"])
def test_only_open_or_full_requests_are_cancelled(world, client_for, open_request, status):
    open_request.status = status
    open_request.save()
    assert_error(cancel(client_for(world.mary), open_request), 409, errors.REQUEST_NOT_CANCELLABLE)


def test_cancelling_an_unknown_request_is_404(world, client_for):
    assert_error(cancel(client_for(world.mary), 424242), 404, common.NOT_FOUND)


# ---------------------------------------------------------------- events


def test_the_audit_trail_covers_the_request_and_its_claims(world, client_for, open_request):
    claim = client_for(world.alice.user).post(request_url(open_request, "claims/")).json()
    patch(client_for(world.mary), open_request, {"title": "新标题"})
    cancel(client_for(world.mary), open_request)

    response = client_for(world.mary).get(request_url(open_request, "events/"))
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["verb"] for r in rows] == [
        "claim_cancelled",
        "request_cancelled",
        "request_updated",
        "claim_created",
    ]
    cancelled = rows[1]
    assert cancelled["object_type"] == "request" and cancelled["object_id"] == str(open_request.pk)
    assert (cancelled["from_status"], cancelled["to_status"]) == ("open", "cancelled")
    assert cancelled["actor"] == {"id": world.mary.pk, "name": "马芸"}
    assert rows[3]["object_type"] == "claim" and rows[3]["object_id"] == str(claim["id"])
    assert client_for(world.sam).get(request_url(open_request, "events/")).status_code == 200


@pytest.mark.parametrize("who", ["oscar", "lily", "alice"])
def test_only_the_station_and_staff_read_the_audit_trail(world, client_for, open_request, who):
    user = {"oscar": world.oscar, "lily": world.lily, "alice": world.alice.user}[who]
    response = client_for(user).get(request_url(open_request, "events/"))
    assert_error(response, 403, common.PERMISSION_DENIED)


def test_a_manager_who_lost_the_role_loses_the_rights(world, client_for, open_request):
    world.mary.is_station_manager = False
    world.mary.save()
    assert_error(cancel(client_for(world.mary), open_request), 403, common.PERMISSION_DENIED)


def test_a_new_manager_gains_the_rights(world, client_for, open_request):
    newcomer = UserFactory(is_station_manager=True)
    world.station.managers.add(newcomer)
    assert cancel(client_for(newcomer), open_request).status_code == 200
    assert timezone.now() >= ServiceRequest.objects.get(pk=open_request.pk).cancelled_at


def test_an_empty_patch_changes_nothing(world, client_for, open_request):
    response = patch(client_for(world.mary), open_request, {})
    assert response.status_code == 200 and response.json()["title"] == "新螺头村法律咨询"
    assert not Event.objects.filter(verb="request_updated").exists()


def test_only_specialties_change_bumps_updated_at(world, client_for, open_request):
    before = open_request.updated_at
    response = patch(client_for(world.mary), open_request, {"specialties": []})
    assert response.json()["specialties"] == []
    open_request.refresh_from_db()
    assert open_request.updated_at > before
