"""The SQL behind matching: a few fixed, hand-written reads for the hot paths.

Why not the ORM here: for these reads Django takes several times longer to compile a queryset
than the database takes to run it, and the feed and the team ranking make several reads per
call (bench/matching.py measures them; the docs have the figures). Each statement is plain SQL
with ``%s`` parameters that runs on SQLite and PostgreSQL (the tests run on both); table names
and many-to-many columns come from the models' ``_meta``, other columns are the fields' own
names; datetimes go through the backend's adapters. The number of reads per call is fixed (no
per-row queries) and each is bounded by a LIMIT or by the ids given. Rows come back as
NamedTuples (``_fetch``).

Each statement is a template below, rendered by ``_sql`` with one ``str.format`` (once per shape:
the result is cached). Its fields are SQL text, never values:

- ``{request}``, ``{rs_specialty}``, ...: table and many-to-many column names (``_fragments``);
- ``{when:r.starts_at}``: a datetime column as these reads select it (``_when``);
- ``{d2:r}``: squared km from the point to ``r.lat``/``r.lng`` (``_distance2``), six parameters;
- ``{open}``, ``{finished}``: status constants as literals (``_literals``); ``{time_holding}``
  the placeholders of TIME_HOLDING's statuses;
- fragments the call passes, such as ``IN (...)`` for some number of ids (``_in``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections

from members.models import Member, Specialty, Team
from services.models import (
    GRID_CELLS_PER_DEGREE,
    GRID_LAT_FACTOR,
    Campaign,
    Claim,
    ServiceRequest,
)
from stations.geo import BBox, Point, bounding_box, fast_distance_km
from stations.models import Station, Town, Village

TIME_HOLDING = (Claim.Status.WAITLISTED, Claim.Status.CLAIMED, Claim.Status.CHECKED_IN)
ClaimStatus = Claim.Status


class _Spec:
    """A fragment written ``{name:argument}`` in a template: ``render(argument)``."""

    __slots__ = ("render",)

    def __init__(self, render: Callable[[str], str]) -> None:
        self.render = render

    def __format__(self, argument: str) -> str:
        return self.render(argument)


@functools.cache
def _fragments() -> dict[str, Any]:
    """What every template may name: table and column names from the models (quoted for both
    databases), the vendor's datetime and distance expressions, and status literals."""
    q = _db().ops.quote_name

    def table(model) -> str:
        return q(model._meta.db_table)

    def column(model, name: str) -> str:
        return q(model._meta.get_field(name).column)

    request_specialties = ServiceRequest.specialties.through
    member_specialties = Member.specialties.through
    team_specialties = Team.specialties.through
    return {
        "request": table(ServiceRequest),
        "claim": table(Claim),
        "member": table(Member),
        "team": table(Team),
        "town": table(Town),
        "station": table(Station),
        "village": table(Village),
        "campaign": table(Campaign),
        "specialty": table(Specialty),
        "rs": table(request_specialties),
        "rs_request": column(request_specialties, "servicerequest"),
        "rs_specialty": column(request_specialties, "specialty"),
        "ms": table(member_specialties),
        "ms_member": column(member_specialties, "member"),
        "ms_specialty": column(member_specialties, "specialty"),
        "ts": table(team_specialties),
        "ts_team": column(team_specialties, "team"),
        "ts_specialty": column(team_specialties, "specialty"),
        "when": _Spec(_when),
        "d2": _Spec(_distance2_sql),
        "open": _literals(ServiceRequest.Status.OPEN),
        "finished": _literals(ServiceRequest.Status.COMPLETED, ServiceRequest.Status.VERIFIED),
        "time_holding": _marks(TIME_HOLDING),
    }


@functools.lru_cache(maxsize=1024)
def _sql(template: str, **fragments: str) -> str:
    """``template`` with its fields filled (``_fragments``, then ``fragments``), its whitespace
    made single spaces (no template holds a string literal with spaces in it)."""
    return " ".join(template.format(**_fragments(), **fragments).split())


