"""Matching (DESIGN.md §6): one scoring model, used from both sides.

An *actor* — a team for a request's ``matches``, or a member for their feed — is scored against
a request on five terms, each in [0, 1], combined as a weighted mean (``MATCHING_WEIGHTS``):

- specialty: share of the request's specialties the actor holds; one held only by the "other
  side" (the team's members for a team, the member's team for a member) counts
  ``MATCHING_SECONDARY_SPECIALTY_CREDIT``; a request naming none fits everyone (1).
- distance: ``0.5 ** (km / MATCHING_DISTANCE_HALF_KM)``; beyond the cut-off (teams:
  ``MATCHING_MAX_DISTANCE_KM``, feed: ``radius_km``) the candidate is dropped.
- load: share of the actor's people free around the request's time (a live claim within
  ``MATCHING_LOAD_PADDING_HOURS`` of its window makes a person busy).
- reliability: ``(kept + 1) / (kept + no_shows + 1)`` over ``MATCHING_RELIABILITY_DAYS``;
  no-shows are slot claims that expired without a check-in, and late cancels.
- history: ``min(1, served / MATCHING_HISTORY_FULL)``, served = distinct requests of that
  station the actor completed ("done" claims, i.e. verified records) in ``MATCHING_HISTORY_DAYS``.

Candidates are narrowed in the database — bounding box on the indexed coordinates and status,
an exact circle computed by the database, nearest first, LIMIT ``MATCHING_CANDIDATE_LIMIT`` —
and only those are scored here, with ``fast_distance_km``. Geodesic distances are computed for
the returned page only. The reads are in ``services.matching_queries``; their number per call
does not depend on how many candidates there are.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db.models import ExpressionWrapper, F, FloatField, Q, QuerySet, Value
from django.utils import timezone
from geographiclib.geodesic import Geodesic

from accounts.models import User
from services import errors
from services import matching_queries as queries
from services.matching_errors import LocationRequired
from services.models import Claim, ServiceRequest
from stations.errors import InvalidBBox, InvalidRadius, UnknownCoordType
from stations.geo import (
    COORD_TYPES,
    GCJ02,
    WGS84,
    BBox,
    Point,
    bounding_box,
    fast_distance_km,
    gcj02_to_wgs84,
    parse_bbox,
    wgs84_to_gcj02,
)

TERMS = ("specialty", "distance", "load", "reliability", "history")
ClaimStatus = Claim.Status

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


# WGS-84, for geodesic_km.
_A = 6378137.0
_F = 1 / 298.257223563
_B = (1 - _F) * _A
_VINCENTY_TOLERANCE = 1e-12
_VINCENTY_MAX_ITERATIONS = 50


def geodesic_km(a: Point, b: Point) -> float:
    """WGS-84 geodesic distance in km, for displayed distances.

    Vincenty's inverse formula (accurate to 0.5 mm on the ellipsoid, a few microseconds in
    Python) with geographiclib's Karney algorithm — what geopy's geodesic and
    stations.geo.distance_km run, at ~40 µs a call — for the nearly antipodal pairs where
    Vincenty does not converge. Tests hold the two within a millimetre of each other."""
    if a.lat == b.lat and a.lng == b.lng:
        return 0.0
    big_l = math.radians(b.lng - a.lng)
    u1 = math.atan((1 - _F) * math.tan(math.radians(a.lat)))
    u2 = math.atan((1 - _F) * math.tan(math.radians(b.lat)))
    sin_u1, cos_u1 = math.sin(u1), math.cos(u1)
    sin_u2, cos_u2 = math.sin(u2), math.cos(u2)
    lam = big_l
    for _ in range(_VINCENTY_MAX_ITERATIONS):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0.0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha * sin_alpha
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha else 0.0
        c = _F / 16 * cos2_alpha * (4 + _F * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * _F * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm * cos_2sm))
        )
        if abs(lam - previous) < _VINCENTY_TOLERANCE:
            break
    else:
        return Geodesic.WGS84.Inverse(a.lat, a.lng, b.lat, b.lng, Geodesic.DISTANCE)["s12"] / 1000.0
    u_sq = cos2_alpha * (_A * _A - _B * _B) / (_B * _B)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta_sigma = (
        big_b
        * sin_sigma
        * (
            cos_2sm
            + big_b
            / 4
            * (
                cos_sigma * (-1 + 2 * cos_2sm * cos_2sm)
                - big_b
                / 6
                * cos_2sm
                * (-3 + 4 * sin_sigma * sin_sigma)
                * (-3 + 4 * cos_2sm * cos_2sm)
            )
        )
    )
    return _B * big_a * (sigma - delta_sigma) / 1000.0


# ---------------------------------------------------------------- the scoring model


@dataclass(frozen=True)
class ScoringModel:
    """The model's parameters, read from settings once per call."""

    weights: dict[str, float]
    secondary_credit: float
    half_km: float
    padding: timedelta
    reliability_days: int
    history_days: int
    history_full: int

    @classmethod
    def from_settings(cls) -> ScoringModel:
        return cls(
            weights={term: float(settings.MATCHING_WEIGHTS.get(term, 0.0)) for term in TERMS},
            secondary_credit=settings.MATCHING_SECONDARY_SPECIALTY_CREDIT,
            half_km=settings.MATCHING_DISTANCE_HALF_KM,
            padding=timedelta(hours=settings.MATCHING_LOAD_PADDING_HOURS),
            reliability_days=settings.MATCHING_RELIABILITY_DAYS,
            history_days=settings.MATCHING_HISTORY_DAYS,
            history_full=settings.MATCHING_HISTORY_FULL,
        )

    @property
    def shares(self) -> tuple[float, ...]:
        """Each term's weight divided by their sum, in TERMS order."""
        total = sum(self.weights.values())
        return tuple(self.weights[term] / total for term in TERMS)


