"""Every state change of claims: claim (or join the waitlist), cancel, check in, check out,
reject.

The slot is taken by one conditional UPDATE (``claimed = claimed + 1 WHERE claimed < slots``),
never by reading the counter first; a member's other claims are checked under a lock of the
Member row, so one member's parallel claims cannot overlap in time. Overdue claims of the
request expire first (``expiry.expire_for_claim``), so a place held past its grace is free
before anyone counts. A request certainly full is refused after one read and no lock
(``glance``): a claim drive's late taps never queue behind its winners.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.models import User
from backend.metrics import counted_claims
from members.models import Member
from services import errors, notifications
from services.models import (
    Claim,
    ServiceRequest,
)
from services.notifications import iso
from services.requests import expiry
from services.requests.checkout import clamped_minutes
from services.requests.expiry import expire_for_claim, expire_overdue
from services.requests.transitions import (
    ACTIVE_REQUEST,
    TIME_HOLDING,
    ClaimStatus,
    Status,
    lock_claim,
    lock_request,
    mark_full,
    member_of,
    move_claims,
    release_slots,
    resolve_now,
    set_status,
    take_slot,
)
from stations.geo import Point, distance_km


def _check_claimable(service_request: ServiceRequest, member: Member, *, now: datetime) -> None:
    """Rules that do not involve the slot counter (that one is the UPDATE's job)."""
    if service_request.status not in (Status.OPEN, Status.FULL) or now >= service_request.ends_at:
        detail = {
            Status.CANCELLED: "该需求已取消。",
            Status.EXPIRED: "该需求已过期。",
            Status.IN_PROGRESS: "该需求已开始服务，不再接受认领。",
        }.get(service_request.status, "该需求已结束，不再接受认领。")
        raise errors.RequestNotOpen(detail)
    if (
        service_request.invited_team_id
        and service_request.invite_until is not None
        and now < service_request.invite_until
        and member.team_id != service_request.invited_team_id
    ):
        until = timezone.localtime(service_request.invite_until)
        raise errors.InviteWindow(
            f"该需求在 {until:%m月%d日 %H:%M} 前仅限受邀团队认领。",
            extra={"invite_until": iso(service_request.invite_until)},
        )
    # The member's earlier claims of this request (a handful at most): one read for both rules.
    mine = set(
        Claim.objects.filter(request_id=service_request.pk, member_id=member.pk)
        .order_by()
        .values_list("status", flat=True)
    )
    if mine & set(Claim.LIVE):
        raise errors.AlreadyClaimed()
    if ClaimStatus.REJECTED in mine:
        raise errors.ClaimRejected()
    clash = (
        Claim.objects.filter(
            member_id=member.pk,
            status__in=TIME_HOLDING,
            checked_out_at__isnull=True,
            request__starts_at__lt=service_request.ends_at,
            request__ends_at__gt=service_request.starts_at,
        )
        .exclude(request_id=service_request.pk)
        .values_list("request_id", flat=True)
        .first()
    )
    if clash is not None:
        raise errors.TimeConflict(extra={"conflicting_request": clash})


def _insert_claim(
    service_request: ServiceRequest, member: Member, *, status: str, now: datetime
) -> Claim:
    """Insert the claim row; the partial unique index turns a double claim into 409."""
    holding = status == ClaimStatus.CLAIMED
    try:
        with transaction.atomic():
            return Claim.objects.create(
                request=service_request,
                member=member,
                team_id=member.team_id,
                status=status,
                claimed_at=now if holding else None,
                check_in_by=max(service_request.starts_at, now) if holding else None,
            )
    except IntegrityError:
        raise errors.AlreadyClaimed() from None


@counted_claims
def claim_request(
    *,
    user: User,
    request_id: int,
    waitlist: bool = False,
    now: datetime | None = None,
) -> Claim:
    """A member takes a slot (``claimed``) or, when full and asked, a waitlist place."""
    now = resolve_now(now)
    member = member_of(user)
    seen = glance(member, request_id, now=now)
    if seen is None or seen.due:
        expire_overdue(now=now, request_ids=[request_id])
    elif not waitlist and seen.certainly_full(member):
        raise errors.RequestFull()
    with transaction.atomic():
        # One claim at a time per member, so the time-conflict check cannot race itself.
        lock_member(member)
        service_request = lock_request(request_id)
        return claim_locked(user, member, service_request, waitlist=waitlist, now=now)


@dataclass(frozen=True)
class Glance:
    """A request as committed, seen for one member without a lock (``glance``)."""

    full: bool  # no slot left
    taking: bool  # open or full, and not ended
    invite_open: bool  # an invitation's window is running
    invited_team_id: int | None
    mine: bool  # the member has a live or rejected claim of it
    clash: bool  # the member holds another request's time that overlaps it
    due: bool  # something of it is due to expire (expiry.due_sql)

    def certainly_full(self, member: Member) -> bool:
        """Whether the locked path could only answer 409 ``request_full``: no slot left, and
        none of the rules checked before the slot would answer first."""
        invited_away = self.invite_open and member.team_id != self.invited_team_id
        return self.full and self.taking and not (invited_away or self.mine or self.clash)


GLANCE = (
    "SELECT r.claimed >= r.slots, r.status IN (%s, %s) AND r.ends_at > %s, "  # noqa: S608 - _meta names and placeholders only
    "r.invited_team_id IS NOT NULL AND r.invite_until IS NOT NULL AND r.invite_until > %s, "
    "r.invited_team_id, "
    f"EXISTS (SELECT 1 FROM {Claim._meta.db_table} mine WHERE mine.request_id = r.id "
    "AND mine.member_id = %s AND mine.status IN ({mine})), "
    f"EXISTS (SELECT 1 FROM {Claim._meta.db_table} c JOIN {ServiceRequest._meta.db_table} q "
    "ON q.id = c.request_id WHERE c.member_id = %s AND c.status IN ({holding}) "
    "AND c.checked_out_at IS NULL AND q.starts_at < r.ends_at AND q.ends_at > r.starts_at "
    "AND c.request_id <> r.id), "
    "{due} "
    f"FROM {ServiceRequest._meta.db_table} r WHERE r.id = %s"
)
MINE = (*Claim.LIVE, ClaimStatus.REJECTED)


def glance(member: Member, request_id: int, *, now: datetime) -> Glance | None:
    """One read of the request for a claim, before any lock: whether a slot is left, whether
    a rule before the slot would answer, whether its expiry is due (None: no such request).

    In a claim drive (抢单) most taps come after the last slot went; each would otherwise take
    the member's and the request's locks and queue on the request row behind the winners only
    to be refused. A request that is certainly full is refused at once: true as of this read,
    as the locked path's answer is as of its lock. Anything else goes on to the locked path,
    which decides."""
    due, due_params = expiry.due_sql("r", now=now)
    sql = GLANCE.format(
        mine=", ".join(["%s"] * len(MINE)),
        holding=", ".join(["%s"] * len(TIME_HOLDING)),
        due=due,
    )
    at = connection.ops.adapt_datetimefield_value(now)
    params = [
        Status.OPEN,
        Status.FULL,
        at,
        at,
        member.pk,
        *MINE,
        member.pk,
        *TIME_HOLDING,
        *due_params,
        request_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    full, taking, invite_open, invited_team_id, mine, clash, is_due = row
    return Glance(
        bool(full),
        bool(taking),
        bool(invite_open),
        invited_team_id,
        bool(mine),
        bool(clash),
        bool(is_due),
    )


def lock_member(member: Member) -> None:
    """The Member row, locked first of all (docs/architecture.md#lock-order)."""
    Member.objects.select_for_update(no_key=True).filter(pk=member.pk).values_list("pk").first()


def claim_locked(
    user: User, member: Member, service_request: ServiceRequest, *, waitlist: bool, now: datetime
) -> Claim:
    """The claim itself, once the Member and the request are locked (``claim_request``, and
    accepting an assignment in ``services.teams.assignments``): every rule, then the slot."""
    _check_claimable(service_request, member, now=now)
    # The row is locked: whether this is its first claim, and whether it fills, are known.
    first = service_request.first_claimed_at is None
    took = take_slot(service_request, statuses=[Status.OPEN], now=now, first=first)
    if took:
        claim = _insert_claim(service_request, member, status=ClaimStatus.CLAIMED, now=now)
        record_event(
            actor=user,
            verb="claim_created",
            obj=claim,
            to_status=ClaimStatus.CLAIMED,
            payload={"request": service_request.pk, "team": member.team_id},
        )
        notifications.claim_confirmed(service_request, claim)
        if service_request.claimed + 1 >= service_request.slots:
            mark_full(service_request, actor=user, now=now)
        return claim
    if not waitlist:
        raise errors.RequestFull()
    claim = _insert_claim(service_request, member, status=ClaimStatus.WAITLISTED, now=now)
    record_event(
        actor=user,
        verb="claim_waitlisted",
        obj=claim,
        to_status=ClaimStatus.WAITLISTED,
        payload={"request": service_request.pk, "team": member.team_id},
    )
    return claim


def _lock_own_claim(claim_id: int, user: User) -> tuple[ServiceRequest, Claim]:
    """``lock_claim``, then 403 ``not_claimant`` unless the claim is ``user``'s."""
    service_request, claim = lock_claim(claim_id)
    if claim.member.user_id != user.pk:
        raise errors.NotClaimant()
    return service_request, claim


def cancel_claim(*, user: User, claim_id: int, reason: str, now: datetime | None = None) -> Claim:
    """The claimant gives up a slot (before the start) or leaves the waitlist."""
    now = resolve_now(now)
    expire_for_claim(claim_id, now=now)
    with transaction.atomic():
        service_request, claim = _lock_own_claim(claim_id, user)
        before = claim.status
        if before not in (ClaimStatus.CLAIMED, ClaimStatus.WAITLISTED):
            raise errors.ClaimNotActive(not_active_detail(before))
        if before == ClaimStatus.CLAIMED and now >= service_request.starts_at:
            raise errors.CancelWindowClosed()
        late = before == ClaimStatus.CLAIMED and service_request.starts_at - now < timedelta(
            hours=settings.SERVICES_LATE_CANCEL_HOURS
        )
        move_claims(
            [claim],
            to=ClaimStatus.CANCELLED,
            actor=user,
            verb="claim_cancelled",
            now=now,
            payload={"request": service_request.pk, "reason": reason, "late": late},
            cancelled_at=now,
            cancel_reason=reason,
            late_cancel=late,
        )
        if late:
            notifications.claim_cancelled_late(service_request, claim, reason=reason)
        if before == ClaimStatus.CLAIMED:
            release_slots(service_request, count=1, actor=user, now=now)
        claim.refresh_from_db()
    return claim


def not_active_detail(status: str) -> str:
    return {
        ClaimStatus.CANCELLED: "该认领已取消。",
        ClaimStatus.EXPIRED: "该认领已过期（未按时签到）。",
        ClaimStatus.REJECTED: "该认领已被驿站拒绝。",
        ClaimStatus.CHECKED_IN: "已签到的认领不能取消。",
        ClaimStatus.DONE: "该认领已完成。",
        ClaimStatus.WAITLISTED: "候补中的认领尚未获得名额。",
    }.get(status, "该认领当前状态不允许此操作。")


def check_in(*, user: User, claim_id: int, point: Point, now: datetime | None = None) -> Claim:
    """The claimant checks in on site: inside the time window and the geofence."""
    now = resolve_now(now)
    expire_for_claim(claim_id, now=now)
    with transaction.atomic():
        service_request, claim = _lock_own_claim(claim_id, user)
        if claim.status == ClaimStatus.CHECKED_IN:
            raise errors.AlreadyCheckedIn()
        if claim.status != ClaimStatus.CLAIMED or service_request.status not in ACTIVE_REQUEST:
            raise errors.ClaimNotActive(not_active_detail(claim.status))
        opens = service_request.starts_at - timedelta(
            minutes=settings.SERVICES_CHECK_IN_OPENS_MINUTES
        )
        if not opens <= now <= service_request.ends_at:
            raise errors.CheckInWindow(
                f"签到时间为 {timezone.localtime(opens):%m月%d日 %H:%M} 至 "
                f"{timezone.localtime(service_request.ends_at):%m月%d日 %H:%M}。",
                extra={"opens_at": iso(opens), "closes_at": iso(service_request.ends_at)},
            )
        site = Point(lat=service_request.lat, lng=service_request.lng)
        distance_m = distance_km(site, point) * 1000.0
        limit = settings.SERVICES_GEOFENCE_METERS
        if distance_m > limit:
            raise errors.TooFar(
                f"您距离服务地点约 {distance_m:.0f} 米，超出 {limit} 米的签到范围。",
                extra={"distance_m": round(distance_m), "geofence_m": limit},
            )
        Claim.objects.filter(pk=claim.pk, status=ClaimStatus.CLAIMED).update(
            status=ClaimStatus.CHECKED_IN,
            checked_in_at=now,
            check_in_lat=point.lat,
            check_in_lng=point.lng,
            check_in_distance_m=round(distance_m, 1),
            updated_at=now,
        )
        record_event(
            actor=user,
            verb="claim_checked_in",
            obj=claim,
            from_status=ClaimStatus.CLAIMED,
            to_status=ClaimStatus.CHECKED_IN,
            payload={
                "request": service_request.pk,
                "lat": point.lat,
                "lng": point.lng,
                "distance_m": round(distance_m, 1),
            },
        )
        set_status(
            service_request,
            to=Status.IN_PROGRESS,
            allowed_from=[Status.OPEN, Status.FULL],
            actor=user,
            verb="request_started",
            now=now,
            payload={"claim": claim.pk},
        )
        claim.refresh_from_db()
    return claim


def check_out(*, user: User, claim_id: int, now: datetime | None = None) -> Claim:
    """The claimant checks out; the minutes since check-in are recorded, clamped to the
    request's window plus grace (a check-out ten days late counts the window, not ten days)."""
    now = resolve_now(now)
    with transaction.atomic():
        service_request, claim = _lock_own_claim(claim_id, user)
        if claim.status == ClaimStatus.CLAIMED:
            raise errors.NotCheckedIn()
        if claim.status not in (ClaimStatus.CHECKED_IN, ClaimStatus.DONE):
            raise errors.ClaimNotActive(not_active_detail(claim.status))
        if claim.checked_out_at is not None:
            raise errors.AlreadyCheckedOut()
        minutes = clamped_minutes(service_request, claim.checked_in_at, now)
        Claim.objects.filter(pk=claim.pk, checked_out_at__isnull=True).update(
            checked_out_at=now, duration_minutes=minutes, updated_at=now
        )
        record_event(
            actor=user,
            verb="claim_checked_out",
            obj=claim,
            from_status=claim.status,
            to_status=claim.status,
            payload={"request": claim.request_id, "duration_minutes": minutes},
        )
        claim.refresh_from_db()
    return claim


def reject_claim(*, actor: User, claim_id: int, reason: str, now: datetime | None = None) -> Claim:
    """The station manager (or staff) declines a claim or waitlist place; the slot frees."""
    now = resolve_now(now)
    expire_for_claim(claim_id, now=now)
    with transaction.atomic():
        service_request, claim = lock_claim(claim_id)
        before = claim.status
        if before not in (ClaimStatus.CLAIMED, ClaimStatus.WAITLISTED):
            raise errors.ClaimNotRejectable(not_active_detail(before))
        move_claims(
            [claim],
            to=ClaimStatus.REJECTED,
            actor=actor,
            verb="claim_rejected",
            now=now,
            payload={"request": service_request.pk, "reason": reason},
            rejected_at=now,
            rejected_by=actor,
            reject_reason=reason,
        )
        notifications.claim_rejected(service_request, claim, reason=reason)
        if before == ClaimStatus.CLAIMED:
            release_slots(service_request, count=1, actor=actor, now=now)
        claim.refresh_from_db()
    return claim
