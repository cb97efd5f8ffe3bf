"""Every state change of campaigns, requests and claims.

Each public function is keyword-only, runs in one ``transaction.atomic`` and leaves an Event.
Counters move only through conditional UPDATEs (``claimed = claimed + 1 WHERE claimed < slots``);
the database's constraints are the second line. Locks are always taken in one order —
Member, then ServiceRequest, then Claim — so PostgreSQL never deadlocks on them. They are
``FOR NO KEY UPDATE`` locks, which still let other transactions insert rows pointing at the
locked row (events, notifications, later records). SQLite's IMMEDIATE transactions serialize
writers, and ``select_for_update`` is a no-op there.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, F, Max, Q, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from accounts.audit import notify, record_event
from accounts.errors import Forbidden, InvalidInput
from accounts.models import User
from accounts.permissions import is_staff
from members.models import Member, Specialty, Team
from services import anomalies, errors, points, rollups
from services.models import (
    MAX_SLOTS,
    MIN_SLOTS,
    Campaign,
    Claim,
    PointEntry,
    ServiceRecord,
    ServiceRequest,
)
from services.selectors import manages_station
from stations.geo import Point, distance_km
from stations.models import Station, Village

Status = ServiceRequest.Status


ClaimStatus = Claim.Status


# Requests whose claims may still change: before they finish or are cancelled.
ACTIVE_REQUEST = (Status.OPEN, Status.FULL, Status.IN_PROGRESS)


# Claims that take a member's time: a member holds at most one of these per time window.
TIME_HOLDING = (ClaimStatus.WAITLISTED, ClaimStatus.CLAIMED, ClaimStatus.CHECKED_IN)


# Sanity limits for posted times; anything beyond is a typo rather than a plan.
MAX_DURATION = timedelta(days=92)


MAX_LEAD = timedelta(days=366)


# Titles at least this similar (0..1) to an open request of the same village are flagged.
DUPLICATE_SIMILARITY = 0.6


_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def member_of(user: User) -> Member:
    """The active member profile of ``user``; 403 ``member_profile_required`` otherwise."""
    member = Member.objects.filter(user=user).select_related("team").first()
    if member is None or not member.active or not user.is_member:
        raise errors.MemberProfileRequired()
    return member


def _lock_request(request_id: int) -> ServiceRequest:
    """The request row, locked for this transaction (404 when there is none)."""
    try:
        return ServiceRequest.objects.select_for_update(no_key=True).get(pk=request_id)
    except ServiceRequest.DoesNotExist:
        raise Http404 from None


def _lock_claim(claim_id: int) -> tuple[ServiceRequest, Claim]:
    """Lock a claim's request, then the claim (the one lock order)."""
    request_id = Claim.objects.filter(pk=claim_id).values_list("request_id", flat=True).first()
    if request_id is None:
        raise Http404
    service_request = _lock_request(request_id)
    claim = (
        Claim.objects.select_for_update(of=("self",), no_key=True)
        .select_related("member__user")
        .get(pk=claim_id)
    )
    return service_request, claim


