"""Campaigns and 36 demo requests in every state (``seed_requests``), for ``make run``.

Works on whatever stations, villages and members exist (the demo geography and roster when
``seed_demo`` ran them first) and does nothing when there are no stations. Deterministic for a
given day: the plan below is fixed, and times are offsets from today so open requests stay
claimable. Idempotent: a request is found by (station, title), campaigns by name; only
missing rows are created. Rows are written directly (this is seeding, not a workflow), with
the claim counters and statuses kept consistent exactly as the workflow keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.audit import record_event
from members.models import Member, Specialty, Team
from services import rollups
from services.demo.campaigns import KINDS, TITLES, campaign_for, seed_campaigns
from services.demo.places import villages_by_station
from services.models import Campaign, Claim, ServiceRequest
from stations.demo import DEMO_STATION
from stations.models import Station, Village

DEMO_MEMBER = "demo_member"  # accounts.demo's member login
Status = ServiceRequest.Status

# (state, days from today, start hour, hours long, slots), cycled over the stations.
PLAN: list[tuple[str, int, int, int, int]] = [
    ("open", 3, 9, 3, 4),
    ("open", 6, 14, 2, 3),
    ("full", 4, 9, 3, 2),
    ("waitlist", 5, 14, 2, 2),
    ("invited", 8, 9, 4, 5),
    ("open", 10, 9, 3, 6),
    ("in_progress", 0, -1, 4, 3),
    ("cancelled", 7, 9, 2, 3),
    ("expired", -3, 9, 2, 3),
    ("open", 12, 14, 3, 4),
    ("done_awaiting_record", -2, 9, 3, 3),
    ("open", 14, 9, 2, 2),
]
ROUNDS = 3  # PLAN × ROUNDS = 36 requests
ROUND_SUFFIX = ["", "（第二期）", "（第三期）"]


@dataclass
class DemoRequests:
    """What seed_requests found or made."""

    campaigns: dict[str, Campaign] = field(default_factory=dict)
    created: int = 0
    total: int = 0


class _Members:
    """Hands out members in a fixed order, each at most once, so no two demo claims of one
    member overlap in time."""

    def __init__(self) -> None:
        pool = Member.objects.filter(active=True, user__is_member=True).exclude(
            claims__status__in=Claim.LIVE
        )
        # The demo member's login shows a claim: put them first in line.
        self.pool = sorted(
            pool.select_related("user"), key=lambda m: (m.user.username != DEMO_MEMBER, m.pk)
        )

    def take(self, n: int) -> list[Member]:
        taken, self.pool = self.pool[:n], self.pool[n:]
        return taken


def _claim(service_request: ServiceRequest, member: Member, status: str, at: datetime) -> None:
    holding = status in Claim.SLOT_HOLDING
    Claim.objects.create(
        request=service_request,
        member=member,
        team_id=member.team_id,
        status=status,
        claimed_at=at if holding or status == Claim.Status.CANCELLED else None,
        check_in_by=max(service_request.starts_at, at) if holding else None,
        checked_in_at=service_request.starts_at if status == Claim.Status.CHECKED_IN else None,
        check_in_lat=service_request.lat if status == Claim.Status.CHECKED_IN else None,
        check_in_lng=service_request.lng if status == Claim.Status.CHECKED_IN else None,
        check_in_distance_m=0.0 if status == Claim.Status.CHECKED_IN else None,
    )


def seed_requests() -> DemoRequests:
    """Campaigns and ~36 requests over the existing stations; safe to run again."""
    result = DemoRequests()
    with transaction.atomic():
        result.campaigns = seed_campaigns(today=timezone.localdate())
        stations = sorted(
            Station.objects.filter(active=True).select_related("town"),
            key=lambda s: (s.name != DEMO_STATION, s.pk),
        )
        if not stations:
            return result
        villages = villages_by_station(stations)
        specialties = {s.code: s for s in Specialty.objects.filter(active=True)}
        teams = list(Team.objects.filter(active=True).order_by("id")[:1])
        members = _Members()
        today = timezone.localdate()
        now = timezone.now()
        for index in range(len(PLAN) * ROUNDS):
            state, days, hour, hours, slots = PLAN[index % len(PLAN)]
            station = stations[index % len(stations)]
            served = villages[station.pk]
            village = served[(index // len(stations)) % len(served)] if served else None
            if index % 3 == 2:
                village = None  # some needs are the station's own
            kind = KINDS[index % 3]
            template, wanted = TITLES[kind][(index // 3) % len(TITLES[kind])]
            place = village.name if village else station.town.name
            # Later rounds are follow-up sessions: the title stays unique however few stations.
            title = template.format(place=place) + ROUND_SUFFIX[index // len(PLAN)]
            if ServiceRequest.objects.filter(station=station, title=title).exists():
                continue
            if hour < 0:
                starts_at = (now + timedelta(hours=hour)).replace(second=0, microsecond=0)
            else:
                day = today + timedelta(days=days + index // len(PLAN))
                starts_at = timezone.make_aware(datetime.combine(day, time(hour, 0)))
            campaign = campaign_for(kind, timezone.localdate(starts_at))
            if campaign is None:
                continue
            result.created += _make(
                state=state,
                station=station,
                village=village,
                campaign=campaign,
                title=title,
                starts_at=starts_at,
                hours=hours,
                slots=slots,
                specialties=[specialties[c] for c in wanted if c in specialties],
                team=teams[0] if teams else None,
                members=members,
                now=now,
                contact=(f"{place}联系人", f"0580-80{index:05d}"),
            )
        if result.created:
            # Written around the workflow: the request rollups and stamped durations are
            # recomputed as after any bulk load.
            rollups.rebuild()
        result.total = ServiceRequest.objects.count()
    return result


def _make(
    *,
    state: str,
    station: Station,
    village: Village | None,
    campaign: Campaign,
    title: str,
    starts_at: datetime,
    hours: int,
    slots: int,
    specialties: list[Specialty],
    team: Team | None,
    members: _Members,
    now: datetime,
    contact: tuple[str, str],
) -> int:
    """One demo request in ``state``; returns 1 when made."""
    place = village or station
    invite = state == "invited" and team is not None and starts_at - timedelta(days=1) > now
    service_request = ServiceRequest.objects.create(
        station=station,
        village=village,
        campaign=campaign,
        title=title,
        description=f"{title}。请携带相关资料，提前十分钟到场。",
        lat=place.lat,
        lng=place.lng,
        address=station.address if village is None else f"{village.name}村民服务中心",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
        slots=slots,
        invited_team=team if invite else None,
        invite_until=starts_at - timedelta(days=1) if invite else None,
        contact_name=contact[0],
        contact_phone=contact[1],
    )
    service_request.specialties.set(specialties)
    record_event(
        actor=None,
        verb="request_created",
        obj=service_request,
        to_status=Status.OPEN,
        payload={"demo": True},
    )
    claimed_at = min(now, starts_at) - timedelta(days=1)
    holders, waiting, status = 0, 0, Status.OPEN
    claim_status = Claim.Status.CLAIMED
    if state == "open":
        holders = 1 if slots > 2 else 0
    elif state == "full":
        holders = slots
    elif state == "waitlist":
        holders, waiting = slots, 2
    elif state in ("in_progress", "done_awaiting_record"):
        holders, claim_status, status = slots, Claim.Status.CHECKED_IN, Status.IN_PROGRESS
    elif state == "cancelled":
        status = Status.CANCELLED
    elif state == "expired":
        status = Status.EXPIRED
    taken = members.take(holders + waiting)
    for member in taken[:holders]:
        _claim(service_request, member, claim_status, claimed_at)
    for member in taken[holders:]:
        _claim(service_request, member, Claim.Status.WAITLISTED, claimed_at)
    held = min(holders, len(taken))
    if state == "done_awaiting_record":
        # Served and checked out; the request waits for its service record.
        Claim.objects.filter(request=service_request).update(
            checked_out_at=service_request.ends_at, duration_minutes=hours * 60
        )
    if status == Status.OPEN and held >= slots:
        status = Status.FULL
    ServiceRequest.objects.filter(pk=service_request.pk).update(
        claimed=held,
        status=status,
        first_claimed_at=claimed_at if held else None,
        cancelled_at=now if status == Status.CANCELLED else None,
        cancel_reason="天气原因，活动改期" if status == Status.CANCELLED else "",
    )
    return 1
