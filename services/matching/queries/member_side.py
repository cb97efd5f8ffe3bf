"""The member side of matching: the member's profile and claims, the feed's candidates (grid
rings on SQLite, a nearest-first GiST read on PostgreSQL), their facts and the shown details."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
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
    _scales,
    _sql,
)
from services.models import (
    GRID_CELLS_PER_DEGREE,
    GRID_LAT_FACTOR,
    ServiceRequest,
)
from stations.geo import BBox, Point, bounding_box


class MemberRow(NamedTuple):
    id: int
    team_id: int | None
    home_lat: float | None
    home_lng: float | None
    active: bool


class MemberClaim(NamedTuple):
    request_id: int
    status: str
    checked_out: bool
    late_cancel: bool
    claimed_at: datetime | None
    checked_in: bool
    starts_at: datetime
    ends_at: datetime
    station_id: int


class MemberSpecialty(NamedTuple):
    """A specialty, and whether the member and their team hold it."""

    id: int
    code: str
    name: str
    member_holds: bool
    team_holds: bool


class MemberProfile(NamedTuple):
    member: MemberRow
    # Every specialty.
    specialties: list[MemberSpecialty]
    # The claims that matter to the feed: live, rejected and completed ones, and any made
    # lately (the caller picks what it needs).
    claims: list[MemberClaim]


class _ProfileRow(NamedTuple):
    """A row of MEMBER_PROFILE: a specialty row or a claim row, as ``kind`` says; the fields of
    the other kind are None."""

    kind: str
    # "specialty": the member (on every such row), a specialty (None when there are none) and
    # whether the member and their team hold it.
    member_id: int | None
    team_id: int | None
    home_lat: float | None
    home_lng: float | None
    active: bool | None
    specialty_id: int | None
    code: str | None
    name: str | None
    member_holds: bool | None
    team_holds: bool | None
    # "claim": one of the member's claims, with its request's station and times.
    request_id: int | None
    station_id: int | None
    claimed_at: Any
    starts_at: Any
    ends_at: Any
    checked_out: bool | None
    status: str | None
    late_cancel: bool | None
    checked_in: bool | None


# PostgreSQL types a UNION's columns from the first part that is not NULL in them.
MEMBER_PROFILE = """
SELECT 'specialty' AS kind, m.id, m.team_id, m.home_lat, m.home_lng, m.active,
    s.id, s.code, s.name,
    EXISTS (SELECT 1 FROM {ms} ms WHERE ms.{ms_member} = m.id AND ms.{ms_specialty} = s.id),
    EXISTS (SELECT 1 FROM {ts} ts WHERE ts.{ts_team} = m.team_id AND ts.{ts_specialty} = s.id),
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM {member} m LEFT JOIN {specialty} s ON 1 = 1
WHERE m.user_id = %s
UNION ALL
SELECT 'claim', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    c.request_id, r.station_id, {when:c.claimed_at}, {when:r.starts_at}, {when:r.ends_at},
    c.checked_out_at IS NOT NULL, c.status, c.late_cancel, c.checked_in_at IS NOT NULL
FROM {claim} c JOIN {request} r ON r.id = c.request_id
WHERE c.member_id = (SELECT x.id FROM {member} x WHERE x.user_id = %s)
    AND (c.status IN ({time_holding}, %s, %s) OR c.claimed_at >= %s)
