"""The waitlist (候补): joining when full, promotion in order when a slot frees, its end."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from accounts.models import Event, Notification
from services import errors
from services.models import Claim, ServiceRequest
from services.notifications import iso
from services.requests.expiry import expire_overdue
from tests import services_fixtures
from tests.factories import ClaimFactory
from tests.services_fixtures import assert_consistent, claim_url, request_url
from tests.test_errors import assert_error

# Shared fixtures of the services tests (pytest finds fixtures among module attributes).
campaign = services_fixtures.campaign
open_request = services_fixtures.open_request


def fill(service_request) -> list[Claim]:
    return [ClaimFactory(request=service_request) for _ in range(service_request.slots)]


def join(client, service_request):
    return client.post(request_url(service_request, "claims/?waitlist=1"), format="json")


def test_a_full_request_takes_waitlist_places_on_request(world, client_for, open_request):
    fill(open_request)
    client = client_for(world.alice.user)
    assert_error(
        client.post(request_url(open_request, "claims/"), format="json"), 409, errors.REQUEST_FULL
    )
    response = join(client, open_request)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "waitlisted" and body["waitlist_position"] == 1
    assert body["claimed_at"] is None
    service_request = assert_consistent(open_request)
    assert service_request.claimed == 3 and service_request.status == "full"
    assert Event.objects.get(verb="claim_waitlisted").actor == world.alice.user
    second = join(client_for(world.bob.user), open_request).json()
    assert second["waitlist_position"] == 2


def test_asking_for_the_waitlist_while_a_slot_is_free_just_claims(world, client_for, open_request):
    response = join(client_for(world.alice.user), open_request)
    assert response.json()["status"] == "claimed"


def test_a_cancelled_request_has_no_waitlist(world, client_for, open_request):
    open_request.status = ServiceRequest.Status.CANCELLED
    open_request.save()
    assert_error(join(client_for(world.alice.user), open_request), 409, errors.REQUEST_NOT_OPEN)


def test_a_cancelled_claim_hands_its_slot_to_the_first_in_line(world, client_for, open_request):
    holders = fill(open_request)
    first = join(client_for(world.alice.user), open_request).json()
    second = join(client_for(world.bob.user), open_request).json()

    response = client_for(holders[0].member.user).post(
        claim_url(holders[0], "cancel/"), {"reason": "临时出差"}, format="json"
    )

    assert response.status_code == 200
    promoted = Claim.objects.get(pk=first["id"])
    assert promoted.status == Claim.Status.CLAIMED
    assert promoted.promoted_at is not None and promoted.claimed_at == promoted.promoted_at
    assert promoted.check_in_by == open_request.starts_at
    assert Claim.objects.get(pk=second["id"]).status == Claim.Status.WAITLISTED
    service_request = assert_consistent(open_request)
    assert service_request.status == "full"  # the slot went straight on: never shown open
    assert not Event.objects.filter(verb="request_reopened").exists()
    note = Notification.objects.get(kind="claim_promoted")
    assert note.user == world.alice.user
    assert note.payload == {
        "request": open_request.pk,
        "claim": first["id"],
        "starts_at": iso(open_request.starts_at),
    }
    event = Event.objects.get(verb="claim_promoted")
    assert (event.from_status, event.to_status, event.actor) == ("waitlisted", "claimed", None)
    after = client_for(world.bob.user).get(claim_url(second["id"])).json()
    assert after["waitlist_position"] == 1


def test_a_rejection_promotes_too(world, client_for, open_request):
    holders = fill(open_request)
    waiting = join(client_for(world.alice.user), open_request).json()
    client_for(world.mary).post(claim_url(holders[1], "reject/"), {"reason": "重复"}, format="json")
    assert Claim.objects.get(pk=waiting["id"]).status == Claim.Status.CLAIMED
    assert_consistent(open_request)


def test_an_expired_claim_promotes_the_next(world, open_request):
    fill(open_request)
    waiting = ClaimFactory(request=open_request, member=world.alice, status="waitlisted")
    grace = timedelta(minutes=settings.SERVICES_CLAIM_GRACE_MINUTES)
    later = open_request.starts_at + grace + timedelta(seconds=1)

    report = expire_overdue(now=later)

    # All three holders missed check-in: three slots free, one waiting member promoted.
    assert (report.claims, report.promoted) == (3, 1)
    waiting.refresh_from_db()
    assert waiting.status == Claim.Status.CLAIMED
    # The promoted member gets a full grace period from now to check in.
    assert waiting.check_in_by == later
    service_request = assert_consistent(open_request)
    assert (service_request.claimed, service_request.status) == (1, "open")


def test_more_slots_promote_as_many_as_fit(world, client_for, open_request):
    fill(open_request)
    waiting = [
        ClaimFactory(request=open_request, member=m, status="waitlisted")
        for m in (world.alice, world.bob, world.charlie)
    ]
    response = client_for(world.mary).patch(request_url(open_request), {"slots": 5}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "full"
    statuses = [Claim.objects.get(pk=c.pk).status for c in waiting]
    assert statuses == ["claimed", "claimed", "waitlisted"]
    assert_consistent(open_request)


def test_more_slots_than_waiting_members_reopen_the_request(world, client_for, open_request):
    fill(open_request)
    ClaimFactory(request=open_request, member=world.alice, status="waitlisted")
    response = client_for(world.mary).patch(request_url(open_request), {"slots": 6}, format="json")
    body = response.json()
    assert (body["status"], body["claimed"], body["available"]) == ("open", 4, 2)
    assert_consistent(open_request)


def test_leaving_the_waitlist_frees_no_slot(world, client_for, open_request):
    fill(open_request)
    waiting = join(client_for(world.alice.user), open_request).json()
    response = client_for(world.alice.user).post(
        claim_url(waiting["id"], "cancel/"), {"reason": "不等了"}, format="json"
    )
    assert response.json()["status"] == "cancelled"
    assert response.json()["late_cancel"] is False
    assert assert_consistent(open_request).claimed == 3


def test_the_waitlist_ends_with_the_request(world, open_request):
    fill(open_request)
    waiting = ClaimFactory(request=open_request, member=world.alice, status="waitlisted")
    # Holders checked in, so they do not expire and free nothing.
    Claim.objects.filter(request=open_request, status="claimed").update(status="checked_in")
    report = expire_overdue(now=open_request.ends_at + timedelta(seconds=1))
    assert report.waitlisted == 1
    waiting.refresh_from_db()
    assert waiting.status == Claim.Status.EXPIRED
    note = Notification.objects.get(kind="claim_expired", user=world.alice.user)
    assert note.payload["was_waitlisted"] is True


def test_promotion_never_happens_after_the_request_ended(world, open_request):
    fill(open_request)
    ClaimFactory(request=open_request, member=world.alice, status="waitlisted")
    expire_overdue(now=open_request.ends_at + timedelta(hours=1))
    assert not Claim.objects.filter(request=open_request, promoted_at__isnull=False).exists()
    service_request = assert_consistent(open_request)
    assert service_request.status == ServiceRequest.Status.EXPIRED
