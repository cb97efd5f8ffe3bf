"""Anomaly flags (异常标记) of a service record, computed when it is submitted.

Flags never block a record: they tell the verifier where to look, and the verifier must
acknowledge them in the note. ``evaluate`` is a pure function of the record's facts and the
limits; ``gather_overlaps`` is the one query it needs (check-ins of the same members elsewhere).
Each flag is ``{"code", "detail", "data"}``; ``detail`` names no person, because members who
took part see the record too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from services.models import Campaign, Claim

# Flag codes (stored in ServiceRecord.flags; clients and tests use these).
PEOPLE_ABOVE_EXPECTED = "people_above_expected"
PEOPLE_ABOVE_BOUND = "people_above_bound"
OUTSIDE_GEOFENCE = "checked_in_outside_geofence"
OVERLAPPING_CHECK_IN = "overlapping_check_in"
LATE_SUBMISSION = "late_submission"
ENTERPRISES_OUTSIDE_WARM_ENTERPRISE = "enterprises_outside_warm_enterprise"
# Photos (services.records.attachments): recomputed whenever a photo is added or removed.
PHOTO_FAR_FROM_REQUEST = "photo_far_from_request"
PHOTO_OUTSIDE_WINDOW = "photo_outside_window"
PHOTO_CODES = (PHOTO_FAR_FROM_REQUEST, PHOTO_OUTSIDE_WINDOW)

CODES = (
    PEOPLE_ABOVE_EXPECTED,
    PEOPLE_ABOVE_BOUND,
    OUTSIDE_GEOFENCE,
    OVERLAPPING_CHECK_IN,
    LATE_SUBMISSION,
    ENTERPRISES_OUTSIDE_WARM_ENTERPRISE,
)
# Every code a record's flags may hold: those of submission, then those of its photos.
ALL_CODES = (*CODES, *PHOTO_CODES)


@dataclass(frozen=True)
class Limits:
    """The thresholds, from settings unless a caller (a test, a what-if) passes others."""

    people_per_participant: int
    people_max: int
    geofence_m: float
    late_hours: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            people_per_participant=settings.RECORDS_FLAG_PEOPLE_PER_PARTICIPANT,
            people_max=settings.RECORDS_FLAG_PEOPLE_MAX,
            geofence_m=settings.SERVICES_GEOFENCE_METERS,
            late_hours=settings.RECORDS_FLAG_LATE_HOURS,
        )


@dataclass(frozen=True)
class Participant:
    """What the flags need of one participating claim."""

    claim_id: int
    member_id: int
    check_in_distance_m: float | None


@dataclass(frozen=True)
class Facts:
    """What the flags need of one record and its request."""

    people_served: int
    enterprises_served: int
    campaign_kind: str
    ends_at: datetime
    submitted_at: datetime
    participants: Sequence[Participant]
    # member id → ids of other requests overlapping this one where they checked in.
    overlaps: Mapping[int, Sequence[int]]


def _flag(code: str, detail: str, **data: Any) -> dict[str, Any]:
    return {"code": code, "detail": detail, "data": data}


def evaluate(facts: Facts, limits: Limits) -> list[dict[str, Any]]:
    """The flags of one record, in a fixed order (pure: no queries, no clock)."""
    flags: list[dict[str, Any]] = []
    count = len(facts.participants)
    expected = count * limits.people_per_participant
    if count and facts.people_served > expected:
        flags.append(
            _flag(
                PEOPLE_ABOVE_EXPECTED,
                f"服务人次 {facts.people_served} 远高于预期（{count} 名参与委员 × "
                f"{limits.people_per_participant} = {expected}）。",
                people_served=facts.people_served,
                expected_max=expected,
            )
        )
    if facts.people_served > limits.people_max:
        flags.append(
            _flag(
                PEOPLE_ABOVE_BOUND,
                f"服务人次 {facts.people_served} 超过全区单次服务上限参考值 {limits.people_max}。",
                people_served=facts.people_served,
                bound=limits.people_max,
            )
        )
    far = [
        p
        for p in facts.participants
        if p.check_in_distance_m is not None and p.check_in_distance_m > limits.geofence_m
    ]
    if far:
        flags.append(
            _flag(
                OUTSIDE_GEOFENCE,
                f"{len(far)} 名参与委员签到位置超出 {limits.geofence_m:g} 米范围。",
                claims=[p.claim_id for p in far],
                distances_m=[round(p.check_in_distance_m or 0.0) for p in far],
                geofence_m=limits.geofence_m,
            )
        )
    overlapping = {
        p.claim_id: sorted(facts.overlaps[p.member_id])
        for p in facts.participants
        if facts.overlaps.get(p.member_id)
    }
    if overlapping:
        flags.append(
            _flag(
                OVERLAPPING_CHECK_IN,
                f"{len(overlapping)} 名参与委员在时间重叠的其他需求中也已签到。",
                claims=sorted(overlapping),
                other_requests=sorted({r for ids in overlapping.values() for r in ids}),
            )
        )
    late = facts.submitted_at - facts.ends_at
    if late > timedelta(hours=limits.late_hours):
        hours = int(late.total_seconds() // 3600)
        flags.append(
            _flag(
                LATE_SUBMISSION,
                f"服务结束 {hours} 小时后才提交记录（超过 {limits.late_hours} 小时）。",
                hours_after_end=hours,
                limit_hours=limits.late_hours,
            )
        )
    if facts.enterprises_served > 0 and facts.campaign_kind != Campaign.Kind.WARM_ENTERPRISE:
        flags.append(
            _flag(
                ENTERPRISES_OUTSIDE_WARM_ENTERPRISE,
                f"非暖企活动填报了服务企业数 {facts.enterprises_served}。",
                enterprises_served=facts.enterprises_served,
                campaign_kind=facts.campaign_kind,
            )
        )
    return flags


def gather_overlaps(
    *, request_id: int, starts_at: datetime, ends_at: datetime, member_ids: Iterable[int]
) -> dict[int, list[int]]:
    """member id → other requests overlapping [starts_at, ends_at) they checked in to (1 query)."""
    found: dict[int, list[int]] = {}
    rows = (
        Claim.objects.filter(
            member_id__in=list(member_ids),
            checked_in_at__isnull=False,
            request__starts_at__lt=ends_at,
            request__ends_at__gt=starts_at,
        )
        .exclude(request_id=request_id)
        .values_list("member_id", "request_id")
        .order_by("member_id", "request_id")
    )
    for member_id, other in rows:
        found.setdefault(member_id, []).append(other)
    return found


def flags_for(
    *,
    service_request,
    claims: Sequence[Claim],
    people_served: int,
    enterprises_served: int,
    submitted_at: datetime,
    limits: Limits | None = None,
) -> list[dict[str, Any]]:
    """Flags of a record about to be written for ``service_request`` (campaign loaded)."""
    facts = Facts(
        people_served=people_served,
        enterprises_served=enterprises_served,
        campaign_kind=service_request.campaign.kind,
        ends_at=service_request.ends_at,
        submitted_at=submitted_at,
        participants=[
            Participant(
                claim_id=c.pk, member_id=c.member_id, check_in_distance_m=c.check_in_distance_m
            )
            for c in claims
        ],
        overlaps=gather_overlaps(
            request_id=service_request.pk,
            starts_at=service_request.starts_at,
            ends_at=service_request.ends_at,
            member_ids={c.member_id for c in claims},
        ),
    )
    return evaluate(facts, limits or Limits.from_settings())


@dataclass(frozen=True)
class Photo:
    """What the photo flags need of one attachment: when and how far from the request."""

    attachment_id: int
    taken_at: datetime | None
    distance_km: float | None


def photo_flags(
    photos: Sequence[Photo],
    *,
    starts_at: datetime,
    ends_at: datetime,
    max_distance_km: float,
    grace_minutes: int,
) -> list[dict[str, Any]]:
    """The flags of a record's photos (pure): taken far from the request's point, or outside
    [starts_at - grace, ends_at + grace]. Photos without a position or a time raise nothing."""
    flags: list[dict[str, Any]] = []
    far = [p for p in photos if p.distance_km is not None and p.distance_km > max_distance_km]
    if far:
        flags.append(
            _flag(
                PHOTO_FAR_FROM_REQUEST,
                f"{len(far)} 张照片的拍摄位置距服务地点超过 {max_distance_km:g} 公里。",
                attachments=[p.attachment_id for p in far],
                distances_km=[round(p.distance_km or 0.0, 2) for p in far],
                limit_km=max_distance_km,
            )
        )
    grace = timedelta(minutes=grace_minutes)
    outside = [
        p
        for p in photos
        if p.taken_at is not None and not (starts_at - grace <= p.taken_at <= ends_at + grace)
    ]
    if outside:
        flags.append(
            _flag(
                PHOTO_OUTSIDE_WINDOW,
                f"{len(outside)} 张照片的拍摄时间不在服务时段内"
                f"（前后各放宽 {grace_minutes} 分钟）。",
                attachments=[p.attachment_id for p in outside],
                taken_at=[p.taken_at.isoformat() for p in outside if p.taken_at],
                grace_minutes=grace_minutes,
            )
        )
    return flags
