"""The machinery every state change of requests and claims shares: the lock order, status moves,
slot release and the waitlist.

Every public write (``writes``, ``claims``, ``expiry``, ``records.writes``, ``matching.invites``)
is keyword-only, runs in one ``transaction.atomic`` and leaves an Event. Counters move only
through conditional UPDATEs (``claimed = claimed + 1 WHERE claimed < slots``); the database's
constraints are the second line. Locks are always taken in one order — Member, then
ServiceRequest, then Claim (then ServiceRecord) — so PostgreSQL never deadlocks on them. They are
``FOR NO KEY UPDATE`` locks, which still let other transactions insert rows pointing at the
locked row (events, notifications, later records). SQLite's IMMEDIATE transactions serialize
writers, and ``select_for_update`` is a no-op there (docs/architecture.md#lock-order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from accounts.audit import record_event
from accounts.models import User
from members.models import Member
from services import errors, notifications, rollups
from services.models import (
    Claim,
    ServiceRequest,
)

Status = ServiceRequest.Status


ClaimStatus = Claim.Status


# Requests whose claims may still change: before they finish or are cancelled.
ACTIVE_REQUEST = (Status.OPEN, Status.FULL, Status.IN_PROGRESS)


# Claims that take a member's time: a member holds at most one of these per time window.
TIME_HOLDING = (ClaimStatus.WAITLISTED, ClaimStatus.CLAIMED, ClaimStatus.CHECKED_IN)


def resolve_now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def member_of(user: User) -> Member:
    """The active member profile of ``user``; 403 ``member_profile_required`` otherwise."""
    member = Member.objects.filter(user=user).select_related("team").first()
    if member is None or not member.active or not user.is_member:
        raise errors.MemberProfileRequired()
    member.user = user  # the caller's own row: notices and answers read it without a query
    return member


def lock_request(request_id: int) -> ServiceRequest:
    """The request row, locked for this transaction (404 when there is none)."""
    try:
        return ServiceRequest.objects.select_for_update(no_key=True).get(pk=request_id)
    except ServiceRequest.DoesNotExist:
        raise Http404 from None


def lock_claim(claim_id: int) -> tuple[ServiceRequest, Claim]:
    """Lock a claim's request, then the claim (the one lock order)."""
    request_id = Claim.objects.filter(pk=claim_id).values_list("request_id", flat=True).first()
    if request_id is None:
        raise Http404
    service_request = lock_request(request_id)
    claim = (
        Claim.objects.select_for_update(of=("self",), no_key=True)
        .select_related("member__user")
        .get(pk=claim_id)
    )
    return service_request, claim


