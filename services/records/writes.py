"""Every state change of service records: submit, verify (approve or reject), revoke.

Each is keyword-only, runs in one transaction and leaves Events. A record's writes lock its
request first (``transitions.lock_request``), so they queue behind each other and behind the
request's claims; the conditional ``UPDATE ... WHERE status = 'submitted'`` lets one review win,
and the unique (member, record, rule, award) constraint makes a second award impossible. The
verifier is a second party: never the submitter, never a participant (谁记录谁证明).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone

from accounts.audit import record_event
from accounts.errors import Forbidden
from accounts.models import User
from accounts.permissions import is_staff
from services import errors, notifications, rollups
from services.certificates import writes as certificates
from services.models import (
    Claim,
    PointEntry,
    ServiceRecord,
    ServiceRequest,
)
from services.notifications import shorten
from services.records import anomalies, hours, points
from services.records import attachments as record_attachments
from services.requests.transitions import (
    ClaimStatus,
    Status,
    lock_request,
    move_claims,
    resolve_now,
    set_status,
)
from stations.selectors import manages_station

RecordStatus = ServiceRecord.Status


# A record may be submitted once someone checked in (in_progress), again after a rejection
# (which puts the request back to in_progress) or after a revoked verification (completed,
# with no live record left). The one-live-record constraint does the rest.
RECORDABLE_REQUEST = (Status.IN_PROGRESS, Status.COMPLETED)


# Claims whose member may submit the record: checked in, or done (then the answer is 409).
RECORDING_CLAIM = (ClaimStatus.CHECKED_IN, ClaimStatus.DONE)


def _lock_record(record_id: int) -> tuple[ServiceRequest, ServiceRecord]:
    """Lock a record's request (every record write does, so they queue), then read the record."""
    request_id = (
        ServiceRecord.objects.filter(pk=record_id).values_list("request_id", flat=True).first()
    )
    if request_id is None:
        raise Http404
    service_request = lock_request(request_id)
    return service_request, ServiceRecord.objects.get(pk=record_id)


def _participant_claims(record: ServiceRecord) -> list[Claim]:
    """The record's participating claims, locked, with what points and notices need."""
    return list(
        Claim.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk__in=record.participants.values("id"))
        .select_related("member__user", "team")
        .order_by("id")
    )


def _flag_codes(record: ServiceRecord) -> list[str]:
    return [flag.get("code", "") for flag in record.flags]


def _not_recordable_detail(status: str) -> str:
    return {
        Status.OPEN: "该需求尚无人签到，不能提交服务记录。",
        Status.FULL: "该需求尚无人签到，不能提交服务记录。",
        Status.CANCELLED: "该需求已取消，不能提交服务记录。",
        Status.EXPIRED: "该需求已过期，不能提交服务记录。",
    }.get(status, "该需求当前状态不能提交服务记录。")


def _check_pending(record: ServiceRecord) -> None:
    """409 unless the record awaits review: already_verified, or record_not_pending."""
    if record.status == RecordStatus.VERIFIED:
        raise errors.AlreadyVerified()
    if record.status != RecordStatus.SUBMITTED:
        raise errors.RecordNotPending(
            {
                RecordStatus.REJECTED: "该服务记录已被退回，请提交新版本。",
                RecordStatus.REVOKED: "该服务记录的核实已被撤销，请提交新版本。",
            }.get(record.status, "该服务记录不在待核实状态。")
        )


def _check_recordable(service_request: ServiceRequest, user: User) -> None:
    """Who may submit, one live record per request, and the request's state."""
    if not (
        is_staff(user)
        or manages_station(user, service_request.station_id)
        or Claim.objects.filter(
            request_id=service_request.pk, member__user=user, status__in=RECORDING_CLAIM
        ).exists()
    ):
        raise errors.NotRecordSubmitter()
    live = (
        ServiceRecord.objects.filter(request_id=service_request.pk, status__in=ServiceRecord.LIVE)
        .values_list("id", flat=True)
        .first()
    )
    if live is not None:
        raise errors.RecordExists(extra={"record": live})
    if service_request.status not in RECORDABLE_REQUEST:
        raise errors.RequestNotRecordable(_not_recordable_detail(service_request.status))


