"""Verified hours (服务时长): each participant's minutes on a record, as the verifier confirmed
or corrected them, and what the statistics add up (docs/records-and-points.md#hours).

``settle`` runs inside ``verify_record``'s approving transaction: participants still checked
in are checked out at the verification (or the window's close, if earlier), each participant
gets an entry with the minutes their check-in and check-out give, and a correction is a second
entry with its reason, the first staying as it was. Only the current entries of verified
records are ``counted``; ``uncount`` clears them when a verification is revoked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from accounts.models import User
from services import errors
from services.models import Claim, ServiceHours, ServiceRecord, ServiceRequest
from services.requests.checkout import auto_check_out, hours_window, window_minutes

Source = ServiceHours.Source


@dataclass(frozen=True)
class Correction:
    """The verifier's minutes for one participating claim (``reason`` needed if they differ
    from what the check-in and check-out give)."""

    claim: int
    minutes: int
    reason: str = ""


def check_corrections(
    service_request: ServiceRequest, claims: Sequence[Claim], corrections: Sequence[Correction]
) -> None:
    """400 unless each correction names a participant once, within the window plus grace."""
    participants = {claim.pk for claim in claims}
    seen: set[int] = set()
    for c in corrections:
        if c.claim not in participants:
            raise errors.InvalidHours(
                f"认领 {c.claim} 不是该记录的参与人。",
                fields={"hours": [f"认领 {c.claim} 不是参与人。"]},
            )
        if c.claim in seen:
            raise errors.InvalidHours(
                f"认领 {c.claim} 的服务时长填写了两次。",
                fields={"hours": [f"认领 {c.claim} 重复。"]},
            )
        seen.add(c.claim)
    cap = window_minutes(service_request)
    over = [c.claim for c in corrections if c.minutes > cap]
    if over:
        raise errors.HoursAboveWindow(
            f"服务时长不能超过 {cap} 分钟（该需求的服务时段含前后宽限）。",
            fields={"hours": [f"认领 {pk} 超过 {cap} 分钟。" for pk in over]},
            extra={"max_minutes": cap, "claims": over},
        )


def settle(
    service_request: ServiceRequest,
    record: ServiceRecord,
    claims: Sequence[Claim],
    *,
    corrections: Sequence[Correction],
    actor: User,
    now: datetime,
) -> int:
    """Write the record's hours entries (``claims`` locked, corrections checked) and stamp
    ``record.service_minutes``; returns it."""
    still_in = [c for c in claims if c.checked_in_at is not None and c.checked_out_at is None]
    auto_check_out(service_request, still_in, at=min(now, hours_window(service_request)[1]))
    by_claim = {c.claim: c for c in corrections}
    missing_reason = [
        c.claim
        for c in corrections
        if not c.reason.strip()
        and c.minutes != _recorded(next(k for k in claims if k.pk == c.claim))
    ]
    if missing_reason:
        raise errors.InvalidHours(
            "更正服务时长须说明原因。",
            fields={"hours": [f"认领 {pk} 的更正缺少原因。" for pk in missing_reason]},
        )
    entries: list[ServiceHours] = []
    for claim in claims:
        recorded = _recorded(claim)
        correction = by_claim.get(claim.pk)
        corrected = correction is not None and correction.minutes != recorded
        common = {
            "record": record,
            "claim": claim,
            "member_id": claim.member_id,
            "team_id": claim.team_id,
            "entered_by": actor,
            "created_at": now,
            "service_date": record.service_date,
            "station_id": record.station_id,
            "town_id": record.town_id,
            "campaign_kind": record.campaign_kind,
        }
        entries.append(
            ServiceHours(
                minutes=recorded,
                source=Source.RECORDED,
                current=not corrected,
                counted=not corrected,
                **common,
            )
        )
        if corrected:
            entries.append(
                ServiceHours(
                    minutes=correction.minutes,
                    source=Source.CORRECTED,
                    reason=correction.reason.strip(),
                    current=True,
                    counted=True,
                    **common,
                )
            )
    ServiceHours.objects.bulk_create(entries)
    total = sum(entry.minutes for entry in entries if entry.counted)
    ServiceRecord.objects.filter(pk=record.pk).update(service_minutes=total)
    record.service_minutes = total
    return total


def bulk_entries(
    record: ServiceRecord, claims: Sequence[Claim], minutes: Sequence[int], *, entered_by=None
) -> list[ServiceHours]:
    """The counted entries of a verified record written outside the workflow (the demo's year
    of history, test fixtures, benchmarks): one recorded entry per participating claim, as
    ``settle`` writes them when nothing is corrected. Unsaved; the caller bulk-creates them and
    sets ``record.service_minutes`` to their sum."""
    return [
        ServiceHours(
            record_id=record.pk,
            claim_id=claim.pk,
            member_id=claim.member_id,
            team_id=claim.team_id,
            minutes=m,
            source=Source.RECORDED,
            entered_by=entered_by,
            created_at=record.verified_at or record.submitted_at,
            current=True,
            counted=record.status == ServiceRecord.Status.VERIFIED,
            service_date=record.service_date,
            station_id=record.station_id,
            town_id=record.town_id,
            campaign_kind=record.campaign_kind,
        )
        for claim, m in zip(claims, minutes, strict=True)
    ]


def _recorded(claim: Claim) -> int:
    return claim.duration_minutes or 0


def uncount(record: ServiceRecord) -> int:
    """A revoked verification's entries stop counting (they stay, as the record does)."""
    return ServiceHours.objects.filter(record=record, counted=True).update(counted=False)


def as_hours(minutes: int | None) -> float:
    """Minutes shown as hours, to one decimal (the one format every screen and sheet uses)."""
    return round((minutes or 0) / 60, 1)