def _set_status(
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


def _refresh_fullness(service_request: ServiceRequest, *, actor: User | None, now: datetime):
    """open ⇄ full from the counter, with conditional UPDATEs (never from a Python read)."""
    _set_status(
        service_request,
        to=Status.FULL,
        allowed_from=[Status.OPEN],
        actor=actor,
        verb="request_full",
        now=now,
        extra_filter=Q(claimed__gte=F("slots")),
    )
    _set_status(
        service_request,
        to=Status.OPEN,
        allowed_from=[Status.FULL],
        actor=actor,
        verb="request_reopened",
        now=now,
        extra_filter=Q(claimed__lt=F("slots")),
    )


def _release_slots(
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
    _promote_waitlist(service_request, now=now)
    _refresh_fullness(service_request, actor=actor, now=now)


def _promote_waitlist(service_request: ServiceRequest, *, now: datetime) -> list[Claim]:
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
        took = ServiceRequest.objects.filter(
            pk=service_request.pk,
            status__in=ACTIVE_REQUEST,
            claimed__lt=F("slots"),
            ends_at__gt=now,
        ).update(
            claimed=F("claimed") + 1,
            first_claimed_at=Coalesce(F("first_claimed_at"), Value(now, DateTimeField())),
            updated_at=now,
        )
        if not took:
            break
        rollups.request_claimed(service_request)
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
        notify(
            user=waiting.member.user,
            kind="claim_promoted",
            title="候补转正：您已获得服务名额",
            body=_short(
                f"您候补的需求“{service_request.title}”有名额空出，已为您自动认领。"
                f"请按时到场签到（{timezone.localtime(max(starts_at, now)):%m月%d日 %H:%M}）。",
                500,
            ),
            payload={
                "request": service_request.pk,
                "claim": waiting.pk,
                "starts_at": _iso(starts_at),
            },
            dedupe_key=f"claim_promoted:{waiting.pk}",
        )
        promoted.append(waiting)
    if promoted:
        _refresh_fullness(service_request, actor=None, now=now)
    return promoted


def _notify_managers(
    service_request: ServiceRequest, *, kind: str, title: str, body: str, payload: dict, key: str
) -> None:
    for manager in service_request.station.managers.filter(is_station_manager=True):
        notify(
            user=manager,
            kind=kind,
            title=title,
            body=_short(body, 500),
            payload=payload,
            dedupe_key=f"{key}:{manager.pk}",
        )


def create_campaign(
    *,
    actor: User,
    kind: str,
    name: str,
    starts_on,
    ends_on,
    target_served: int = 0,
) -> Campaign:
    """Staff create a 三暖 campaign."""
    with transaction.atomic():
        campaign = Campaign.objects.create(
            kind=kind,
            name=name,
            starts_on=starts_on,
            ends_on=ends_on,
            target_served=target_served,
        )
        record_event(
            actor=actor,
            verb="campaign_created",
            obj=campaign,
            payload={"kind": kind, "name": name},
        )
    return campaign


def update_campaign(*, actor: User, campaign_id: int, changes: dict[str, Any]) -> Campaign:
    """Staff change a campaign's name, period or target."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        before = {name: getattr(campaign, name) for name in changes}
        for name, value in changes.items():
            setattr(campaign, name, value)
        if campaign.ends_on < campaign.starts_on:
            raise InvalidInput(
                "结束日期不能早于开始日期。", fields={"ends_on": ["结束日期不能早于开始日期。"]}
            )
        campaign.save()
        record_event(
            actor=actor,
            verb="campaign_updated",
            obj=campaign,
            payload={"changed": {k: [str(before[k]), str(v)] for k, v in changes.items()}},
        )
    return campaign


@dataclass(frozen=True)
class Duplicate:
    """An open request that looks like the one just posted."""

    id: int
    title: str
    status: str
    starts_at: datetime
    similarity: float


@dataclass(frozen=True)
class CreatedRequest:
    """A new request and the similar open ones the poster may want to look at."""

    request: ServiceRequest
    possible_duplicates: list[Duplicate] = field(default_factory=list)


def _resolve_station(*, actor: User, station: Station | None, village: Village | None) -> Station:
    """The station a new request belongs to, checking the poster may post there."""
    if village is not None:
        if not village.active:
            raise InvalidInput("该村/社区已停用。", fields={"village": ["该村/社区已停用。"]})
        if village.station_id is None:
            message = "该村/社区尚未指定服务驿站，请联系政协机关。"
            raise InvalidInput(message, fields={"village": [message]})
        if station is not None and village.station_id != station.pk:
            message = "该村/社区不由所选驿站服务。"
            raise InvalidInput(message, fields={"village": [message]})
        station = village.station
    if station is None:
        message = "请指定驿站或村/社区。"
        raise InvalidInput(message, fields={"station": [message]})
    if not station.active:
        raise InvalidInput("该驿站已停用。", fields={"station": ["该驿站已停用。"]})
    if is_staff(actor) or manages_station(actor, station.pk):
        return station
    if (
        village is not None
        and actor.is_village_liaison
        and village.liaisons.filter(pk=actor.pk).exists()
    ):
        return station
    if village is not None and actor.is_village_liaison:
        raise Forbidden("您只能为自己联络的村/社区发布需求。")
    raise Forbidden("您只能为自己管理的驿站发布需求。")


def _check_plan(
    *,
    campaign: Campaign,
    starts_at: datetime,
    ends_at: datetime,
    slots: int,
    invited_team: Team | None,
    invite_until: datetime | None,
    now: datetime,
    check_start: bool = True,
    check_campaign: bool = True,
    check_invite: bool = True,
) -> None:
    """Rules between fields: times, campaign period, invite window (400 with fields).

    An edit checks only the rules its changes touch: an unchanged start already in the past,
    or an invite window that has run out, is not the editor's mistake."""
    problems: dict[str, list[str]] = {}
    if check_start and starts_at <= now:
        problems.setdefault("starts_at", []).append("开始时间必须晚于当前时间。")
    if check_start and starts_at - now > MAX_LEAD:
        problems.setdefault("starts_at", []).append("开始时间不能超过一年之后。")
    if ends_at <= starts_at:
        problems.setdefault("ends_at", []).append("结束时间必须晚于开始时间。")
    elif ends_at - starts_at > MAX_DURATION:
        problems.setdefault("ends_at", []).append("服务时长不能超过 92 天。")
    if not MIN_SLOTS <= slots <= MAX_SLOTS:
        problems.setdefault("slots", []).append(f"名额必须在 {MIN_SLOTS} 到 {MAX_SLOTS} 之间。")
    day = timezone.localtime(starts_at).date()
    if check_campaign and not campaign.starts_on <= day <= campaign.ends_on:
        problems.setdefault("campaign", []).append(
            f"开始日期不在活动“{campaign.name}”的期间"
            f"（{campaign.starts_on:%Y-%m-%d} 至 {campaign.ends_on:%Y-%m-%d}）内。"
        )
    if (invited_team is None) != (invite_until is None):
        problems.setdefault("invite_until", []).append("邀请团队与邀请截止时间需同时提供。")
    elif check_invite and invited_team is not None and invite_until is not None:
        if not invited_team.active:
            problems.setdefault("invited_team", []).append("该团队已停用。")
        if invite_until <= now:
            problems.setdefault("invite_until", []).append("邀请截止时间必须晚于当前时间。")
        elif invite_until > starts_at:
            problems.setdefault("invite_until", []).append("邀请截止时间不能晚于开始时间。")
    if problems:
        first = next(iter(problems.values()))[0]
        raise InvalidInput(first, fields=problems)


def _normalise_title(text: str) -> str:
    return _PUNCTUATION.sub("", text).lower()


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)} or {text}


