"""Expiry: overdue claims free their slots, unclaimed requests that ended expire; by
``manage.py expire_overdue`` and lazily on read; idempotent."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Event, Notification
from services.models import Claim, IdempotencyKey, ServiceRequest
from services.requests.expiry import expire_overdue
from tests import services_fixtures
from tests.factories import ClaimFactory, ServiceRequestFactory
from tests.services_fixtures import CLAIMS_URL, assert_consistent

# Shared fixtures of the services tests (pytest finds fixtures among module attributes).
campaign = services_fixtures.campaign
open_request = services_fixtures.open_request


def started(world, campaign, *, minutes_ago: int, slots: int = 3) -> ServiceRequest:
    return ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        slots=slots,
        starts_at=timezone.now() - timedelta(minutes=minutes_ago),
        ends_at=timezone.now() + timedelta(hours=2),
    )


def run_command() -> str:
    out = StringIO()
    call_command("expire_overdue", stdout=out)
    return out.getvalue()


def test_a_claim_not_checked_in_by_start_plus_grace_expires(world, campaign):
    grace = settings.SERVICES_CLAIM_GRACE_MINUTES
    overdue_request = started(world, campaign, minutes_ago=grace + 1)
    overdue = ClaimFactory(
        request=overdue_request,
        member=world.alice,
        claimed_at=timezone.now() - timedelta(hours=1),
    )
    in_grace = ClaimFactory(
        request=started(world, campaign, minutes_ago=grace - 5),
        member=world.bob,
        claimed_at=timezone.now() - timedelta(hours=1),
    )
    checked_in = ClaimFactory(
        request=overdue_request,
        member=world.charlie,
        status=Claim.Status.CHECKED_IN,
        claimed_at=timezone.now() - timedelta(hours=1),
    )

    output = run_command()

    assert "1" in output
    overdue.refresh_from_db()
    assert overdue.status == Claim.Status.EXPIRED and overdue.expired_at is not None
    in_grace.refresh_from_db()
    checked_in.refresh_from_db()
    assert (in_grace.status, checked_in.status) == ("claimed", "checked_in")
    assert assert_consistent(overdue_request).claimed == 1
    note = Notification.objects.get(kind="claim_expired")
    assert note.user == world.alice.user and note.payload["was_waitlisted"] is False
    event = Event.objects.get(verb="claim_expired")
    assert (event.actor, event.from_status, event.to_status) == (None, "claimed", "expired")


def test_the_grace_is_a_setting(world, campaign, settings):
    settings.SERVICES_CLAIM_GRACE_MINUTES = 0
    claim = ClaimFactory(
        request=started(world, campaign, minutes_ago=1),
        claimed_at=timezone.now() - timedelta(hours=1),
    )
    run_command()
    claim.refresh_from_db()
    assert claim.status == Claim.Status.EXPIRED


def test_a_late_claim_gets_its_grace_from_when_it_was_made(world, campaign):
    # Claimed after the start: the deadline counts from the claim.
    claim = ClaimFactory(request=started(world, campaign, minutes_ago=120), member=world.alice)
    run_command()
    claim.refresh_from_db()
    assert claim.status == Claim.Status.CLAIMED


def test_an_open_request_that_ended_unclaimed_expires(world, campaign, open_request):
    ended = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        starts_at=timezone.now() - timedelta(hours=3),
        ends_at=timezone.now() - timedelta(minutes=1),
    )
    ended_with_checkin = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        status=ServiceRequest.Status.IN_PROGRESS,
        starts_at=timezone.now() - timedelta(hours=3),
        ends_at=timezone.now() - timedelta(minutes=1),
    )
    ClaimFactory(request=ended_with_checkin, status=Claim.Status.CHECKED_IN)
    run_command()
    ended.refresh_from_db()
    ended_with_checkin.refresh_from_db()
    open_request.refresh_from_db()
    assert ended.status == ServiceRequest.Status.EXPIRED
    assert ended_with_checkin.status == ServiceRequest.Status.IN_PROGRESS
    assert open_request.status == ServiceRequest.Status.OPEN
    assert Event.objects.filter(verb="request_expired", object_id=str(ended.pk)).count() == 1


def test_claims_that_all_expire_let_their_ended_request_expire_in_the_same_run(world, campaign):
    ended = ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        slots=2,
        starts_at=timezone.now() - timedelta(hours=3),
        ends_at=timezone.now() - timedelta(minutes=1),
    )
    for member in (world.alice, world.bob):
        ClaimFactory(request=ended, member=member, claimed_at=timezone.now() - timedelta(days=1))
    assert ServiceRequest.objects.get(pk=ended.pk).status == "full"
    report = expire_overdue()
    assert (report.claims, report.requests) == (2, 1)
    service_request = assert_consistent(ended)
    assert service_request.status == ServiceRequest.Status.EXPIRED


def test_running_it_again_changes_nothing(world, campaign):
    ClaimFactory(
        request=started(world, campaign, minutes_ago=120),
        claimed_at=timezone.now() - timedelta(days=1),
    )
    ServiceRequestFactory(
        station=world.station,
        campaign=campaign,
        starts_at=timezone.now() - timedelta(hours=3),
        ends_at=timezone.now() - timedelta(minutes=1),
    )
    run_command()
    events = Event.objects.count()
    notes = Notification.objects.count()
    report = expire_overdue()
    assert (report.claims, report.waitlisted, report.requests) == (0, 0, 0)
    run_command()
    assert (Event.objects.count(), Notification.objects.count()) == (events, notes)


def test_reading_claims_applies_due_expiry(world, client_for, campaign):
    claim = ClaimFactory(
        request=started(world, campaign, minutes_ago=120),
        member=world.alice,
        claimed_at=timezone.now() - timedelta(days=1),
    )
    rows = client_for(world.alice.user).get(CLAIMS_URL).json()["results"]
    assert [(r["id"], r["status"]) for r in rows] == [(claim.pk, "expired")]


def test_the_command_forgets_idempotency_keys_past_their_day(world):
    now = timezone.now()
    for key, expires in (("old", now - timedelta(minutes=1)), ("fresh", now + timedelta(hours=1))):
        IdempotencyKey.objects.create(
            user=world.alice.user,
            key=key,
            fingerprint="x" * 64,
            locked_at=now,
            expires_at=expires,
        )
    assert "幂等键" in run_command()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
