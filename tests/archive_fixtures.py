"""A member's two years of service for the archive and certificate tests.

``archive`` builds, through ``stats_fixtures.served``, what verification leaves behind: alice's
verified services over 2025 and 2026 in all three 三暖 kinds (bob and charlie beside her on
some), a revoked one whose award and reversal cancel, a submitted one not yet counted, and the
points ledger. ``Archive.expected`` adds up the specs, so the asserts restate no figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pytest

from services.models import Campaign, PointEntry, ServiceRecord
from tests.factories import CampaignFactory, PointRuleFactory
from tests.stats_fixtures import served

HISTORY_URL = "/api/v1/me/service-history/"
CERTIFICATES_URL = "/api/v1/me/certificates/"
ANNUAL_URL = "/api/v1/archive/annual-export/"


def member_history_url(member) -> str:
    return f"/api/v1/members/{member.pk}/service-history/"


def pdf_url(certificate) -> str:
    pk = certificate if isinstance(certificate, int) else certificate["id"]
    return f"/api/v1/certificates/{pk}/pdf/"


@dataclass(frozen=True)
class Spec:
    """One of alice's services: the day, kind, place, people served, alice's minutes and
    points, the others' minutes."""

    day: date
    kind: str
    other_station: bool
    people: int
    minutes: int
    points: int
    others: tuple[tuple[str, int], ...] = ()
    title: str = "送法下乡"


SPECS = (
    Spec(date(2025, 3, 10), "warm_village", False, 20, 120, 7, (("bob", 90),), "新螺头村法律咨询"),
    Spec(date(2025, 11, 2), "warm_enterprise", True, 8, 45, 5, (), "金塘企业用工指导"),
    Spec(date(2026, 2, 14), "warm_heart", False, 30, 180, 5, (("charlie", 60),), "暖心义诊"),
)


@dataclass
class Archive:
    world: object
    campaigns: dict[str, Campaign]
    records: list[ServiceRecord]
    revoked: ServiceRecord
    pending: ServiceRecord
    specs: tuple[Spec, ...] = SPECS
    extra: dict = field(default_factory=dict)

    def expected(self, *, year: int | None = None, kind: str | None = None) -> dict:
        """alice's figures over the specs that fall in ``year`` / ``kind``."""
        chosen = [
            s
            for s in self.specs
            if (year is None or s.day.year == year) and (kind is None or s.kind == kind)
        ]
        return {
            "services": len(chosen),
            "service_minutes": sum(s.minutes for s in chosen),
            "service_hours": round(sum(s.minutes for s in chosen) / 60, 1),
            "people_served": sum(s.people for s in chosen),
            "points": sum(s.points for s in chosen),
        }


def _award(member, record, points: int, *, award: bool = True) -> None:
    PointEntry.objects.create(
        member=member,
        rule=PointRuleFactory(),
        points=points if award else -points,
        reason="参与服务" if award else "撤销核实",
        record=record,
        award=award,
        service_date=record.service_date,
        team=member.team,
    )


def build_archive(world) -> Archive:
    campaigns = {
        kind: CampaignFactory(kind=kind, name=f"2025-2026 {label}")
        for kind, label in Campaign.Kind.choices
    }
    people = {"alice": world.alice, "bob": world.bob, "charlie": world.charlie}
    records = []
    for spec in SPECS:
        members = [world.alice, *(people[name] for name, _ in spec.others)]
        record = served(
            station=world.other_station if spec.other_station else world.station,
            campaign=campaigns[spec.kind],
            day=spec.day,
            people=spec.people,
            members=members,
            minutes=[spec.minutes, *(m for _, m in spec.others)],
        )
        ServiceRecord.objects.filter(pk=record.pk).update(summary=f"{spec.title}：现场服务。")
        record.request.title = spec.title
        record.request.save(update_fields=["title"])
        _award(world.alice, record, spec.points)
        for name, _ in spec.others:
            _award(people[name], record, 5)
        records.append(record)
    revoked = served(
        station=world.station,
        campaign=campaigns["warm_village"],
        day=date(2026, 3, 1),
        people=12,
        members=[world.alice],
        status=ServiceRecord.Status.REVOKED,
    )
    _award(world.alice, revoked, 5)
    _award(world.alice, revoked, 5, award=False)
    pending = served(
        station=world.station,
        campaign=campaigns["warm_village"],
        day=date(2026, 4, 1),
        people=9,
        members=[world.alice],
        status=ServiceRecord.Status.SUBMITTED,
    )
    return Archive(
        world=world, campaigns=campaigns, records=records, revoked=revoked, pending=pending
    )


@pytest.fixture
def archive(world) -> Archive:
    return build_archive(world)
