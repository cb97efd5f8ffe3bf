"""The team side of matching: the request's side, the teams near it and their facts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from services.matching.queries.sql import (
    TIME_HOLDING,
    ClaimStatus,
    _aware,
    _db,
    _distance2,
    _dt_param,
    _fetch,
    _in,
    _sql,
)
from stations.geo import BBox, Point


class RequestSpecialty(NamedTuple):
    id: int
    code: str
    name: str


class RequestSide(NamedTuple):
    """What the matcher needs of the request itself, before looking at any team."""

    id: int
    station_id: int
    lat: float
    lng: float
    starts_at: datetime
    ends_at: datetime
    # Its specialties, by id.
    specialties: list[RequestSpecialty]
    # Team → distinct requests of this station it completed lately ("done" claims).
    served: dict[int, int]


class _SideRow(NamedTuple):
    """A row of REQUEST_SIDE, of the ``kind`` "request", "specialty" or "served"; the fields
    its kind does not use are None."""

    kind: str
    # "request": the request itself; "served": a finished request of its station.
    request_id: int | None
    # "request":
    station_id: int | None
    lat: float | None
    lng: float | None
    starts_at: Any
    ends_at: Any
    # "specialty": one of the request's specialties.
    specialty_id: int | None
    code: str | None
    name: str | None
    # "served": the team of a "done" claim on that finished request.
    team_id: int | None


# PostgreSQL types a UNION's columns pair by pair: a column NULL in both of the first two parts
# would be text by the third, hence the typed NULL. The statuses are written in: a prepared
# statement's generic plan, not knowing them, would read every request of the station for the
# few finished ones.
REQUEST_SIDE = """
SELECT 'request' AS kind, r.id, r.station_id, r.lat, r.lng,
    {when:r.starts_at}, {when:r.ends_at}, NULL, NULL, NULL, CAST(NULL AS BIGINT)
FROM {request} r
WHERE r.id = %s
UNION ALL
SELECT 'specialty', NULL, NULL, NULL, NULL, NULL, NULL, s.id, s.code, s.name, NULL
FROM {specialty} s JOIN {rs} rs ON rs.{rs_specialty} = s.id
WHERE rs.{rs_request} = %s
UNION ALL
SELECT 'served', c.request_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.team_id
FROM {request} r JOIN {claim} c ON c.request_id = r.id
WHERE r.station_id = (SELECT x.station_id FROM {request} x WHERE x.id = %s)
    AND r.status IN ({finished}) AND r.starts_at >= %s
    AND c.status = %s AND c.team_id IS NOT NULL
"""


def request_side(request_id: int, *, history: datetime) -> RequestSide | None:
    """The request (None if there is none), its specialties and which teams served its
    station lately, in one statement. The last part starts from the station's finished
    requests — (station, status), a few dozen rows — then their "done" claims, so it reads no
    team's history."""
    rows = _fetch(
        _SideRow,
        _sql(REQUEST_SIDE),
        [request_id, request_id, request_id, _dt_param(history), ClaimStatus.DONE],
    )
    aware = _aware()
    found: RequestSide | None = None
    specialties: list[RequestSpecialty] = []
    served: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        kind = row.kind
        if kind == "served":
            served[row.team_id].add(row.request_id)
        elif kind == "specialty":
            specialties.append(RequestSpecialty(row.specialty_id, row.code, row.name))
        else:
            found = RequestSide(
                id=row.request_id,
                station_id=row.station_id,
                lat=row.lat,
                lng=row.lng,
                starts_at=aware(row.starts_at),
                ends_at=aware(row.ends_at),
                specialties=[],
                served={},
            )
    if found is None:
        return None
    found.specialties.extend(sorted(specialties))
    found.served.update((team, len(requests)) for team, requests in served.items())
    return found


class TeamRow(NamedTuple):
    id: int
    name: str
    sector: str
    home_town_id: int | None
    home_town_name: str | None
    lat: float
    lng: float
    # How many of the request's specialties the team itself holds.
    holds: int


