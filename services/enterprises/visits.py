"""走访: a 专员 logs a visit to an enterprise they are paired with (docs/enterprises.md#走访).

A visit is a service record of the 暖企 campaign, through the records workflow rather than
beside it: one request at the enterprise (one slot, in progress), the 专员's claim checked in
where they stood (the geofence of ``ENTERPRISE_GEOFENCE_METERS``) and out after the visit's
minutes (``clamped_minutes``), and the record submitted on it by ``submit_record`` with one
enterprise served. It counts in enterprises served and hours once a second party (the
station's manager or staff) verifies that record, with every rule of the records (photos are
added to the record as to any other).

无事不扰: inside ENTERPRISE_QUIET_DAYS of the enterprise's last visit (by anyone) the visit is
logged with a warning; once the calendar month holds ENTERPRISE_VISITS_PER_MONTH visits a
further one is refused (409 ``visit_cap_reached``) unless the enterprise asked for it. The
enterprise's row is locked first (then the member, then the new request: the lock order of
docs/architecture.md#lock-order), so two visits logged at once count each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.models import User
from services import errors as service_errors
from services import rollups
from services.enterprises import appeals, errors, selectors
from services.models import Campaign, Claim, Enterprise, EnterpriseVisit, ServiceRequest
from services.records.writes import submit_record
from services.requests.checkout import clamped_minutes
from services.requests.claims import lock_member
from services.requests.transitions import ClaimStatus, Status, member_of
from stations.geo import Point, distance_km


@dataclass
class VisitResult:
    """The visit, its record, the 诉求 it raised and the 无事不扰 warnings."""

    visit: EnterpriseVisit
    record_id: int
    appeals: list = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The Asia/Shanghai calendar month holding ``moment``: [first instant, next month's)."""
    local = timezone.localtime(moment)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


def campaign_for(day, campaign: Campaign | None) -> Campaign:
    """The 暖企 campaign the visit belongs to: the one named, or the latest running that day."""
    if campaign is not None:
        if campaign.kind != Campaign.Kind.WARM_ENTERPRISE or not (
            campaign.starts_on <= day <= campaign.ends_on
        ):
            raise errors.NoEnterpriseCampaign("所选活动不是走访当天进行中的暖企活动。")
        return campaign
    found = (
        Campaign.objects.filter(
            kind=Campaign.Kind.WARM_ENTERPRISE, starts_on__lte=day, ends_on__gte=day
        )
        .order_by("-starts_on", "-id")
        .first()
    )
    if found is None:
        raise errors.NoEnterpriseCampaign()
    return found


def _check_time(started_at: datetime, minutes: int, now: datetime) -> datetime:
    ends_at = started_at + timedelta(minutes=minutes)
    earliest = now - timedelta(hours=settings.ENTERPRISE_VISIT_LOG_HOURS)
    if ends_at > now + timedelta(minutes=1):
        raise errors.VisitTimeInvalid(
            "走访结束后再登记：开始时间加时长不能晚于现在。",
            fields={"started_at": ["走访尚未结束。"]},
        )
    if started_at < earliest:
        raise errors.VisitTimeInvalid(
            f"只能登记 {settings.ENTERPRISE_VISIT_LOG_HOURS} 小时内开始的走访（须在现场签到）。",
            fields={"started_at": ["开始时间过早。"]},
        )
    return ends_at


