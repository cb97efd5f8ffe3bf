"""Fixtures and helpers of the records, verification and points tests (import what you use)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from services.models import Claim, PointRule, ServiceRequest
from tests.factories import CampaignFactory, ClaimFactory, ServiceRequestFactory

RECORDS_URL = "/api/v1/records/"
LEADERBOARD_URL = "/api/v1/points/leaderboard/"

# The scoring table the data migration seeds (docs/records-and-points.md).
DEFAULT_RULES = [
    ("participation", PointRule.Kind.PARTICIPATION, "参与服务", 5),
    ("remote_village", PointRule.Kind.REMOTE_VILLAGE, "暖岙偏远村加分", 2),
    ("team_leader", PointRule.Kind.TEAM_LEADER, "团队负责人加分", 1),
]


def record_url(record, suffix: str = "") -> str:
    pk = record if isinstance(record, int) else record.pk
    return f"{RECORDS_URL}{pk}/{suffix}"


def submit_url(service_request) -> str:
    pk = service_request if isinstance(service_request, int) else service_request.pk
    return f"/api/v1/requests/{pk}/record/"


def ensure_rules() -> dict[str, PointRule]:
    """The default rules, as the migration seeds them (a transactional test's flush drops them)."""
    rules = {}
    for code, kind, name, points in DEFAULT_RULES:
        rule, _ = PointRule.objects.update_or_create(
            kind=kind, defaults={"code": code, "name": name, "points": points, "active": True}
        )
        rules[kind] = rule
    return rules


@pytest.fixture
def rules(db) -> dict[str, PointRule]:
    return ensure_rules()


def checked_in(service_request: ServiceRequest, member, *, distance_m: float = 25.0) -> Claim:
    """A claim of ``member`` that checked in on site ``distance_m`` from the request's point."""
    return ClaimFactory(
        request=service_request,
        member=member,
        status=Claim.Status.CHECKED_IN,
        checked_in_at=service_request.starts_at + timedelta(minutes=5),
        check_in_lat=service_request.lat,
        check_in_lng=service_request.lng,
        check_in_distance_m=distance_m,
    )


def under_way(*, station, campaign, village=None, hours_ago: float = 1, **kwargs) -> ServiceRequest:
    """A request that started ``hours_ago`` and runs three hours, in progress."""
    start = timezone.now() - timedelta(hours=hours_ago)
    return ServiceRequestFactory(
        station=station,
        village=village,
        campaign=campaign,
        lat=(village or station).lat,
        lng=(village or station).lng,
        starts_at=start,
        ends_at=start + timedelta(hours=3),
        status=ServiceRequest.Status.IN_PROGRESS,
        **{"slots": 3, **kwargs},
    )


@pytest.fixture
def service(world, rules):
    """A request under way at world.village (mary's station): alice and bob checked in."""
    campaign = CampaignFactory(kind="warm_village", name="2026 暖岙·送法下乡")
    service_request = under_way(
        station=world.station, village=world.village, campaign=campaign, title="新螺头村法律咨询"
    )
    alice = checked_in(service_request, world.alice)
    bob = checked_in(service_request, world.bob)
    return Service(request=service_request, alice=alice, bob=bob, campaign=campaign)


class Service:
    """The ``service`` fixture: the request and its two checked-in claims."""

    def __init__(self, *, request, alice, bob, campaign) -> None:
        self.request = request
        self.alice = alice
        self.bob = bob
        self.campaign = campaign

    def payload(self, **overrides) -> dict:
        body = {
            "people_served": 30,
            "enterprises_served": 0,
            "households_visited": 8,
            "summary": "开展法律咨询，解答土地承包与赡养纠纷问题。",
            "participants": [self.alice.pk, self.bob.pk],
        }
        body.update(overrides)
        return body
