"""Check-out: the minutes a claim counts, and the sweep that checks out whoever is still in.

Service time runs from check-in to check-out, both clamped to the request's window widened by
``SERVICES_HOURS_GRACE_MINUTES`` on each side; a member still checked in when that widened
window closes is checked out at its end by ``check_out_overdue`` (``auto_checked_out``), so
hours are neither inflated by a late tap nor missing because nobody tapped
(docs/records-and-points.md#hours).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from accounts.audit import record_event
from services.models import Claim, ServiceRequest
from services.requests.transitions import ClaimStatus, lock_request

# Claims that hold a check-in and may still be checked out.
CHECKED_IN = (ClaimStatus.CHECKED_IN, ClaimStatus.DONE)


def hours_window(service_request: ServiceRequest) -> tuple[datetime, datetime]:
    """The stretch service time is counted in: the request's window plus the grace each side."""
    grace = timedelta(minutes=settings.SERVICES_HOURS_GRACE_MINUTES)
    return service_request.starts_at - grace, service_request.ends_at + grace


def window_minutes(service_request: ServiceRequest) -> int:
    """The most minutes one participant can count on the request."""
    opens, closes = hours_window(service_request)
    return int((closes - opens).total_seconds() // 60)


def clamped_minutes(service_request: ServiceRequest, checked_in_at, checked_out_at) -> int:
    """Whole minutes from check-in to check-out, both clamped to ``hours_window``."""
    opens, closes = hours_window(service_request)
    start, end = max(checked_in_at, opens), min(checked_out_at, closes)
    return max(0, int((end - start).total_seconds() // 60))


def auto_check_out(service_request: ServiceRequest, claims: Sequence[Claim], *, at: datetime):
    """Check out ``claims`` (locked, of ``service_request``, still checked in) at ``at``,
    flagged automatic, each with an Event; returns how many moved."""
    moved = 0
    for claim in claims:
        minutes = clamped_minutes(service_request, claim.checked_in_at, at)
        if not Claim.objects.filter(pk=claim.pk, checked_out_at__isnull=True).update(
            checked_out_at=at, duration_minutes=minutes, auto_checked_out=True, updated_at=at
        ):
            continue
        claim.checked_out_at, claim.duration_minutes, claim.auto_checked_out = at, minutes, True
        record_event(
            actor=None,
            verb="claim_auto_checked_out",
            obj=claim,
            from_status=claim.status,
            to_status=claim.status,
            payload={"request": service_request.pk, "duration_minutes": minutes},
        )
        moved += 1
    return moved


def overdue_claims(*, now: datetime) -> QuerySet[Claim]:
    """Claims still checked in although their request's window + grace has closed."""
    grace = timedelta(minutes=settings.SERVICES_HOURS_GRACE_MINUTES)
    return Claim.objects.filter(
        status__in=CHECKED_IN,
        checked_in_at__isnull=False,
        checked_out_at__isnull=True,
        request__ends_at__lte=now - grace,
    )


def check_out_overdue(*, now: datetime, request_ids: Sequence[int] | None = None) -> int:
    """Whoever is still checked in once the request's window + grace has closed is checked out
    at that close. One transaction per request; idempotent."""
    due = overdue_claims(now=now)
    if request_ids is not None:
        due = due.filter(request_id__in=request_ids)
    moved = 0
    for request_id in sorted(set(due.order_by().values_list("request_id", flat=True))):
        with transaction.atomic():
            service_request = lock_request(request_id)
            claims = list(
                Claim.objects.select_for_update(of=("self",), no_key=True)
                .filter(
                    request_id=request_id,
                    status__in=CHECKED_IN,
                    checked_in_at__isnull=False,
                    checked_out_at__isnull=True,
                )
                .order_by("id")
            )
            moved += auto_check_out(service_request, claims, at=hours_window(service_request)[1])
    return moved
