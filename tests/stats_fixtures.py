"""A small year of verified service for the statistics, export and dashboard tests.

``served`` builds what submission and verification leave behind (a request, its done claims,
the verified record with its denormalised place and day), so these tests do not depend on the
records workflow. The ``ledger`` fixture's figures are listed in ``Ledger`` for the asserts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services import rollups
from services.models import Campaign, Claim, ServiceHours, ServiceRecord, ServiceRequest
from services.records import hours
from tests.factories import (
    CampaignFactory,
    ClaimFactory,
    PointEntryFactory,
    PointRuleFactory,
    ServiceRecordFactory,
    ServiceRequestFactory,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
YEAR = 2025
PERIOD = {"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"}

SUMMARY_URL = "/api/v1/stats/summary/"
BREAKDOWN_URL = "/api/v1/stats/breakdown/"
UNCLAIMED_URL = "/api/v1/stats/unclaimed/"
EXPORT_URL = "/api/v1/stats/export/"


def at(day: date, hour: int = 9) -> datetime:
    """``hour`` o'clock on ``day`` in Asia/Shanghai."""
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


def served(
    *,
    station,
    campaign: Campaign,
    day: date,
    people: int,
    members=(),
    enterprises: int = 0,
    households: int = 0,
    status: str = ServiceRecord.Status.VERIFIED,
    hours_to_verify: float | None = None,
    hours_to_claim: float | None = None,
    minutes: Sequence[int] | None = None,
) -> ServiceRecord:
    """A service on ``day`` at ``station`` with ``members`` taking part, recorded as ``status``;
    a verified one with each member's verified ``minutes`` (60 each unless given)."""
    request_status = (
        ServiceRequest.Status.VERIFIED
        if status == ServiceRecord.Status.VERIFIED
        else ServiceRequest.Status.COMPLETED
    )
    service_request = ServiceRequestFactory(
        station=station, campaign=campaign, starts_at=at(day), slots=max(len(members), 1)
    )
    claims = [
        ClaimFactory(
            request=service_request,
            member=member,
            status=Claim.Status.DONE,
            checked_in_at=at(day),
        )
        for member in members
    ]
    ServiceRequest.objects.filter(pk=service_request.pk).update(status=request_status)
    if hours_to_claim is not None:
        posted = at(day) - timedelta(days=5)
        ServiceRequest.objects.filter(pk=service_request.pk).update(
            created_at=posted, first_claimed_at=posted + timedelta(hours=hours_to_claim)
        )
    record = ServiceRecordFactory(
        request=service_request,
        people_served=people,
        enterprises_served=enterprises,
        households_visited=households,
        status=status,
        participants=claims,
    )
    submitted = at(day, 18)
    ServiceRecord.objects.filter(pk=record.pk).update(
        submitted_at=submitted,
        verified_at=(
            submitted + timedelta(hours=hours_to_verify or 1)
            if status == ServiceRecord.Status.VERIFIED
            else None
        ),
    )
    record.refresh_from_db()
    if status == ServiceRecord.Status.VERIFIED:
        entries = hours.bulk_entries(record, claims, minutes or [60] * len(claims))
        ServiceHours.objects.bulk_create(entries)
        record.service_minutes = sum(e.minutes for e in entries)
        ServiceRecord.objects.filter(pk=record.pk).update(service_minutes=record.service_minutes)
    # Written by factories, not the workflow: the rollups are recomputed as a bulk load's are.
    rollups.rebuild()
    return record


@dataclass
class Ledger:
    """The world's services in YEAR and what they add up to."""

    village_campaign: Campaign
    enterprise_campaign: Campaign
    records: list[ServiceRecord]
    # Staff, whole year.
    people_served: int = 62
    enterprises_served: int = 4
    households_visited: int = 13
    records_verified: int = 3
    participations: int = 5
    # 120 + 90 (r1), 45 (r2), 180 + 60 (r3).
    service_minutes: int = 495
    active_members: int = 3
    requests_posted: int = 8
    requests_completed: int = 5
    requests_cancelled: int = 1
    requests_expired: int = 1


@pytest.fixture
def ledger(world) -> Ledger:
    """Three verified services in YEAR (two in mary's town, one in oscar's), plus a submitted,
    a rejected and a last-year record that must not count, and requests in other states.

    Long on purpose: the scenario's rows, written out one by one so each figure can be
    checked by hand."""
    village = CampaignFactory(
        kind=Campaign.Kind.WARM_VILLAGE,
        name=f"{YEAR} 暖岙·送法下乡",
        starts_on=date(YEAR, 1, 1),
        ends_on=date(YEAR, 12, 31),
        target_served=1000,
    )
    enterprise = CampaignFactory(
        kind=Campaign.Kind.WARM_ENTERPRISE,
        name=f"{YEAR} 暖企专员",
        starts_on=date(YEAR, 1, 1),
        ends_on=date(YEAR, 12, 31),
        target_served=100,
    )
    w = world
    r1 = served(
        station=w.station,
        campaign=village,
        day=date(YEAR, 3, 10),
        people=30,
        households=5,
        members=[w.alice, w.bob],
        hours_to_claim=2,
        hours_to_verify=1,
        minutes=[120, 90],
    )
    r2 = served(
        station=w.station,
        campaign=enterprise,
        day=date(YEAR, 3, 20),
        people=12,
        enterprises=4,
        members=[w.alice],
        hours_to_claim=4,
        hours_to_verify=3,
        minutes=[45],
    )
    r3 = served(
        station=w.other_station,
        campaign=village,
        day=date(YEAR, 4, 5),
        people=20,
        households=8,
        members=[w.charlie, w.bob],
        hours_to_claim=10,
        hours_to_verify=5,
        minutes=[180, 60],
    )
    # Not counted: awaiting verification, rejected, and last year.
    served(
        station=w.station,
        campaign=village,
        day=date(YEAR, 3, 25),
        people=100,
        members=[w.alice],
        status=ServiceRecord.Status.SUBMITTED,
    )
    served(
        station=w.other_station,
        campaign=village,
        day=date(YEAR, 5, 1),
        people=50,
        members=[w.charlie],
        status=ServiceRecord.Status.REJECTED,
    )
    last_year = CampaignFactory(
        kind=Campaign.Kind.WARM_VILLAGE,
        starts_on=date(YEAR - 1, 1, 1),
        ends_on=date(YEAR - 1, 12, 31),
    )
    served(
        station=w.station, campaign=last_year, day=date(YEAR - 1, 12, 31), people=7, members=[w.bob]
    )
    for status in (ServiceRequest.Status.CANCELLED, ServiceRequest.Status.EXPIRED):
        ServiceRequestFactory(
            station=w.station, campaign=village, starts_at=at(date(YEAR, 6, 1)), status=status
        )
    ServiceRequestFactory(station=w.other_station, campaign=village, starts_at=at(date(YEAR, 6, 2)))
    # Written by factories: the request rollups are recomputed as after a bulk load.
    rollups.rebuild()

    participation = PointRuleFactory(kind="participation", points=5)
    leader = PointRuleFactory(kind="team_leader", points=1)
    for record in (r1, r2, r3):
        for claim in record.participants.select_related("member"):
            PointEntryFactory(member=claim.member, record=record, rule=participation)
    PointEntryFactory(member=w.bob, record=r1, rule=leader)
    # And the ledger lines too: the member rollup adds them up for the leaderboard.
    rollups.rebuild()
    return Ledger(village_campaign=village, enterprise_campaign=enterprise, records=[r1, r2, r3])
