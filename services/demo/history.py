"""A year of past service up to yesterday (``seed_history``), for the statistics and the dashboard.

Requests, claims that checked in, records (mostly verified, some awaiting verification in the
last weeks, a few rejected then corrected), duty points by the point rules, some cancelled and
expired requests, and a few open requests nobody has claimed yet (the follow-up list).

Deterministic: each day's services come from a random generator seeded with that day, over the
stations, villages and members that exist, and every time is taken from the plan, never the
clock. Idempotent: a request is found by (station, title) and the title carries its date, so a
second run the same day adds nothing and a run on a later day adds only the days since.

``plan_history`` decides what happened: one ``Service`` per need, with its timeline and
record versions. ``services.demo.bulk.write_history`` puts it down with bulk inserts (a year
through the writes takes ~14 s of CPU against 0.5 s; that module says which of their rules it
mirrors and how that is tested).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from members.models import Member
from services.demo.bulk import DemoHistory, write_history
from services.demo.campaigns import KINDS, TITLES, Kind, seed_campaigns
from services.demo.places import villages_by_station
from services.models import Campaign, ServiceRecord, ServiceRequest
from stations.models import Station, Village

Status = ServiceRequest.Status
RecordStatus = ServiceRecord.Status

HISTORY_SEED = 20260101
HISTORY_DAYS = 365
# Services per day are drawn from these weights per month (Jan..Dec): quiet around the Spring
# Festival, busy in the themed service months (May, September) and the autumn village trips.
MONTH_WEIGHT = [0.4, 0.3, 0.9, 1.0, 1.4, 1.0, 0.8, 0.8, 1.4, 1.2, 1.1, 0.9]
# Services on an average day of a month of weight 1; a day's count is this times the month's
# weight, rounded up or down at random in proportion (so a quiet month still has a few services
# instead of rounding to none).
SERVICES_PER_DAY = 0.55
# Of the services that took place: record still awaiting verification in the last weeks,
# first version rejected and then a corrected one verified; requests cancelled or expired.
UNVERIFIED_RECENT_DAYS = 14
REJECTED_FIRST_SHARE = 0.05
CANCELLED_SHARE = 0.04
EXPIRED_SHARE = 0.04
# Open requests nobody has claimed yet, posted this many days ago (the follow-up list).
UNCLAIMED_AGES = [3, 4, 6, 9, 12]

# The reviewer's note by the review's outcome.
NOTES = {
    RecordStatus.REJECTED: "服务人次与签到情况不符，请核对后重新提交。",
    RecordStatus.VERIFIED: "情况属实。",
}
# A service's fate → its request's status at the end.
FINAL_STATUS = {
    "served": Status.VERIFIED,
    "rejected_first": Status.VERIFIED,
    "submitted": Status.COMPLETED,
    "cancelled": Status.CANCELLED,
    "expired": Status.EXPIRED,
    "open": Status.OPEN,
}


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Version:
    """One version of a service record: what it said, when it was sent and reviewed (its
    number is its place in ``Service.versions``)."""

    people_served: int
    status: str
    submitted_at: datetime
    reviewed_at: datetime | None = None

    @property
    def note(self) -> str:
        return NOTES.get(self.status, "")


@dataclass(frozen=True)
class Service:
    """One planned service of the history and its timeline."""

    station: Station
    village: Village | None
    campaign: Campaign
    title: str
    starts_at: datetime
    hours: int
    crew: tuple[Member, ...]
    slots: int
    fate: str
    posted_at: datetime
    claim_hours: float = 0
    submit_hours: float = 0
    verify_hours: float = 0
    # (people served, enterprises served, households visited)
    figures: tuple[int, int, int] = (0, 0, 0)

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(hours=self.hours)

    @property
    def status(self) -> str:
        """The request's status at the end."""
        return FINAL_STATUS[self.fate]

    @property
    def cancelled_at(self) -> datetime | None:
        """A cancelled service was called off the day before."""
        return self.starts_at - timedelta(days=1) if self.fate == "cancelled" else None

    @property
    def verified(self) -> bool:
        return self.fate in ("served", "rejected_first")

    def claimed_at(self, offset: int) -> datetime:
        """When the ``offset``-th of the crew claimed: the first some hours after posting
        (at the latest two hours before the start), the others a few minutes apart."""
        first = min(
            self.posted_at + timedelta(hours=self.claim_hours),
            self.starts_at - timedelta(hours=2),
        )
        return first + timedelta(minutes=11 * offset)

    def checked_in_at(self, offset: int) -> datetime:
        return self.starts_at + timedelta(minutes=offset * 3 - 10)

    def versions(self) -> list[Version]:
        """The records of a service that took place: a rejected first version (people served
        tripled) beside its corrected second, or one version verified or awaiting review."""
        people = self.figures[0]
        submitted_at = self.ends_at + timedelta(hours=self.submit_hours)
        if self.fate == "submitted":
            return [Version(people, RecordStatus.SUBMITTED, submitted_at)]
        found = []
        if self.fate == "rejected_first":
            rejected_at = submitted_at + timedelta(hours=20)
            found.append(Version(people * 3, RecordStatus.REJECTED, submitted_at, rejected_at))
            submitted_at += timedelta(hours=30)
        verified_at = submitted_at + timedelta(hours=self.verify_hours)
        return [*found, Version(people, RecordStatus.VERIFIED, submitted_at, verified_at)]

    def summary(self) -> str:
        people, enterprises, households = self.figures
        return (
            f"{self.title}：{len(self.crew)} 位委员参与，服务群众 {people} 人次"
            + (f"，走访 {households} 户" if households else "")
            + (f"，服务企业 {enterprises} 家" if enterprises else "")
            + "。"
        )


