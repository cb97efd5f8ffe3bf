"""Demo campaigns (三暖 2026) and a few dozen requests in every state (``seed_requests``).

Works on whatever stations, villages and members exist (the demo geography and roster when
``seed_demo`` ran them first) and does nothing when there are no stations. Deterministic for a
given day: the plan below is fixed, and times are offsets from today so open requests stay
claimable. Idempotent: a request is found by (station, title), campaigns by name; only
missing rows are created. Rows are written directly (this is seeding, not a workflow), with
the claim counters and statuses kept consistent exactly as the workflow keeps them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from accounts.audit import record_event
from accounts.models import User
from members.models import Member, Specialty, Team
from services import rollups
from services.models import Campaign, Claim, PointEntry, ServiceRecord, ServiceRequest
from services.records import points
from stations.demo import DEMO_STATION
from stations.models import Station, Village

Kind = Campaign.Kind
DEMO_MEMBER = "demo_member"  # accounts.demo's member login
Status = ServiceRequest.Status

# (kind, name, starts, ends, target_served) for 2026.
CAMPAIGNS_2026: list[tuple[str, str, date, date, int]] = [
    (Kind.WARM_ENTERPRISE, "2026 暖企专员·助企服务行动", date(2026, 1, 1), date(2026, 12, 31), 600),
    (Kind.WARM_VILLAGE, "2026 暖岙·三下乡服务", date(2026, 3, 1), date(2026, 12, 31), 1200),
    (Kind.WARM_HEART, "2026 促共富“暖心”主题服务", date(2026, 1, 1), date(2026, 12, 31), 800),
]

# Titles per kind; {place} is the village (or the station's town).
TITLES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    Kind.WARM_ENTERPRISE: [
        ("{place}小微企业政策宣讲", ("enterprise", "finance")),
        ("{place}企业融资对接会", ("finance",)),
        ("走访{place}园区企业解难题", ("enterprise", "law")),
        ("{place}企业用工法律体检", ("law", "social_security")),
    ],
    Kind.WARM_VILLAGE: [
        ("送法律进{place}", ("law",)),
        ("送医卫进{place}：健康义诊", ("medical", "elderly_care")),
        ("送科技下乡：{place}农技讲座", ("agritech", "fishery")),
        ("{place}渔民安全生产普法", ("law", "fishery")),
    ],
    Kind.WARM_HEART: [
        ("{place}暖心服务月：老人健康体检", ("medical", "elderly_care")),
        ("{place}青少年心理关爱", ("psychology", "education")),
        ("{place}养老服务咨询", ("elderly_care", "social_security")),
        ("{place}文化惠民进驿站", ("culture",)),
    ],
}

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


def seed_campaigns() -> dict[str, Campaign]:
    """The 2026 campaigns (and this year's, when it is not 2026); by kind of 2026."""
    plans = list(CAMPAIGNS_2026)
    year = timezone.localdate().year
    if year != 2026:
        plans += [
            (kind, name.replace("2026", str(year)), date(year, 1, 1), date(year, 12, 31), target)
            for kind, name, _, _, target in CAMPAIGNS_2026
        ]
    found: dict[str, Campaign] = {}
    for kind, name, starts, ends, target in plans:
        campaign, _ = Campaign.objects.get_or_create(
            name=name,
            defaults={"kind": kind, "starts_on": starts, "ends_on": ends, "target_served": target},
        )
        found.setdefault(kind, campaign)
    return found


def _campaign_for(kind: str, day: date) -> Campaign | None:
    return (
        Campaign.objects.filter(kind=kind, starts_on__lte=day, ends_on__gte=day)
        .order_by("starts_on", "id")
        .first()
    )


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


def _places(stations: list[Station]) -> dict[int, list[Village]]:
    return {
        s.pk: list(Village.objects.filter(station=s, active=True).order_by("id")) for s in stations
    }


def seed_requests() -> DemoRequests:
    """Campaigns and ~36 requests over the existing stations; safe to run again."""
    result = DemoRequests()
    with transaction.atomic():
        result.campaigns = seed_campaigns()
        stations = sorted(
            Station.objects.filter(active=True).select_related("town"),
            key=lambda s: (s.name != DEMO_STATION, s.pk),
        )
        if not stations:
            return result
        villages = _places(stations)
        specialties = {s.code: s for s in Specialty.objects.filter(active=True)}
        teams = list(Team.objects.filter(active=True).order_by("id")[:1])
        members = _Members()
        today = timezone.localdate()
        now = timezone.now()
        kinds = [Kind.WARM_ENTERPRISE, Kind.WARM_VILLAGE, Kind.WARM_HEART]
        for index in range(len(PLAN) * ROUNDS):
            state, days, hour, hours, slots = PLAN[index % len(PLAN)]
            station = stations[index % len(stations)]
            served = villages[station.pk]
            village = served[(index // len(stations)) % len(served)] if served else None
            if index % 3 == 2:
                village = None  # some needs are the station's own
            kind = kinds[index % 3]
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
            campaign = _campaign_for(kind, timezone.localdate(starts_at))
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


# ---------------------------------------------------------------- a year of history (stats)

HISTORY_SEED = 20260101
HISTORY_DAYS = 365
# Services per day are drawn from these weights per month (Jan..Dec): quiet around the Spring
# Festival, busy in the themed service months (May, September) and the autumn village trips.
MONTH_WEIGHT = [0.4, 0.3, 0.9, 1.0, 1.4, 1.0, 0.8, 0.8, 1.4, 1.2, 1.1, 0.9]
# Of the services that took place: record still awaiting verification in the last weeks,
# first version rejected and then a corrected one verified; requests cancelled or expired.
UNVERIFIED_RECENT_DAYS = 14
REJECTED_FIRST_SHARE = 0.05
CANCELLED_SHARE = 0.04
EXPIRED_SHARE = 0.04
# Open requests nobody has claimed yet, posted this many days ago (the follow-up list).
UNCLAIMED_AGES = [3, 4, 6, 9, 12]


@dataclass
class DemoHistory:
    """What seed_history made (zero everywhere on a second run the same day)."""

    requests: int = 0
    records: int = 0
    verified: int = 0
    claims: int = 0
    points: int = 0


def _history_campaigns(first: date, last: date) -> None:
    """The 三暖 campaigns of every year the history touches (2026's names as a template)."""
    for year in range(first.year, last.year + 1):
        for kind, name, starts, ends, target in CAMPAIGNS_2026:
            Campaign.objects.get_or_create(
                name=name.replace("2026", str(year)),
                defaults={
                    "kind": kind,
                    "starts_on": starts.replace(year=year),
                    "ends_on": ends.replace(year=year),
                    "target_served": target,
                },
            )


def _figures(kind: str, rng) -> tuple[int, int, int]:
    """(people served, enterprises served, households visited) of one service of ``kind``."""
    if kind == Kind.WARM_ENTERPRISE:
        enterprises = rng.randint(1, 4)
        return enterprises * rng.randint(2, 4), enterprises, 0
    if kind == Kind.WARM_VILLAGE:
        return rng.randint(10, 40), 0, rng.randint(3, 15)
    return rng.randint(8, 30), 0, rng.randint(0, 6)


def seed_history(*, today: date | None = None) -> DemoHistory:
    """A year of past service up to yesterday: requests, claims that checked in, records
    (mostly verified, some awaiting verification, a few rejected then corrected), duty points
    by the point rules, and a few open requests nobody has claimed yet.

    Deterministic: each day's services come from a random generator seeded with that day, over
    the stations, villages and members that exist. Idempotent: a request is found by (station,
    title) and the title carries its date, so a second run the same day adds nothing and a run
    on a later day adds only the days since. Written with bulk_create, the way the workflow
    leaves rows (claims done, points once per participant and rule, denormalised record
    columns), without an Event per row.
    """
    result = DemoHistory()
    today = today or timezone.localdate()
    first, last = today - timedelta(days=HISTORY_DAYS), today - timedelta(days=1)
    stations = list(Station.objects.filter(active=True).select_related("town").order_by("id"))
    members = list(
        Member.objects.filter(active=True, user__is_member=True)
        .select_related("team", "user")
        .order_by("id")
    )
    if not stations or len(members) < 3:
        return result
    villages = _places(stations)
    staff = User.objects.filter(is_staff=True).order_by("id").first()
    managers = {
        row["id"]: row["managers"]
        for row in Station.objects.filter(managers__isnull=False)
        .values("id")
        .annotate(managers=Min("managers"))
    }
    rules = points.active_rules()
    kinds = [Kind.WARM_ENTERPRISE, Kind.WARM_VILLAGE, Kind.WARM_HEART]

    with transaction.atomic():
        _history_campaigns(first, last)
        campaigns = {
            (c.kind, year): c
            for c in Campaign.objects.order_by("starts_on", "id")
            for year in range(c.starts_on.year, c.ends_on.year + 1)
        }

        # ---- the plan: one entry per service, from each day's own generator
        plan = []
        day = first
        while day <= last:
            rng = random.Random(f"{HISTORY_SEED}:{day.isoformat()}")  # noqa: S311 - demo data
            count = int(rng.random() * 1.3 * MONTH_WEIGHT[day.month - 1] + 0.35)
            pool = rng.sample(members, k=len(members))
            for index in range(count):
                station = rng.choice(stations)
                kind = rng.choices(kinds, weights=[3, 4, 3])[0]
                campaign = campaigns.get((kind, day.year))
                if campaign is None or not campaign.starts_on <= day <= campaign.ends_on:
                    continue
                served = villages[station.pk]
                village = rng.choice(served) if served and rng.random() < 0.7 else None
                template, _ = rng.choice(TITLES[kind])
                place = village.name if village else station.town.name
                title = f"{template.format(place=place)}（{day.month}月{day.day}日·{index + 1}）"
                size = rng.choices([1, 2, 3, 4, 5], weights=[2, 4, 3, 2, 1])[0]
                crew, pool = pool[:size], pool[size:]
                hour = rng.choice([9, 9, 10, 14, 14, 15])
                starts_at = timezone.make_aware(datetime.combine(day, time(hour, 0)))
                roll = rng.random()
                fate = (
                    "cancelled"
                    if roll < CANCELLED_SHARE
                    else "expired"
                    if roll < CANCELLED_SHARE + EXPIRED_SHARE
                    else "rejected_first"
                    if roll < CANCELLED_SHARE + EXPIRED_SHARE + REJECTED_FIRST_SHARE
                    else "served"
                )
                if fate == "served" and (last - day).days < UNVERIFIED_RECENT_DAYS:
                    fate = "submitted" if rng.random() < 0.5 else "served"
                if len(crew) < 1 and fate not in ("cancelled", "expired"):
                    continue
                plan.append(
                    {
                        "station": station,
                        "village": village,
                        "campaign": campaign,
                        "title": title,
                        "starts_at": starts_at,
                        "hours": rng.choice([2, 3, 3, 4]),
                        "crew": [] if fate in ("cancelled", "expired") else crew,
                        "slots": max(size, len(crew)) + rng.choice([0, 0, 1, 2]),
                        "fate": fate,
                        "posted_days": rng.randint(3, 20),
                        "claim_hours": rng.choice([0.5, 1, 2, 4, 6, 12, 24, 36, 72]),
                        "submit_hours": rng.uniform(0.5, 30),
                        "verify_hours": rng.uniform(2, 96),
                        "figures": _figures(kind, rng),
                    }
                )
            day += timedelta(days=1)
        for age in UNCLAIMED_AGES:
            station = stations[age % len(stations)]
            kind = kinds[age % 3]
            starts_at = timezone.make_aware(
                datetime.combine(today + timedelta(days=age + 2), time(9, 0))
            )
            campaign = campaigns.get((kind, starts_at.year))
            if campaign is None:
                continue
            template, _ = TITLES[kind][age % len(TITLES[kind])]
            plan.append(
                {
                    "station": station,
                    "village": None,
                    "campaign": campaign,
                    "title": f"{template.format(place=station.town.name)}（待认领·{age}）",
                    "starts_at": starts_at,
                    "hours": 3,
                    "crew": [],
                    "slots": 3,
                    "fate": "open",
                    "posted_days": age,
                }
            )

        existing = set(
            ServiceRequest.objects.filter(title__in=[p["title"] for p in plan]).values_list(
                "station_id", "title"
            )
        )
        plan = [p for p in plan if (p["station"].pk, p["title"]) not in existing]
        if not plan:
            return result
        result.requests = len(plan)

        # ---- requests
        status_of = {
            "served": Status.VERIFIED,
            "rejected_first": Status.VERIFIED,
            "submitted": Status.COMPLETED,
            "cancelled": Status.CANCELLED,
            "expired": Status.EXPIRED,
            "open": Status.OPEN,
        }
        requests = []
        for p in plan:
            place = p["village"] or p["station"]
            p["created_at"] = p["starts_at"] - timedelta(days=p["posted_days"])
            if p["fate"] == "open":
                p["created_at"] = timezone.now() - timedelta(days=p["posted_days"])
            p["claimed_at"] = (
                min(
                    p["created_at"] + timedelta(hours=p["claim_hours"]),
                    p["starts_at"] - timedelta(hours=2),
                )
                if p["crew"]
                else None
            )
            requests.append(
                ServiceRequest(
                    station=p["station"],
                    village=p["village"],
                    campaign=p["campaign"],
                    title=p["title"],
                    description=f"{p['title']}。请携带相关资料，提前十分钟到场。",
                    lat=place.lat,
                    lng=place.lng,
                    address=p["station"].address
                    if p["village"] is None
                    else f"{p['village'].name}村民服务中心",
                    starts_at=p["starts_at"],
                    ends_at=p["starts_at"] + timedelta(hours=p["hours"]),
                    slots=p["slots"],
                    claimed=len(p["crew"]),
                    status=status_of[p["fate"]],
                    first_claimed_at=p["claimed_at"],
                    cancelled_at=p["starts_at"] - timedelta(days=1)
                    if p["fate"] == "cancelled"
                    else None,
                    cancel_reason="天气原因，活动改期" if p["fate"] == "cancelled" else "",
                    contact_name=f"{(p['village'] or p['station'].town).name}联系人",
                    contact_phone="0580-8000000",
                )
            )
        ServiceRequest.objects.bulk_create(requests, batch_size=500)
        for p, service_request in zip(plan, requests, strict=True):
            service_request.created_at = p["created_at"]
            p["request"] = service_request
        # auto_now_add stamped "now" on insert; the history needs the posting times.
        ServiceRequest.objects.bulk_update(requests, ["created_at"], batch_size=500)

        # ---- claims of the crews (checked in, then done once the record is verified)
        claims = []
        for p in plan:
            service_request = p["request"]
            verified = p["fate"] in ("served", "rejected_first")
            p["claims"] = []
            for offset, member in enumerate(p["crew"]):
                claimed_at = p["claimed_at"] + timedelta(minutes=11 * offset)
                checked_in = service_request.starts_at + timedelta(minutes=offset * 3 - 10)
                claim = Claim(
                    request=service_request,
                    member=member,
                    team=member.team,
                    status=Claim.Status.DONE if verified else Claim.Status.CHECKED_IN,
                    claimed_at=claimed_at,
                    check_in_by=max(service_request.starts_at, claimed_at),
                    checked_in_at=checked_in,
                    check_in_lat=service_request.lat,
                    check_in_lng=service_request.lng,
                    check_in_distance_m=float(20 + 35 * offset),
                    checked_out_at=service_request.ends_at,
                    duration_minutes=int(
                        (service_request.ends_at - checked_in).total_seconds() // 60
                    ),
                )
                p["claims"].append(claim)
                claims.append(claim)
        Claim.objects.bulk_create(claims, batch_size=500)
        for claim in claims:
            claim.created_at = claim.claimed_at
        Claim.objects.bulk_update(claims, ["created_at"], batch_size=500)
        result.claims = len(claims)

        # ---- records (a rejected first version stays beside its verified correction)
        records, links = [], []
        for p in plan:
            if not p["claims"]:
                continue
            service_request = p["request"]
            people, enterprises, households = p["figures"]
            submitted_at = service_request.ends_at + timedelta(hours=p["submit_hours"])
            common = {
                "request": service_request,
                "enterprises_served": enterprises,
                "households_visited": households,
                "participants_count": len(p["claims"]),
                "submitted_by_id": p["crew"][0].user_id,
                "station": p["station"],
                "town_id": p["station"].town_id,
                "campaign": p["campaign"],
                "campaign_kind": p["campaign"].kind,
                "service_date": timezone.localdate(service_request.starts_at),
            }
            summary = (
                f"{service_request.title}：{len(p['claims'])} 位委员参与，服务群众 {people} 人次"
                + (f"，走访 {households} 户" if households else "")
                + (f"，服务企业 {enterprises} 家" if enterprises else "")
                + "。"
            )
            reviewer = managers.get(p["station"].pk) or (staff.pk if staff else None)
            version = 1
            if p["fate"] == "rejected_first":
                records.append(
                    ServiceRecord(
                        **common,
                        version=1,
                        people_served=people * 3,
                        summary=summary,
                        status=ServiceRecord.Status.REJECTED,
                        verified_by_id=reviewer,
                        verified_at=submitted_at + timedelta(hours=20),
                        note="服务人次与签到情况不符，请核对后重新提交。",
                    )
                )
                records[-1].stamp = submitted_at
                links.append((records[-1], p["claims"]))
                submitted_at += timedelta(hours=30)
                version = 2
            verified = p["fate"] != "submitted"
            record = ServiceRecord(
                **common,
                version=version,
                people_served=people,
                summary=summary,
                status=ServiceRecord.Status.VERIFIED
                if verified
                else ServiceRecord.Status.SUBMITTED,
                verified_by_id=reviewer if verified else None,
                verified_at=submitted_at + timedelta(hours=p["verify_hours"]) if verified else None,
                note="情况属实。" if verified else "",
            )
            record.stamp = submitted_at
            records.append(record)
            links.append((record, p["claims"]))
            p["record"] = record if verified else None
        ServiceRecord.objects.bulk_create(records, batch_size=500)
        for record in records:
            record.submitted_at = record.stamp
        ServiceRecord.objects.bulk_update(records, ["submitted_at"], batch_size=500)
        ServiceRecord.participants.through.objects.bulk_create(
            [
                ServiceRecord.participants.through(servicerecord=record, claim=claim)
                for record, record_claims in links
                for claim in record_claims
            ],
            batch_size=1000,
        )
        result.records = len(records)
        result.verified = sum(1 for r in records if r.status == ServiceRecord.Status.VERIFIED)

        # ---- duty points, by the same rules verification applies
        entries = []
        for p in plan:
            record = p.get("record")
            if record is None:
                continue
            for award in points.awards_for(
                claims=p["claims"], service_request=p["request"], rules=rules
            ):
                entry = PointEntry(
                    member_id=award.member_id,
                    team_id=award.team_id,
                    rule=award.rule,
                    points=award.points,
                    reason=award.reason,
                    record=record,
                    award=True,
                    service_date=record.service_date,
                )
                entry.stamp = record.verified_at
                entries.append(entry)
        PointEntry.objects.bulk_create(entries, batch_size=1000)
        for entry in entries:
            entry.created_at = entry.stamp
        PointEntry.objects.bulk_update(entries, ["created_at"], batch_size=1000)
        result.points = len(entries)
        # bulk_create bypasses the workflow, so the rollups are recomputed (a year of demo
        # history is a few thousand records: about a second).
        rollups.rebuild()
    return result
