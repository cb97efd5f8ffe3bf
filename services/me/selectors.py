"""``GET me/tasks/``: the member's own claims with everything the task screen shows, one query.

The page is one SELECT: the claim, its request, station, town and village joined, and two
correlated subqueries — the place in the waitlist and whether the request has a live record —
so a page of 100 rows costs what a page of 2 does (tests/test_me_tasks.py counts them). The next
thing the member can do is worked out from those columns in Python, never by another query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from accounts.models import User
from services.models import Claim, ServiceRecord, ServiceRequest

ClaimStatus = Claim.Status
Status = ServiceRequest.Status

UPCOMING = "upcoming"
PAST = "past"
WHEN_CHOICES = ((UPCOMING, "待办（未结束的认领与候补）"), (PAST, "已结束"))

# What the member can do next on a task (the screen's one button).
CHECK_IN = "check_in"
CHECK_OUT = "check_out"
SUBMIT_RECORD = "submit_record"
NOTHING = "none"
NEXT_ACTIONS = (
    (CHECK_IN, "签到"),
    (CHECK_OUT, "签退"),
    (SUBMIT_RECORD, "提交服务记录"),
    (NOTHING, "无"),
)

# Requests a checked-in member still reports on (a rejected record puts it back in progress;
# a revoked verification leaves it completed with no live record).
_RECORDABLE = (Status.IN_PROGRESS, Status.COMPLETED)


def upcoming_claims() -> Q:
    """Tasks still ahead: a place or a waitlist place, or a check-in whose service goes on."""
    return Q(status__in=[ClaimStatus.WAITLISTED, ClaimStatus.CLAIMED]) | Q(
        status=ClaimStatus.CHECKED_IN, request__status=Status.IN_PROGRESS
    )


def my_tasks(user: User, *, when: str) -> QuerySet[Claim]:
    """``user``'s claims (upcoming: soonest first; past: latest first), annotated for the
    screen: ``waitlist_ahead`` (waitlisted only) and ``has_live_record``."""
    ahead = (
        Claim.objects.filter(request_id=OuterRef("request_id"), status=ClaimStatus.WAITLISTED)
        .filter(
            Q(created_at__lt=OuterRef("created_at"))
            | Q(created_at=OuterRef("created_at"), id__lt=OuterRef("id"))
        )
        .order_by()
        .values("request_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    live_record = ServiceRecord.objects.filter(
        request_id=OuterRef("request_id"), status__in=ServiceRecord.LIVE
    )
    claims = (
        Claim.objects.filter(member__user=user)
        .select_related("request__station__town", "request__village")
        .annotate(
            waitlist_ahead=Case(
                When(
                    status=ClaimStatus.WAITLISTED,
                    then=Coalesce(Subquery(ahead, output_field=IntegerField()), Value(0)),
                ),
                default=None,
                output_field=IntegerField(),
            ),
            has_live_record=Exists(live_record),
        )
    )
    if when == UPCOMING:
        return claims.filter(upcoming_claims()).order_by("request__starts_at", "id")
    return claims.exclude(upcoming_claims()).order_by("-request__starts_at", "-id")


@dataclass(frozen=True)
class CheckInWindow:
    """When the member may check in, and by when the place is kept (start + grace)."""

    opens_at: datetime
    closes_at: datetime
    keep_until: datetime | None


def check_in_window(claim: Claim) -> CheckInWindow:
    """The check-in rules of ``services.requests.claims.check_in`` and of expiry, as times."""
    service_request = claim.request
    opens = service_request.starts_at - timedelta(minutes=settings.SERVICES_CHECK_IN_OPENS_MINUTES)
    keep = None
    if claim.check_in_by is not None:
        keep = claim.check_in_by + timedelta(minutes=settings.SERVICES_CLAIM_GRACE_MINUTES)
    return CheckInWindow(opens_at=opens, closes_at=service_request.ends_at, keep_until=keep)


def next_action(claim: Claim) -> str:
    """The one thing the member can do next (the rules the writes apply, read from the row)."""
    request_status = claim.request.status
    if claim.status == ClaimStatus.CLAIMED and request_status in (
        Status.OPEN,
        Status.FULL,
        Status.IN_PROGRESS,
    ):
        return CHECK_IN
    if claim.status == ClaimStatus.CHECKED_IN and claim.checked_out_at is None:
        return CHECK_OUT
    if (
        claim.status == ClaimStatus.CHECKED_IN
        and request_status in _RECORDABLE
        and not claim.has_live_record
    ):
        return SUBMIT_RECORD
    return NOTHING