@dataclass(frozen=True)
class Actor:
    """Who is matched: a team (for a request) or a member (for their feed)."""

    primary: frozenset[int]
    secondary: frozenset[int]
    # People who could go: the team's active members, or 1 for a member.
    capacity: int


@dataclass(frozen=True)
class Facts:
    """What one (actor, request) pair is scored on."""

    required: tuple[int, ...]
    km: float
    tasks: int = 0
    busy: int = 0
    no_shows: int = 0
    kept: int = 0
    served: int = 0


@dataclass(frozen=True)
class Score:
    """A total in [0, 1], its parts, and the required specialties the actor covers."""

    total: float
    parts: dict[str, float]
    matched: tuple[int, ...]


def specialty_term(
    required: Sequence[int], primary: frozenset[int], secondary: frozenset[int], credit: float
) -> tuple[float, tuple[int, ...]]:
    """Share of ``required`` covered (secondary holders at ``credit``), and which are."""
    if not required:
        return 1.0, ()
    total = 0.0
    matched = []
    for specialty in required:
        if specialty in primary:
            total += 1.0
            matched.append(specialty)
        elif specialty in secondary:
            total += credit
            matched.append(specialty)
    return total / len(required), tuple(matched)


def distance_term(km: float, half_km: float) -> float:
    """1 on the spot, halving every ``half_km``."""
    return 0.5 ** (max(km, 0.0) / half_km)


def load_term(busy: int, capacity: int) -> float:
    """Share of the actor's people free at that time (0 with nobody to send)."""
    if capacity <= 0:
        return 0.0
    return 1.0 - min(1.0, busy / capacity)


def reliability_term(no_shows: int, kept: int) -> float:
    """1 with no no-shows; lower the more of the recent claims were not kept."""
    return (kept + 1) / (kept + no_shows + 1)


def history_term(served: int, full: int) -> float:
    """0 for a station the actor never served recently, 1 from ``full`` services on."""
    return min(1.0, served / full)


