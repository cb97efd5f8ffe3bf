"""POST requests/{id}/claims/: who may claim, and every reason a claim is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import errors as common
from accounts.models import Event
from services import errors
from services.models import Claim, ServiceRequest
from services.requests.claims import glance
from services.requests.expiry import expire_overdue
from tests import services_fixtures
from tests.factories import (
    ClaimFactory,
    MemberFactory,
    ServiceRequestFactory,
    TeamFactory,
    UserFactory,
)
from tests.services_fixtures import assert_consistent, request_url
from tests.test_errors import assert_error

# Shared fixtures of the services tests (pytest finds fixtures among module attributes).
campaign = services_fixtures.campaign
open_request = services_fixtures.open_request


def claim(client, service_request, **query):
    suffix = "claims/" + (f"?{'&'.join(f'{k}={v}' for k, v in query.items())}" if query else "")
    return client.post(request_url(service_request, suffix), format="json")


def test_it_claims_a_slot(world, client_for, open_request):
    response = claim(client_for(world.alice.user), open_request)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "claimed"
    assert body["member"] == {"id": world.alice.pk, "name": "王丽"}
    assert body["team"] == {"id": world.team.pk, "name": "法律服务团"}
    assert body["request"]["id"] == open_request.pk
    assert body["waitlist_position"] is None
    row = Claim.objects.get(pk=body["id"])
    assert row.status == Claim.Status.CLAIMED and row.team == world.team
    assert row.check_in_by == open_request.starts_at
    service_request = assert_consistent(open_request)
    assert service_request.claimed == 1 and service_request.status == "open"
    assert service_request.first_claimed_at is not None
    event = Event.objects.get(verb="claim_created")
    assert event.actor == world.alice.user and event.to_status == "claimed"
    assert event.payload["request"] == open_request.pk


def test_the_last_slot_makes_the_request_full_and_then_409(world, client_for, open_request):
    open_request.slots = 2
    open_request.save()
    assert claim(client_for(world.alice.user), open_request).status_code == 201
    assert claim(client_for(world.bob.user), open_request).status_code == 201
    assert assert_consistent(open_request).status == ServiceRequest.Status.FULL
    assert Event.objects.filter(verb="request_full", to_status="full").count() == 1
    response = claim(client_for(world.charlie.user), open_request)
    assert_error(response, 409, errors.REQUEST_FULL)
    assert Claim.objects.filter(request=open_request).count() == 2


def test_a_second_claim_by_the_same_member_is_409(world, client_for, open_request):
    client = client_for(world.alice.user)
    assert claim(client, open_request).status_code == 201
    assert_error(claim(client, open_request), 409, errors.ALREADY_CLAIMED)
    assert_error(claim(client, open_request, waitlist=1), 409, errors.ALREADY_CLAIMED)
    assert assert_consistent(open_request).claimed == 1


def test_a_member_may_claim_again_after_cancelling(world, client_for, open_request):
    client = client_for(world.alice.user)
    first = claim(client, open_request).json()["id"]
    client.post(f"/api/v1/claims/{first}/cancel/", {"reason": "临时有事"}, format="json")
    assert claim(client, open_request).status_code == 201
    assert Claim.objects.filter(request=open_request, member=world.alice).count() == 2
    assert assert_consistent(open_request).claimed == 1


@pytest.mark.parametrize(
    "status",
    [
        ServiceRequest.Status.CANCELLED,
        ServiceRequest.Status.EXPIRED,
        ServiceRequest.Status.IN_PROGRESS,
        ServiceRequest.Status.COMPLETED,
        ServiceRequest.Status.VERIFIED,
    ],
)
def test_a_request_not_open_cannot_be_claimed(world, client_for, open_request, status):
    open_request.status = status
    open_request.save()
    response = claim(client_for(world.alice.user), open_request)
    assert_error(response, 409, errors.REQUEST_NOT_OPEN)
    assert not Claim.objects.exists()
    open_request.refresh_from_db()
    assert open_request.claimed == 0


def test_a_request_that_has_ended_cannot_be_claimed(world, client_for, campaign):
    ended = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        starts_at=timezone.now() - timedelta(hours=5),
        ends_at=timezone.now() - timedelta(hours=1),
    )
    assert_error(claim(client_for(world.alice.user), ended), 409, errors.REQUEST_NOT_OPEN)
    assert not Claim.objects.exists()


def test_a_request_already_started_can_still_be_claimed_until_it_ends(world, client_for, campaign):
    running = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=5),
    )
    response = claim(client_for(world.alice.user), running)
    assert response.status_code == 201
    # The grace to check in counts from the claim, not from the start that has passed.
    row = Claim.objects.get(pk=response.json()["id"])
    assert row.check_in_by == row.claimed_at


def test_overlapping_claims_are_a_time_conflict(world, client_for, open_request, campaign):
    overlapping = ServiceRequestFactory(
        station=world.other_station,
        campaign=campaign,
        starts_at=open_request.starts_at + timedelta(hours=2),
        ends_at=open_request.ends_at + timedelta(hours=2),
    )
    back_to_back = ServiceRequestFactory(
        station=world.other_station,
        campaign=campaign,
        starts_at=open_request.ends_at,
        ends_at=open_request.ends_at + timedelta(hours=2),
    )
    client = client_for(world.alice.user)
    assert claim(client, open_request).status_code == 201
    body = assert_error(claim(client, overlapping), 409, errors.TIME_CONFLICT)
    assert body["conflicting_request"] == open_request.pk
    assert not Claim.objects.filter(request=overlapping).exists()
    # Touching windows do not overlap.
    assert claim(client, back_to_back).status_code == 201


def test_a_waitlist_place_also_holds_the_members_time(world, client_for, open_request, campaign):
    ClaimFactory.create_batch(3, request=open_request)
    overlapping = ServiceRequestFactory(
        station=world.other_station,
        campaign=campaign,
        starts_at=open_request.starts_at,
        ends_at=open_request.ends_at,
    )
    client = client_for(world.alice.user)
    assert claim(client, open_request, waitlist=1).json()["status"] == "waitlisted"
    assert_error(claim(client, overlapping), 409, errors.TIME_CONFLICT)


def test_a_cancelled_claim_frees_the_members_time(world, client_for, open_request, campaign):
    ClaimFactory(
        request=ServiceRequestFactory(
            station=world.other_station,
            campaign=campaign,
            starts_at=open_request.starts_at,
            ends_at=open_request.ends_at,
        ),
        member=world.alice,
        status=Claim.Status.CANCELLED,
    )
    assert claim(client_for(world.alice.user), open_request).status_code == 201


def test_the_invited_team_claims_first(world, client_for, open_request):
    open_request.invited_team = world.other_team
    open_request.invite_until = timezone.now() + timedelta(hours=6)
    open_request.save()
    body = assert_error(
        claim(client_for(world.alice.user), open_request), 403, errors.INVITE_WINDOW
    )
    assert body["invite_until"]
    assert_error(
        claim(client_for(world.alice.user), open_request, waitlist=1), 403, errors.INVITE_WINDOW
    )
    assert claim(client_for(world.charlie.user), open_request).status_code == 201
    assert assert_consistent(open_request).claimed == 1


def test_after_the_invite_window_everyone_may_claim(world, client_for, open_request):
    open_request.invited_team = world.other_team
    open_request.invite_until = timezone.now() - timedelta(minutes=1)
    open_request.save()
    assert claim(client_for(world.alice.user), open_request).status_code == 201


def test_a_rejected_member_cannot_claim_the_same_request_again(world, client_for, open_request):
    ClaimFactory(request=open_request, member=world.alice, status=Claim.Status.REJECTED)
    assert_error(claim(client_for(world.alice.user), open_request), 409, errors.CLAIM_REJECTED)


def test_only_members_claim(world, client_for, open_request):
    for user in (world.mary, world.lily, world.sam):
        assert_error(claim(client_for(user), open_request), 403, common.PERMISSION_DENIED)
    assert not Claim.objects.exists()


def test_a_member_account_without_an_active_profile_cannot_claim(world, client_for, open_request):
    no_profile = UserFactory(is_member=True)
    assert_error(claim(client_for(no_profile), open_request), 403, errors.MEMBER_PROFILE_REQUIRED)
    world.bob.active = False
    world.bob.save()
    assert_error(
        claim(client_for(world.bob.user), open_request), 403, errors.MEMBER_PROFILE_REQUIRED
    )
    assert not Claim.objects.exists()


def test_anonymous_cannot_claim(anon, open_request):
    assert_error(claim(anon, open_request), 401, common.NOT_AUTHENTICATED)


def test_a_member_who_manages_the_station_may_claim_its_request(world, client_for, open_request):
    # Decided: allowed (they are a member like any other); a record they submit must later be
    # verified by someone else.
    world.mary.is_member = True
    world.mary.save()
    MemberFactory(user=world.mary, team=world.team)
    assert claim(client_for(world.mary), open_request).status_code == 201


@pytest.mark.parametrize("bad", ["999999", "99999999999999999999999", "0"])
def test_unknown_or_absurd_request_ids_are_404(world, client_for, open_request, bad):
    response = client_for(world.alice.user).post(f"/api/v1/requests/{bad}/claims/")
    assert_error(response, 404, common.NOT_FOUND)
    assert not Claim.objects.exists()


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "%20"])
def test_malformed_request_ids_are_404(world, client_for, bad):
    response = client_for(world.alice.user).post(f"/api/v1/requests/{bad}/claims/")
    assert_error(response, 404, common.NOT_FOUND)


def test_a_bad_waitlist_flag_is_400(world, client_for, open_request):
    response = claim(client_for(world.alice.user), open_request, waitlist="maybe")
    body = assert_error(response, 400, common.VALIDATION_ERROR)
    assert "waitlist" in body["fields"]
    assert not Claim.objects.exists()


def test_get_is_not_allowed_on_the_claim_endpoint(world, client_for, open_request):
    response = client_for(world.alice.user).get(request_url(open_request, "claims/"))
    assert_error(response, 405, common.METHOD_NOT_ALLOWED)


def test_the_database_itself_refuses_overfilling_and_double_claims(world, open_request):
    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceRequest.objects.filter(pk=open_request.pk).update(claimed=open_request.slots + 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceRequest.objects.filter(pk=open_request.pk).update(slots=501)
    ClaimFactory(request=open_request, member=world.alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        ClaimFactory(request=open_request, member=world.alice, status=Claim.Status.WAITLISTED)
    # A cancelled claim does not count as live: the pair may exist again.
    ClaimFactory(request=open_request, member=world.bob, status=Claim.Status.CANCELLED)
    ClaimFactory(request=open_request, member=world.bob)
    assert_consistent(open_request)


# Statements of one winning claim with an Idempotency-Key, savepoints aside (the content type
# of Claim already cached, as in any warm worker). docs/requests-and-claims.md lists them.
CLAIM_STATEMENTS = 19
# Statements of a refused claim of a full request (the lock-free refusal): the token's user, the
# member, the glance (claims.glance).
FULL_STATEMENTS = 3


def test_a_winning_claim_takes_a_fixed_number_of_statements(world, client_for, open_request):
    ContentType.objects.get_for_model(Claim)
    client = client_for(world.alice.user)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(request_url(open_request, "claims/"), HTTP_IDEMPOTENCY_KEY="claim-1")
    assert response.status_code == 201, response.json()
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == CLAIM_STATEMENTS, "\n".join(s[:160] for s in statements)
    # A later claim: no time-to-first-claim stamp (its update, read and upsert), known from
    # the locked row; the one that fills the request moves it to full (read, update, map cells
    # and their emptied rows, Event).
    ContentType.objects.get_for_model(ServiceRequest)
    for member, extra in ((world.bob, -3), (world.charlie, 2)):
        member_client = client_for(member.user)
        with CaptureQueriesContext(connection) as queries:
            response = member_client.post(
                request_url(open_request, "claims/"), HTTP_IDEMPOTENCY_KEY=f"claim-{member.pk}"
            )
        assert response.status_code == 201, response.json()
        statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
        assert len(statements) == CLAIM_STATEMENTS + extra, "\n".join(s[:160] for s in statements)
    open_request.refresh_from_db()
    assert (open_request.status, open_request.claimed) == (ServiceRequest.Status.FULL, 3)
    assert_consistent(open_request)


def test_a_full_request_refuses_without_a_lock_and_keeps_the_rules_order(
    world, client_for, open_request
):
    ServiceRequest.objects.filter(pk=open_request.pk).update(slots=1)
    assert claim(client_for(world.alice.user), open_request).status_code == 201
    open_request.refresh_from_db()
    assert (open_request.status, open_request.claimed) == (ServiceRequest.Status.FULL, 1)
    ContentType.objects.get_for_model(Claim)
    client = client_for(world.bob.user)
    with CaptureQueriesContext(connection) as queries:
        response = claim(client, open_request)
    assert_error(response, 409, errors.REQUEST_FULL)
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == FULL_STATEMENTS, "\n".join(s[:160] for s in statements)
    assert not any("FOR UPDATE" in s or "SAVEPOINT" in s for s in statements)
    # The rules before the slot still come first: the holder hears already_claimed.
    assert_error(claim(client_for(world.alice.user), open_request), 409, errors.ALREADY_CLAIMED)
    # The waitlist goes through the locked path and gets its place.
    response = claim(client, open_request, waitlist="true")
    assert response.status_code == 201 and response.json()["status"] == "waitlisted"
    assert Claim.objects.filter(request=open_request).count() == 2
    assert_consistent(open_request)


def test_the_glance_sees_what_the_locked_path_would_answer(world, client_for, open_request):
    """Each rule checked before the slot sends a full request's claim on to the locked path,
    which answers as it always did; only a claim the locked path could only refuse as full is
    refused by the glance."""
    ServiceRequest.objects.filter(pk=open_request.pk).update(slots=1)
    assert claim(client_for(world.alice.user), open_request).status_code == 201
    now = timezone.now()
    seen = glance(world.bob, open_request.pk, now=now)
    assert (seen.full, seen.taking, seen.mine, seen.clash, seen.due) == (
        True,
        True,
        False,
        False,
        False,
    )
    assert seen.certainly_full(world.bob)
    assert not glance(world.alice, open_request.pk, now=now).certainly_full(world.alice)
    # Invited to another team, still inside the window: the locked path explains the window.
    ServiceRequest.objects.filter(pk=open_request.pk).update(
        invited_team=TeamFactory(), invite_until=now + timedelta(hours=1)
    )
    assert not glance(world.bob, open_request.pk, now=now).certainly_full(world.bob)
    assert_error(claim(client_for(world.bob.user), open_request), 403, errors.INVITE_WINDOW)
    ServiceRequest.objects.filter(pk=open_request.pk).update(invited_team=None, invite_until=None)
    # Bob holds another request at the same time: time_conflict comes first.
    other = ServiceRequestFactory(
        station=world.station,
        campaign=open_request.campaign,
        starts_at=open_request.starts_at,
        ends_at=open_request.ends_at,
    )
    ClaimFactory(request=other, member=world.bob)
    assert glance(world.bob, open_request.pk, now=now).clash
    assert_error(claim(client_for(world.bob.user), open_request), 409, errors.TIME_CONFLICT)
    # Ended: request_not_open, not request_full.
    assert not glance(world.charlie, open_request.pk, now=open_request.ends_at).taking
    assert glance(world.charlie, 10**9, now=now) is None


def test_the_glance_and_the_expiry_probe_agree_on_what_is_due(world, campaign):
    """expiry.due_sql (asked by the glance) against expire_overdue itself: in each of the four
    due states the glance says due and a run of the expiry changes something; after it,
    neither."""
    now = timezone.now()
    start = now - timedelta(hours=2)
    states = {
        "overdue claim": (
            {"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(hours=2)},
            {"status": Claim.Status.CLAIMED, "check_in_by": now - timedelta(hours=1)},
        ),
        "ended waitlist": (
            {"starts_at": start, "ends_at": now - timedelta(minutes=1), "status": "full"},
            {"status": Claim.Status.WAITLISTED},
        ),
        "ended unclaimed": ({"starts_at": start, "ends_at": now - timedelta(minutes=1)}, None),
        "overdue check-out": (
            {"starts_at": start, "ends_at": now - timedelta(minutes=40), "status": "in_progress"},
            {"status": Claim.Status.CHECKED_IN, "checked_in_at": start},
        ),
        "nothing due": (
            {"starts_at": now + timedelta(days=1), "ends_at": now + timedelta(days=1, hours=2)},
            {"status": Claim.Status.CLAIMED, "check_in_by": now + timedelta(days=1)},
        ),
    }
    for name, (request_fields, claim_fields) in states.items():
        service_request = ServiceRequestFactory(
            station=world.station, campaign=campaign, slots=3, **request_fields
        )
        if claim_fields:
            ClaimFactory(request=service_request, member=MemberFactory(), **claim_fields)
        due = glance(world.bob, service_request.pk, now=now).due
        report = expire_overdue(now=now, request_ids=[service_request.pk])
        changed = any(vars(report).values())
        assert (due, changed) == (name != "nothing due",) * 2, name
        assert not glance(world.bob, service_request.pk, now=now).due, name