def set_status(
    service_request: ServiceRequest,
    *,
    to: str,
    allowed_from: Iterable[str],
    actor: User | None,
    verb: str,
    now: datetime,
    extra_filter: Q | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Conditionally move a request to ``to``; records the event when it moved."""
    rows = ServiceRequest.objects.filter(pk=service_request.pk, status__in=list(allowed_from))
    if extra_filter is not None:
        rows = rows.filter(extra_filter)
    before = rows.values_list("status", flat=True).first()
    if before is None or not rows.update(status=to, updated_at=now):
        return False
    rollups.request_status_changed(service_request, before, to)
    service_request.status = to
    record_event(
        actor=actor,
        verb=verb,
        obj=service_request,
        from_status=before,
        to_status=to,
        payload=payload or {},
    )
    return True


def refresh_fullness(service_request: ServiceRequest, *, actor: User | None, now: datetime):
    """open ⇄ full from the counter, with conditional UPDATEs (never from a Python read)."""
    mark_full(service_request, actor=actor, now=now)
    set_status(
        service_request,
        to=Status.OPEN,
        allowed_from=[Status.FULL],
        actor=actor,
        verb="request_reopened",
        now=now,
        extra_filter=Q(claimed__lt=F("slots")),
    )


def mark_full(service_request: ServiceRequest, *, actor: User | None, now: datetime) -> None:
    """open → full when the counter has reached the slots (conditional UPDATE): after a slot
    was taken, the only move ``refresh_fullness`` could make."""
    set_status(
        service_request,
        to=Status.FULL,
        allowed_from=[Status.OPEN],
        actor=actor,
        verb="request_full",
        now=now,
        extra_filter=Q(claimed__gte=F("slots")),
    )


def release_slots(
    service_request: ServiceRequest, *, count: int, actor: User | None, now: datetime
) -> None:
    """Give back ``count`` slots (claims that left), reopen, promote the waitlist."""
    if count <= 0:
        return
    freed = ServiceRequest.objects.filter(pk=service_request.pk, claimed__gte=count).update(
        claimed=F("claimed") - count, updated_at=now
    )
    if not freed:
        # The counter and the rows disagree: a bug. Fail the transaction rather than hide it.
        raise RuntimeError(f"request {service_request.pk}: claimed counter below {count}")
    # Promote before reopening, so a slot handed straight on never shows as open.
    promote_waitlist(service_request, now=now)
    refresh_fullness(service_request, actor=actor, now=now)


def take_slot(
    service_request: ServiceRequest,
    *,
    statuses: Iterable[str],
    now: datetime,
    first: bool | None = None,
) -> bool:
    """Take one slot with one conditional UPDATE (``claimed = claimed + 1 WHERE claimed < slots``
    and the request in ``statuses``, not ended); stamps the first claim and its rollup. Whether
    it took one: the counter is never read first. ``first``: whether this is the request's first
    claim, when the caller knows it from the locked row (False skips the stamp's statement;
    None asks the database, whose stamp is conditional)."""
    took = ServiceRequest.objects.filter(
        pk=service_request.pk,
        status__in=list(statuses),
        claimed__lt=F("slots"),
        ends_at__gt=now,
    ).update(
        claimed=F("claimed") + 1,
        first_claimed_at=Coalesce(F("first_claimed_at"), Value(now, DateTimeField())),
        updated_at=now,
    )
    if took and first is not False:
        rollups.request_claimed(service_request)
    return bool(took)


def promote_waitlist(service_request: ServiceRequest, *, now: datetime) -> list[Claim]:
    """Fill free slots from the waitlist, first come first served; caller holds the lock."""
    promoted: list[Claim] = []
    while True:
        waiting = (
            Claim.objects.select_for_update(of=("self",), no_key=True)
            .filter(request_id=service_request.pk, status=ClaimStatus.WAITLISTED)
            .select_related("member__user")
            .order_by("created_at", "id")
            .first()
        )
        if waiting is None:
            break
        if not take_slot(service_request, statuses=ACTIVE_REQUEST, now=now):
            break
        starts_at = service_request.starts_at
        Claim.objects.filter(pk=waiting.pk, status=ClaimStatus.WAITLISTED).update(
            status=ClaimStatus.CLAIMED,
            claimed_at=now,
            promoted_at=now,
            check_in_by=max(starts_at, now),
            updated_at=now,
        )
        waiting.status = ClaimStatus.CLAIMED
        record_event(
            actor=None,
            verb="claim_promoted",
            obj=waiting,
            from_status=ClaimStatus.WAITLISTED,
            to_status=ClaimStatus.CLAIMED,
            payload={"request": service_request.pk},
        )
        notifications.claim_promoted(service_request, waiting, check_in_by=max(starts_at, now))
        promoted.append(waiting)
    if promoted:
        refresh_fullness(service_request, actor=None, now=now)
    return promoted


def move_claims(
    claims: Sequence[Claim],
    *,
    to: str,
    actor: User | None,
    verb: str,
    now: datetime,
    payload: dict[str, Any] | Callable[[Claim], dict[str, Any]],
    **fields: Any,
) -> None:
    """Move locked claims from their current statuses to ``to``: one conditional UPDATE (with
    ``fields``), then one event each, its payload ``payload`` or ``payload(claim)``. ``claims``
    keep their old status for the caller."""
    if not claims:
        return
    Claim.objects.filter(
        pk__in=[claim.pk for claim in claims], status__in={claim.status for claim in claims}
    ).update(status=to, updated_at=now, **fields)
    for claim in claims:
        record_event(
            actor=actor,
            verb=verb,
            obj=claim,
            from_status=claim.status,
            to_status=to,
            payload=payload(claim) if callable(payload) else payload,
        )