"""


def member_profile(user_id: int, *, recent: datetime) -> MemberProfile | None:
    """A user's member profile, if any, with every specialty and whether the member and their
    team hold it (a row per specialty, the member's columns on each), and the member's claims
    that matter to the feed: one statement. The claims' condition is one flat OR on the claim,
    wider than the feed's rules (it picks what it needs): PostgreSQL plans it in a fraction of
    the time the exact rule across both tables takes."""
    rows = _fetch(
        _ProfileRow,
        _sql(MEMBER_PROFILE),
        [
            user_id,
            user_id,
            *TIME_HOLDING,
            ClaimStatus.REJECTED,
            ClaimStatus.DONE,
            _dt_param(recent),
        ],
    )
    member: MemberRow | None = None
    specialties = []
    claims = []
    aware = _aware()
    for row in rows:
        if row.kind == "specialty":
            if member is None:
                member = MemberRow(
                    id=row.member_id,
                    team_id=row.team_id,
                    home_lat=row.home_lat,
                    home_lng=row.home_lng,
                    active=bool(row.active),
                )
            if row.specialty_id is not None:
                specialties.append(
                    MemberSpecialty(
                        id=row.specialty_id,
                        code=row.code,
                        name=row.name,
                        member_holds=bool(row.member_holds),
                        team_holds=bool(row.team_holds),
                    )
                )
        else:
            claims.append(
                MemberClaim(
                    request_id=row.request_id,
                    status=row.status,
                    checked_out=bool(row.checked_out),
                    late_cancel=bool(row.late_cancel),
                    claimed_at=aware(row.claimed_at),
                    checked_in=bool(row.checked_in),
                    starts_at=aware(row.starts_at),
                    ends_at=aware(row.ends_at),
                    station_id=row.station_id,
                )
            )
    if member is None:
        return None
    return MemberProfile(member, specialties, claims)


class RequestFacts(NamedTuple):
    id: int
    starts_at: datetime
    ends_at: datetime
    station_id: int
    claimed: int
    slots: int
    invited_team_id: int | None
    invite_until: datetime | None
    specialties: tuple[int, ...]


class Candidate(NamedTuple):
    """An open request near the feed's point: where it is, and its squared km from the point
    (``_distance2``), by which candidates rank (ties by id)."""

    id: int
    lat: float
    lng: float
    d2: float


def grid_cells(box: BBox) -> list[int]:
    """The ServiceRequest.grid cells ``box`` touches, computed as the database computes a
    row's cell: PostgreSQL rounds a float cast to integer (half to even, as Python's round),
    SQLite truncates (the values are positive: as int()). Either is monotonic, so the cells of
    the box's corners bound every cell inside it."""
    to_int = round if _db().vendor == "postgresql" else int

    def index(value: float, offset: float) -> int:
        return to_int((value + offset) * GRID_CELLS_PER_DEGREE)

    rows = range(index(box.min_lat, 90.0), index(box.max_lat, 90.0) + 1)
    columns = range(index(box.min_lng, 180.0), index(box.max_lng, 180.0) + 1)
    return [row * GRID_LAT_FACTOR + column for row in rows for column in columns]


NEAREST_OPEN = """
SELECT r.id, r.lat, r.lng, {d2:r} AS d2
FROM {request} r
WHERE r.status = %s AND r.grid {cells}
    AND r.lat >= %s AND r.lat <= %s AND r.lng >= %s AND r.lng <= %s AND {d2:r} <= %s
ORDER BY d2, r.id
LIMIT %s
"""


def nearest_open(point: Point, box: BBox, radius_km: float, limit: int) -> list[Candidate]:
    """The nearest ``limit`` open requests within ``radius_km``.

    Reads only the covering (status, grid, lat, lng) index, the cells the box touches, so
    rows are touched only for the ids it returns (``request_facts``); the other rules are
    checked on those. The feed on SQLite reads rings of growing radius until one fills
    (``nearest_open_rings``), so this read stays an index scan: facts joined here would also be
    read for the rings that do not fill, so they are read once by id after (PostgreSQL reads
    nearest first instead, once: ``nearest_open_knn``)."""
    d2_params = _distance2(point)
    in_cells, cell_params = _in(grid_cells(box))
    return _fetch(
        Candidate,
        _sql(NEAREST_OPEN, cells=in_cells),
        [
            *d2_params,
            ServiceRequest.Status.OPEN,
            *cell_params,
            box.min_lat,
            box.max_lat,
            box.min_lng,
            box.max_lng,
            *d2_params,
            radius_km * radius_km,
            limit,
        ],
    )


# The feed reads circles of these fractions of the radius in turn (SQLite) and stops at the first
# that fills the candidate list: that list then holds exactly the nearest candidates, and in
# dense areas the outer rings are never read, so cost follows the candidates near the point
# rather than the size of the table.
RINGS = (0.25, 0.5, 1.0)


def nearest_open_rings(
    point: Point, radius_km: float, limit: int, fractions: Sequence[float] = RINGS
) -> list[Candidate]:
    """``nearest_open`` over circles of growing radius (``fractions`` of ``radius_km``): the
    rows of the first circle holding ``limit`` open requests, else of the whole radius — the
    nearest ``limit`` within ``radius_km`` either way, but in dense areas the larger circles
    are never read. One statement per circle."""
    rows: list[Candidate] = []
    for fraction in fractions:
        radius = radius_km * fraction
        rows = nearest_open(point, bounding_box(point, radius_km=radius), radius, limit)
        if len(rows) >= limit:
            break
    return rows