@dataclass
class _Cast:
    """The stations, villages, members and campaigns the plan draws from."""

    stations: list[Station]
    villages: dict[int, list[Village]]
    members: list[Member]
    campaigns: dict[tuple[str, int], Campaign]

    @property
    def ready(self) -> bool:
        return bool(self.stations) and len(self.members) >= 3

    @classmethod
    def load(cls) -> _Cast:
        stations = list(Station.objects.filter(active=True).select_related("town").order_by("id"))
        return cls(
            stations=stations,
            villages=villages_by_station(stations),
            members=list(
                Member.objects.filter(active=True, user__is_member=True)
                .select_related("team", "user")
                .order_by("id")
            ),
            campaigns=_campaigns_by_year(),
        )


def _campaigns_by_year() -> dict[tuple[str, int], Campaign]:
    """(kind, year) → the first campaign of that kind running in that year."""
    return {
        (c.kind, year): c
        for c in Campaign.objects.order_by("starts_on", "id")
        for year in range(c.starts_on.year, c.ends_on.year + 1)
    }


def _figures(kind: str, rng: random.Random) -> tuple[int, int, int]:
    """(people served, enterprises served, households visited) of one service of ``kind``."""
    if kind == Kind.WARM_ENTERPRISE:
        enterprises = rng.randint(1, 4)
        return enterprises * rng.randint(2, 4), enterprises, 0
    if kind == Kind.WARM_VILLAGE:
        return rng.randint(10, 40), 0, rng.randint(3, 15)
    return rng.randint(8, 30), 0, rng.randint(0, 6)


def _fate(rng: random.Random, *, days_ago: int) -> str:
    """cancelled, expired, rejected_first or served; served in the last weeks may still be
    awaiting verification (submitted)."""
    roll = rng.random()
    if roll < CANCELLED_SHARE:
        return "cancelled"
    if roll < CANCELLED_SHARE + EXPIRED_SHARE:
        return "expired"
    if roll < CANCELLED_SHARE + EXPIRED_SHARE + REJECTED_FIRST_SHARE:
        return "rejected_first"
    if days_ago < UNVERIFIED_RECENT_DAYS and rng.random() < 0.5:
        return "submitted"
    return "served"


