"""A member's feed (``GET requests/recommended/``): open requests near a point, ranked for the
member by the same scoring model as the teams, claimable ones first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from services import errors
from services.matching import queries
from services.matching.scoring import (
    Actor,
    Facts,
    ScoringModel,
    SpecialtyRef,
    check_radius,
    distance_term,
    history_term,
    load_term,
    reasons,
    reliability_term,
    score,
    specialty_term,
)
from services.models import Claim
from stations.geo import (
    Point,
    fast_distance_km,
    geodesic_km,
)

ClaimStatus = Claim.Status


class FeedEntry(NamedTuple):
    """One scored candidate of a member's feed (details are loaded for a page only)."""

    total: float
    km: float
    request: queries.RequestFacts
    lat: float
    lng: float
    tasks: int
    served: int


@dataclass
class Feed:
    """A member's ranked feed: the nearest claimable requests within the radius, best first."""

    point: Point
    radius_km: float
    model: ScoringModel
    actor: Actor
    entries: list[FeedEntry]
    no_shows: int
    kept: int
    specialties: dict[int, SpecialtyRef] = field(default_factory=dict)
    # Candidates loaded and scored (≤ MATCHING_CANDIDATE_LIMIT).
    candidates: int = 0


@dataclass(frozen=True)
class FeedItem:
    """A feed entry with what a client shows."""

    details: queries.RequestDetails
    specialties: list[SpecialtyRef]
    score: float
    parts: dict[str, float]
    distance_km: float
    matched_specialties: list[SpecialtyRef]
    reasons: list[str]


@dataclass
class _MemberClaims:
    """What the member's own claims say for the feed."""

    # Requests they hold a live claim on, or were rejected from: not claimable again.
    taken: set[int] = field(default_factory=set)
    # Live claims they are committed to: requests overlapping their times are not claimable.
    commitments: list[queries.MemberClaim] = field(default_factory=list)
    no_shows: int = 0
    kept: int = 0
    served: dict[int, int] = field(default_factory=dict)


def _member_claims(
    claims: Sequence[queries.MemberClaim], *, model: ScoringModel, now: datetime
) -> _MemberClaims:
    recent = now - timedelta(days=model.reliability_days)
    history = now - timedelta(days=model.history_days)
    out = _MemberClaims()
    served: dict[int, set[int]] = defaultdict(set)
    for claim in claims:
        if claim.status in queries.TIME_HOLDING or (
            claim.status == ClaimStatus.REJECTED and claim.ends_at > now
        ):
            out.taken.add(claim.request_id)
        if claim.status in queries.TIME_HOLDING and not claim.checked_out:
            out.commitments.append(claim)
        if claim.claimed_at is not None and claim.claimed_at >= recent:
            if claim.status == ClaimStatus.EXPIRED or (
                claim.status == ClaimStatus.CANCELLED and claim.late_cancel
            ):
                out.no_shows += 1
            elif claim.checked_in:
                out.kept += 1
        if claim.status == ClaimStatus.DONE and claim.starts_at >= history:
            served[claim.station_id].add(claim.request_id)
    out.served = {station: len(ids) for station, ids in served.items()}
    return out