def title_similarity(a: str, b: str) -> float:
    """0..1: the larger of difflib's ratio and character-bigram overlap (Chinese has no
    spaces, so bigrams stand in for word tokens)."""
    left, right = _normalise_title(a), _normalise_title(b)
    if not left or not right:
        return 0.0
    ratio = difflib.SequenceMatcher(None, left, right).ratio()
    lb, rb = _bigrams(left), _bigrams(right)
    jaccard = len(lb & rb) / len(lb | rb)
    return max(ratio, jaccard)


def possible_duplicates(service_request: ServiceRequest, *, now: datetime) -> list[Duplicate]:
    """Open requests of the same village (or station, without one) and campaign, posted in the
    window, sharing a specialty (or either naming none) and with a similar title."""
    since = now - timedelta(days=settings.SERVICES_DUPLICATE_WINDOW_DAYS)
    candidates = ServiceRequest.objects.filter(
        status__in=[Status.OPEN, Status.FULL],
        campaign_id=service_request.campaign_id,
        created_at__gte=since,
    ).exclude(pk=service_request.pk)
    if service_request.village_id:
        candidates = candidates.filter(village_id=service_request.village_id)
    else:
        candidates = candidates.filter(station_id=service_request.station_id, village__isnull=True)
    mine = set(service_request.specialties.values_list("id", flat=True))
    found = []
    for other in candidates.prefetch_related("specialties").order_by("-created_at")[:50]:
        theirs = {s.pk for s in other.specialties.all()}
        if mine and theirs and not mine & theirs:
            continue
        similarity = title_similarity(service_request.title, other.title)
        if similarity >= DUPLICATE_SIMILARITY:
            found.append(
                Duplicate(
                    id=other.pk,
                    title=other.title,
                    status=other.status,
                    starts_at=other.starts_at,
                    similarity=round(similarity, 2),
                )
            )
    found.sort(key=lambda d: (-d.similarity, d.id))
    return found


def create_request(
    *,
    actor: User,
    campaign: Campaign,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    slots: int,
    station: Station | None = None,
    village: Village | None = None,
    description: str = "",
    specialties: Sequence[Specialty] = (),
    point: Point | None = None,
    address: str = "",
    invited_team: Team | None = None,
    invite_until: datetime | None = None,
    contact_name: str = "",
    contact_phone: str = "",
    now: datetime | None = None,
    source: dict[str, Any] | None = None,
) -> CreatedRequest:
    """A manager (their station), liaison (their village) or staff posts a need.

    ``source`` says where a post came from other than the API (e.g. an Open311 key); it is
    kept in the ``request_created`` Event."""
    now = _now(now)
    owner = _resolve_station(actor=actor, station=station, village=village)
    _check_plan(
        campaign=campaign,
        starts_at=starts_at,
        ends_at=ends_at,
        slots=slots,
        invited_team=invited_team,
        invite_until=invite_until,
        now=now,
    )
    if point is None:
        place = village if village is not None else owner
        point = Point(lat=place.lat, lng=place.lng)
    with transaction.atomic():
        service_request = ServiceRequest.objects.create(
            station=owner,
            village=village,
            campaign=campaign,
            title=title,
            description=description,
            lat=point.lat,
            lng=point.lng,
            address=address or (owner.address if village is None else ""),
            starts_at=starts_at,
            ends_at=ends_at,
            slots=slots,
            invited_team=invited_team,
            invite_until=invite_until,
            contact_name=contact_name,
            contact_phone=contact_phone,
            created_by=actor,
        )
        rollups.request_posted(service_request)
        service_request.specialties.set(specialties)
        duplicates = possible_duplicates(service_request, now=now)
        record_event(
            actor=actor,
            verb="request_created",
            obj=service_request,
            to_status=Status.OPEN,
            payload={
                "station": owner.pk,
                "village": village.pk if village else None,
                "campaign": campaign.pk,
                "slots": slots,
                "possible_duplicates": [d.id for d in duplicates],
                **({"source": source} if source else {}),
            },
        )
    return CreatedRequest(request=service_request, possible_duplicates=duplicates)


