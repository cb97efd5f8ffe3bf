"""Matching's scoring model (docs/matching.md), used from both sides.

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
  station the actor completed ("done" claims, i.e. verified records) in ``MATCHING_HISTORY_DAYS``;
  for a team that residents rated at least ``MATCHING_RATING_MIN`` times (评单 of its verified
  records in ``MATCHING_RATING_DAYS``), times its mean rating / 5 — never more than without
  ratings, so the bounds of ``teams`` stay bounds.

Candidates are narrowed in the database — bounding box on the indexed coordinates and status,
an exact circle computed by the database, nearest first, LIMIT ``MATCHING_CANDIDATE_LIMIT`` —
and only those are scored here, with ``fast_distance_km``. Geodesic distances are computed for
the returned page only. The reads are in ``services.matching.queries``; their number per call
does not depend on how many candidates there are. The team ranking is ``teams``, the member
feed ``feed``, the map ``map``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings

from stations.errors import InvalidRadius
from stations.geo import to_float

TERMS = ("specialty", "distance", "load", "reliability", "history")


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
    rating_min: int
    rating_days: int

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
            rating_min=settings.MATCHING_RATING_MIN,
            rating_days=settings.MATCHING_RATING_DAYS,
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
    # 评单 of the actor's verified records lately: how many, and their sum.
    rated: int = 0
    score_sum: int = 0


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


def rating_factor(rated: int, score_sum: int, minimum: int) -> float:
    """What residents' ratings make of the history term: their mean / 5 once there are
    ``minimum`` of them (a 5.0 keeps it whole, a 3.0 takes 40% off), 1 before that."""
    if rated < minimum or rated <= 0:
        return 1.0
    return min(1.0, score_sum / rated / 5)


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
    rated: int = 0,
    score_sum: int = 0,
) -> tuple[float, float, float, float, float]:
    """The five terms, in TERMS order."""
    return (
        fit,
        distance_term(km, model.half_km),
        load_term(busy, capacity),
        reliability_term(no_shows, kept),
        history_term(served, model.history_full)
        * rating_factor(rated, score_sum, model.rating_min),
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
        rated=facts.rated,
        score_sum=facts.score_sum,
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
    if facts.rated and facts.rated >= model.rating_min:
        out.append(f"群众评价 {facts.score_sum / facts.rated:.1f} 分（{facts.rated} 次）")
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
    number = to_float(value)
    if number is None or not math.isfinite(number) or not 0 < number <= limit:
        message = f"搜索半径必须是大于 0 且不超过 {limit:g} 的数字（公里）。"
        raise InvalidRadius(message, fields={name: [message]})
    return number
