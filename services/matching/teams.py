"""Teams ranked for a request (``GET requests/{id}/matches/``): candidates read in the
database, scored with ``scoring``, the page's distances made geodesic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.utils import timezone

from services.matching import queries
from services.matching.scoring import (
    Actor,
    Facts,
    ScoringModel,
    SpecialtyRef,
    reasons,
    score,
    specialty_term,
    terms,
    weighted,
)
from services.models import ServiceRequest
from stations.geo import (
    Point,
    bounding_box,
    fast_distance_km,
    geodesic_km,
)


class TownRef(NamedTuple):
    id: int
    name: str


@dataclass(frozen=True)
class TeamMatch:
    """One ranked team for a request."""

    team_id: int
    name: str
    sector: str
    home_town: TownRef | None
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


class _Candidate(NamedTuple):
    """A team within reach, with the best score it could have (``bound``)."""

    bound: float
    km: float
    team: queries.TeamRow
    served: int


class _Scored(NamedTuple):
    """A team read in full, with its exact score and what it was scored on."""

    total: float
    km: float
    team: queries.TeamRow
    actor: Actor
    seen: dict[str, int]


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
    cutoff = settings.MATCHING_MAX_DISTANCE_KM
    if target is None:
        if service_request is None:
            raise TypeError("match_teams needs service_request or target")
        target = match_target(service_request.pk, now=now)
        if target is None:
            raise ServiceRequest.DoesNotExist(service_request.pk)
    side = target
    point = Point(lat=side.lat, lng=side.lng)
    required = tuple(specialty.id for specialty in side.specialties)
    refs = {s.id: SpecialtyRef(s.id, s.code, s.name) for s in side.specialties}
    teams = queries.teams_near(
        point,
        bounding_box(point, radius_km=cutoff),
        cutoff,
        required,
        settings.MATCHING_CANDIDATE_LIMIT,
    )

    candidates = _bounds(model, teams, side, point=point, required=required, cutoff=cutoff)
    ranked, read_in_full = _rank(model, candidates, side, required=required, limit=limit, now=now)
    matches = [
        _match(model, scored, point=point, required=required, refs=refs)
        for scored in ranked[:limit]
    ]
    return MatchResult(matches=matches, candidates=len(candidates), read_in_full=read_in_full)


def _bounds(
    model: ScoringModel,
    teams,
    side: queries.RequestSide,
    *,
    point: Point,
    required: tuple[int, ...],
    cutoff: float,
) -> list[_Candidate]:
    """Each team within ``cutoff`` with its bound (the best score it could reach), best first."""
    shares = model.shares
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
        candidates.append(_Candidate(weighted(shares, parts), km, team, served))
    candidates.sort(key=lambda c: (-c.bound, c.km, c.team.id))
    return candidates


def _rank(
    model: ScoringModel,
    candidates: list[_Candidate],
    side: queries.RequestSide,
    *,
    required: tuple[int, ...],
    limit: int,
    now: datetime,
) -> tuple[list[_Scored], int]:
    """Score candidates in full, best bound first, skipping those that can no longer enter the
    top ``limit``; returns the scored (best first) and how many were read in full."""
    ranked: list[_Scored] = []
    read_in_full = 0
    rest = candidates
    first = limit + settings.MATCHING_BOUND_MARGIN
    for batch_size in (first, len(candidates)):
        if len(ranked) >= limit:
            # Below the limit-th score so far (strictly: a tie may still win on distance).
            floor = sorted(scored.total for scored in ranked)[-limit]
            rest = [candidate for candidate in rest if candidate.bound >= floor]
        batch, rest = rest[:batch_size], rest[batch_size:]
        if not batch:
            break
        ranked += _score_teams(model, batch, required, side, now)
        read_in_full += len(batch)
    ranked.sort(key=lambda scored: (-scored.total, scored.km, scored.team.id))
    return ranked, read_in_full


def _match(
    model: ScoringModel,
    scored: _Scored,
    *,
    point: Point,
    required: tuple[int, ...],
    refs: dict[int, SpecialtyRef],
) -> TeamMatch:
    """A scored team as the answer shows it: its parts, reasons and geodesic distance."""
    names = {pk: ref.name for pk, ref in refs.items()}
    team, actor, seen = scored.team, scored.actor, scored.seen
    facts = Facts(required=required, km=scored.km, tasks=seen["tasks"], **_team_counts(seen))
    result = score(model, actor, facts)
    shown = geodesic_km(point, Point(lat=team.lat, lng=team.lng))
    return TeamMatch(
        team_id=team.id,
        name=team.name,
        sector=team.sector,
        home_town=(TownRef(team.home_town_id, team.home_town_name) if team.home_town_id else None),
        member_count=actor.capacity,
        score=result.total,
        parts=result.parts,
        distance_km=shown,
        matched_specialties=[refs[pk] for pk in result.matched],
        reasons=reasons(model, facts, result, names=names, display_km=shown),
    )


def _score_teams(
    model: ScoringModel,
    batch: list[_Candidate],
    required: tuple[int, ...],
    side: queries.RequestSide,
    now: datetime,
) -> list[_Scored]:
    """Exact scores of a batch of candidates: one read of their members and claims. Teams
    nobody can go for are not ranked."""
    facts = queries.team_facts(
        [candidate.team.id for candidate in batch],
        required,
        request_id=side.id,
        busy_from=side.starts_at - model.padding,
        busy_to=side.ends_at + model.padding,
        recent=now - timedelta(days=model.reliability_days),
        rated_since=timezone.localdate(now) - timedelta(days=model.rating_days),
    )
    shares = model.shares
    scored = []
    for candidate in batch:
        team = candidate.team
        capacity = len(facts.people.get(team.id, ()))
        if not capacity:
            continue
        actor = Actor(
            primary=frozenset(facts.own.get(team.id, ())),
            secondary=frozenset(facts.members.get(team.id, ())),
            capacity=capacity,
        )
        fit, _ = specialty_term(required, actor.primary, actor.secondary, model.secondary_credit)
        rated, score_sum = facts.ratings.get(team.id, (0, 0))
        seen = {
            **facts.claims[team.id],
            "served": candidate.served,
            "rated": rated,
            "score_sum": score_sum,
        }
        km = candidate.km
        parts = terms(model, fit=fit, km=km, capacity=capacity, **_team_counts(seen))
        scored.append(_Scored(weighted(shares, parts), km, team, actor, seen))
    return scored


def _team_counts(seen: dict[str, int]) -> dict[str, int]:
    return {
        "busy": seen["busy"],
        "no_shows": seen["no_shows"],
        "kept": seen["kept"],
        "served": seen["served"],
        "rated": seen["rated"],
        "score_sum": seen["score_sum"],
    }
