"""Residents' needs in the demo (群众点单, docs/intake.md): a triage queue for the demo manager.

The demo station gets its poster codes and a dozen needs from the last days, through the
product's own writes (``submit_intake``, ``accept_intake``, ``decline_intake``): most still new
(one of them past ``INTAKE_TRIAGE_HOURS``, so the untriaged list and its notice have one), one
accepted into a request, one declined with the reason the resident reads. A few other stations
get one new need each, so staff see a district-wide queue. Safe to run again: a station that
has intakes already gets none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from members.models import Specialty
from services.demo.story import posters
from services.intake import codes, writes
from services.models import Campaign, Intake
from stations.demo import DEMO_STATION
from stations.models import Station

# (hours ago, specialty code or "", village-code?, phone, what the resident wrote)
DEMO_NEEDS: list[tuple[float, str, bool, str, str]] = [
    (
        1.5,
        "elderly_care",
        True,
        "13905801234",
        "家里老人腿脚不便，想请人帮忙上门量血压、讲讲用药。",
    ),
    (3, "law", True, "", "邻居装修占用楼道，协商几次都没结果，想咨询怎么处理。"),
    (6, "", False, "13757012345", "小区门口路灯坏了半个月，晚上老人出门看不清路。"),
    (9, "social_security", True, "13600581111", "退休后医保转移不知道去哪办，能不能有人讲一讲。"),
    (20, "psychology", False, "", "孩子快中考了压力很大，整晚睡不着，家长也不知道怎么开导。"),
    (30, "fishery", True, "13858002222", "渔船保险理赔材料不会准备，想找懂行的帮忙看看。"),
    (40, "education", False, "", "暑假想给社区孩子办个作业辅导点，缺老师。"),
]
ACCEPTED = (26, "elderly_care", True, "13867003333", "独居老人家里的电线老化，担心安全。")
DECLINED = (50, "", False, "", "想办一张出入证，方便开车进小区。")
DECLINE_REASON = "出入证由小区物业办理，请联系物业服务中心。"
OTHER_STATION_NEED = "村里的健身器材坏了几件，希望有人来看看能不能修。"
OTHER_STATIONS = 4


@dataclass
class DemoIntakes:
    created: int = 0
    total: int = 0


def _campaign(now: datetime) -> Campaign | None:
    today = timezone.localdate(now)
    return (
        Campaign.objects.filter(
            kind=Campaign.Kind.WARM_VILLAGE, starts_on__lte=today, ends_on__gte=today
        )
        .order_by("-starts_on")
        .first()
    )


def _submit(station_code, village_code, need, *, now: datetime) -> Intake:
    hours, specialty_code, on_village_code, phone, text = need
    at = now - timedelta(hours=hours)
    specialty = Specialty.objects.filter(code=specialty_code).first() if specialty_code else None
    intake = writes.submit_intake(
        code=village_code if on_village_code and village_code is not None else station_code,
        description=text,
        phone=phone,
        specialty=specialty,
        now=at,
    )
    Intake.objects.filter(pk=intake.pk).update(created_at=at)
    return intake


def seed_intakes(*, now: datetime | None = None) -> DemoIntakes:
    """The demo manager's triage queue and one need at a few other stations."""
    now = now or timezone.now()
    result = DemoIntakes()
    stations = list(Station.objects.filter(active=True).order_by("pk"))
    who = posters(stations)
    demo = next((s for s in stations if s.name == DEMO_STATION), None)
    with transaction.atomic():
        if demo is not None and who.get(demo.pk) and not Intake.objects.filter(station=demo):
            manager = who[demo.pk]
            station_code = codes.code_for(actor=manager, station=demo)
            first_village = demo.villages.filter(active=True).order_by("pk").first()
            village_code = (
                codes.code_for(actor=manager, station=demo, village=first_village)
                if first_village
                else None
            )
            for need in DEMO_NEEDS:
                _submit(station_code, village_code, need, now=now)
                result.created += 1
            accepted = _submit(station_code, village_code, ACCEPTED, now=now)
            campaign = _campaign(now)
            if campaign is not None:
                starts = timezone.localtime(now).replace(
                    hour=9, minute=0, second=0, microsecond=0
                ) + timedelta(days=3)
                writes.accept_intake(
                    actor=manager,
                    intake_id=accepted.pk,
                    campaign=campaign,
                    starts_at=starts,
                    ends_at=starts + timedelta(hours=2),
                    slots=2,
                    now=now - timedelta(hours=ACCEPTED[0] - 2),
                )
            declined = _submit(station_code, village_code, DECLINED, now=now)
            writes.decline_intake(
                actor=manager,
                intake_id=declined.pk,
                reason=DECLINE_REASON,
                now=now - timedelta(hours=DECLINED[0] - 1),
            )
            result.created += 2
        others = [s for s in stations if s != demo and who.get(s.pk)][:OTHER_STATIONS]
        for offset, station in enumerate(others):
            if Intake.objects.filter(station=station).exists():
                continue
            code = codes.code_for(actor=who[station.pk], station=station)
            hours = 2 + offset * (settings.INTAKE_TRIAGE_HOURS / 2)
            _submit(code, None, (hours, "", False, "", OTHER_STATION_NEED), now=now)
            result.created += 1
    result.total = Intake.objects.count()
    return result
