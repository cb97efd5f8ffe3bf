"""Issuing a certificate, and marking certificates revoked when a record they list is revoked
(docs/certificates-and-archive.md#certificates).

``issue_certificate`` reads the member's counted hours entries in the period, locks the
requests of their records (in id order: a record's revocation locks its request first, so it
either finished before, and its entries no longer count when they are read again under the
locks, or it waits and then finds this certificate linked), freezes the services and totals
into the row, takes the year's next serial number and links the records, in one transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from textwrap import shorten

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.models import User
from services import errors
from services.archive import selectors as archive
from services.certificates import codes
from services.models import Certificate, ServiceRecord, ServiceRequest
from services.requests.transitions import member_of, resolve_now

# How much of a record's summary a certificate prints as its content.
CONTENT_CHARS = 300


def check_period(date_from: date, date_to: date) -> None:
    """400 when the period is reversed or longer than CERTIFICATE_MAX_DAYS."""
    if date_from > date_to:
        raise errors.InvalidPeriod(fields={"from": ["开始日期不能晚于结束日期。"]})
    longest = settings.CERTIFICATE_MAX_DAYS
    if (date_to - date_from).days + 1 > longest:
        raise errors.PeriodTooLong(
            f"一份证明最长覆盖 {longest} 天，请缩短起止日期或分段申请。",
            fields={"to": [f"起止期间不能超过 {longest} 天。"]},
            extra={"max_days": longest},
        )


def _frozen(entry) -> dict:
    record = entry.record
    village = record.request.village
    place = entry.station.name if village is None else f"{entry.station.name}·{village.name}"
    return {
        "record": record.pk,
        "date": entry.service_date.isoformat(),
        "campaign_kind": entry.campaign_kind,
        "place": place,
        "title": record.request.title,
        "content": shorten(" ".join(record.summary.split()), CONTENT_CHARS, placeholder="…"),
        "minutes": entry.minutes,
        "people_served": record.people_served,
    }


def issue_certificate(
    *, user: User, date_from: date, date_to: date, now: datetime | None = None
) -> Certificate:
    """A member's certificate for ``[date_from, date_to]``: 400 for a reversed or too long
    period, 422 when it holds no verified service (or more than CERTIFICATE_MAX_SERVICES)."""
    now = resolve_now(now)
    check_period(date_from, date_to)
    member = member_of(user)
    period = archive.Period(date_from=date_from, date_to=date_to)
    with transaction.atomic():
        request_ids = sorted(
            set(
                archive.counted_entries(member.pk, period).values_list(
                    "record__request_id", flat=True
                )
            )
        )
        list(
            ServiceRequest.objects.select_for_update(no_key=True)
            .filter(pk__in=request_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        entries = list(
            archive.service_rows(member.pk, period).order_by("service_date", "record_id")
        )
        if not entries:
            raise errors.NoVerifiedService(
                f"{date_from.isoformat()} 至 {date_to.isoformat()} 期间没有您已核实的服务记录。"
            )
        most = settings.CERTIFICATE_MAX_SERVICES
        if len(entries) > most:
            raise errors.TooManyServices(
                f"该期间有 {len(entries)} 次服务，一份证明最多列 {most} 次，请分段申请。",
                extra={"max_services": most, "services": len(entries)},
            )
        issued_on = timezone.localdate(now)
        sequence = codes.next_sequence(issued_on.year)
        certificate = Certificate.objects.create(
            member=member,
            serial=codes.serial(issued_on.year, sequence),
            year=issued_on.year,
            sequence=sequence,
            code=codes.new_code(),
            date_from=date_from,
            date_to=date_to,
            issuer=settings.CERTIFICATE_ISSUER,
            member_name=member.name,
            services=[_frozen(entry) for entry in entries],
            service_count=len(entries),
            service_minutes=sum(entry.minutes for entry in entries),
            people_served=sum(entry.record.people_served for entry in entries),
            issued_at=now,
            issued_on=issued_on,
        )
        certificate.records.add(*{entry.record_id for entry in entries})
        record_event(
            actor=user,
            verb="certificate_issued",
            obj=certificate,
            to_status=Certificate.Status.VALID,
            payload={
                "serial": certificate.serial,
                "from": date_from.isoformat(),
                "to": date_to.isoformat(),
                "records": sorted({entry.record_id for entry in entries}),
                "service_minutes": certificate.service_minutes,
            },
        )
    return certificate


def record_revoked(record: ServiceRecord, *, actor: User, reason: str, now: datetime) -> int:
    """Inside ``revoke_record``'s transaction: every valid certificate listing ``record`` is
    revoked (the date, the record, the reason; nothing else of it changes). Returns how many."""
    ids = list(
        Certificate.objects.filter(records=record, status=Certificate.Status.VALID)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    Certificate.objects.filter(pk__in=ids, status=Certificate.Status.VALID).update(
        status=Certificate.Status.REVOKED,
        revoked_at=now,
        revoked_record=record,
        revoke_reason=shorten(reason, 200, placeholder="…"),
    )
    for pk in ids:
        record_event(
            actor=actor,
            verb="certificate_revoked",
            obj=Certificate(pk=pk),
            from_status=Certificate.Status.VALID,
            to_status=Certificate.Status.REVOKED,
            payload={"record": record.pk, "reason": reason},
        )
    return len(ids)
