"""Expiry: claims not checked in by start + grace, waitlists of ended requests, open
requests that ended unclaimed, and members still checked in when the window + grace closed
(checked out automatically, ``services.requests.checkout``). Run by Celery beat,
``manage.py expire_overdue`` and lazily by the claim writes for one request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from services import notifications
from services.models import (
    Claim,
    ServiceRequest,
)
from services.notifications import iso
from services.requests.checkout import CHECKED_IN, check_out_overdue, overdue_claims
from services.requests.transitions import (
    ClaimStatus,
    Status,
    lock_request,
    move_claims,
    release_slots,
    resolve_now,
    set_status,
)


@dataclass
class ExpiryReport:
    """What one expire_overdue run changed."""

    claims: int = 0
    waitlisted: int = 0
    requests: int = 0
    promoted: int = 0
    checked_out: int = 0


CLAIMS = Claim._meta.db_table
REQUESTS = ServiceRequest._meta.db_table


def due_sql(request: str, *, now: datetime) -> tuple[str, list]:
    """An SQL condition on the request row aliased ``request``: is anything of it due — an
    overdue claim, an ended waitlist, an unclaimed end, an overdue check-out? The four
    conditions of ``expire_overdue``'s querysets, as its probe (``is_due``) and as part of a
    read that asks it along with other things (``claims.glance``); tests/test_claims.py proves
    the SQL and the querysets agree."""
    cutoff = now - timedelta(minutes=settings.SERVICES_CLAIM_GRACE_MINUTES)
    closed = now - timedelta(minutes=settings.SERVICES_HOURS_GRACE_MINUTES)
    at = connection.ops.adapt_datetimefield_value
    sql = (
        f"(EXISTS (SELECT 1 FROM {CLAIMS} due WHERE due.request_id = {request}.id "  # noqa: S608 - _meta names and placeholders only
        "AND due.status = %s AND due.check_in_by < %s) "
        f"OR ({request}.ends_at <= %s AND EXISTS (SELECT 1 FROM {CLAIMS} wait "
        f"WHERE wait.request_id = {request}.id AND wait.status = %s)) "
        f"OR ({request}.status = %s AND {request}.ends_at <= %s AND {request}.claimed = 0) "
        f"OR ({request}.ends_at <= %s AND EXISTS (SELECT 1 FROM {CLAIMS} still "
        f"WHERE still.request_id = {request}.id AND still.status IN (%s, %s) "
        "AND still.checked_in_at IS NOT NULL AND still.checked_out_at IS NULL)))"
    )
    params = [
        ClaimStatus.CLAIMED,
        at(cutoff),
        at(now),
        ClaimStatus.WAITLISTED,
        Status.OPEN,
        at(now),
        at(closed),
        *CHECKED_IN,
    ]
    return sql, params


def is_due(request_ids: Sequence[int], *, now: datetime) -> bool:
    """Whether anything of these requests is due (``due_sql``), in one read."""
    if not request_ids:
        return False
    due, params = due_sql("r", now=now)
    ids = ", ".join(["%s"] * len(request_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {REQUESTS} r WHERE r.id IN ({ids}) AND {due} LIMIT 1",  # noqa: S608 - _meta names and placeholders only
            [*request_ids, *params],
        )
        return cursor.fetchone() is not None


def expire_for_claim(claim_id: int, *, now: datetime) -> None:
    request_id = Claim.objects.filter(pk=claim_id).values_list("request_id", flat=True).first()
    if request_id is not None:
        expire_overdue(now=now, request_ids=[request_id])


def expire_overdue(
    *, now: datetime | None = None, request_ids: Sequence[int] | None = None
) -> ExpiryReport:
    """Expire claims not checked in by start + grace, waitlists of ended requests, and open
    requests that ended unclaimed. Idempotent; cheap when nothing is due (one read each).
    Each request is its own transaction, so one run never holds many locks."""
    now = resolve_now(now)
    report = ExpiryReport()
    cutoff = now - timedelta(minutes=settings.SERVICES_CLAIM_GRACE_MINUTES)

    due = Claim.objects.filter(status=ClaimStatus.CLAIMED, check_in_by__lt=cutoff)
    ended_waits = Claim.objects.filter(status=ClaimStatus.WAITLISTED, request__ends_at__lte=now)
    ended = ServiceRequest.objects.filter(status=Status.OPEN, ends_at__lte=now, claimed=0)
    checkouts = overdue_claims(now=now)
    if request_ids is not None:
        due = due.filter(request_id__in=request_ids)
        ended_waits = ended_waits.filter(request_id__in=request_ids)
        ended = ended.filter(pk__in=request_ids)
        checkouts = checkouts.filter(request_id__in=request_ids)
        # The usual case on a claim or a check-in: nothing is due. One probe of the four
        # conditions (due_sql, each by its index) instead of four reads.
        if not is_due(request_ids, now=now):
            return report

    for request_id in sorted(set(due.order_by().values_list("request_id", flat=True))):
        _expire_claims(request_id, cutoff=cutoff, now=now, report=report)
    for request_id in sorted(set(ended_waits.order_by().values_list("request_id", flat=True))):
        _end_waitlist(request_id, now=now, report=report)
    for request_id in list(ended.values_list("id", flat=True).order_by("id")):
        with transaction.atomic():
            service_request = lock_request(request_id)
            if set_status(
                service_request,
                to=Status.EXPIRED,
                allowed_from=[Status.OPEN],
                actor=None,
                verb="request_expired",
                now=now,
                extra_filter=Q(ends_at__lte=now, claimed=0),
            ):
                report.requests += 1
    report.checked_out = check_out_overdue(now=now, request_ids=request_ids)
    return report


@transaction.atomic
def _expire_claims(request_id: int, *, cutoff: datetime, now: datetime, report: ExpiryReport):
    """A request's claims not checked in by ``cutoff``: expired, slots released (and promoted)."""
    service_request = lock_request(request_id)
    claims = list(
        Claim.objects.select_for_update(of=("self",), no_key=True)
        .filter(request_id=request_id, status=ClaimStatus.CLAIMED, check_in_by__lt=cutoff)
        .select_related("member__user")
        .order_by("id")
    )
    if not claims:
        return  # another worker got there first
    move_claims(
        claims,
        to=ClaimStatus.EXPIRED,
        actor=None,
        verb="claim_expired",
        now=now,
        payload=lambda c: {"request": c.request_id, "check_in_by": iso(c.check_in_by)},
        expired_at=now,
    )
    for claim in claims:
        notifications.claim_expired(service_request, claim)
    before = service_request.claimed
    release_slots(service_request, count=len(claims), actor=None, now=now)
    service_request.refresh_from_db(fields=["claimed"])
    report.claims += len(claims)
    report.promoted += service_request.claimed - (before - len(claims))


@transaction.atomic
def _end_waitlist(request_id: int, *, now: datetime, report: ExpiryReport) -> None:
    """An ended request's waitlist: every place expired, each member told."""
    service_request = lock_request(request_id)
    waits = list(
        Claim.objects.select_for_update(of=("self",), no_key=True)
        .filter(request_id=request_id, status=ClaimStatus.WAITLISTED, request__ends_at__lte=now)
        .select_related("member__user")
        .order_by("id")
    )
    move_claims(
        waits,
        to=ClaimStatus.EXPIRED,
        actor=None,
        verb="claim_expired",
        now=now,
        payload={"request": request_id, "waitlist_ended": True},
        expired_at=now,
    )
    for claim in waits:
        notifications.waitlist_ended(service_request, claim)
    report.waitlisted += len(waits)