def _marks(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _literals(*values: str) -> str:
    """Code constants (status choices) as SQL literals, for the conditions a prepared
    statement's generic plan must see: a parameter hides its value from the plan, and a
    partial index's predicate is matched only by the literal itself."""
    if not all(value.isidentifier() for value in values):
        raise ValueError(f"not a plain constant: {values!r}")
    return ", ".join(f"'{value}'" for value in values)


def _in(values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``IN (...)`` for ``values``, and its parameters. On PostgreSQL it is ``= ANY(%s)`` with
    one array parameter: the statement then reads the same for any number of ids, so psycopg
    keeps its parsed form (it caches only statements of at most 50 parameters) and prepares it
    once (``_cursor``)."""
    if _db().vendor == "postgresql":
        return "= ANY(%s)", [list(values)]
    return f"IN ({_marks(values)})", list(values)


def _db():
    """The default connection itself: per-row code must not go through the proxy's lookups."""
    return connections[DEFAULT_DB_ALIAS]


def _dt_param(value: datetime) -> Any:
    return _db().ops.adapt_datetimefield_value(value)


def _when(column: str) -> str:
    """A datetime column as these reads select it (``_aware`` turns it back into a datetime).
    The drivers' own conversions run in Python for every value — psycopg parses a timestamp's
    text through Django's time zone loader, sqlite3 calls Django's converter — and a feed reads
    hundreds of them. So PostgreSQL sends seconds since the epoch, which become a datetime in
    C (exact to the microsecond: a double holds today's epoch seconds to a quarter of one),
    and SQLite its stored ISO text, which ``datetime.fromisoformat`` reads in C."""
    if _db().vendor == "postgresql":
        return f"date_part('epoch', {column})"
    return f"CAST({column} AS TEXT)"


def _from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _aware() -> Callable[[Any], datetime | None]:
    """A converter making a datetime column selected by ``_when`` aware, as the ORM returns
    it; chosen once per query because it runs on every row. SQLite hands back naive datetimes
    (or text) in the connection's zone, UTC unless DATABASES sets TIME_ZONE; PostgreSQL
    epoch seconds (see ``_when``)."""
    db = _db()
    if db.vendor == "postgresql":
        return _from_epoch
    if db.timezone_name != "UTC":
        return lambda value: db.ops.convert_datetimefield_value(value, None, db)

    def convert(value: Any) -> datetime | None:
        if value.__class__ is str:
            # Stored as naive UTC text ("2026-12-16 10:00:00[.ffffff]"): one C call.
            return datetime.fromisoformat(value + "+00:00")
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    return convert


def _cursor():
    """A cursor for these reads. On PostgreSQL with prepared statements on (settings:
    ``DB_PREPARE_THRESHOLD``), a server-side binding cursor reading binary rows, so that
    psycopg prepares each of these fixed statements after a few runs on a connection and
    PostgreSQL reuses its plan: planning their joins costs more than running them. Django's
    wrapper goes around it as around any cursor (query logging, execute_wrapper)."""
    db = _db()
    if db.vendor != "postgresql":
        return db.cursor()
    db.ensure_connection()
    if db.connection.prepare_threshold is None:
        return db.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor
    from psycopg import pq

    with db.wrap_database_errors:
        raw = ServerBindingCursor(db.connection)
    # Rows in PostgreSQL's binary format: numbers and arrays arrive as machine values, not
    # text for psycopg to parse.
    raw.format = pq.Format.BINARY
    return db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)


Row = TypeVar("Row", bound=tuple)


def _fetch(row: type[Row], sql: str, params: Sequence[Any]) -> list[Row]:
    """The statement's rows, each a ``row``: a NamedTuple naming the selected columns in
    order. ``tuple.__new__`` makes them from the driver's tuples in C, without the Python call
    per row that ``row._make`` costs."""
    with _cursor() as cursor:
        cursor.execute(sql, list(params))
        rows = cursor.fetchall()
    if rows and len(rows[0]) != len(row._fields):
        raise TypeError(f"{row.__name__} names {len(row._fields)} of {len(rows[0])} columns")
    return list(map(functools.partial(tuple.__new__, row), rows))


def _scales(point: Point) -> tuple[float, float]:
    """Squared km per degree of latitude and of longitude around ``point`` (fast_distance_km's
    local factors: within 0.1% of geodesic at this scale)."""
    ky = fast_distance_km(point.lat - 0.5, point.lng, point.lat + 0.5, point.lng)
    kx = fast_distance_km(point.lat, point.lng - 0.5, point.lat, point.lng + 0.5)
    return ky * ky, kx * kx


def _distance2_sql(alias: str) -> str:
    """Squared equirectangular km from a point to ``alias.lat``/``alias.lng``, as SQL of six
    parameters (``_distance2``)."""
    lat, lng = f"{alias}.lat", f"{alias}.lng"
    return f"(({lat} - %s) * ({lat} - %s) * %s + ({lng} - %s) * ({lng} - %s) * %s)"


def _distance2(point: Point) -> list[float]:
    """The parameters of ``{d2:...}`` for ``point``: squared equirectangular km from it, with
    the local scales of ``_scales``."""
    ky2, kx2 = _scales(point)
    return [point.lat, point.lat, ky2, point.lng, point.lng, kx2]


# ---------------------------------------------------------------- the member side


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


# ---------------------------------------------------------------- the team side


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
    its active members, and what its claims say (``claims``: tasks, busy, kept, no_shows)."""

    people: dict[int, set[int]]
    own: dict[int, set[int]]
    members: dict[int, set[int]]
    claims: dict[int, dict[str, int]]


class _TeamFactRow(NamedTuple):
    """A row of TEAM_FACTS, of the ``kind``

    - "member": an active member of the team, with a required specialty they hold (a row
      each; None when they hold none);
    - "own": a required specialty the team itself holds;
    - "busy": a member's live claim around the request's time;
    - "kept", "no_shows": a claim of the team's lately, kept or not.
    """

    kind: str
    team_id: int
    member_id: int | None
    specialty_id: int | None


TEAM_FACTS = """
SELECT 'member' AS kind, m.team_id, m.id, ms.{ms_specialty}
FROM {member} m
LEFT JOIN {ms} ms ON ms.{ms_member} = m.id AND ms.{ms_specialty} {required}
WHERE m.team_id {teams} AND m.active = %s
UNION ALL
SELECT 'own', ts.{ts_team}, NULL, ts.{ts_specialty}
FROM {ts} ts
WHERE ts.{ts_team} {teams} AND ts.{ts_specialty} {required}
UNION ALL
SELECT 'busy', c.team_id, c.member_id, NULL
FROM {claim} c JOIN {request} r ON r.id = c.request_id
WHERE c.team_id {teams} AND c.status IN ({time_holding})
    AND c.checked_out_at IS NULL AND c.request_id <> %s
    AND r.starts_at < %s AND r.ends_at > %s
UNION ALL
SELECT CASE WHEN c.checked_in_at IS NOT NULL THEN 'kept' ELSE 'no_shows' END, c.team_id,
    NULL, NULL
FROM {claim} c
WHERE c.team_id {teams} AND c.claimed_at >= %s
    AND (c.checked_in_at IS NOT NULL OR c.status = %s OR (c.status = %s AND c.late_cancel = %s))
"""


def team_facts(
    team_ids: Sequence[int],
    required: Sequence[int],
    *,
    request_id: int,
    busy_from: datetime,
    busy_to: datetime,
    recent: datetime,
) -> TeamFacts:
    """Everything the score needs of some teams beyond their distance, in one statement of
    parts that each reach their rows through an index, so none reads a team's whole history:

    - people: active members by team, and the required specialties they hold — (member,
      specialty) unique pairs; the team's own — (team, specialty);
    - busy: live claims around the request's time — (team, status, ...), then the request's
      times for those few — with ``tasks`` the claims and ``busy`` the distinct members;
    - kept claims (checked in) and no-shows (expired unchecked, late cancels) lately —
      (team, status, claimed_at, ...) alone.
    """
    facts = TeamFacts({}, {}, {}, {})
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
        else:  # "kept" or "no_shows": the counter's name
            claims[row.team_id][kind] += 1
    for team, members in busy.items():
        claims[team]["busy"] = len(members)
    facts.claims.update(claims)
    return facts