# Fields a PATCH may change; station and village stay (they decide who owns the request).
EDITABLE_FIELDS = frozenset(
    {
        "campaign",
        "title",
        "description",
        "specialties",
        "point",
        "address",
        "starts_at",
        "ends_at",
        "slots",
        "invited_team",
        "invite_until",
        "contact_name",
        "contact_phone",
    }
)


def _describe(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Point):
        return [value.lat, value.lng]
    if hasattr(value, "pk"):
        return value.pk
    if isinstance(value, (list, tuple, set)):
        return sorted(_describe(v) for v in value)
    return value


def update_request(
    *,
    actor: User,
    request_id: int,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> ServiceRequest:
    """Edit an open (or full) request; slots never below claimed, times fixed once claimed."""
    now = _now(now)
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    with transaction.atomic():
        service_request = _lock_request(request_id)
        if service_request.status not in (Status.OPEN, Status.FULL):
            raise errors.RequestNotEditable()
        if not changes:
            return service_request
        current = {
            "campaign": service_request.campaign,
            "starts_at": service_request.starts_at,
            "ends_at": service_request.ends_at,
            "slots": service_request.slots,
            "invited_team": service_request.invited_team,
            "invite_until": service_request.invite_until,
        }
        merged = {**current, **{k: v for k, v in changes.items() if k in current}}
        if "invited_team" in changes and changes["invited_team"] is None:
            merged["invite_until"] = None
        times_moved = any(
            name in changes and changes[name] != current[name] for name in ("starts_at", "ends_at")
        )
        has_claims = (
            service_request.claimed > 0
            or Claim.objects.filter(
                request_id=service_request.pk, status=ClaimStatus.WAITLISTED
            ).exists()
        )
        if times_moved and has_claims:
            raise errors.RequestHasClaims()
        if merged["slots"] < service_request.claimed:
            raise errors.SlotsBelowClaimed(
                f"名额不能少于已认领人数（{service_request.claimed} 人）。",
                extra={"claimed": service_request.claimed},
            )
        _check_plan(
            campaign=merged["campaign"],
            starts_at=merged["starts_at"],
            ends_at=merged["ends_at"],
            slots=merged["slots"],
            invited_team=merged["invited_team"],
            invite_until=merged["invite_until"],
            now=now,
            check_start=times_moved,
            check_campaign=times_moved or "campaign" in changes,
            check_invite="invited_team" in changes or "invite_until" in changes,
        )
        before = {
            name: _describe(getattr(service_request, name))
            for name in changes
            if name not in ("point", "specialties")
        }
        if "point" in changes:
            before["point"] = [service_request.lat, service_request.lng]
        if "specialties" in changes:
            before["specialties"] = sorted(service_request.specialties.values_list("id", flat=True))
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "specialties":
                continue
            if name == "point":
                values["lat"], values["lng"] = value.lat, value.lng
            else:
                values[name] = value
        if "invited_team" in changes and changes["invited_team"] is None:
            values["invite_until"] = None
        # The claimed filter repeats the slots rule inside the UPDATE itself.
        updated = ServiceRequest.objects.filter(
            pk=service_request.pk, claimed__lte=merged["slots"]
        ).update(**values, updated_at=now)
        if not updated:
            raise errors.SlotsBelowClaimed()
        rollups.request_moved(
            service_request, starts_at=current["starts_at"], campaign_id=current["campaign"].pk
        )
        if "specialties" in changes:
            service_request.specialties.set(changes["specialties"])
        service_request.refresh_from_db()
        record_event(
            actor=actor,
            verb="request_updated",
            obj=service_request,
            from_status=service_request.status,
            to_status=service_request.status,
            payload={
                "changed": {
                    name: [before.get(name), _describe(value)] for name, value in changes.items()
                }
            },
        )
        if "slots" in changes:
            _promote_waitlist(service_request, now=now)
            _refresh_fullness(service_request, actor=actor, now=now)
        service_request.refresh_from_db()
    return service_request


def cancel_request(
    *, actor: User, request_id: int, reason: str, now: datetime | None = None
) -> ServiceRequest:
    """Cancel an open or full request; its claimants and waitlist are told."""
    now = _now(now)
    with transaction.atomic():
        service_request = _lock_request(request_id)
        before = service_request.status
        if before not in (Status.OPEN, Status.FULL):
            raise errors.RequestNotCancellable()
        live = list(
            Claim.objects.select_for_update(of=("self",), no_key=True)
            .filter(
                request_id=service_request.pk,
                status__in=[ClaimStatus.WAITLISTED, ClaimStatus.CLAIMED],
            )
            .select_related("member__user")
            .order_by("id")
        )
        ServiceRequest.objects.filter(pk=service_request.pk, status=before).update(
            status=Status.CANCELLED,
            claimed=0,
            cancelled_at=now,
            cancel_reason=reason,
            updated_at=now,
        )
        rollups.request_status_changed(service_request, before, Status.CANCELLED)
        record_event(
            actor=actor,
            verb="request_cancelled",
            obj=service_request,
            from_status=before,
            to_status=Status.CANCELLED,
            payload={"reason": reason, "claims": [c.pk for c in live]},
        )
        claim_reason = _short(f"需求已取消：{reason}", 200)
        Claim.objects.filter(pk__in=[c.pk for c in live]).update(
            status=ClaimStatus.CANCELLED,
            cancelled_at=now,
            cancel_reason=claim_reason,
            updated_at=now,
        )
        for claim in live:
            record_event(
                actor=actor,
                verb="claim_cancelled",
                obj=claim,
                from_status=claim.status,
                to_status=ClaimStatus.CANCELLED,
                payload={"request": service_request.pk, "by_request_cancel": True},
            )
            notify(
                user=claim.member.user,
                kind="request_cancelled",
                title="您认领的需求已取消",
                body=_short(f"需求“{service_request.title}”已被取消。原因：{reason}", 500),
                payload={
                    "request": service_request.pk,
                    "claim": claim.pk,
                    "reason": reason,
                    "starts_at": _iso(service_request.starts_at),
                    "was_waitlisted": claim.status == ClaimStatus.WAITLISTED,
                },
                dedupe_key=f"request_cancelled:{claim.pk}",
            )
        service_request.refresh_from_db()
    return service_request


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
            extra={"invite_until": _iso(service_request.invite_until)},
        )
    mine = Claim.objects.filter(request_id=service_request.pk, member_id=member.pk)
    if mine.filter(status__in=Claim.LIVE).exists():
        raise errors.AlreadyClaimed()
    if mine.filter(status=ClaimStatus.REJECTED).exists():
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


