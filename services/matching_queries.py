"""The SQL behind matching: a few fixed, hand-written reads for the hot paths.

Why not the ORM here: measured on the benchmark data (bench/matching.py), compiling one of these
querysets costs 0.5–0.9 ms in Django — several times what the database then needs to run it —
and the feed needs seven reads per call, against a budget of twice a trivial endpoint. Each
statement is plain SQL with ``%s`` parameters that runs unchanged on SQLite and PostgreSQL (the
tests run on both); table names and many-to-many columns come from the models' ``_meta``, other
columns are the fields' own names; datetimes go through the backend's adapters. The number of
reads per call is fixed (no per-row queries) and each is bounded by a LIMIT or by the ids given.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connections

from members.models import Member, Specialty, Team
from services.models import Campaign, Claim, ServiceRequest
from stations.geo import BBox, Point, fast_distance_km
from stations.models import Station, Town, Village

TIME_HOLDING = (Claim.Status.WAITLISTED, Claim.Status.CLAIMED, Claim.Status.CHECKED_IN)
ClaimStatus = Claim.Status


@functools.cache
def _names() -> dict[str, str]:
    """Table and column names, from the models (quoted for both databases)."""
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
    }


def _sql(template: str) -> str:
    return template.format(**_names())


def _marks(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _db():
    """The default connection itself: per-row code must not go through the proxy's lookups."""
    return connections[DEFAULT_DB_ALIAS]


def _dt_param(value: datetime) -> Any:
    return _db().ops.adapt_datetimefield_value(value)


def _aware() -> Callable[[Any], datetime | None]:
    """A converter making a datetime column aware, as the ORM returns it; chosen once per
    query because it runs on every row. SQLite hands back naive datetimes (or text) in the
    connection's zone, UTC unless DATABASES sets TIME_ZONE; PostgreSQL aware ones."""
    db = _db()
    if db.vendor == "postgresql":
        return lambda value: value
    if db.timezone_name != "UTC":
        return lambda value: db.ops.convert_datetimefield_value(value, None, db)

    def convert(value: Any) -> datetime | None:
        if value is None:
            return None
        if value.__class__ is str:
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    return convert


def _fetch(sql: str, params: Sequence[Any]) -> list[tuple]:
    with _db().cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _distance2(point: Point, lat: str, lng: str) -> tuple[str, list[float]]:
    """Squared equirectangular km from ``point`` (local factors from fast_distance_km: within
    0.1% of geodesic at this scale), as SQL over columns ``lat``/``lng`` and its parameters."""
    ky = fast_distance_km(point.lat - 0.5, point.lng, point.lat + 0.5, point.lng)
    kx = fast_distance_km(point.lat, point.lng - 0.5, point.lat, point.lng + 0.5)
    sql = f"(({lat} - %s) * ({lat} - %s) * %s + ({lng} - %s) * ({lng} - %s) * %s)"
    return sql, [point.lat, point.lat, ky * ky, point.lng, point.lng, kx * kx]


# ---------------------------------------------------------------- the member side


class MemberRow(NamedTuple):
    id: int
    team_id: int | None
    home_lat: float | None
    home_lng: float | None
    active: bool


def member_by_user(user_id: int) -> MemberRow | None:
    """The member profile of a user, if any."""
    rows = _fetch(
        _sql(
            "SELECT m.id, m.team_id, m.home_lat, m.home_lng, m.active FROM {member} m"
            " WHERE m.user_id = %s"
        ),
        [user_id],
    )
    if not rows:
        return None
    pk, team_id, lat, lng, active = rows[0]
    return MemberRow(pk, team_id, lat, lng, bool(active))


def specialties_for(member_id: int, team_id: int | None) -> list[tuple[int, str, str, bool, bool]]:
    """Every specialty as (id, code, name, the member holds it, their team holds it)."""
    rows = _fetch(
        _sql(
            "SELECT s.id, s.code, s.name,"
            " EXISTS (SELECT 1 FROM {ms} ms WHERE ms.{ms_member} = %s"
            "  AND ms.{ms_specialty} = s.id),"
            " EXISTS (SELECT 1 FROM {ts} ts WHERE ts.{ts_team} = %s"
            "  AND ts.{ts_specialty} = s.id)"
            " FROM {specialty} s"
        ),
        [member_id, team_id if team_id is not None else 0],
    )
    return [(pk, code, name, bool(mine), bool(team)) for pk, code, name, mine, team in rows]


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