def _participants(service_request: ServiceRequest, participants: Sequence[int]) -> list[Claim]:
    """The named claims, locked, each checked in on this request (400 naming the others)."""
    checked_in = {
        claim.pk: claim
        for claim in Claim.objects.select_for_update(of=("self",), no_key=True)
        .filter(request_id=service_request.pk, pk__in=list(participants))
        .select_related("member", "team")
        .order_by("id")
        if claim.status == ClaimStatus.CHECKED_IN
    }
    invalid = [pk for pk in participants if pk not in checked_in]
    if invalid:
        message = (
            "参与人须为该需求中已签到的认领，以下认领 ID 不符合："
            + "、".join(str(pk) for pk in invalid)
            + "。"
        )
        raise errors.InvalidParticipants(
            shorten(message, 300),
            fields={"participants": [message]},
            extra={"invalid": invalid},
        )
    return sorted(checked_in.values(), key=lambda c: c.pk)


def submit_record(
    *,
    user: User,
    request_id: int,
    people_served: int,
    summary: str,
    participants: Sequence[int],
    enterprises_served: int = 0,
    households_visited: int = 0,
    now: datetime | None = None,
) -> ServiceRecord:
    """A checked-in claimant, the station's manager or staff report what was done.

    Participants must be claims of this request that checked in. One live record per request:
    a second is 409 ``record_exists``; after a rejection (or a revoked verification) a new
    version is written and the old row stays as it was. Anomaly flags are computed here."""
    now = resolve_now(now)
    with transaction.atomic():
        service_request = lock_request(request_id)
        _check_recordable(service_request, user)
        claims = _participants(service_request, participants)
        flags = anomalies.flags_for(
            service_request=service_request,
            claims=claims,
            people_served=people_served,
            enterprises_served=enterprises_served,
            submitted_at=now,
        )
        latest = ServiceRecord.objects.filter(request_id=service_request.pk).aggregate(
            latest=Max("version")
        )["latest"]
        station = service_request.station
        try:
            with transaction.atomic():
                record = ServiceRecord.objects.create(
                    request=service_request,
                    version=(latest or 0) + 1,
                    people_served=people_served,
                    enterprises_served=enterprises_served,
                    households_visited=households_visited,
                    summary=summary,
                    participants_count=len(claims),
                    flags=flags,
                    flag_count=len(flags),
                    submitted_by=user,
                    station=station,
                    town_id=station.town_id,
                    campaign_id=service_request.campaign_id,
                    campaign_kind=service_request.campaign.kind,
                    service_date=timezone.localtime(service_request.starts_at).date(),
                )
        except IntegrityError:
            # The partial unique index: another submission won (the request lock makes this a
            # second line of defence only).
            raise errors.RecordExists() from None
        record.participants.set(claims)
        record_event(
            actor=user,
            verb="record_submitted",
            obj=record,
            to_status=RecordStatus.SUBMITTED,
            payload={
                "request": service_request.pk,
                "version": record.version,
                "participants": [c.pk for c in claims],
                "people_served": people_served,
                "flags": [flag["code"] for flag in flags],
            },
        )
        set_status(
            service_request,
            to=Status.COMPLETED,
            allowed_from=[Status.IN_PROGRESS],
            actor=user,
            verb="request_completed",
            now=now,
            payload={"record": record.pk},
        )
        notifications.record_submitted(service_request, record, submitter=user)
    return record