def claim_request(
    *,
    user: User,
    request_id: int,
    waitlist: bool = False,
    now: datetime | None = None,
) -> Claim:
    """A member takes a slot (``claimed``) or, when full and asked, a waitlist place."""
    now = _now(now)
    member = member_of(user)
    expire_overdue(now=now, request_ids=[request_id])
    with transaction.atomic():
        # One claim at a time per member, so the time-conflict check cannot race itself.
        Member.objects.select_for_update(no_key=True).filter(pk=member.pk).values_list("pk").first()
        service_request = _lock_request(request_id)
        _check_claimable(service_request, member, now=now)
        took = ServiceRequest.objects.filter(
            pk=service_request.pk,
            status=Status.OPEN,
            claimed__lt=F("slots"),
            ends_at__gt=now,
        ).update(
            claimed=F("claimed") + 1,
            first_claimed_at=Coalesce(F("first_claimed_at"), Value(now, DateTimeField())),
            updated_at=now,
        )
        if took:
            rollups.request_claimed(service_request)
            claim = _insert_claim(service_request, member, status=ClaimStatus.CLAIMED, now=now)
            record_event(
                actor=user,
                verb="claim_created",
                obj=claim,
                to_status=ClaimStatus.CLAIMED,
                payload={"request": service_request.pk, "team": member.team_id},
            )
            _refresh_fullness(service_request, actor=user, now=now)
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


def cancel_claim(*, user: User, claim_id: int, reason: str, now: datetime | None = None) -> Claim:
    """The claimant gives up a slot (before the start) or leaves the waitlist."""
    now = _now(now)
    _expire_for_claim(claim_id, now=now)
    with transaction.atomic():
        service_request, claim = _lock_claim(claim_id)
        if claim.member.user_id != user.pk:
            raise errors.NotClaimant()
        before = claim.status
        if before not in (ClaimStatus.CLAIMED, ClaimStatus.WAITLISTED):
            raise errors.ClaimNotActive(_not_active_detail(before))
        if before == ClaimStatus.CLAIMED and now >= service_request.starts_at:
            raise errors.CancelWindowClosed()
        late = before == ClaimStatus.CLAIMED and service_request.starts_at - now < timedelta(
            hours=settings.SERVICES_LATE_CANCEL_HOURS
        )
        Claim.objects.filter(pk=claim.pk, status=before).update(
            status=ClaimStatus.CANCELLED,
            cancelled_at=now,
            cancel_reason=reason,
            late_cancel=late,
            updated_at=now,
        )
        record_event(
            actor=user,
            verb="claim_cancelled",
            obj=claim,
            from_status=before,
            to_status=ClaimStatus.CANCELLED,
            payload={"request": service_request.pk, "reason": reason, "late": late},
        )
        if late:
            _notify_managers(
                service_request,
                kind="claim_cancelled_late",
                title="委员临时取消认领",
                body=(
                    f"{claim.member.name} 在开始前不足 {settings.SERVICES_LATE_CANCEL_HOURS} "
                    f"小时取消了需求“{service_request.title}”的认领。原因：{reason}"
                ),
                payload={"request": service_request.pk, "claim": claim.pk, "reason": reason},
                key=f"claim_cancelled_late:{claim.pk}",
            )
        if before == ClaimStatus.CLAIMED:
            _release_slots(service_request, count=1, actor=user, now=now)
        claim.refresh_from_db()
    return claim


