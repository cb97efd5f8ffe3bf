"""Every state change of campaigns and requests: create, edit, cancel; the duplicate warning.

Each is keyword-only, runs in one transaction and leaves an Event; the shared machinery (locks,
status moves, the waitlist) is ``transitions``.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.audit import record_event
from accounts.errors import Forbidden, InvalidInput
from accounts.models import User
from accounts.permissions import is_staff
from members.models import Member, Specialty, Team
from services import errors, notifications, rollups
from services.models import (
    MAX_SLOTS,
    MIN_SLOTS,
    Campaign,
    Claim,
    ServiceRequest,
    ServiceSeries,
)
from services.notifications import shorten
from services.requests.transitions import (
    TIME_HOLDING,
    ClaimStatus,
    Status,
    lock_request,
    move_claims,
    promote_waitlist,
    refresh_fullness,
    resolve_now,
)
from stations.geo import Point, distance_km
from stations.models import Station, Village
from stations.selectors import manages_station

# Sanity limits for posted times; anything beyond is a typo rather than a plan.
MAX_DURATION = timedelta(days=92)


MAX_LEAD = timedelta(days=366)


# Titles at least this similar (0..1) to an open request of the same village are flagged.
DUPLICATE_SIMILARITY = 0.6


_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)


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


def resolve_station(*, actor: User, station: Station | None, village: Village | None) -> Station:
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
    series: ServiceSeries | None = None,
) -> CreatedRequest:
    """A manager (their station), liaison (their village) or staff posts a need.

    ``source`` says where a post came from other than the API (e.g. an Open311 key); it is
    kept in the ``request_created`` Event. An occurrence of a recurring service names its
    ``series`` (its siblings are not duplicates of one another, so none are looked for)."""
    now = resolve_now(now)
    owner = resolve_station(actor=actor, station=station, village=village)
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
            series=series,
        )
        rollups.request_posted(service_request)
        service_request.specialties.set(specialties)
        duplicates = [] if series else possible_duplicates(service_request, now=now)
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
                **({"series": series.pk} if series else {}),
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


def _check_update(
    service_request: ServiceRequest, changes: dict[str, Any], *, now: datetime
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """The plan after ``changes`` must hold as a new one would; returns (current, merged,
    whether the times move)."""
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
    return current, merged, times_moved


# The claims a change of time, place or slots is told to: places held and places in line.
NOTIFIED_CLAIMS = (ClaimStatus.WAITLISTED, ClaimStatus.CLAIMED)


class _ClaimantsMoved(Exception):
    """Someone claimed between reading the claimants and locking them: read them again."""


def _claimant_member_ids(request_ids: Sequence[int]) -> list[int]:
    return sorted(
        set(
            Claim.objects.filter(
                request_id__in=list(request_ids), status__in=NOTIFIED_CLAIMS
            ).values_list("member_id", flat=True)
        )
    )


def _check_claimants_free(
    service_request: ServiceRequest,
    live: Sequence[Claim],
    *,
    starts_at: datetime,
    ends_at: datetime,
) -> None:
    """Moved times must not overlap another time-holding claim of any claimant (409)."""
    members = {claim.member_id for claim in live}
    if not members:
        return
    clashing = (
        Claim.objects.filter(
            member_id__in=members,
            status__in=TIME_HOLDING,
            checked_out_at__isnull=True,
            request__starts_at__lt=ends_at,
            request__ends_at__gt=starts_at,
        )
        .exclude(request_id=service_request.pk)
        .values("member_id")
        .distinct()
        .count()
    )
    if clashing:
        raise errors.RequestHasClaims(
            f"有 {clashing} 位已认领或候补的委员在新时间另有任务，不能改到该时间。",
            extra={"conflicting_members": clashing},
        )


def _place_text(address: str) -> str:
    return address or "未填写地址"


def describe_changes(before: ServiceRequest, after: ServiceRequest) -> list[notifications.Change]:
    """What a claimant is told changed: time, place (address, point), slots — from → to."""
    found: list[notifications.Change] = []
    if (before.starts_at, before.ends_at) != (after.starts_at, after.ends_at):
        found.append(
            notifications.Change(
                "time",
                "时间",
                notifications.span(before.starts_at, before.ends_at),
                notifications.span(after.starts_at, after.ends_at),
            )
        )
    if before.address != after.address:
        found.append(
            notifications.Change(
                "address", "地点", _place_text(before.address), _place_text(after.address)
            )
        )
    if (before.lat, before.lng) != (after.lat, after.lng):
        moved = distance_km(Point(before.lat, before.lng), Point(after.lat, after.lng))
        found.append(
            notifications.Change(
                "point",
                "位置",
                f"{before.lat:.5f},{before.lng:.5f}",
                f"{after.lat:.5f},{after.lng:.5f}（移动约 {moved:.1f} 公里）",
            )
        )
    if before.slots != after.slots:
        found.append(notifications.Change("slots", "名额", str(before.slots), str(after.slots)))
    return found


def _changed_values(
    service_request: ServiceRequest, changes: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the event records as before, the columns to UPDATE) for ``changes``."""
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
    return before, values