# Names and towns are joined for the ``limit`` kept only; a team without a home stands at its
# home town's centre (the second branch of the UNION).
TEAMS_NEAR = """
SELECT t.id, t.name, t.sector, t.home_town_id, tw.name, z.lat, z.lng, z.holds
FROM (
    SELECT y.id, y.lat, y.lng, y.holds, y.d2
    FROM (
        SELECT x.id, x.lat, x.lng, {holds} AS holds, {d2:x} AS d2
        FROM (
            SELECT t.id, t.home_lat AS lat, t.home_lng AS lng
            FROM {team} t
            WHERE t.active = %s AND t.home_lat >= %s AND t.home_lat <= %s
                AND t.home_lng >= %s AND t.home_lng <= %s
            UNION ALL
            SELECT t.id, tw.lat, COALESCE(t.home_lng, tw.lng)
            FROM {team} t JOIN {town} tw ON tw.id = t.home_town_id
            WHERE t.active = %s AND t.home_lat IS NULL AND tw.lat >= %s AND tw.lat <= %s
                AND tw.lng >= %s AND tw.lng <= %s
        ) x
    ) y
    WHERE y.d2 <= %s
    ORDER BY CASE WHEN y.holds > 0 THEN 0 ELSE 1 END, y.d2, y.id
    LIMIT %s
) z
JOIN {team} t ON t.id = z.id LEFT JOIN {town} tw ON tw.id = t.home_town_id
ORDER BY CASE WHEN z.holds > 0 THEN 0 ELSE 1 END, z.d2, z.id
"""


# TEAMS_NEAR's ``{holds}`` when the request names specialties: how many of them the team holds.
TEAM_HOLDS = """
(SELECT COUNT(*) FROM {ts} ts WHERE ts.{ts_team} = x.id AND ts.{ts_specialty} {required})
"""


def teams_near(
    point: Point, box: BBox, cutoff_km: float, required: Sequence[int], limit: int
) -> list[TeamRow]:
    """Active teams within ``cutoff_km`` — at their home, or their home town's centre when
    they have none: teams holding a required specialty first, then the nearest — with how
    many of the required specialties each holds (one probe of the (team, specialty) unique
    index per team and specialty)."""
    holds, holds_params = "0", []
    if required:
        in_required, holds_params = _in(required)
        holds = _sql(TEAM_HOLDS, required=in_required)
    return _fetch(
        TeamRow,
        _sql(TEAMS_NEAR, holds=holds),
        [
            *holds_params,
            *_distance2(point),
            *(True, box.min_lat, box.max_lat, box.min_lng, box.max_lng) * 2,
            cutoff_km * cutoff_km,
            limit,
        ],
    )


class TeamFacts(NamedTuple):
    """Per team: active members, the required specialties held by the team itself and by
    its active members, what its claims say (``claims``: tasks, busy, kept, no_shows) and how
    residents rated its verified services (``ratings``)."""

    people: dict[int, set[int]]
    own: dict[int, set[int]]
    members: dict[int, set[int]]
    claims: dict[int, dict[str, int]]
    # 评单: (ratings counted, their sum) of the team's verified records lately.
    ratings: dict[int, tuple[int, int]]


class _TeamFactRow(NamedTuple):
    """A row of TEAM_FACTS, of the ``kind``

    - "member": an active member of the team, with a required specialty they hold (a row
      each; None when they hold none);
    - "own": a required specialty the team itself holds;
    - "busy": a member's live claim around the request's time;
    - "kept", "no_shows": a claim of the team's lately, kept or not;
    - "rated": the team's residents' ratings of verified records lately, counted and summed.
    """

    kind: str
    team_id: int
    member_id: int | None
    specialty_id: int | None
    # "rated" only:
    rated: int | None
    score_sum: int | None