def _plan_day(day: date, *, last: date, cast: _Cast) -> list[Service]:
    """The services of one day, from that day's own generator (draws in a fixed order)."""
    rng = random.Random(f"{HISTORY_SEED}:{day.isoformat()}")  # noqa: S311 - demo data
    count = int(SERVICES_PER_DAY * MONTH_WEIGHT[day.month - 1] + rng.random())
    pool = rng.sample(cast.members, k=len(cast.members))
    services = []
    for index in range(count):
        station = rng.choice(cast.stations)
        kind = rng.choices(KINDS, weights=[3, 4, 3])[0]
        campaign = cast.campaigns.get((kind, day.year))
        if campaign is None or not campaign.starts_on <= day <= campaign.ends_on:
            continue
        served = cast.villages[station.pk]
        village = rng.choice(served) if served and rng.random() < 0.7 else None
        template, _ = rng.choice(TITLES[kind])
        place = village.name if village else station.town.name
        size = rng.choices([1, 2, 3, 4, 5], weights=[2, 4, 3, 2, 1])[0]
        crew, pool = pool[:size], pool[size:]
        hour = rng.choice([9, 9, 10, 14, 14, 15])
        starts_at = timezone.make_aware(datetime.combine(day, time(hour, 0)))
        fate = _fate(rng, days_ago=(last - day).days)
        if not crew and fate not in ("cancelled", "expired"):
            continue
        hours = rng.choice([2, 3, 3, 4])
        slots = max(size, len(crew)) + rng.choice([0, 0, 1, 2])
        services.append(
            Service(
                station=station,
                village=village,
                campaign=campaign,
                title=f"{template.format(place=place)}（{day.month}月{day.day}日·{index + 1}）",
                starts_at=starts_at,
                hours=hours,
                # Nobody took part in a service that was called off or never claimed.
                crew=() if fate in ("cancelled", "expired") else tuple(crew),
                slots=slots,
                fate=fate,
                posted_at=starts_at - timedelta(days=rng.randint(3, 20)),
                claim_hours=rng.choice([0.5, 1, 2, 4, 6, 12, 24, 36, 72]),
                submit_hours=rng.uniform(0.5, 30),
                verify_hours=rng.uniform(2, 96),
                figures=_figures(kind, rng),
            )
        )
    return services


def _plan_unclaimed(today: date, *, cast: _Cast) -> list[Service]:
    """Open requests posted ``UNCLAIMED_AGES`` days ago that nobody has claimed."""
    services = []
    for age in UNCLAIMED_AGES:
        station = cast.stations[age % len(cast.stations)]
        kind = KINDS[age % 3]
        starts_at = timezone.make_aware(
            datetime.combine(today + timedelta(days=age + 2), time(9, 0))
        )
        campaign = cast.campaigns.get((kind, starts_at.year))
        if campaign is None:
            continue
        template, _ = TITLES[kind][age % len(TITLES[kind])]
        services.append(
            Service(
                station=station,
                village=None,
                campaign=campaign,
                title=f"{template.format(place=station.town.name)}（待认领·{age}）",
                starts_at=starts_at,
                hours=3,
                crew=(),
                slots=3,
                fate="open",
                posted_at=timezone.make_aware(
                    datetime.combine(today - timedelta(days=age), time(8, 0))
                ),
            )
        )
    return services


def plan_history(*, today: date) -> list[Service]:
    """Every service of the year up to yesterday, and the unclaimed open requests, over the
    stations, members and campaigns that exist (nothing without stations or three members)."""
    return _plan(today, _Cast.load())


def _plan(today: date, cast: _Cast) -> list[Service]:
    if not cast.ready:
        return []
    first, last = today - timedelta(days=HISTORY_DAYS), today - timedelta(days=1)
    services = []
    day = first
    while day <= last:
        services += _plan_day(day, last=last, cast=cast)
        day += timedelta(days=1)
    return services + _plan_unclaimed(today, cast=cast)


def _not_yet_written(services: list[Service]) -> list[Service]:
    existing = set(
        ServiceRequest.objects.filter(title__in=[s.title for s in services]).values_list(
            "station_id", "title"
        )
    )
    return [s for s in services if (s.station.pk, s.title) not in existing]


def seed_history_campaigns(today: date) -> None:
    """The campaigns of every year the history of ``today`` touches, up to the start of the
    last unclaimed request."""
    seed_campaigns(
        first=today - timedelta(days=HISTORY_DAYS),
        last=today + timedelta(days=max(UNCLAIMED_AGES) + 2),
    )


def seed_history(*, today: date | None = None) -> DemoHistory:
    """A year of past service up to yesterday (see the module's docstring); safe to run again."""
    today = today or timezone.localdate()
    with transaction.atomic():
        cast = _Cast.load()
        if not cast.ready:
            return DemoHistory()
        seed_history_campaigns(today)
        cast.campaigns = _campaigns_by_year()
        return write_history(_not_yet_written(_plan(today, cast)))