def terms(
    model: ScoringModel,
    *,
    fit: float,
    km: float,
    busy: int,
    capacity: int,
    no_shows: int,
    kept: int,
    served: int,
) -> tuple[float, float, float, float, float]:
    """The five terms, in TERMS order."""
    return (
        fit,
        distance_term(km, model.half_km),
        load_term(busy, capacity),
        reliability_term(no_shows, kept),
        history_term(served, model.history_full),
    )


def weighted(shares: tuple[float, ...], parts: tuple[float, ...]) -> float:
    """The weighted mean of the terms (``shares`` from ScoringModel.shares)."""
    return sum(share * part for share, part in zip(shares, parts, strict=True))


def score(model: ScoringModel, actor: Actor, facts: Facts) -> Score:
    """Score one pair: the terms, their weighted mean, the specialties matched."""
    fit, matched = specialty_term(
        facts.required, actor.primary, actor.secondary, model.secondary_credit
    )
    parts = terms(
        model,
        fit=fit,
        km=facts.km,
        busy=facts.busy,
        capacity=actor.capacity,
        no_shows=facts.no_shows,
        kept=facts.kept,
        served=facts.served,
    )
    return Score(
        total=weighted(model.shares, parts),
        parts=dict(zip(TERMS, parts, strict=True)),
        matched=matched,
    )


def reasons(
    model: ScoringModel,
    facts: Facts,
    result: Score,
    *,
    names: dict[int, str],
    display_km: float,
    history_place: str = "",
) -> list[str]:
    """Short Chinese phrases a manager (or member) reads next to the score."""
    out = []
    if not facts.required:
        out.append("需求不限专长")
    elif result.matched:
        out.append("专长匹配：" + "、".join(names.get(s, str(s)) for s in result.matched))
    else:
        needed = "、".join(names.get(s, str(s)) for s in facts.required)
        out.append(f"专长不匹配（需要：{needed}）")
    out.append(f"距离 {display_km:.1f} 公里")
    out.append(f"该时段已有 {facts.tasks} 项任务" if facts.tasks else "该时段空闲")
    days = model.reliability_days
    out.append(f"近{days}天爽约 {facts.no_shows} 次" if facts.no_shows else f"近{days}天无爽约")
    days = model.history_days
    if facts.served:
        out.append(f"近{days}天{history_place}已服务 {facts.served} 次")
    else:
        out.append(f"近{days}天未在该驿站服务")
    return out


@dataclass(frozen=True)
class SpecialtyRef:
    """``{id, code, name}`` of a specialty."""

    id: int
    code: str
    name: str