def verify_record(
    *,
    actor: User,
    record_id: int,
    approved: bool,
    note: str = "",
    hours_given: Sequence[hours.Correction] = (),
    now: datetime | None = None,
) -> ServiceRecord:
    """The station's manager or staff — never the submitter — approve or reject a record.

    Approved: the record verified, the request verified, participating claims done, each
    participant's hours settled (``hours_given`` confirms or corrects them) and duty points
    written, in one transaction. Rejected (note required): the request goes back to
    in_progress so a corrected version can be submitted. A record with anomaly flags needs a
    note either way. The conditional UPDATE ``WHERE status='submitted'`` lets one review win."""
    now = resolve_now(now)
    note = note.strip()
    with transaction.atomic():
        service_request, record = _lock_record(record_id)
        if record.submitted_by_id is not None and record.submitted_by_id == actor.pk:
            raise errors.CannotVerifyOwnRecord()
        if not (is_staff(actor) or manages_station(actor, record.station_id)):
            raise errors.NotRecordVerifier()
        if record.participants.filter(member__user=actor).exists():
            raise errors.VerifierIsParticipant()
        _check_pending(record)
        if not approved and not note:
            raise errors.NoteRequired(fields={"note": ["退回时必须填写核实意见。"]})
        if not approved and hours_given:
            raise errors.InvalidHours(
                "退回服务记录时不填写服务时长。", fields={"hours": ["退回时不填写服务时长。"]}
            )
        if record.flag_count and not note:
            raise errors.FlagsNotAcknowledged(
                fields={"note": ["该记录有异常标记，请说明核查情况。"]},
                extra={"flags": _flag_codes(record)},
            )
        to = RecordStatus.VERIFIED if approved else RecordStatus.REJECTED
        moved = ServiceRecord.objects.filter(pk=record.pk, status=RecordStatus.SUBMITTED).update(
            status=to, verified_by=actor, verified_at=now, note=note
        )
        if not moved:
            record.refresh_from_db(fields=["status"])
            _check_pending(record)
        if approved:
            awarded = _approve(
                service_request, record, actor=actor, note=note, hours_given=hours_given, now=now
            )
            rollups.record_verified(record)
        else:
            awarded = {}
            _reject(service_request, record, actor=actor, note=note, now=now)
        record_event(
            actor=actor,
            verb="record_verified" if approved else "record_rejected",
            obj=record,
            from_status=RecordStatus.SUBMITTED,
            to_status=to,
            payload={
                "request": service_request.pk,
                "note": note,
                "flags": _flag_codes(record),
                "points": {str(member): total for member, total in awarded.items()},
            },
        )
        record.refresh_from_db()
    return record


def _approve(
    service_request: ServiceRequest,
    record: ServiceRecord,
    *,
    actor: User,
    note: str,
    hours_given: Sequence[hours.Correction],
    now,
) -> dict[int, int]:
    """Hours settled, claims done, request verified, points written; returns member id →
    points."""
    claims = _participant_claims(record)
    hours.check_corrections(service_request, claims, hours_given)
    hours.settle(service_request, record, claims, corrections=hours_given, actor=actor, now=now)
    move_claims(
        [claim for claim in claims if claim.status == ClaimStatus.CHECKED_IN],
        to=ClaimStatus.DONE,
        actor=actor,
        verb="claim_done",
        now=now,
        payload={"request": service_request.pk, "record": record.pk},
    )
    set_status(
        service_request,
        to=Status.VERIFIED,
        allowed_from=[Status.COMPLETED, Status.IN_PROGRESS],
        actor=actor,
        verb="request_verified",
        now=now,
        payload={"record": record.pk},
    )
    awards = points.awards_for(
        claims=claims, service_request=service_request, rules=points.active_rules()
    )
    # The unique (member, record, rule, award) constraint makes a second award impossible; the
    # conditional UPDATE above means this line is reached once per record.
    PointEntry.objects.bulk_create(
        [
            PointEntry(
                member_id=award.member_id,
                team_id=award.team_id,
                rule=award.rule,
                points=award.points,
                reason=award.reason,
                record=record,
                award=True,
                service_date=record.service_date,
            )
            for award in awards
        ]
    )
    totals: dict[int, int] = {}
    for award in awards:
        totals[award.member_id] = totals.get(award.member_id, 0) + award.points
    for claim in claims:
        notifications.record_verified(
            service_request, record, claim, note=note, points=totals.get(claim.member_id, 0)
        )
    return totals


