"""暖企 in the demo (docs/enterprises.md): enterprises, their 专员, visits and 诉求.

Ten enterprises of the district's towns, each near a station, with a lead 专员 (demo_member
for the first two, so the member's "my enterprises" has rows); visits in the last weeks logged
through ``log_visit`` at the moment they happened (``now=``), half of them verified by the
station's manager through ``verify_record``, so they count; the 诉求 those visits raised taken
along the states (转办, 办理中, 办结, 企业评价) through the appeals' writes. Credit codes are
made with the GB 32100 check character. Safe to run again: nothing is added once the district
has enterprises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from members.models import Member
from services.demo.story import posters
from services.enterprises import appeals, codes, visits, writes
from services.models import Campaign, Enterprise, ServiceRecord, ServiceRequest
from services.records.writes import verify_record
from stations.demo import DEMO_STATION
from stations.geo import Point
from stations.models import Station

# (name, industry, key project, contact, what the visit discussed, the 诉求 it raised)
DEMO_ENTERPRISES: list[tuple[str, str, bool, str, str, str]] = [
    (
        "舟山东海水产食品有限公司",
        "水产加工",
        True,
        "陈国华",
        "了解冷链仓储扩建进度和用工情况。",
        "冷库扩建项目的用电增容审批进度慢，希望协调。",
    ),
    (
        "定海远洋船舶修造有限公司",
        "船舶修造",
        True,
        "林建军",
        "走访车间，听取订单和技术工人招聘情况。",
        "焊工等技术工种招工难，希望对接职业技能培训。",
    ),
    (
        "舟山港航物流有限公司",
        "港口物流",
        True,
        "王海平",
        "座谈港区集疏运和通关便利化。",
        "",
    ),
    (
        "定海海韵民宿管理有限公司",
        "文旅服务",
        False,
        "张丽萍",
        "了解旺季接待和消防安全情况。",
        "民宿消防改造的补助政策不清楚，希望有人讲解。",
    ),
    (
        "舟山海星新材料科技有限公司",
        "新材料",
        True,
        "徐明",
        "听取研发投入和专利申报情况。",
        "高新技术企业认定材料准备有困难。",
    ),
    (
        "定海绿岛农产品专业合作社",
        "农产品",
        False,
        "李春燕",
        "了解晚稻和蔬菜销售渠道。",
        "",
    ),
    ("舟山鲜达电子商务有限公司", "电子商务", False, "赵磊", "", ""),
    ("定海金塘螺杆制造有限公司", "装备制造", True, "孙志强", "", ""),
    ("舟山海天渔具有限公司", "海洋渔业", False, "周小红", "", ""),
    ("定海白泉建材有限公司", "建材", False, "吴建平", "", ""),
]
# Days ago of each visit (the first six enterprises), and which are verified.
VISIT_DAYS = (20, 16, 12, 9, 6, 3)
VERIFIED = (0, 1, 2)
DEPARTMENT = "区经信局"
RESOLVED_OUTCOME = "已协调供电公司完成增容方案审批，施工排期已确定。"


@dataclass
class DemoEnterprises:
    created: int = 0
    visits: int = 0
    appeals: int = 0
    total: int = 0


def _credit_code(index: int) -> str:
    """A well-formed 统一社会信用代码: 91 (enterprise), 330902 (定海区), a 9-character body."""
    first17 = f"91330902MA2{index:05d}X"
    return first17 + codes.check_character(first17)


def _lead_for(station: Station, demo_member: Member | None, index: int) -> Member | None:
    if index < 2 and demo_member is not None:
        return demo_member
    members = Member.objects.filter(active=True, user__is_member=True).select_related("user")
    return (
        members.filter(team__home_town=station.town).order_by("pk").first()
        or members.order_by("pk").first()
    )


def seed_enterprises(*, now: datetime | None = None) -> DemoEnterprises:
    """Enterprises with their 专员, visits and 诉求, once."""
    now = now or timezone.now()
    result = DemoEnterprises()
    if Enterprise.objects.exists():
        result.total = Enterprise.objects.count()
        return result
    staff = User.objects.filter(is_staff=True, is_active=True).order_by("pk").first()
    stations = sorted(
        Station.objects.filter(active=True).select_related("town"),
        key=lambda s: (s.name != DEMO_STATION, s.pk),
    )
    if staff is None or not stations:
        return result
    managers = posters(stations)
    demo_member = Member.objects.filter(user__username="demo_member").first()
    has_campaign = Campaign.objects.filter(kind=Campaign.Kind.WARM_ENTERPRISE).exists()
    with transaction.atomic():
        for index, (name, industry, key, contact, discussed, issue) in enumerate(DEMO_ENTERPRISES):
            station = stations[index % len(stations)]
            point = Point(lat=station.lat + 0.002 * (index + 1), lng=station.lng + 0.002)
            enterprise = writes.create_enterprise(
                actor=staff,
                name=name,
                credit_code=_credit_code(index + 1),
                town=station.town,
                station=station,
                point=point,
                address=f"{station.town.name}{name[2:6]}路 {index + 1} 号",
                industry=industry,
                key_project=key,
                contact_name=contact,
                contact_phone=f"1390580{index:04d}",
                source="demo",
            )
            result.created += 1
            lead = _lead_for(station, demo_member, index)
            if lead is None:
                continue
            writes.assign_liaisons(
                actor=staff,
                enterprise_id=enterprise.pk,
                lead=lead,
                starts_on=timezone.localdate(now) - timedelta(days=60),
                now=now - timedelta(days=60),
            )
            if not discussed or index >= len(VISIT_DAYS) or not has_campaign:
                continue
            started = now - timedelta(days=VISIT_DAYS[index], hours=2)
            logged = started + timedelta(hours=1, minutes=10)
            visit = visits.log_visit(
                user=lead.user,
                enterprise_id=enterprise.pk,
                point=point,
                started_at=started,
                duration_minutes=60,
                discussed=discussed,
                people_met=2,
                issues=[issue] if issue else [],
                now=logged,
            )
            # The writes stamp creation times with the wall clock (services/demo/story.py).
            ServiceRecord.objects.filter(pk=visit.record_id).update(submitted_at=logged)
            ServiceRequest.objects.filter(pk=visit.visit.request_id).update(created_at=logged)
            result.visits += 1
            result.appeals += len(visit.appeals)
            verifier = managers.get(station.pk) or staff
            if index in VERIFIED and verifier is not None and verifier != lead.user:
                verify_record(
                    actor=verifier,
                    record_id=visit.record_id,
                    approved=True,
                    note="走访属实",
                    now=started + timedelta(days=1),
                )
            _move_appeals(visit.appeals, index=index, staff=staff, at=started)
    result.total = Enterprise.objects.count()
    return result


def _move_appeals(raised: list, *, index: int, staff: User, at: datetime) -> None:
    """The first visit's 诉求 resolved and rated, the second's in progress, the fifth's
    referred; the others stay accepted (已受理)."""
    for appeal in raised:
        if index not in (0, 1, 4):
            continue
        appeals.refer_appeal(
            actor=staff,
            appeal_id=appeal.pk,
            department=DEPARTMENT,
            asked="请协助办理企业诉求并反馈结果。",
            due_on=timezone.localdate(at + timedelta(days=30)),
            now=at + timedelta(hours=3),
        )
        if index == 4:
            continue
        appeals.start_appeal(actor=staff, appeal_id=appeal.pk, now=at + timedelta(days=1))
        if index == 1:
            continue
        appeals.resolve_appeal(
            actor=staff, appeal_id=appeal.pk, outcome=RESOLVED_OUTCOME, now=at + timedelta(days=5)
        )
        appeals.rate_appeal(
            appeal_id=appeal.pk, score=5, comment="办得很快，谢谢！", now=at + timedelta(days=6)
        )