def check_radius(value: Any, *, default: float, limit: float, name: str = "radius_km") -> float:
    """A radius in km: a finite number, 0 < r ≤ limit (400 ``invalid_radius`` otherwise)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    number: float | None = None
    if isinstance(value, str):
        # Plain decimal or scientific notation only: float() would also take "1_0" or "١٠".
        if _NUMBER.fullmatch(value.strip()):
            number = float(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    if number is None or not math.isfinite(number) or not 0 < number <= limit:
        message = f"搜索半径必须是大于 0 且不超过 {limit:g} 的数字（公里）。"
        raise InvalidRadius(message, fields={name: [message]})
    return number


# ---------------------------------------------------------------- teams for a request


@dataclass(frozen=True)
class TeamMatch:
    """One ranked team for a request."""

    team_id: int
    name: str
    sector: str
    home_town: tuple[int, str] | None
    member_count: int
    score: float
    parts: dict[str, float]
    distance_km: float
    matched_specialties: list[SpecialtyRef]
    reasons: list[str]


@dataclass(frozen=True)
class MatchResult:
    """Ranked teams, how many candidates were scored (bounded) to find them, and for how many
    of those members and claims were read to score them exactly."""

    matches: list[TeamMatch]
    candidates: int
    read_in_full: int = 0


def match_target(request_id: int, *, now: datetime | None = None) -> queries.RequestSide | None:
    """The request as the matcher reads it — its place, times, specialties, and the teams that
    served its station lately — or None if there is no such request: one statement."""
    now = now or timezone.now()
    history = now - timedelta(days=settings.MATCHING_HISTORY_DAYS)
    return queries.request_side(request_id, history=history)


def match_teams(
    *,
    limit: int,
    service_request: ServiceRequest | None = None,
    target: queries.RequestSide | None = None,
    now: datetime | None = None,
) -> MatchResult:
    """Active teams with active members within ``MATCHING_MAX_DISTANCE_KM`` of the request,
    best first. A team stands at its home, or its home town's centre when it has none.

    Up to ``MATCHING_CANDIDATE_LIMIT`` candidates are scored, exactly as if each were read in
    full, but the reads that cost per team (members, claims) are made only for those that can
    still reach the top ``limit``: each candidate first gets a *bound* — its distance, history
    and own specialties exact, its load and reliability at their best, its members holding
    every required specialty the team lacks — which its score can only fall short of. Teams
    are read best bound first; once ``limit`` scores are known, a team whose bound is below the
    ``limit``-th score cannot enter, and neither can any after it. At most two reads of
    members and claims are made: the first for the ``limit + MATCHING_BOUND_MARGIN`` best
    bounds, the second for every team left that can still enter."""
    now = now or timezone.now()
    model = ScoringModel.from_settings()
    shares = model.shares
    cutoff = settings.MATCHING_MAX_DISTANCE_KM
    if target is None:
        if service_request is None:
            raise TypeError("match_teams needs service_request or target")
        target = match_target(service_request.pk, now=now)
        if target is None:
            raise ServiceRequest.DoesNotExist(service_request.pk)
    side = target
    point = Point(lat=side.lat, lng=side.lng)
    required = tuple(pk for pk, _code, _name in side.specialties)
    refs = {pk: SpecialtyRef(pk, code, name) for pk, code, name in side.specialties}
    teams = queries.teams_near(
        point,
        bounding_box(point, radius_km=cutoff),
        cutoff,
        required,
        settings.MATCHING_CANDIDATE_LIMIT,
    )

    candidates = []
    for team in teams:
        km = fast_distance_km(point.lat, point.lng, team.lat, team.lng)
        if km > cutoff:
            continue
        served = side.served.get(team.id, 0)
        # The members may hold every required specialty the team itself lacks.
        fit = (
            (team.holds + model.secondary_credit * (len(required) - team.holds)) / len(required)
            if required
            else 1.0
        )
        parts = terms(model, fit=fit, km=km, busy=0, capacity=1, no_shows=0, kept=0, served=served)
        candidates.append((weighted(shares, parts), km, team, served))
    candidates.sort(key=lambda item: (-item[0], item[1], item[2].id))

    ranked: list[tuple] = []
    read_in_full = 0
    rest = candidates
    first = limit + settings.MATCHING_BOUND_MARGIN
    for batch_size in (first, len(candidates)):
        if len(ranked) >= limit:
            # Below the limit-th score so far (strictly: a tie may still win on distance).
            floor = sorted(item[0] for item in ranked)[-limit]
            rest = [item for item in rest if item[0] >= floor]
        batch, rest = rest[:batch_size], rest[batch_size:]
        if not batch:
            break
        ranked += _score_teams(model, batch, required, side, now)
        read_in_full += len(batch)
    ranked.sort(key=lambda item: (-item[0], item[1], item[2].id))

    names = {pk: ref.name for pk, ref in refs.items()}
    matches = []
    for _total, km, team, actor, seen in ranked[:limit]:
        facts = Facts(required=required, km=km, tasks=seen["tasks"], **_team_counts(seen))
        result = score(model, actor, facts)
        shown = geodesic_km(point, Point(lat=team.lat, lng=team.lng))
        matches.append(
            TeamMatch(
                team_id=team.id,
                name=team.name,
                sector=team.sector,
                home_town=(team.home_town_id, team.home_town_name) if team.home_town_id else None,
                member_count=actor.capacity,
                score=result.total,
                parts=result.parts,
                distance_km=shown,
                matched_specialties=[refs[pk] for pk in result.matched],
                reasons=reasons(model, facts, result, names=names, display_km=shown),
            )
        )
    return MatchResult(matches=matches, candidates=len(candidates), read_in_full=read_in_full)


def _score_teams(
    model: ScoringModel,
    batch: list[tuple],
    required: tuple[int, ...],
    side: queries.RequestSide,
    now: datetime,
) -> list[tuple]:
    """Exact scores of a batch of (bound, km, team, served) candidates: one read of their
    members and claims. Teams nobody can go for are not ranked."""
    facts = queries.team_facts(
        [team.id for _bound, _km, team, _served in batch],
        required,
        request_id=side.id,
        busy_from=side.starts_at - model.padding,
        busy_to=side.ends_at + model.padding,
        recent=now - timedelta(days=model.reliability_days),
    )
    shares = model.shares
    scored = []
    for _bound, km, team, served in batch:
        capacity = len(facts.people.get(team.id, ()))
        if not capacity:
            continue
        actor = Actor(
            primary=frozenset(facts.own.get(team.id, ())),
            secondary=frozenset(facts.members.get(team.id, ())),
            capacity=capacity,
        )
        fit, _ = specialty_term(required, actor.primary, actor.secondary, model.secondary_credit)
        seen = {**facts.claims[team.id], "served": served}
        parts = terms(model, fit=fit, km=km, capacity=capacity, **_team_counts(seen))
        scored.append((weighted(shares, parts), km, team, actor, seen))
    return scored


def _team_counts(seen: dict[str, int]) -> dict[str, int]:
    return {
        "busy": seen["busy"],
        "no_shows": seen["no_shows"],
        "kept": seen["kept"],
        "served": seen["served"],
    }


# ---------------------------------------------------------------- the member feed


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

    details: dict[str, Any]
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
    # (starts_at, ends_at) of requests they are committed to: overlaps are not claimable.
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)
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
            out.windows.append((claim.starts_at, claim.ends_at))
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
        if member.home_lat is None or member.home_lng is None:
            raise LocationRequired()
        point = Point(lat=member.home_lat, lng=member.home_lng)
    radius_km = check_radius(
        radius_km,
        default=settings.MATCHING_FEED_DEFAULT_RADIUS_KM,
        limit=settings.MATCHING_FEED_MAX_RADIUS_KM,
    )

    refs, primary, secondary = {}, set(), set()
    for pk, code, name, mine, team in profile.specialties:
        refs[pk] = SpecialtyRef(pk, code, name)
        if mine:
            primary.add(pk)
        if team:
            secondary.add(pk)
    actor = Actor(primary=frozenset(primary), secondary=frozenset(secondary), capacity=1)
    mine = _member_claims(profile.claims, model=model, now=now)

    cap = settings.MATCHING_CANDIDATE_LIMIT
    rows, facts = queries.open_candidates(point, radius_km, cap)

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
    entries = []
    for request_id, lat, lng, _d2 in rows:
        request = facts.get(request_id)
        if request is None or not _claimable(request, member.team_id, mine, now):
            continue
        km = fast_distance_km(point.lat, point.lng, lat, lng)
        fit = fits.get(request.specialties)
        if fit is None:
            fit = fits[request.specialties] = specialty_term(
                request.specialties, actor.primary, actor.secondary, model.secondary_credit
            )[0]
        tasks = 0
        for busy_from, busy_to in mine.windows:
            if busy_from < request.ends_at + padding and busy_to > request.starts_at - padding:
                tasks += 1
        total = (
            s_fit * fit
            + s_distance * distance_term(km, half_km)
            + (busy if tasks else free)
            + reliability
            + history.get(request.station_id, 0.0)
        )
        served = mine.served.get(request.station_id, 0)
        entries.append(FeedEntry(total, km, request, lat, lng, tasks, served))
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
        candidates=len(rows),
    )


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
        busy_from < request.ends_at and busy_to > request.starts_at
        for busy_from, busy_to in mine.windows
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


# ---------------------------------------------------------------- the map


@dataclass(frozen=True)
class MapFeature:
    """One request on the map (coordinates in the client's coordinate system)."""

    id: int
    lat: float
    lng: float
    title: str
    status: str
    campaign_kind: str
    starts_at: datetime
    ends_at: datetime
    slots: int
    claimed: int
    station_id: int
    station_name: str


@dataclass(frozen=True)
class MapResult:
    """Features nearest the box's centre, at most MATCHING_MAP_MAX_FEATURES of them."""

    features: list[MapFeature]
    truncated: bool
    limit: int
    coord_type: str


def check_coord_type(value: str | None) -> str:
    """``wgs84`` (the default) or ``gcj02``; 400 ``unknown_coord_type`` otherwise."""
    if value is None or not value.strip():
        return WGS84
    name = value.strip().lower()
    if name not in COORD_TYPES:
        raise UnknownCoordType(fields={"coord_type": ["坐标类型只能是 wgs84 或 gcj02。"]})
    return name


def map_box(text: str | None, *, coord_type: str) -> BBox:
    """The WGS-84 box of ``bbox`` (given in ``coord_type``); 400 ``invalid_bbox`` if bad."""
    if text is None or not text.strip():
        message = "请提供 bbox：最小经度,最小纬度,最大经度,最大纬度。"
        raise InvalidBBox(message, fields={"bbox": [message]})
    box = parse_bbox(text, max_area_deg2=settings.MATCHING_MAP_MAX_BBOX_DEG2)
    if coord_type != GCJ02:
        return box
    # The GCJ-02 offset changes by metres across a town, so converting the corners is enough.
    min_lat, min_lng = gcj02_to_wgs84(box.min_lat, box.min_lng)
    max_lat, max_lng = gcj02_to_wgs84(box.max_lat, box.max_lng)
    return BBox(min_lat=min_lat, min_lng=min_lng, max_lat=max_lat, max_lng=max_lng)


def _box_distance2(point: Point) -> ExpressionWrapper:
    """Squared equirectangular km from ``point``, as an ORM expression."""
    ky = fast_distance_km(point.lat - 0.5, point.lng, point.lat + 0.5, point.lng)
    kx = fast_distance_km(point.lat, point.lng - 0.5, point.lat, point.lng + 0.5)
    dy = F("lat") - Value(point.lat)
    dx = F("lng") - Value(point.lng)
    return ExpressionWrapper(dy * dy * (ky * ky) + dx * dx * (kx * kx), output_field=FloatField())


def map_features(
    *, queryset: QuerySet, box: BBox, coord_type: str, now: datetime | None = None
) -> MapResult:
    """Requests of ``queryset`` (already filtered by the list filters) inside ``box`` that
    have not ended. When more than the cap match, the ones nearest the box's centre are kept
    and ``truncated`` is set: the client zooms in for the rest."""
    now = now or timezone.now()
    cap = settings.MATCHING_MAP_MAX_FEATURES
    centre = Point(lat=(box.min_lat + box.max_lat) / 2, lng=(box.min_lng + box.max_lng) / 2)
    rows = list(
        queryset.filter(
            Q(lat__gte=box.min_lat, lat__lte=box.max_lat)
            & Q(lng__gte=box.min_lng, lng__lte=box.max_lng),
            ends_at__gt=now,
        )
        .annotate(_d2=_box_distance2(centre))
        .order_by("_d2", "id")
        .values_list(
            "id",
            "lat",
            "lng",
            "title",
            "status",
            "campaign__kind",
            "starts_at",
            "ends_at",
            "slots",
            "claimed",
            "station_id",
            "station__name",
        )[: cap + 1]
    )
    features = []
    for row in rows[:cap]:
        lat, lng = row[1], row[2]
        if coord_type == GCJ02:
            lat, lng = wgs84_to_gcj02(lat, lng)
            lat, lng = round(lat, 6), round(lng, 6)
        features.append(MapFeature(row[0], lat, lng, *row[3:]))
    return MapResult(features=features, truncated=len(rows) > cap, limit=cap, coord_type=coord_type)