def log_visit(
    *,
    user: User,
    enterprise_id: int,
    point: Point,
    started_at: datetime,
    duration_minutes: int,
    discussed: str,
    people_met: int = 1,
    issues: Sequence[str] = (),
    requested_by_enterprise: bool = False,
    campaign: Campaign | None = None,
    now: datetime | None = None,
) -> VisitResult:
    """The 专员's visit, checked in at ``point`` (WGS-84), with the 诉求 (``issues``) it
    collected, each accepted at once (已受理)."""
    now = now or timezone.now()
    member = member_of(user)
    ends_at = _check_time(started_at, duration_minutes, now)
    with transaction.atomic():
        enterprise = Enterprise.objects.select_for_update().get(pk=enterprise_id)
        if not selectors.is_current_liaison(user, enterprise.pk):
            raise errors.NotEnterpriseLiaison()
        if not enterprise.active:
            raise errors.EnterpriseInactive()
        distance_m = distance_km(Point(lat=enterprise.lat, lng=enterprise.lng), point) * 1000.0
        limit = settings.ENTERPRISE_GEOFENCE_METERS
        if distance_m > limit:
            raise service_errors.TooFar(
                f"您距离企业约 {distance_m:.0f} 米，超出 {limit} 米的签到范围。",
                extra={"distance_m": round(distance_m), "geofence_m": limit},
            )
        first, following = month_bounds(started_at)
        this_month = EnterpriseVisit.objects.filter(
            enterprise_id=enterprise.pk, visited_at__gte=first, visited_at__lt=following
        ).count()
        cap = settings.ENTERPRISE_VISITS_PER_MONTH
        if this_month >= cap and not requested_by_enterprise:
            raise errors.VisitCapReached(
                f"本月已走访该企业 {this_month} 次（上限 {cap} 次）。无事不扰：企业邀约的走访"
                "请注明 requested_by_enterprise。",
                extra={"visits_this_month": this_month, "cap": cap},
            )
        last = (
            EnterpriseVisit.objects.filter(enterprise_id=enterprise.pk)
            .order_by("-visited_at")
            .values_list("visited_at", flat=True)
            .first()
        )
        quiet = settings.ENTERPRISE_QUIET_DAYS
        warnings = []
        if last is not None and started_at - last < timedelta(days=quiet):
            warnings.append(
                {
                    "code": "quiet_period",
                    "detail": (
                        f"距该企业上次走访（{timezone.localtime(last):%m月%d日}）不足 {quiet} 天，"
                        "无事不扰，请确认确有必要。"
                    ),
                    "last_visit_at": timezone.localtime(last).isoformat(),
                }
            )
        chosen = campaign_for(timezone.localtime(started_at).date(), campaign)
        lock_member(member)
        service_request = ServiceRequest.objects.create(
            station=enterprise.station,
            campaign=chosen,
            title=f"暖企走访：{enterprise.name}"[:100],
            description=discussed,
            lat=enterprise.lat,
            lng=enterprise.lng,
            address=enterprise.address,
            starts_at=started_at,
            ends_at=ends_at,
            slots=1,
            claimed=1,
            status=Status.IN_PROGRESS,
            created_by=user,
        )
        # Counted as a posted request of the campaign; never "claimed" in the time-to-claim
        # figures (first_claimed_at stays empty): nobody waited for a visit to be taken up.
        rollups.request_posted(service_request)
        minutes = clamped_minutes(service_request, started_at, ends_at)
        claim = Claim.objects.create(
            request=service_request,
            member=member,
            team=member.team,
            status=ClaimStatus.CHECKED_IN,
            claimed_at=now,
            check_in_by=started_at,
            checked_in_at=started_at,
            check_in_lat=point.lat,
            check_in_lng=point.lng,
            check_in_distance_m=round(distance_m, 1),
            checked_out_at=ends_at,
            duration_minutes=minutes,
        )
        visit = EnterpriseVisit.objects.create(
            enterprise=enterprise,
            member=member,
            request=service_request,
            claim=claim,
            visited_at=started_at,
            duration_minutes=minutes,
            distance_m=round(distance_m, 1),
            discussed=discussed,
            requested_by_enterprise=requested_by_enterprise,
            quiet_warning=bool(warnings),
        )
        record_event(
            actor=user,
            verb="enterprise_visit_logged",
            obj=visit,
            payload={
                "enterprise": enterprise.pk,
                "request": service_request.pk,
                "claim": claim.pk,
                "distance_m": round(distance_m, 1),
                "requested_by_enterprise": requested_by_enterprise,
                "quiet_warning": bool(warnings),
                "visits_this_month": this_month + 1,
            },
        )
        record = submit_record(
            user=user,
            request_id=service_request.pk,
            people_served=people_met,
            summary=discussed,
            participants=[claim.pk],
            enterprises_served=1,
            now=now,
        )
        raised = [
            appeals.raise_appeal(
                actor=user,
                enterprise=enterprise,
                description=text,
                source="visit",
                visit=visit,
                now=now,
            )
            for text in issues
        ]
    return VisitResult(visit=visit, record_id=record.pk, appeals=raised, warnings=warnings)