def open_candidates(
    point: Point, radius_km: float, limit: int
) -> tuple[list[Candidate], dict[int, RequestFacts]]:
    """The feed's candidates: the nearest ``limit`` open requests within ``radius_km``,
    nearest first (ties by id), and their facts. The same rows on both
    databases, read as each reads them fastest: PostgreSQL walks a nearest-first index
    (``nearest_open_knn``), SQLite reads grid rings and then the facts by id."""
    if _db().vendor == "postgresql":
        return nearest_open_knn(point, radius_km, limit)
    candidates = nearest_open_rings(point, radius_km, limit)
    return candidates, request_facts([candidate.id for candidate in candidates])


# The PostgreSQL-only GiST index on point(lng, lat) of open requests (migration services/0007),
# covering lat, lng and id: ``ORDER BY point(lng, lat) <-> point(...)`` walks it nearest first.
KNN_INDEX = "request_open_nearest"


class _NearestRow(NamedTuple):
    """A row of NEAREST_OPEN_KNN: a candidate, its distance in degrees (``e``, the index's
    order), and its facts — None unless it may be kept (``nearest_open_knn``)."""

    id: int
    lat: float
    lng: float
    d2: float
    e: float
    starts_at: Any
    ends_at: Any
    station_id: int | None
    claimed: int | None
    slots: int | None
    invited_team_id: int | None
    invite_until: Any
    specialties: list[int] | None


# The literal 'open' matches the partial index's predicate (a parameter would not). Facts are
# joined only for the rows that may be kept: the others join nothing (a NULL key).
NEAREST_OPEN_KNN = """
SELECT k.id, k.lat, k.lng, k.d2, k.e,
    {when:r.starts_at}, {when:r.ends_at}, r.station_id, r.claimed, r.slots,
    r.invited_team_id, {when:r.invite_until},
    CASE WHEN r.id IS NOT NULL THEN ARRAY(
        SELECT rs.{rs_specialty} FROM {rs} rs WHERE rs.{rs_request} = r.id ORDER BY 1
    ) END
FROM (
    SELECT m.*, CASE WHEN m.d2 <= %s AND m.rank <= %s THEN m.id END AS wanted
    FROM (
        SELECT n.id, n.lat, n.lng, n.d2, n.e, row_number() OVER (ORDER BY n.d2, n.id) AS rank
        FROM (
            SELECT r.id, r.lat, r.lng, {d2:r} AS d2, point(r.lng, r.lat) <-> point(%s, %s) AS e
            FROM {request} r
            WHERE r.status = {open}
                AND point(r.lng, r.lat) <@ box(point(%s, %s), point(%s, %s))
            ORDER BY point(r.lng, r.lat) <-> point(%s, %s)
            LIMIT %s
        ) n
    ) m
) k
LEFT JOIN {request} r ON r.id = k.wanted
ORDER BY k.rank
"""


def nearest_open_knn(
    point: Point, radius_km: float, limit: int, *, first_read: int | None = None
) -> tuple[list[Candidate], dict[int, RequestFacts]]:
    """``open_candidates`` on PostgreSQL: one statement reads the open requests of the
    radius's box nearest first from the GiST index (``KNN_INDEX``), only as many as needed
    whatever the density, and joins the facts of the nearest ``limit`` within the radius.

    The index orders by plain distance in degrees, ``e``; the feed ranks by ``d2``, squared
    km with the local scales of ``_distance2`` — close, but not the same order. It is made
    exact by a bound: a row not read lies at least the last row's ``e`` away, so its ``d2``
    is at least ``floor · e²`` (``floor`` the smaller squared scale). When the ``limit``-th
    row read is nearer than that, or the whole radius is, nothing unread can rank; otherwise
    the read is made again, four times longer."""
    box = bounding_box(point, radius_km=radius_km)
    d2_params = _distance2(point)
    floor = min(_scales(point)) * (1 - 1e-9)  # the margin absorbs rounding in e and d2
    reach = radius_km * radius_km
    # About the rows whose plane distance ranks them among the nearest ``limit`` in km: the
    # scales differ by ~15% at these latitudes.
    fetch = first_read or limit + limit // 4 + 8
    sql = _sql(NEAREST_OPEN_KNN)
    while True:
        rows = _fetch(
            _NearestRow,
            sql,
            [
                reach,
                limit,
                *d2_params,
                point.lng,
                point.lat,
                box.min_lng,
                box.min_lat,
                box.max_lng,
                box.max_lat,
                point.lng,
                point.lat,
                fetch,
            ],
        )
        inside = [row for row in rows[:limit] if row.d2 <= reach]
        if len(rows) < fetch:
            break  # the whole box was read
        bound = floor * max(row.e for row in rows) ** 2
        if reach < bound or (len(inside) == limit and inside[-1].d2 < bound):
            break
        fetch *= 4
    aware = _aware()
    return [Candidate(row.id, row.lat, row.lng, row.d2) for row in inside], {
        row.id: _request_facts(aware, row, row.specialties) for row in inside
    }