def _not_active_detail(status: str) -> str:
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
    now = _now(now)
    _expire_for_claim(claim_id, now=now)
    with transaction.atomic():
        service_request, claim = _lock_claim(claim_id)
        if claim.member.user_id != user.pk:
            raise errors.NotClaimant()
        if claim.status == ClaimStatus.CHECKED_IN:
            raise errors.AlreadyCheckedIn()
        if claim.status != ClaimStatus.CLAIMED or service_request.status not in ACTIVE_REQUEST:
            raise errors.ClaimNotActive(_not_active_detail(claim.status))
        opens = service_request.starts_at - timedelta(
            minutes=settings.SERVICES_CHECK_IN_OPENS_MINUTES
        )
        if not opens <= now <= service_request.ends_at:
            raise errors.CheckInWindow(
                f"签到时间为 {timezone.localtime(opens):%m月%d日 %H:%M} 至 "
                f"{timezone.localtime(service_request.ends_at):%m月%d日 %H:%M}。",
                extra={"opens_at": _iso(opens), "closes_at": _iso(service_request.ends_at)},
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
        _set_status(
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
    """The claimant checks out; the minutes since check-in are recorded."""
    now = _now(now)
    with transaction.atomic():
        _, claim = _lock_claim(claim_id)
        if claim.member.user_id != user.pk:
            raise errors.NotClaimant()
        if claim.status == ClaimStatus.CLAIMED:
            raise errors.NotCheckedIn()
        if claim.status not in (ClaimStatus.CHECKED_IN, ClaimStatus.DONE):
            raise errors.ClaimNotActive(_not_active_detail(claim.status))
        if claim.checked_out_at is not None:
            raise errors.AlreadyCheckedOut()
        minutes = max(0, int((now - claim.checked_in_at).total_seconds() // 60))
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
    now = _now(now)
    _expire_for_claim(claim_id, now=now)
    with transaction.atomic():
        service_request, claim = _lock_claim(claim_id)
        before = claim.status
        if before not in (ClaimStatus.CLAIMED, ClaimStatus.WAITLISTED):
            raise errors.ClaimNotRejectable(_not_active_detail(before))
        Claim.objects.filter(pk=claim.pk, status=before).update(
            status=ClaimStatus.REJECTED,
            rejected_at=now,
            rejected_by=actor,
            reject_reason=reason,
            updated_at=now,
        )
        record_event(
            actor=actor,
            verb="claim_rejected",
            obj=claim,
            from_status=before,
            to_status=ClaimStatus.REJECTED,
            payload={"request": service_request.pk, "reason": reason},
        )
        notify(
            user=claim.member.user,
            kind="claim_rejected",
            title="您的认领未获通过",
            body=_short(f"驿站未接受您对需求“{service_request.title}”的认领。原因：{reason}", 500),
            payload={"request": service_request.pk, "claim": claim.pk, "reason": reason},
            dedupe_key=f"claim_rejected:{claim.pk}",
        )
        if before == ClaimStatus.CLAIMED:
            _release_slots(service_request, count=1, actor=actor, now=now)
        claim.refresh_from_db()
    return claim


@dataclass
class ExpiryReport:
    """What one expire_overdue run changed."""

    claims: int = 0
    waitlisted: int = 0
    requests: int = 0
    promoted: int = 0


def _expire_for_claim(claim_id: int, *, now: datetime) -> None:
    request_id = Claim.objects.filter(pk=claim_id).values_list("request_id", flat=True).first()
    if request_id is not None:
        expire_overdue(now=now, request_ids=[request_id])


def expire_overdue(
    *, now: datetime | None = None, request_ids: Sequence[int] | None = None
) -> ExpiryReport:
    """Expire claims not checked in by start + grace, waitlists of ended requests, and open
    requests that ended unclaimed. Idempotent; cheap when nothing is due (one read each)."""
    now = _now(now)
    report = ExpiryReport()
    cutoff = now - timedelta(minutes=settings.SERVICES_CLAIM_GRACE_MINUTES)

    due = Claim.objects.filter(status=ClaimStatus.CLAIMED, check_in_by__lt=cutoff)
    ended_waits = Claim.objects.filter(status=ClaimStatus.WAITLISTED, request__ends_at__lte=now)
    ended = ServiceRequest.objects.filter(status=Status.OPEN, ends_at__lte=now, claimed=0)
    if request_ids is not None:
        due = due.filter(request_id__in=request_ids)
        ended_waits = ended_waits.filter(request_id__in=request_ids)
        ended = ended.filter(pk__in=request_ids)

    for request_id in sorted(set(due.order_by().values_list("request_id", flat=True))):
        with transaction.atomic():
            service_request = _lock_request(request_id)
            claims = list(
                Claim.objects.select_for_update(of=("self",), no_key=True)
                .filter(request_id=request_id, status=ClaimStatus.CLAIMED, check_in_by__lt=cutoff)
                .select_related("member__user")
                .order_by("id")
            )
            if not claims:
                continue  # another worker got there first
            Claim.objects.filter(pk__in=[c.pk for c in claims]).update(
                status=ClaimStatus.EXPIRED, expired_at=now, updated_at=now
            )
            for claim in claims:
                record_event(
                    actor=None,
                    verb="claim_expired",
                    obj=claim,
                    from_status=ClaimStatus.CLAIMED,
                    to_status=ClaimStatus.EXPIRED,
                    payload={"request": request_id, "check_in_by": _iso(claim.check_in_by)},
                )
                notify(
                    user=claim.member.user,
                    kind="claim_expired",
                    title="认领已过期",
                    body=_short(
                        f"您认领的需求“{service_request.title}”未按时签到，认领已过期，名额已释放。",
                        500,
                    ),
                    payload={"request": request_id, "claim": claim.pk, "was_waitlisted": False},
                    dedupe_key=f"claim_expired:{claim.pk}",
                )
            before = service_request.claimed
            _release_slots(service_request, count=len(claims), actor=None, now=now)
            service_request.refresh_from_db(fields=["claimed"])
            report.claims += len(claims)
            report.promoted += service_request.claimed - (before - len(claims))

    for request_id in sorted(set(ended_waits.order_by().values_list("request_id", flat=True))):
        with transaction.atomic():
            service_request = _lock_request(request_id)
            waits = list(
                Claim.objects.select_for_update(of=("self",), no_key=True)
                .filter(
                    request_id=request_id,
                    status=ClaimStatus.WAITLISTED,
                    request__ends_at__lte=now,
                )
                .select_related("member__user")
                .order_by("id")
            )
            Claim.objects.filter(pk__in=[c.pk for c in waits]).update(
                status=ClaimStatus.EXPIRED, expired_at=now, updated_at=now
            )
            for claim in waits:
                record_event(
                    actor=None,
                    verb="claim_expired",
                    obj=claim,
                    from_status=ClaimStatus.WAITLISTED,
                    to_status=ClaimStatus.EXPIRED,
                    payload={"request": request_id, "waitlist_ended": True},
                )
                notify(
                    user=claim.member.user,
                    kind="claim_expired",
                    title="候补已结束",
                    body=_short(f"需求“{service_request.title}”已结束，您的候补未能转正。", 500),
                    payload={"request": request_id, "claim": claim.pk, "was_waitlisted": True},
                    dedupe_key=f"claim_expired:{claim.pk}",
                )
            report.waitlisted += len(waits)

    for request_id in list(ended.values_list("id", flat=True).order_by("id")):
        with transaction.atomic():
            service_request = _lock_request(request_id)
            if _set_status(
                service_request,
                to=Status.EXPIRED,
                allowed_from=[Status.OPEN],
                actor=None,
                verb="request_expired",
                now=now,
                extra_filter=Q(ends_at__lte=now, claimed=0),
            ):
                report.requests += 1
    return report


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
    service_request = _lock_request(request_id)
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
    now = _now(now)
    with transaction.atomic():
        service_request = _lock_request(request_id)
        if not (
            is_staff(user)
            or manages_station(user, service_request.station_id)
            or Claim.objects.filter(
                request_id=service_request.pk, member__user=user, status__in=RECORDING_CLAIM
            ).exists()
        ):
            raise errors.NotRecordSubmitter()
        live = (
            ServiceRecord.objects.filter(
                request_id=service_request.pk, status__in=ServiceRecord.LIVE
            )
            .values_list("id", flat=True)
            .first()
        )
        if live is not None:
            raise errors.RecordExists(extra={"record": live})
        if service_request.status not in RECORDABLE_REQUEST:
            raise errors.RequestNotRecordable(_not_recordable_detail(service_request.status))
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
                _short(message, 300), fields={"participants": [message]}, extra={"invalid": invalid}
            )
        claims = sorted(checked_in.values(), key=lambda c: c.pk)
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
        _set_status(
            service_request,
            to=Status.COMPLETED,
            allowed_from=[Status.IN_PROGRESS],
            actor=user,
            verb="request_completed",
            now=now,
            payload={"record": record.pk},
        )
        for manager in station.managers.filter(is_station_manager=True).exclude(pk=user.pk):
            notify(
                user=manager,
                kind="record_submitted",
                title="有服务记录待核实",
                body=_short(
                    f"需求“{service_request.title}”提交了服务记录（服务 {people_served} 人次"
                    + (f"，{len(flags)} 项异常标记" if flags else "")
                    + "），请核实。",
                    500,
                ),
                payload={
                    "request": service_request.pk,
                    "record": record.pk,
                    "request_title": service_request.title,
                    "flags": len(flags),
                },
                dedupe_key=f"record_submitted:{record.pk}:{manager.pk}",
            )
    return record


def verify_record(
    *,
    actor: User,
    record_id: int,
    approved: bool,
    note: str = "",
    now: datetime | None = None,
) -> ServiceRecord:
    """The station's manager or staff — never the submitter — approve or reject a record.

    Approved: the record verified, the request verified, participating claims done and duty
    points written, in one transaction. Rejected (note required): the request goes back to
    in_progress so a corrected version can be submitted. A record with anomaly flags needs a
    note either way. The conditional UPDATE ``WHERE status='submitted'`` lets one review win."""
    now = _now(now)
    note = note.strip()
    with transaction.atomic():
        service_request, record = _lock_record(record_id)
        if record.submitted_by_id is not None and record.submitted_by_id == actor.pk:
            raise errors.CannotVerifyOwnRecord()
        if not (is_staff(actor) or manages_station(actor, record.station_id)):
            raise errors.NotRecordVerifier()
        _check_pending(record)
        if not approved and not note:
            raise errors.NoteRequired(fields={"note": ["退回时必须填写核实意见。"]})
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
            rollups.record_verified(record)
            awarded = _approve(service_request, record, actor=actor, note=note, now=now)
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
    service_request: ServiceRequest, record: ServiceRecord, *, actor: User, note: str, now
) -> dict[int, int]:
    """Claims done, request verified, points written; returns member id → points."""
    claims = _participant_claims(record)
    Claim.objects.filter(pk__in=[c.pk for c in claims], status=ClaimStatus.CHECKED_IN).update(
        status=ClaimStatus.DONE, updated_at=now
    )
    for claim in claims:
        if claim.status == ClaimStatus.CHECKED_IN:
            record_event(
                actor=actor,
                verb="claim_done",
                obj=claim,
                from_status=ClaimStatus.CHECKED_IN,
                to_status=ClaimStatus.DONE,
                payload={"request": service_request.pk, "record": record.pk},
            )
    _set_status(
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
        earned = totals.get(claim.member_id, 0)
        notify(
            user=claim.member.user,
            kind="record_verified",
            title="服务记录已核实",
            body=_short(
                f"您参与的需求“{service_request.title}”服务记录已核实通过，"
                f"获得履职积分 {earned} 分。",
                500,
            ),
            payload={
                "request": service_request.pk,
                "record": record.pk,
                "request_title": service_request.title,
                "note": note,
                "points": earned,
            },
            dedupe_key=f"record_verified:{record.pk}:{claim.member.user_id}",
        )
    return totals


def _reject(
    service_request: ServiceRequest, record: ServiceRecord, *, actor: User, note: str, now
) -> None:
    """The request back to in_progress for a new version; the submitter is told why."""
    _set_status(
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
        notify(
            user=submitter,
            kind="record_rejected",
            title="服务记录被退回",
            body=_short(
                f"需求“{service_request.title}”的服务记录被退回，请修改后重新提交。意见：{note}",
                500,
            ),
            payload={
                "request": service_request.pk,
                "record": record.pk,
                "request_title": service_request.title,
                "note": note,
            },
            dedupe_key=f"record_rejected:{record.pk}",
        )


def revoke_record(
    *, actor: User, record_id: int, reason: str, now: datetime | None = None
) -> ServiceRecord:
    """Staff take back a verification: record revoked, request completed, claims checked_in
    again, every award reversed by a negative ledger line (nothing is deleted)."""
    now = _now(now)
    if not is_staff(actor):
        raise Forbidden("仅机关工作人员可以撤销核实。")
    with transaction.atomic():
        service_request, record = _lock_record(record_id)
        moved = ServiceRecord.objects.filter(pk=record.pk, status=RecordStatus.VERIFIED).update(
            status=RecordStatus.REVOKED, revoked_at=now, revoke_reason=reason
        )
        if not moved:
            raise errors.RecordNotVerified()
        rollups.record_revoked(record)
        claims = _participant_claims(record)
        Claim.objects.filter(pk__in=[c.pk for c in claims], status=ClaimStatus.DONE).update(
            status=ClaimStatus.CHECKED_IN, updated_at=now
        )
        for claim in claims:
            if claim.status == ClaimStatus.DONE:
                record_event(
                    actor=actor,
                    verb="claim_undone",
                    obj=claim,
                    from_status=ClaimStatus.DONE,
                    to_status=ClaimStatus.CHECKED_IN,
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
                    reason=_short(f"撤销核实：{reason}", 100),
                    record=record,
                    award=False,
                    service_date=entry.service_date,
                )
                for entry in awards
            ]
        )
        _set_status(
            service_request,
            to=Status.COMPLETED,
            allowed_from=[Status.VERIFIED],
            actor=actor,
            verb="request_verification_revoked",
            now=now,
            payload={"record": record.pk},
        )
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
            notify(
                user=claim.member.user,
                kind="record_revoked",
                title="服务记录的核实已撤销",
                body=_short(
                    f"需求“{service_request.title}”服务记录的核实已被撤销，相应履职积分"
                    f"（{reversed_by_member.get(claim.member_id, 0)} 分）已冲回。原因：{reason}",
                    500,
                ),
                payload={
                    "request": service_request.pk,
                    "record": record.pk,
                    "request_title": service_request.title,
                    "reason": reason,
                },
                dedupe_key=f"record_revoked:{record.pk}:{claim.member.user_id}",
            )
        record.refresh_from_db()
    return record