def _reject(
    service_request: ServiceRequest, record: ServiceRecord, *, actor: User, note: str, now
) -> None:
    """The request back to in_progress for a new version; the submitter is told why."""
    set_status(
        service_request,
        to=Status.IN_PROGRESS,
        allowed_from=[Status.COMPLETED],
        actor=actor,
        verb="request_record_rejected",
        now=now,
        payload={"record": record.pk},
    )
    submitter = User.objects.filter(pk=record.submitted_by_id).first()
    if submitter is not None:
        notifications.record_rejected(service_request, record, submitter=submitter, note=note)


def revoke_record(
    *, actor: User, record_id: int, reason: str, now: datetime | None = None
) -> ServiceRecord:
    """Staff take back a verification: record revoked, request completed, claims checked_in
    again, every award reversed by a negative ledger line (nothing is deleted)."""
    now = resolve_now(now)
    if not is_staff(actor):
        raise Forbidden("仅机关工作人员可以撤销核实。")
    with transaction.atomic():
        service_request, record = _lock_record(record_id)
        moved = ServiceRecord.objects.filter(pk=record.pk, status=RecordStatus.VERIFIED).update(
            status=RecordStatus.REVOKED, revoked_at=now, revoke_reason=reason
        )
        if not moved:
            raise errors.RecordNotVerified()
        certificates.record_revoked(record, actor=actor, reason=reason, now=now)
        claims = _participant_claims(record)
        move_claims(
            [claim for claim in claims if claim.status == ClaimStatus.DONE],
            to=ClaimStatus.CHECKED_IN,
            actor=actor,
            verb="claim_undone",
            now=now,
            payload={"request": service_request.pk, "record": record.pk},
        )
        awards = list(PointEntry.objects.filter(record=record, award=True).order_by("id"))
        # One reversal per award: the unique constraint refuses a second.
        PointEntry.objects.bulk_create(
            [
                PointEntry(
                    member_id=entry.member_id,
                    team_id=entry.team_id,
                    rule_id=entry.rule_id,
                    points=-entry.points,
                    reason=shorten(f"撤销核实：{reason}", 100),
                    record=record,
                    award=False,
                    service_date=entry.service_date,
                )
                for entry in awards
            ]
        )
        set_status(
            service_request,
            to=Status.COMPLETED,
            allowed_from=[Status.VERIFIED],
            actor=actor,
            verb="request_verification_revoked",
            now=now,
            payload={"record": record.pk},
        )
        # The record's rollups after the request's (set_status above), as verifying adds them:
        # parallel verifications and revocations take the rollup rows in one order.
        rollups.record_revoked(record)
        hours.uncount(record)
        reversed_by_member: dict[int, int] = {}
        for entry in awards:
            reversed_by_member[entry.member_id] = (
                reversed_by_member.get(entry.member_id, 0) + entry.points
            )
        record_event(
            actor=actor,
            verb="record_revoked",
            obj=record,
            from_status=RecordStatus.VERIFIED,
            to_status=RecordStatus.REVOKED,
            payload={
                "request": service_request.pk,
                "reason": reason,
                "points_reversed": {str(m): p for m, p in reversed_by_member.items()},
            },
        )
        for claim in claims:
            notifications.record_revoked(
                service_request,
                record,
                claim,
                reason=reason,
                points=reversed_by_member.get(claim.member_id, 0),
            )
        # The record's photos: withheld from everyone but staff (docs/attachments.md).
        record_attachments.record_revoked(actor=actor, record=record, now=now)
        record.refresh_from_db()
    return record