def member_claims(member_id: int, *, recent: datetime) -> list[MemberClaim]:
    """The member's claims that matter to the feed: live, rejected and completed ones, and
    any made lately. The caller picks what it needs: one flat condition plans in a tenth of
    the time PostgreSQL takes for the exact OR across both tables."""
    kinds = [*TIME_HOLDING, ClaimStatus.REJECTED, ClaimStatus.DONE]
    rows = _fetch(
        _sql(
            "SELECT c.request_id, c.status, c.checked_out_at, c.late_cancel, c.claimed_at,"  # noqa: S608 - placeholders and _meta names only
            " c.checked_in_at, r.starts_at, r.ends_at, r.station_id"
            " FROM {claim} c JOIN {request} r ON r.id = c.request_id"
            f" WHERE c.member_id = %s AND (c.status IN ({_marks(kinds)}) OR c.claimed_at >= %s)"
        ),
        [member_id, *kinds, _dt_param(recent)],
    )
    aware = _aware()
    return [
        MemberClaim(
            request_id=row[0],
            status=row[1],
            checked_out=row[2] is not None,
            late_cancel=bool(row[3]),
            claimed_at=aware(row[4]),
            checked_in=row[5] is not None,
            starts_at=aware(row[6]),
            ends_at=aware(row[7]),
            station_id=row[8],
        )
        for row in rows
    ]


def nearest_open(point: Point, box: BBox, radius_km: float, limit: int) -> list[tuple]:
    """(id, lat, lng) of the nearest ``limit`` open requests within ``radius_km``.

    Reads only the (status, lat, lng) index — a covering index on SQLite — so rows are
    touched only for the ids it returns; the other rules are checked on those."""
    d2, d2_params = _distance2(point, "r.lat", "r.lng")
    return _fetch(
        _sql(
            f"SELECT r.id, r.lat, r.lng, {d2} AS d2 FROM {{request}} r"  # noqa: S608 - placeholders and _meta names only
            " WHERE r.status = %s AND r.lat >= %s AND r.lat <= %s"
            f" AND r.lng >= %s AND r.lng <= %s AND {d2} <= %s"
            " ORDER BY d2, r.id LIMIT %s"
        ),
        [
            *d2_params,
            ServiceRequest.Status.OPEN,
            box.min_lat,
            box.max_lat,
            box.min_lng,
            box.max_lng,
            *d2_params,
            radius_km * radius_km,
            limit,
        ],
    )


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


def request_facts(ids: Sequence[int]) -> dict[int, RequestFacts]:
    """What the claim rules and the score need of each request, with its specialties."""
    if not ids:
        return {}
    rows = _fetch(
        _sql(
            "SELECT r.id, r.starts_at, r.ends_at, r.station_id, r.claimed, r.slots,"  # noqa: S608 - placeholders and _meta names only
            " r.invited_team_id, r.invite_until, rs.{rs_specialty}"
            " FROM {request} r LEFT JOIN {rs} rs ON rs.{rs_request} = r.id"
            f" WHERE r.id IN ({_marks(ids)}) ORDER BY r.id, rs.{{rs_specialty}}"
        ),
        list(ids),
    )
    first: dict[int, tuple] = {}
    specialties: dict[int, list[int]] = {}
    for row in rows:
        if row[0] not in first:
            first[row[0]] = row
            specialties[row[0]] = []
        if row[8] is not None:
            specialties[row[0]].append(row[8])
    aware = _aware()
    return {
        pk: RequestFacts(
            pk,
            aware(row[1]),
            aware(row[2]),
            row[3],
            row[4],
            row[5],
            row[6],
            aware(row[7]),
            tuple(specialties[pk]),
        )
        for pk, row in first.items()
    }


DETAIL_FIELDS = (
    "id",
    "title",
    "status",
    "campaign_id",
    "campaign__kind",
    "campaign__name",
    "station_id",
    "station__name",
    "station__town_id",
    "station__town__name",
    "village_id",
    "village__name",
    "lat",
    "lng",
    "address",
    "starts_at",
    "ends_at",
    "slots",
    "claimed",
    "invited_team_id",
    "invited_team__name",
    "invite_until",
)


