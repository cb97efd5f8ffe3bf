"""services.demo.seed_requests: campaigns and requests in every state, made through the writes;
idempotent."""

from __future__ import annotations

from collections import Counter

from django.utils import timezone

from accounts.models import Event
from services import rollups
from services.demo import PLAN, ROUNDS, seed_requests
from services.models import Campaign, Claim, ServiceRequest
from services.requests.expiry import ExpiryReport, expire_overdue
from tests.demo_fixtures import fingerprint
from tests.factories import MemberFactory, UserFactory
from tests.services_fixtures import assert_consistent


def test_without_stations_it_only_makes_the_campaigns(db):
    result = seed_requests()
    assert result.created == 0 and not ServiceRequest.objects.exists()
    assert set(Campaign.objects.values_list("kind", flat=True)) == {
        "warm_enterprise",
        "warm_village",
        "warm_heart",
    }
    assert Campaign.objects.filter(name__startswith="2026", starts_on__year=2026).count() == 3


def test_it_seeds_every_state_consistently_and_only_once(world):
    demo = MemberFactory(user=UserFactory(username="demo_member", is_member=True), team=world.team)
    for _ in range(50):  # enough for every demo claim (48)
        MemberFactory(team=world.team)

    first = seed_requests()
    second = seed_requests()

    assert first.created == len(PLAN) * ROUNDS == ServiceRequest.objects.count()
    assert second.created == 0 and second.total == first.total
    statuses = set(ServiceRequest.objects.values_list("status", flat=True))
    assert {"open", "full", "in_progress", "cancelled", "expired"} <= statuses
    assert Claim.objects.filter(status="waitlisted").exists()
    assert Claim.objects.filter(member=demo).exists()
    assert ServiceRequest.objects.filter(invited_team__isnull=False).exists()
    assert ServiceRequest.objects.filter(village__isnull=False).exists()
    assert ServiceRequest.objects.filter(village__isnull=True).exists()
    # Made through the writes: each state's events are there, the rollups are the writes' own
    # (a rebuild changes nothing), counters agree and nothing is overdue.
    verbs = Counter(Event.objects.values_list("verb", flat=True))
    assert verbs["request_created"] == len(PLAN) * ROUNDS
    for verb in ("request_full", "claim_waitlisted", "request_team_invited", "request_started"):
        assert verbs[verb] > 0, verb
    for verb, state in (("request_cancelled", "cancelled"), ("request_expired", "expired")):
        assert verbs[verb] == ServiceRequest.objects.filter(status=state).count() > 0
    assert Claim.objects.filter(checked_out_at__isnull=False).exists()
    rows = fingerprint()
    assert rollups.rebuild().stamped == 0
    assert fingerprint() == rows
    for service_request in ServiceRequest.objects.all():
        assert_consistent(service_request)
        assert service_request.created_at < (service_request.first_claimed_at or timezone.now())
    assert expire_overdue() == ExpiryReport()
    for service_request in ServiceRequest.objects.all():
        assert_consistent(service_request)
    # Open demo requests stay claimable: they start in the future.
    assert ServiceRequest.objects.filter(
        status="open", starts_at__gt=timezone.now()
    ).count() >= len(PLAN)
    # No member holds two overlapping demo claims.
    per_member = {}
    for claim in Claim.objects.filter(status__in=Claim.LIVE).select_related("request"):
        per_member.setdefault(claim.member_id, []).append(claim.request)
    assert all(len(requests) == 1 for requests in per_member.values())