TEAM_FACTS = """
SELECT 'member' AS kind, m.team_id, m.id, ms.{ms_specialty},
    CAST(NULL AS BIGINT), CAST(NULL AS BIGINT)
FROM {member} m
LEFT JOIN {ms} ms ON ms.{ms_member} = m.id AND ms.{ms_specialty} {required}
WHERE m.team_id {teams} AND m.active = %s
UNION ALL
SELECT 'own', ts.{ts_team}, NULL, ts.{ts_specialty}, NULL, NULL
FROM {ts} ts
WHERE ts.{ts_team} {teams} AND ts.{ts_specialty} {required}
UNION ALL
SELECT 'busy', c.team_id, c.member_id, NULL, NULL, NULL
FROM {claim} c JOIN {request} r ON r.id = c.request_id
WHERE c.team_id {teams} AND c.status IN ({time_holding})
    AND c.checked_out_at IS NULL AND c.request_id <> %s
    AND r.starts_at < %s AND r.ends_at > %s
UNION ALL
SELECT CASE WHEN c.checked_in_at IS NOT NULL THEN 'kept' ELSE 'no_shows' END, c.team_id,
    NULL, NULL, NULL, NULL
FROM {claim} c
WHERE c.team_id {teams} AND c.claimed_at >= %s
    AND (c.checked_in_at IS NOT NULL OR c.status = %s OR (c.status = %s AND c.late_cancel = %s))
UNION ALL
SELECT 'rated', g.team_id, NULL, NULL, COUNT(*), SUM(g.score)
FROM {rating} g JOIN {record} s ON s.id = g.record_id
WHERE g.team_id {teams} AND g.service_date >= %s AND s.status IN ({verified})
GROUP BY g.team_id
"""


def team_facts(
    team_ids: Sequence[int],
    required: Sequence[int],
    *,
    request_id: int,
    busy_from: datetime,
    busy_to: datetime,
    recent: datetime,
    rated_since: date,
) -> TeamFacts:
    """Everything the score needs of some teams beyond their distance, in one statement of
    parts that each reach their rows through an index, so none reads a team's whole history:

    - people: active members by team, and the required specialties they hold — (member,
      specialty) unique pairs; the team's own — (team, specialty);
    - busy: live claims around the request's time — (team, status, ...), then the request's
      times for those few — with ``tasks`` the claims and ``busy`` the distinct members;
    - kept claims (checked in) and no-shows (expired unchecked, late cancels) lately —
      (team, status, claimed_at, ...) alone;
    - ratings since ``rated_since`` — (team, service_date), then each rating's record by key.
    """
    facts = TeamFacts({}, {}, {}, {}, {})
    if not team_ids:
        return facts
    teams, team_params = _in(team_ids)
    wanted, wanted_params = _in(required) if required else ("IN (NULL)", [])
    rows = _fetch(
        _TeamFactRow,
        _sql(TEAM_FACTS, teams=teams, required=wanted),
        [
            *wanted_params,
            *team_params,
            True,
            *team_params,
            *wanted_params,
            *team_params,
            *TIME_HOLDING,
            request_id,
            _dt_param(busy_to),
            _dt_param(busy_from),
            *team_params,
            _dt_param(recent),
            ClaimStatus.EXPIRED,
            ClaimStatus.CANCELLED,
            True,
            *team_params,
            _db().ops.adapt_datefield_value(rated_since),
        ],
    )
    claims = {team: {"tasks": 0, "busy": 0, "no_shows": 0, "kept": 0} for team in team_ids}
    busy: dict[int, set[int]] = defaultdict(set)
    for row in rows:
        kind = row.kind
        if kind == "member":
            facts.people.setdefault(row.team_id, set()).add(row.member_id)
            if row.specialty_id is not None:
                facts.members.setdefault(row.team_id, set()).add(row.specialty_id)
        elif kind == "own":
            facts.own.setdefault(row.team_id, set()).add(row.specialty_id)
        elif kind == "busy":
            claims[row.team_id]["tasks"] += 1
            busy[row.team_id].add(row.member_id)
        elif kind == "rated":
            facts.ratings[row.team_id] = (int(row.rated), int(row.score_sum))
        else:  # "kept" or "no_shows": the counter's name
            claims[row.team_id][kind] += 1
    for team, members in busy.items():
        claims[team]["busy"] = len(members)
    facts.claims.update(claims)
    return facts
