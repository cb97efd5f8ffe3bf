"""Campaigns and 36 demo requests in every state (``seed_requests``), for ``make run``.

Open, full, with a waitlist, invited, in progress, cancelled, expired, and served but awaiting
its record, over whatever stations, villages and members exist (the demo geography and roster
when ``seed_demo`` ran them first); nothing but the campaigns when there are no stations.

Every state is reached the way the product reaches it, through its writes with ``now=`` set to
the step's moment in the demo's story (``services.demo.story``): posted by the station's
manager (else staff) two days before, claimed a day before, checked in at the start and out at
the end, invited, cancelled and expired now. So the claim counters, status moves, events,
notices and rollups are the product's own and nothing is recomputed afterwards. The times are
offsets from now, so open requests stay claimable; needs that must be over by now move further
back each round. Members are handed out once each, never one with a live claim on a request
overlapping the window (the product's time-conflict rule), the demo member first.

Idempotent: a request is found by (station, title), campaigns by name; only missing ones are
made. Through the writes the 36 take about 1 s of CPU on SQLite (the busy 2-core machine),
where writing their rows directly took 0.3 s, of about 4 s for all of ``seed_demo``: worth it
for states that are exactly the product's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from members.models import Member, Specialty, Team
from services.demo import story
from services.demo.campaigns import KINDS, TITLES, campaign_for, seed_campaigns
from services.demo.places import villages_by_station
from services.matching.invites import invite_team
from services.models import Campaign, Claim, ServiceRequest
from services.requests.claims import check_out
from services.requests.expiry import expire_overdue
from services.requests.writes import cancel_request
from stations.demo import DEMO_STATION
from stations.models import Station, Village

DEMO_MEMBER = "demo_member"  # accounts.demo's member login

# (state, days from today, start hour, hours long, slots), cycled over the stations. A start
# hour below 0 is that many hours before now.
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
    """Hands out members in a fixed order, the demo member first (their login shows a claim),
    each at most once, none with a live claim on a request overlapping the one at hand."""

    def __init__(self) -> None:
        pool = Member.objects.filter(active=True, user__is_member=True).select_related("user")
        self.pool = sorted(pool, key=lambda m: (m.user.username != DEMO_MEMBER, m.pk))

    def take(self, n: int, service_request: ServiceRequest) -> list[Member]:
        busy = set(
            Claim.objects.filter(
                status__in=Claim.LIVE,
                request__starts_at__lt=service_request.ends_at,
                request__ends_at__gt=service_request.starts_at,
            ).values_list("member_id", flat=True)
        )
        free = [m for m in self.pool if m.pk not in busy][:n]
        self.pool = [m for m in self.pool if m not in free]
        return free


@dataclass
class _Cast:
    """What the demo requests draw from."""

    stations: list[Station]
    villages: dict[int, list[Village]]
    specialties: dict[str, Specialty]
    team: Team | None
    posters: dict[int, User | None]
    members: _Members


@dataclass(frozen=True)
class _Spec:
    """One demo request to make."""

    index: int
    state: str
    station: Station
    village: Village | None
    campaign: Campaign
    title: str
    starts_at: datetime
    ends_at: datetime
    slots: int
    specialties: list[Specialty]


def _starts_at(index: int, *, now: datetime) -> datetime:
    """The start of the ``index``-th request: later rounds are a day later (a day earlier for
    the needs that are over, so they stay over)."""
    _, days, hour, _, _ = PLAN[index % len(PLAN)]
    if hour < 0:
        return (now + timedelta(hours=hour)).replace(second=0, microsecond=0)
    round_ = index // len(PLAN)
    day = timezone.localdate(now) + timedelta(days=days + (round_ if days >= 0 else -round_))
    return timezone.make_aware(datetime.combine(day, time(hour, 0)))


def _specs(cast: _Cast, *, now: datetime) -> Iterator[_Spec]:
    """The 36 requests, cycled over the stations, villages, kinds and titles."""
    stations = cast.stations
    for index in range(len(PLAN) * ROUNDS):
        state, _, _, hours, slots = PLAN[index % len(PLAN)]
        station = stations[index % len(stations)]
        served = cast.villages[station.pk]
        village = served[(index // len(stations)) % len(served)] if served else None
        if index % 3 == 2:
            village = None  # some needs are the station's own
        kind = KINDS[index % 3]
        template, wanted = TITLES[kind][(index // 3) % len(TITLES[kind])]
        place = village.name if village else station.town.name
        starts_at = _starts_at(index, now=now)
        campaign = campaign_for(kind, timezone.localdate(starts_at))
        if campaign is None:
            continue
        yield _Spec(
            index=index,
            state=state,
            station=station,
            village=village,
            campaign=campaign,
            # Later rounds are follow-up sessions: the title stays unique however few stations.
            title=template.format(place=place) + ROUND_SUFFIX[index // len(PLAN)],
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=hours),
            slots=slots,
            specialties=[cast.specialties[c] for c in wanted if c in cast.specialties],
        )


def _crew(state: str, slots: int) -> tuple[int, int]:
    """(members holding a place, members waiting) on a request in ``state``."""
    if state == "open":
        return (1 if slots > 2 else 0), 0
    if state == "waitlist":
        return slots, 2
    if state in ("full", "in_progress", "done_awaiting_record"):
        return slots, 0
    return 0, 0


def _make(spec: _Spec, cast: _Cast, *, poster: User, now: datetime) -> None:
    """Post ``spec`` two days before min(now, start), claim a day before, then the state's
    own steps."""
    before = min(now, spec.starts_at)
    service_request = story.post(
        spec,
        actor=poster,
        contact_phone=f"0580-80{spec.index:05d}",
        specialties=spec.specialties,
        at=before - timedelta(days=2),
    )
    holders, waiting = _crew(spec.state, spec.slots)
    claims = [
        story.claim(
            service_request,
            member,
            at=before - timedelta(days=1) + timedelta(minutes=offset),
            waitlist=offset >= holders,
        )
        for offset, member in enumerate(cast.members.take(holders + waiting, service_request))
    ]
    if spec.state == "invited":
        _invite(service_request, team=cast.team, poster=poster, now=now)
    elif spec.state == "cancelled":
        cancel_request(
            actor=poster, request_id=service_request.pk, reason=story.CANCEL_REASON, now=now
        )
    elif spec.state == "expired":
        expire_overdue(now=now, request_ids=[service_request.pk])
    elif spec.state in ("in_progress", "done_awaiting_record"):
        _serve(service_request, claims, checked_out=spec.state == "done_awaiting_record")


def _invite(service_request: ServiceRequest, *, team: Team | None, poster: User, now) -> None:
    """The first team is invited right after posting, until a day before the start (when
    that is still ahead)."""
    until = service_request.starts_at - timedelta(days=1)
    if team is None or until <= now:
        return
    invite_team(
        actor=poster,
        request_id=service_request.pk,
        team=team,
        until=until,
        now=service_request.created_at + timedelta(hours=1),
    )


def _serve(service_request: ServiceRequest, claims: list[Claim], *, checked_out: bool) -> None:
    """Everyone checks in at the start, a minute apart (and out at the end)."""
    for offset, made in enumerate(claims):
        story.arrive(
            service_request,
            made,
            offset=offset,
            at=service_request.starts_at + timedelta(minutes=offset),
        )
    if checked_out:
        for made in claims:
            check_out(user=made.member.user, claim_id=made.pk, now=service_request.ends_at)


def _cast(stations: list[Station]) -> _Cast:
    return _Cast(
        stations=stations,
        villages=villages_by_station(stations),
        specialties={s.code: s for s in Specialty.objects.filter(active=True)},
        team=Team.objects.filter(active=True).order_by("id").first(),
        posters=story.posters(stations),
        members=_Members(),
    )


def seed_requests() -> DemoRequests:
    """Campaigns and 36 requests over the existing stations; safe to run again."""
    result = DemoRequests()
    now = timezone.now()
    with transaction.atomic():
        starts = [_starts_at(index, now=now) for index in range(len(PLAN) * ROUNDS)]
        result.campaigns = seed_campaigns(
            first=timezone.localdate(min(starts)), last=timezone.localdate(max(starts))
        )
        stations = sorted(
            Station.objects.filter(active=True).select_related("town"),
            key=lambda s: (s.name != DEMO_STATION, s.pk),
        )
        if not stations:
            return result
        cast = _cast(stations)
        for spec in _specs(cast, now=now):
            poster = cast.posters[spec.station.pk]
            if poster is None:
                continue  # nobody may post here: no manager and no staff
            if ServiceRequest.objects.filter(station=spec.station, title=spec.title).exists():
                continue
            _make(spec, cast, poster=poster, now=now)
            result.created += 1
        result.total = ServiceRequest.objects.count()
    return result