def recommend_for_member(
    *,
    user: User,
    point: Point | None = None,
    radius_km: Any = None,
    now: datetime | None = None,
) -> Feed:
    """Open requests near the member that they may claim now, ranked for them: not full, not
    ended, not already theirs (or rejected), not overlapping their commitments, and — during
    an invite window — only if they are in the invited team (the rules of claim_request)."""
    now = now or timezone.now()
    model = ScoringModel.from_settings()
    shares = model.shares
    profile = queries.member_profile(user.pk, recent=now - timedelta(days=model.reliability_days))
    if profile is None or not profile.member.active or not user.is_member:
        raise errors.MemberProfileRequired()
    member = profile.member
    if point is None:
        point = _home(member)
    radius_km = check_radius(
        radius_km,
        default=settings.MATCHING_FEED_DEFAULT_RADIUS_KM,
        limit=settings.MATCHING_FEED_MAX_RADIUS_KM,
    )

    refs, actor = _actor(profile)
    mine = _member_claims(profile.claims, model=model, now=now)

    cap = settings.MATCHING_CANDIDATE_LIMIT
    candidates, facts = queries.open_candidates(point, radius_km, cap)

    # The weighted terms that do not depend on the request, once: the same products the
    # weighted mean of ``terms`` adds, in the same order, so totals match ``score`` exactly.
    s_fit, s_distance, s_load, s_reliability, s_history = shares
    reliability = s_reliability * reliability_term(mine.no_shows, mine.kept)
    history = {
        station: s_history * history_term(count, model.history_full)
        for station, count in mine.served.items()
    }
    free, busy = s_load * load_term(0, 1), s_load * load_term(1, 1)
    fits: dict[tuple[int, ...], float] = {}
    padding = model.padding
    half_km = model.half_km
    # The scoring loop stays inline: it runs for every candidate of every feed call, and the
    # terms that do not depend on the request are computed once above (docs/matching.md).
    entries = []
    for candidate in candidates:
        request = facts.get(candidate.id)
        if request is None or not _claimable(request, member.team_id, mine, now):
            continue
        km = fast_distance_km(point.lat, point.lng, candidate.lat, candidate.lng)
        fit = fits.get(request.specialties)
        if fit is None:
            fit = fits[request.specialties] = specialty_term(
                request.specialties, actor.primary, actor.secondary, model.secondary_credit
            )[0]
        tasks = 0
        for claim in mine.commitments:
            if (
                claim.starts_at < request.ends_at + padding
                and claim.ends_at > request.starts_at - padding
            ):
                tasks += 1
        total = (
            s_fit * fit
            + s_distance * distance_term(km, half_km)
            + (busy if tasks else free)
            + reliability
            + history.get(request.station_id, 0.0)
        )
        served = mine.served.get(request.station_id, 0)
        entries.append(FeedEntry(total, km, request, candidate.lat, candidate.lng, tasks, served))
    entries.sort(key=lambda e: (-e.total, e.km, e.request.id))
    return Feed(
        point=point,
        radius_km=radius_km,
        model=model,
        actor=actor,
        entries=entries,
        no_shows=mine.no_shows,
        kept=mine.kept,
        specialties=refs,
        candidates=len(candidates),
    )


def _home(member: queries.MemberRow) -> Point:
    """Where the feed looks without a point: the member's home (400 without one)."""
    if member.home_lat is None or member.home_lng is None:
        raise errors.LocationRequired()
    return Point(lat=member.home_lat, lng=member.home_lng)


def _actor(profile: queries.MemberProfile) -> tuple[dict[int, SpecialtyRef], Actor]:
    """The member as the scoring model sees them: own specialties first, the team's second."""
    refs, primary, secondary = {}, set(), set()
    for specialty in profile.specialties:
        refs[specialty.id] = SpecialtyRef(specialty.id, specialty.code, specialty.name)
        if specialty.member_holds:
            primary.add(specialty.id)
        if specialty.team_holds:
            secondary.add(specialty.id)
    return refs, Actor(primary=frozenset(primary), secondary=frozenset(secondary), capacity=1)


def _claimable(
    request: queries.RequestFacts, team_id: int | None, mine: _MemberClaims, now: datetime
) -> bool:
    """The claim rules that do not depend on the slot counter's race (claim_request's)."""
    if request.claimed >= request.slots or request.ends_at <= now:
        return False
    if (
        request.invited_team_id is not None
        and request.invite_until is not None
        and now < request.invite_until
        and request.invited_team_id != team_id
    ):
        return False
    if request.id in mine.taken:
        return False
    return not any(
        claim.starts_at < request.ends_at and claim.ends_at > request.starts_at
        for claim in mine.commitments
    )


def feed_page(feed: Feed, entries: Sequence[FeedEntry]) -> list[FeedItem]:
    """Details, geodesic distances and reasons for one page of the feed (one query)."""
    details = queries.request_details([entry.request.id for entry in entries])
    names = {pk: ref.name for pk, ref in feed.specialties.items()}
    items = []
    for entry in entries:
        row = details.get(entry.request.id)
        if row is None:  # requests are never deleted; this only guards a race with an admin
            continue
        facts = Facts(
            required=entry.request.specialties,
            km=entry.km,
            tasks=entry.tasks,
            busy=1 if entry.tasks else 0,
            no_shows=feed.no_shows,
            kept=feed.kept,
            served=entry.served,
        )
        result = score(feed.model, feed.actor, facts)
        shown = geodesic_km(feed.point, Point(lat=entry.lat, lng=entry.lng))
        items.append(
            FeedItem(
                details=row,
                specialties=[feed.specialties[pk] for pk in entry.request.specialties],
                score=result.total,
                parts=result.parts,
                distance_km=shown,
                matched_specialties=[feed.specialties[pk] for pk in result.matched],
                reasons=reasons(
                    feed.model,
                    facts,
                    result,
                    names=names,
                    display_km=shown,
                    history_place="在该驿站",
                ),
            )
        )
    return items