def update_request(
    *,
    actor: User,
    request_id: int,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> ServiceRequest:
    """Edit an open (or full) request; slots never below claimed; times move only where no
    claimant would then hold two tasks at once. Its claimants and waitlist are told what
    changed in time, place or slots (``request_changed``, from → to)."""
    return update_requests(actor=actor, changes={request_id: changes}, now=now)[request_id]


def update_requests(
    *,
    actor: User,
    changes: dict[int, dict[str, Any]],
    now: datetime | None = None,
) -> dict[int, ServiceRequest]:
    """``update_request`` for several requests in one transaction (a series' future
    occurrences): all of them change, or none.

    Moving times checks every claimant's other tasks, so the Member rows of the claimants of
    every request whose times move are locked first, in id order (the lock order), then the
    requests in id order; if someone claimed between reading and locking them, start again."""
    now = resolve_now(now)
    for one in changes.values():
        unknown = set(one) - EDITABLE_FIELDS
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
    timed = [pk for pk, one in changes.items() if "starts_at" in one or "ends_at" in one]
    for _attempt in range(3):
        members = _claimant_member_ids(timed) if timed else []
        try:
            with transaction.atomic():
                if members:
                    list(
                        Member.objects.select_for_update(no_key=True)
                        .filter(pk__in=members)
                        .order_by("pk")
                        .values_list("pk", flat=True)
                    )
                return {
                    pk: _update(
                        actor=actor, request_id=pk, changes=changes[pk], now=now, members=members
                    )
                    for pk in sorted(changes)
                }
        except _ClaimantsMoved:
            continue
    raise errors.RequestHasClaims("认领人员正在变化，请稍后重试。")


def _update(
    *, actor: User, request_id: int, changes: dict[str, Any], now: datetime, members: list[int]
) -> ServiceRequest:
    """One request's edit, inside ``update_requests``' transaction and member locks."""
    service_request = lock_request(request_id)
    if service_request.status not in (Status.OPEN, Status.FULL):
        raise errors.RequestNotEditable()
    if not changes:
        return service_request
    current, merged, times_moved = _check_update(service_request, changes, now=now)
    live = list(
        Claim.objects.select_for_update(of=("self",), no_key=True)
        .filter(request_id=service_request.pk, status__in=NOTIFIED_CLAIMS)
        .select_related("member__user")
        .order_by("id")
    )
    if times_moved:
        if {claim.member_id for claim in live} - set(members):
            raise _ClaimantsMoved
        _check_claimants_free(
            service_request, live, starts_at=merged["starts_at"], ends_at=merged["ends_at"]
        )
    before, values = _changed_values(service_request, changes)
    # The claimed filter repeats the slots rule inside the UPDATE itself.
    updated = ServiceRequest.objects.filter(
        pk=service_request.pk, claimed__lte=merged["slots"]
    ).update(**values, updated_at=now)
    if not updated:
        raise errors.SlotsBelowClaimed()
    moved = "lat" in values or "lng" in values
    rollups.request_moved(
        service_request,
        starts_at=current["starts_at"],
        campaign_id=current["campaign"].pk,
        lat=service_request.lat if moved else None,
        lng=service_request.lng if moved else None,
    )
    if times_moved:
        # A held place is kept until the new start (or the claim time) + grace.
        Claim.objects.filter(request_id=service_request.pk, status=ClaimStatus.CLAIMED).update(
            check_in_by=Greatest(Value(merged["starts_at"]), F("claimed_at"))
        )
    if "specialties" in changes:
        service_request.specialties.set(changes["specialties"])
    previous = copy.copy(service_request)
    service_request.refresh_from_db()
    event = record_event(
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
    told = describe_changes(previous, service_request)
    if told:
        for claim in live:
            notifications.request_changed(service_request, claim, changes=told, event_id=event.pk)
    if "slots" in changes:
        promote_waitlist(service_request, now=now)
        refresh_fullness(service_request, actor=actor, now=now)
    service_request.refresh_from_db()
    return service_request


def cancel_request(
    *, actor: User, request_id: int, reason: str, now: datetime | None = None
) -> ServiceRequest:
    """Cancel an open or full request; its claimants and waitlist are told."""
    now = resolve_now(now)
    with transaction.atomic():
        service_request = lock_request(request_id)
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
        claim_reason = shorten(f"需求已取消：{reason}", 200)
        move_claims(
            live,
            to=ClaimStatus.CANCELLED,
            actor=actor,
            verb="claim_cancelled",
            now=now,
            payload={"request": service_request.pk, "by_request_cancel": True},
            cancelled_at=now,
            cancel_reason=claim_reason,
        )
        for claim in live:
            notifications.request_cancelled(service_request, claim, reason=reason)
        service_request.refresh_from_db()
    return service_request