def _request_facts(
    aware: Callable[[Any], datetime | None],
    row: _NearestRow | _FactsRow,
    specialties: Sequence[int],
) -> RequestFacts:
    """RequestFacts from a row of either read of them (datetimes as ``_when`` selects them)."""
    return RequestFacts(
        row.id,
        aware(row.starts_at),
        aware(row.ends_at),
        row.station_id,
        row.claimed,
        row.slots,
        row.invited_team_id,
        aware(row.invite_until),
        tuple(specialties),
    )


class _FactsRow(NamedTuple):
    """A row of REQUEST_FACTS: a request's facts and one of its specialties (a row each; None
    when it has none)."""

    id: int
    starts_at: Any
    ends_at: Any
    station_id: int
    claimed: int
    slots: int
    invited_team_id: int | None
    invite_until: Any
    specialty_id: int | None


REQUEST_FACTS = """
SELECT r.id, {when:r.starts_at}, {when:r.ends_at}, r.station_id, r.claimed, r.slots,
    r.invited_team_id, {when:r.invite_until}, rs.{rs_specialty}
FROM {request} r LEFT JOIN {rs} rs ON rs.{rs_request} = r.id
WHERE r.id {ids}
ORDER BY r.id, rs.{rs_specialty}
"""


def request_facts(ids: Sequence[int]) -> dict[int, RequestFacts]:
    """What the claim rules and the score need of each request, with its specialties."""
    if not ids:
        return {}
    in_ids, id_params = _in(ids)
    rows = _fetch(_FactsRow, _sql(REQUEST_FACTS, ids=in_ids), id_params)
    first: dict[int, _FactsRow] = {}
    specialties: dict[int, list[int]] = {}
    for row in rows:
        pk = row.id
        if pk not in first:
            first[pk] = row
            specialties[pk] = []
        if row.specialty_id is not None:
            specialties[pk].append(row.specialty_id)
    aware = _aware()
    return {pk: _request_facts(aware, row, specialties[pk]) for pk, row in first.items()}


class RequestDetails(NamedTuple):
    """What a feed item shows of a request."""

    id: int
    title: str
    status: str
    campaign_id: int
    campaign_kind: str
    campaign_name: str
    station_id: int
    station_name: str
    town_id: int
    town_name: str
    village_id: int | None
    village_name: str | None
    lat: float
    lng: float
    address: str
    starts_at: datetime
    ends_at: datetime
    slots: int
    claimed: int
    invited_team_id: int | None
    invited_team_name: str | None
    invite_until: datetime | None


REQUEST_DETAILS = """
SELECT r.id, r.title, r.status, r.campaign_id, cp.kind, cp.name, r.station_id, st.name,
    st.town_id, tw.name, r.village_id, v.name, r.lat, r.lng, r.address,
    {when:r.starts_at}, {when:r.ends_at}, r.slots, r.claimed, r.invited_team_id, t.name,
    {when:r.invite_until}
FROM {request} r
JOIN {campaign} cp ON cp.id = r.campaign_id
JOIN {station} st ON st.id = r.station_id
JOIN {town} tw ON tw.id = st.town_id
LEFT JOIN {village} v ON v.id = r.village_id
LEFT JOIN {team} t ON t.id = r.invited_team_id
WHERE r.id {ids}
"""


def request_details(ids: Sequence[int]) -> dict[int, RequestDetails]:
    """What a feed item shows of each request, by id."""
    if not ids:
        return {}
    in_ids, id_params = _in(ids)
    rows = _fetch(RequestDetails, _sql(REQUEST_DETAILS, ids=in_ids), id_params)
    aware = _aware()
    return {
        row.id: row._replace(
            starts_at=aware(row.starts_at),
            ends_at=aware(row.ends_at),
            invite_until=aware(row.invite_until),
        )
        for row in rows
    }