def request_details(ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What a feed item shows of each request, keyed as in DETAIL_FIELDS."""
    if not ids:
        return {}
    rows = _fetch(
        _sql(
            "SELECT r.id, r.title, r.status, r.campaign_id, cp.kind, cp.name, r.station_id,"  # noqa: S608 - placeholders and _meta names only
            " st.name, st.town_id, tw.name, r.village_id, v.name, r.lat, r.lng, r.address,"
            " r.starts_at, r.ends_at, r.slots, r.claimed, r.invited_team_id, t.name,"
            " r.invite_until"
            " FROM {request} r"
            " JOIN {campaign} cp ON cp.id = r.campaign_id"
            " JOIN {station} st ON st.id = r.station_id"
            " JOIN {town} tw ON tw.id = st.town_id"
            " LEFT JOIN {village} v ON v.id = r.village_id"
            " LEFT JOIN {team} t ON t.id = r.invited_team_id"
            f" WHERE r.id IN ({_marks(ids)})"
        ),
        list(ids),
    )
    aware = _aware()
    out = {}
    for row in rows:
        item = dict(zip(DETAIL_FIELDS, row, strict=True))
        for name in ("starts_at", "ends_at", "invite_until"):
            item[name] = aware(item[name])
        out[item["id"]] = item
    return out


# ---------------------------------------------------------------- the team side


def request_specialties(request_id: int) -> list[tuple[int, str, str]]:
    """(id, code, name) of a request's specialties, by id."""
    return _fetch(
        _sql(
            "SELECT s.id, s.code, s.name FROM {specialty} s"
            " JOIN {rs} rs ON rs.{rs_specialty} = s.id"
            " WHERE rs.{rs_request} = %s ORDER BY s.id"
        ),
        [request_id],
    )


class TeamRow(NamedTuple):
    id: int
    name: str
    sector: str
    home_town_id: int | None
    home_town_name: str | None
    lat: float
    lng: float


def teams_near(
    point: Point, box: BBox, cutoff_km: float, required: Sequence[int], limit: int
) -> list[TeamRow]:
    """Active teams within ``cutoff_km`` — at their home, or their home town's centre when
    they have none: teams holding a required specialty first, then the nearest."""
    d2, d2_params = _distance2(point, "x.lat", "x.lng")
    order, fit_params = "", []
    if required:
        # One probe of the (team, specialty) unique index per team and specialty.
        order = (
            "CASE WHEN EXISTS (SELECT 1 FROM {ts} ts WHERE ts.{ts_team} = x.id"  # noqa: S608 - placeholders and _meta names only
            f" AND ts.{{ts_specialty}} IN ({_marks(required)})) THEN 0 ELSE 1 END, "
        )
        fit_params = list(required)
    rows = _fetch(
        _sql(
            "SELECT x.id, x.name, x.sector, x.home_town_id, x.town_name, x.lat, x.lng"  # noqa: S608 - placeholders and _meta names only
            "  FROM (SELECT t.id, t.name, t.sector, t.home_town_id, tw.name AS town_name,"
            "    COALESCE(t.home_lat, tw.lat) AS lat, COALESCE(t.home_lng, tw.lng) AS lng"
            "   FROM {team} t LEFT JOIN {town} tw ON tw.id = t.home_town_id"
            "   WHERE t.active = %s AND ("
            "    (t.home_lat >= %s AND t.home_lat <= %s AND t.home_lng >= %s"
            "     AND t.home_lng <= %s)"
            "    OR (t.home_lat IS NULL AND tw.lat >= %s AND tw.lat <= %s"
            "     AND tw.lng >= %s AND tw.lng <= %s))) x"
            f"  WHERE {d2} <= %s ORDER BY {order}{d2}, x.id LIMIT %s"
        ),
        [
            True,
            *(box.min_lat, box.max_lat, box.min_lng, box.max_lng) * 2,
            *d2_params,
            cutoff_km * cutoff_km,
            *fit_params,
            *d2_params,
            limit,
        ],
    )
    return [TeamRow(*row) for row in rows]


class TeamPeople(NamedTuple):
    """Per team: active members, and which required specialties the team and they hold."""

    people: dict[int, set[int]]
    own: dict[int, set[int]]
    members: dict[int, set[int]]


def team_people(team_ids: Sequence[int], required: Sequence[int]) -> TeamPeople:
    """Active members per team, and the required specialties held by each team itself and
    by its active members (one statement)."""
    people = TeamPeople({}, {}, {})
    if not team_ids:
        return people
    teams = _marks(team_ids)
    specialty_join, own_branch, params = "", "", [*team_ids, True]
    if required:
        wanted = _marks(required)
        specialty_join = (
            f" LEFT JOIN {{ms}} ms ON ms.{{ms_member}} = m.id AND ms.{{ms_specialty}} IN ({wanted})"
        )
        own_branch = (
            " UNION ALL SELECT 1, ts.{ts_team}, NULL, ts.{ts_specialty} FROM {ts} ts"  # noqa: S608 - placeholders and _meta names only
            f" WHERE ts.{{ts_team}} IN ({teams}) AND ts.{{ts_specialty}} IN ({wanted})"
        )
        params = [*required, *team_ids, True, *team_ids, *required]
    member_specialty = "ms.{ms_specialty}" if required else "NULL"
    rows = _fetch(
        _sql(
            f"SELECT 0, m.team_id, m.id, {member_specialty} FROM {{member}} m"  # noqa: S608 - placeholders and _meta names only
            f"{specialty_join} WHERE m.team_id IN ({teams}) AND m.active = %s{own_branch}"
        ),
        params,
    )
    for own, team_id, member_id, specialty_id in rows:
        if own:
            people.own.setdefault(team_id, set()).add(specialty_id)
            continue
        people.people.setdefault(team_id, set()).add(member_id)
        if specialty_id is not None:
            people.members.setdefault(team_id, set()).add(specialty_id)
    return people


def team_claim_facts(
    team_ids: Sequence[int],
    *,
    request_id: int,
    station_id: int,
    busy_from: datetime,
    busy_to: datetime,
    recent: datetime,
    history: datetime,
) -> dict[int, dict[str, int]]:
    """Per team, from the claims made for it (Claim.team, the member's team when claiming),
    in one statement of three parts that each reach their rows through an index, so none
    reads a team's whole history:

    - busy: its live claims around the request's time — (team, status, ...), then the
      request's times for those few;
    - served: requests of this station it completed lately — (station, status), then their
      "done" claims;
    - no-shows and kept claims lately — (team, status, claimed_at, ...) alone.
    """
    if not team_ids:
        return {}
    teams = _marks(team_ids)
    finished = (ServiceRequest.Status.COMPLETED, ServiceRequest.Status.VERIFIED)
    rows = _fetch(
        _sql(
            "SELECT 1, c.team_id, c.member_id FROM {claim} c"  # noqa: S608 - placeholders and _meta names only
            " JOIN {request} r ON r.id = c.request_id"
            f" WHERE c.team_id IN ({teams}) AND c.status IN ({_marks(TIME_HOLDING)})"
            " AND c.checked_out_at IS NULL AND c.request_id <> %s"
            " AND r.starts_at < %s AND r.ends_at > %s"
            " UNION ALL"
            " SELECT 2, c.team_id, c.request_id FROM {request} r"
            " JOIN {claim} c ON c.request_id = r.id"
            f" WHERE r.station_id = %s AND r.status IN ({_marks(finished)}) AND r.starts_at >= %s"
            f" AND c.status = %s AND c.team_id IN ({teams})"
            " UNION ALL"
            " SELECT CASE WHEN c.checked_in_at IS NOT NULL THEN 3 ELSE 4 END, c.team_id, NULL"
            f" FROM {{claim}} c WHERE c.team_id IN ({teams}) AND c.claimed_at >= %s"
            " AND (c.checked_in_at IS NOT NULL OR c.status = %s"
            " OR (c.status = %s AND c.late_cancel = %s))"
        ),
        [
            *team_ids,
            *TIME_HOLDING,
            request_id,
            _dt_param(busy_to),
            _dt_param(busy_from),
            station_id,
            *finished,
            _dt_param(history),
            ClaimStatus.DONE,
            *team_ids,
            *team_ids,
            _dt_param(recent),
            ClaimStatus.EXPIRED,
            ClaimStatus.CANCELLED,
            True,
        ],
    )
    facts = {
        team: {"tasks": 0, "busy": 0, "no_shows": 0, "kept": 0, "served": 0} for team in team_ids
    }
    busy: dict[int, set[int]] = defaultdict(set)
    served: dict[int, set[int]] = defaultdict(set)
    for kind, team, other in rows:
        if kind == 1:
            facts[team]["tasks"] += 1
            busy[team].add(other)
        elif kind == 2:
            served[team].add(other)
        else:
            facts[team]["kept" if kind == 3 else "no_shows"] += 1
    for team, members in busy.items():
        facts[team]["busy"] = len(members)
    for team, requests in served.items():
        facts[team]["served"] = len(requests)
    return facts
