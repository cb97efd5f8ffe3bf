"""The rollups of statistics, kept in step with the requests and records they add up.

``DailyServiceStat``: the verified records' sums per day, station and campaign.
``RequestStat``: requests per status, ``ClaimTimeStat``: time to first claim,
``VerifyTimeStat``: time to verification, ``ActiveMemberStat``: participations per member,
``TeamStat`` / ``MemberStat``: the team and member figures (and the residents' ratings per team,
the duty points per member) — each per period (the day, month and year of the change, so a
long period reads a few rows per month and year; ``cover``) and per filter dimension, a 0 / ''
key standing for "all" so the unfiltered figure reads one row (per bucket, per member) per
period. ``MapCellStat``: the open and full requests per cell of the map's grid at every
clustering level, with no period (the map shows what is open now).

The writes (``services.requests``, ``services.records``) call the hooks below inside the transaction
that changes the request or record, so a rollup commits or rolls back with it. Each change is one
``INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x`` (PostgreSQL and SQLite ≥ 3.24 both spell
it so) over the change's rows in one fixed order: the database adds under its own row lock, parallel
writers never lose an increment and never wait on each other in a cycle.

The two durations are stored on their rows when they become known (``claim_seconds``,
``verify_seconds``), computed by the database with the same expression the statistics use, plus
the duration's bucket: ``EDGES`` are exact binary fractions (64 per doubling, ~1.6 % wide), so
Python's ``bisect`` and PostgreSQL's ``width_bucket`` put a value in the same bucket. A median
then reads the histogram to find the bucket holding the middle rank and orders only that
bucket's rows (``services.stats.selectors``): exact, like ``percentile_cont`` over every row.

``rebuild`` recomputes the stored durations and every rollup from the rows
(``manage.py rebuild_stats``): run it after writing requests or records by any other means.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from services.models import (
    ActiveMemberStat,
    ClaimTimeStat,
    DailyServiceStat,
    IntakeRating,
    MapCellStat,
    MemberStat,
    PointEntry,
    PointRule,
    RequestStat,
    ServiceHours,
    ServiceRecord,
    ServiceRequest,
    TeamStat,
    VerifyTimeStat,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TABLE = DailyServiceStat._meta.db_table
RECORDS = ServiceRecord._meta.db_table
REQUESTS = ServiceRequest._meta.db_table
REQUEST_STATS = RequestStat._meta.db_table
CLAIM_TIMES = ClaimTimeStat._meta.db_table
VERIFY_TIMES = VerifyTimeStat._meta.db_table
ACTIVE_MEMBERS = ActiveMemberStat._meta.db_table
TEAM_STATS = TeamStat._meta.db_table
MEMBER_STATS = MemberStat._meta.db_table
HOURS = ServiceHours._meta.db_table
POINTS = PointEntry._meta.db_table
RULES = PointRule._meta.db_table
RATINGS = IntakeRating._meta.db_table
MAP_CELLS = MapCellStat._meta.db_table
PARTICIPANTS = ServiceRecord.participants.through._meta.db_table
CLAIMS = ServiceRecord.participants.through._meta.get_field("claim").related_model._meta.db_table
DAY, MONTH, YEAR = (p.value for p in RequestStat.Period)
VERIFIED = ServiceRecord.Status.VERIFIED
RequestStatus = ServiceRequest.Status

# Lower edges of the duration buckets in seconds: 2^e · (1 + j/64) for e in 0..28 — exact in
# binary floating point, from 1 s to ~34 years. Bucket 0 holds everything under one second.
EDGES: tuple[float, ...] = tuple(
    math.ldexp(64 + step, octave - 6) for octave in range(29) for step in range(64)
)

# The records' own denormalised columns, so a row never mixes two towns or kinds.
KEY = DIMENSIONS = ("service_date", "station_id", "campaign_id", "town_id", "campaign_kind")
# Rollup column → the records' column it adds up (records: one per row).
SUMS = {
    "records": "1",
    "people_served": "people_served",
    "enterprises_served": "enterprises_served",
    "households_visited": "households_visited",
    "participations": "participants_count",
    "service_minutes": "service_minutes",
}
# RequestStat's counters, and which request statuses each counts (posted: all of them).
REQUEST_COUNTS: dict[str, tuple[str, ...] | None] = {
    "posted": None,
    "completed": (RequestStatus.COMPLETED, RequestStatus.VERIFIED),
    "verified": (RequestStatus.VERIFIED,),
    "cancelled": (RequestStatus.CANCELLED,),
    "expired": (RequestStatus.EXPIRED,),
}


def bucket_of(seconds: float | None) -> int | None:
    """The bucket of a duration: how many ``EDGES`` are at or below it."""
    return None if seconds is None else bisect.bisect_right(EDGES, seconds)


# ---------------------------------------------------------------- SQL spellings


def seconds_sql(start: str, end: str) -> str:
    """``end - start`` in seconds as a float, natively in each database (the expression the
    durations are stored with, and the one a hand-written query would use)."""
    if connection.vendor == "sqlite":
        return f"((julianday({end}) - julianday({start})) * 86400.0)"
    return f"date_part('epoch', {end} - {start})"


def bucket_sql(expression: str) -> tuple[str, list]:
    """SQL of ``bucket_of(expression)`` and its parameters."""
    if connection.vendor == "postgresql":
        return f"width_bucket({expression}, %s::double precision[])", [list(EDGES)]
    connection.ensure_connection()
    connection.connection.create_function("stats_bucket", 1, bucket_of, deterministic=True)
    return f"stats_bucket({expression})", []


def shanghai_day_sql(column: str) -> str:
    """The Asia/Shanghai calendar day of a timestamp column (UTC+8, no daylight saving)."""
    if connection.vendor == "sqlite":
        return f"date({column}, '+8 hours')"
    return f"(({column}) AT TIME ZONE 'Asia/Shanghai')::date"


def _trunc_sql(period: str, column: str) -> str:
    unit = {MONTH: "month", YEAR: "year"}[period]
    if connection.vendor == "sqlite":
        return f"date({column}, 'start of {unit}')"
    return f"date_trunc('{unit}', {column})::date"


def _not_same_sql() -> str:
    return "IS NOT" if connection.vendor == "sqlite" else "IS DISTINCT FROM"


# ---------------------------------------------------------------- periods


def periods_of(day: date) -> list[tuple[str, date]]:
    """The (period, starts_on) rows a change on ``day`` adds to."""
    return [(DAY, day), (MONTH, day.replace(day=1)), (YEAR, day.replace(month=1, day=1))]


def cover(date_from: date, date_to: date) -> list[tuple[str, date, date]]:
    """``(period, first starts_on, last starts_on)`` ranges of rollup rows that tile the days
    ``date_from``..``date_to`` exactly: whole years, then whole months, then single days."""
    units: list[tuple[str, date]] = []
    day = date_from
    while day <= date_to:
        next_year = date(day.year + 1, 1, 1)
        next_month = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        if day.month == 1 and day.day == 1 and next_year - timedelta(days=1) <= date_to:
            units.append((YEAR, day))
            day = next_year
        elif day.day == 1 and next_month - timedelta(days=1) <= date_to:
            units.append((MONTH, day))
            day = next_month
        else:
            units.append((DAY, day))
            day += timedelta(days=1)
    ranges: list[tuple[str, date, date]] = []
    for period, starts_on in units:
        if ranges and ranges[-1][0] == period:
            ranges[-1] = (period, ranges[-1][1], starts_on)
        else:
            ranges.append((period, starts_on, starts_on))
    return ranges


def cover_sql(date_from: date, date_to: date) -> tuple[str, list]:
    """A condition on ``period`` / ``starts_on`` selecting the rows of ``cover``."""
    ranges = cover(date_from, date_to)
    if not ranges:
        return "1 = 0", []
    sql = " OR ".join("(period = %s AND starts_on BETWEEN %s AND %s)" for _ in ranges)
    return f"({sql})", [value for r in ranges for value in r]


def _day_of(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


# ---------------------------------------------------------------- the one write


def _change(
    table: str,
    key: Sequence[str],
    sums: Sequence[str],
    deltas: dict[tuple, Sequence[int]],
    value: float | None = None,
) -> None:
    """Add ``deltas`` (key values → one delta per ``sums`` column) to ``table`` in one
    statement, rows in key order; drop the rows left empty. ``value``: the duration being
    added (widens ``shortest``/``longest``) or taken away (leaves them: still bounds)."""
    rows = sorted((k, d) for k, d in deltas.items() if any(d))
    if not rows:
        return
    columns = [*key, *sums]
    updates = [f"{c} = {table}.{c} + excluded.{c}" for c in sums]
    if value is not None:
        columns += ["shortest", "longest"]
        grows = f"excluded.{sums[0]} > 0"
        updates += [
            f"shortest = CASE WHEN {grows} AND excluded.shortest < {table}.shortest "
            f"THEN excluded.shortest ELSE {table}.shortest END",
            f"longest = CASE WHEN {grows} AND excluded.longest > {table}.longest "
            f"THEN excluded.longest ELSE {table}.longest END",
        ]
    extra = [value, value] if value is not None else []
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - _meta names and placeholders only
            f"VALUES {', '.join([placeholders] * len(rows))} "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(updates)}",
            [v for k, d in rows for v in (*k, *d, *extra)],
        )
        emptied = [k for k, d in rows if any(x < 0 for x in d)]
        if emptied:
            match = " AND ".join(f"{c} = %s" for c in key)
            cursor.execute(
                f"DELETE FROM {table} WHERE {sums[0]} <= 0 AND ("  # noqa: S608 - _meta names and placeholders only
                + " OR ".join(f"({match})" for _ in emptied)
                + ")",
                [v for k in emptied for v in k],
            )


def _keys(day: date, dims: tuple, blanks: tuple) -> Iterable[tuple]:
    """Every (period, dims-or-"all"..., starts_on) row key a change on ``day`` adds to."""
    combos = {
        tuple(b if skip else d for d, b, skip in zip(dims, blanks, mask, strict=True))
        for mask in _masks(len(dims))
    }
    for period, starts_on in periods_of(day):
        for combo in combos:
            yield (period, *combo, starts_on)


def _masks(n: int) -> list[tuple[bool, ...]]:
    return [tuple(bool(i >> b & 1) for b in range(n)) for i in range(2**n)]


def _add_to(
    deltas: dict[tuple, list[int]], keys: Iterable[tuple], delta: Sequence[int], suffix=()
) -> None:
    for k in keys:
        row = deltas.setdefault((*k, *suffix), [0] * len(delta))
        for i, d in enumerate(delta):
            row[i] += d


# ---------------------------------------------------------------- verified records


def _apply(record: ServiceRecord, sign: int) -> None:
    """Add (``sign`` 1) or take away (-1) one record's figures in its day's rollup row."""
    values = [getattr(record, name) for name in DIMENSIONS]
    values += [sign * (1 if source == "1" else getattr(record, source)) for source in SUMS.values()]
    columns = [*DIMENSIONS, *SUMS]
    updates = ", ".join(f"{c} = {TABLE}.{c} + excluded.{c}" for c in SUMS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} ({', '.join(columns)}) "  # noqa: S608 - _meta names and placeholders only
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}",
            values,
        )
        if sign < 0:
            # A day with no verified record left has no row, exactly as ``rebuild`` leaves it.
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE {' AND '.join(f'{c} = %s' for c in KEY)} "  # noqa: S608 - _meta names and placeholders only
                "AND records = 0",
                [getattr(record, name) for name in KEY],
            )


def _participations(record: ServiceRecord, sign: int) -> None:
    """Add or take away the record's participants' participations, per member."""
    members: dict[int, int] = {}
    for member_id in ServiceRecord.participants.through.objects.filter(
        servicerecord_id=record.pk
    ).values_list("claim__member_id", flat=True):
        members[member_id] = members.get(member_id, 0) + 1
    keys = list(_keys(record.service_date, (record.town_id, record.campaign_kind), (0, "")))
    deltas: dict[tuple, list[int]] = {}
    for member_id, count in members.items():
        for key in keys:
            _add_to(deltas, [(*key, member_id)], [sign * count])
    _change(ACTIVE_MEMBERS, ACTIVE_KEY, ("participations",), deltas)


ACTIVE_KEY = ("period", "town_key", "kind_key", "starts_on", "member_id")


def _verify_time(record: ServiceRecord, seconds: float, bucket: int, sign: int) -> None:
    keys = _keys(record.service_date, (record.town_id, record.campaign_kind), (0, ""))
    deltas: dict[tuple, list[int]] = {}
    _add_to(deltas, keys, [sign], (bucket,))
    _change(
        VERIFY_TIMES,
        ("period", "town_key", "kind_key", "starts_on", "bucket"),
        ("records",),
        deltas,
        seconds,
    )


# ---------------------------------------------------------------- teams and members

TEAM_KEY = ("period", "town_key", "kind_key", "starts_on", "team_key")
MEMBER_KEY = ("period", "town_key", "kind_key", "starts_on", "member_id", "team_key")
# The record's counts shared among its participants (``shares``).
SHARED = ("people_served", "enterprises_served", "households_visited")
FIGURES = ("records", "participations", "service_minutes", *SHARED)
TEAM_SUMS = (*FIGURES, "ratings", "rating_score", "ratings_high")
MEMBER_SUMS = (*FIGURES, "points", "point_participations")
# A rating of 4 or 5 counts in satisfaction's share_4_5.
HIGH_SCORE = 4
PARTICIPATION = PointRule.Kind.PARTICIPATION


def shares(total: int, n: int) -> list[int]:
    """``total`` apportioned to ``n`` participants in claim order: each gets ``total // n`` and
    the first ``total % n`` one more, so the shares are whole and add up to ``total`` exactly
    (the teams' and members' figures add up to the records' totals)."""
    base, extra = divmod(total, n)
    return [base + (1 if i < extra else 0) for i in range(n)]


def _rating_delta(before: int | None, after: int | None) -> list[int]:
    """TeamStat deltas of one rating going from ``before`` to ``after`` (None: not counted)."""
    zeros = [0] * len(FIGURES)
    counted = (after is not None) - (before is not None)
    high = (after is not None and after >= HIGH_SCORE) - (
        before is not None and before >= HIGH_SCORE
    )
    return [*zeros, counted, (after or 0) - (before or 0), high]


def _people(record: ServiceRecord, sign: int) -> None:
    """Add or take away the record's figures per member and per team: its counted hours
    entries (one per participant, in claim order for the shares), the duty points awarded for
    it, and the residents' ratings of it (per the rating's team)."""
    entries = list(
        ServiceHours.objects.filter(record_id=record.pk, counted=True)
        .order_by("claim_id", "id")
        .values_list("member_id", "team_id", "minutes")
    )
    split = [shares(getattr(record, name), len(entries)) for name in SHARED] if entries else []
    members: dict[tuple[int, int], list[int]] = {}
    teams: dict[int, list[int]] = {}
    for i, (member_id, team_id, minutes) in enumerate(entries):
        part = [1, minutes, *(column[i] for column in split)]
        member = members.setdefault((member_id, team_id or 0), [0] * len(MEMBER_SUMS))
        team = teams.setdefault(team_id or 0, [0] * len(TEAM_SUMS))
        member[0] = team[0] = 1
        for j, value in enumerate(part, start=1):
            member[j] += value
            team[j] += value
    for member_id, team_id, points, kind in PointEntry.objects.filter(
        record_id=record.pk, award=True
    ).values_list("member_id", "team_id", "points", "rule__kind"):
        member = members.setdefault((member_id, team_id or 0), [0] * len(MEMBER_SUMS))
        member[-2] += points
        member[-1] += 1 if kind == PARTICIPATION else 0
    for team_id, score in IntakeRating.objects.filter(record_id=record.pk).values_list(
        "team_id", "score"
    ):
        team = teams.setdefault(team_id or 0, [0] * len(TEAM_SUMS))
        for j, value in enumerate(_rating_delta(None, score)):
            team[j] += value
    keys = list(_keys(record.service_date, (record.town_id, record.campaign_kind), (0, "")))
    deltas: dict[tuple, list[int]] = {}
    for suffix, row in sorted(members.items()):
        _add_to(deltas, keys, [sign * v for v in row], suffix)
    _change(MEMBER_STATS, MEMBER_KEY, MEMBER_SUMS, deltas)
    deltas = {}
    for team_key, row in sorted(teams.items()):
        _add_to(deltas, keys, [sign * v for v in row], (team_key,))
    _change(TEAM_STATS, TEAM_KEY, TEAM_SUMS, deltas)


def rating_changed(rating: IntakeRating, *, before: int | None, after: int | None) -> None:
    """A resident's rating of a verified record has just been given (``before`` None) or
    changed (inside that transaction, the record locked): its team's ratings move."""
    day, town_id, kind = (
        ServiceRecord.objects.filter(pk=rating.record_id)
        .values_list("service_date", "town_id", "campaign_kind")
        .get()
    )
    deltas: dict[tuple, list[int]] = {}
    _add_to(
        deltas,
        _keys(day, (town_id, kind), (0, "")),
        _rating_delta(before, after),
        (rating.team_id or 0,),
    )
    _change(TEAM_STATS, TEAM_KEY, TEAM_SUMS, deltas)


def record_verified(record: ServiceRecord) -> None:
    """``record`` has just become verified (call inside the verifying transaction, after the
    status, hours entries and points are written): its sums, participations, team and member
    figures and time to verification."""
    _apply(record, 1)
    _participations(record, 1)
    _people(record, 1)
    seconds = seconds_sql("submitted_at", "verified_at")
    bucket, params = bucket_sql(seconds)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {RECORDS} SET verify_seconds = {seconds}, verify_bucket = {bucket} "  # noqa: S608 - _meta names and placeholders only
            "WHERE id = %s AND status = %s AND submitted_at IS NOT NULL "
            "AND verified_at IS NOT NULL",
            [*params, record.pk, VERIFIED],
        )
        cursor.execute(
            f"SELECT verify_seconds, verify_bucket FROM {RECORDS} WHERE id = %s",  # noqa: S608 - _meta names and placeholders only
            [record.pk],
        )
        stamped, bucket_no = cursor.fetchone()
    if stamped is not None:
        _verify_time(record, stamped, bucket_no, 1)


def record_revoked(record: ServiceRecord) -> None:
    """``record``'s verification has just been taken back (inside the same transaction, before
    its hours entries stop counting and its points are reversed)."""
    _apply(record, -1)
    _participations(record, -1)
    _people(record, -1)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT verify_seconds, verify_bucket FROM {RECORDS} WHERE id = %s",  # noqa: S608 - _meta names and placeholders only
            [record.pk],
        )
        stamped, bucket_no = cursor.fetchone()
        cursor.execute(
            f"UPDATE {RECORDS} SET verify_seconds = NULL, verify_bucket = NULL WHERE id = %s",  # noqa: S608 - _meta names and placeholders only
            [record.pk],
        )
    if stamped is not None:
        _verify_time(record, stamped, bucket_no, -1)


# ---------------------------------------------------------------- requests


def _counts(status: str) -> list[int]:
    return [
        1 if statuses is None or status in statuses else 0 for statuses in REQUEST_COUNTS.values()
    ]


@dataclass(frozen=True)
class _Request:
    """What the request rollups key on, as the database has it now."""

    day: date
    station_id: int
    campaign_id: int
    status: str
    claim_seconds: float | None
    claim_bucket: int | None
    lat: float
    lng: float

    @classmethod
    def read(cls, request_id: int) -> _Request:
        row = (
            ServiceRequest.objects.filter(pk=request_id)
            .values_list(
                "starts_at",
                "station_id",
                "campaign_id",
                "status",
                "claim_seconds",
                "claim_bucket",
                "lat",
                "lng",
            )
            .get()
        )
        return cls(_day_of(row[0]), *row[1:])

    def keys(self, *, day: date | None = None, campaign_id: int | None = None) -> list[tuple]:
        dims = (self.station_id, campaign_id or self.campaign_id)
        return list(_keys(day or self.day, dims, (0, 0)))


REQUEST_KEY = ("period", "station_key", "campaign_key", "starts_on")
CLAIM_KEY = (*REQUEST_KEY, "bucket")


def request_posted(service_request: ServiceRequest) -> None:
    """``service_request`` has just been created (inside the creating transaction)."""
    current = _Request.read(service_request.pk)
    deltas: dict[tuple, list[int]] = {}
    _add_to(deltas, current.keys(), _counts(current.status))
    _change(REQUEST_STATS, REQUEST_KEY, tuple(REQUEST_COUNTS), deltas)
    _on_map((current.lat, current.lng, current.status, 1))


def request_status_changed(service_request: ServiceRequest, before: str, after: str) -> None:
    """``service_request`` has just moved from ``before`` to ``after`` (same transaction; the
    object is the locked row, so its position is the database's). The request counts first,
    then the map's cells: the tables in ``rebuild``'s lock order."""
    delta = [a - b for a, b in zip(_counts(after), _counts(before), strict=True)]
    if any(delta):
        deltas: dict[tuple, list[int]] = {}
        _add_to(deltas, _Request.read(service_request.pk).keys(), delta)
        _change(REQUEST_STATS, REQUEST_KEY, tuple(REQUEST_COUNTS), deltas)
    _on_map(
        (service_request.lat, service_request.lng, before, -1),
        (service_request.lat, service_request.lng, after, 1),
    )


def request_claimed(service_request: ServiceRequest) -> None:
    """A claim has just taken a slot of ``service_request``: on its first, stamp the time to
    first claim and count it (same transaction; later claims change nothing)."""
    seconds = seconds_sql("created_at", "first_claimed_at")
    bucket, params = bucket_sql(seconds)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {REQUESTS} SET claim_seconds = {seconds}, claim_bucket = {bucket} "  # noqa: S608 - _meta names and placeholders only
            "WHERE id = %s AND claim_seconds IS NULL AND first_claimed_at IS NOT NULL "
            "AND created_at IS NOT NULL",
            [*params, service_request.pk],
        )
        if not cursor.rowcount:
            return
    current = _Request.read(service_request.pk)
    deltas: dict[tuple, list[int]] = {}
    _add_to(deltas, current.keys(), [1], (current.claim_bucket,))
    _change(CLAIM_TIMES, CLAIM_KEY, ("requests",), deltas, current.claim_seconds)


def request_moved(
    service_request: ServiceRequest,
    *,
    starts_at: datetime,
    campaign_id: int,
    lat: float | None = None,
    lng: float | None = None,
) -> None:
    """``service_request``'s start, campaign or position has just been edited (same
    transaction; the old values given): its counts and time to claim move to the new day and
    campaign, its map cells to the new position (last: ``rebuild``'s lock order)."""
    current = _Request.read(service_request.pk)
    old_day = _day_of(starts_at)
    if (old_day, campaign_id) != (current.day, current.campaign_id):
        _move_request_counts(current, day=old_day, campaign_id=campaign_id)
    if lat is not None and lng is not None:
        _on_map((lat, lng, current.status, -1), (current.lat, current.lng, current.status, 1))


def _move_request_counts(current: _Request, *, day: date, campaign_id: int) -> None:
    """The request's counts and time to claim, from its old day and campaign to its current."""
    old = current.keys(day=day, campaign_id=campaign_id)
    counts = _counts(current.status)
    deltas: dict[tuple, list[int]] = {}
    _add_to(deltas, old, [-c for c in counts])
    _add_to(deltas, current.keys(), counts)
    _change(REQUEST_STATS, REQUEST_KEY, tuple(REQUEST_COUNTS), deltas)
    if current.claim_bucket is not None:
        deltas = {}
        _add_to(deltas, old, [-1], (current.claim_bucket,))
        _add_to(deltas, current.keys(), [1], (current.claim_bucket,))
        _change(CLAIM_TIMES, CLAIM_KEY, ("requests",), deltas, current.claim_seconds)


# ---------------------------------------------------------------- the map's grid cells

# The levels the map clusters at: a level-k cell is 2^-k degrees on a side (1° down to
# ~110 m), its row and column counted from 90°S and 180°W, so every value is positive.
MAP_LEVELS = range(11)
MAP_STATUSES = (RequestStatus.OPEN, RequestStatus.FULL)
MAP_KEY = ("level", "cell_row", "cell_column", "status")
MAP_SUMS = ("requests", "lat_sum", "lng_sum")
LAT_OFFSET, LNG_OFFSET, MICRO = 90.0, 180.0, 1_000_000.0


def scaled(lat: float, lng: float, scale: float) -> tuple[int, int]:
    """``floor((lat + 90) · scale)``, ``floor((lng + 180) · scale)``: a position's cell at
    scale 2^k (its level) or its whole microdegrees (scale 10^6, so the sums stay exact
    integers). The same float operations as ``scaled_sql``: Python and either database agree
    to the last bit."""
    return math.floor((lat + LAT_OFFSET) * scale), math.floor((lng + LNG_OFFSET) * scale)


def map_cell(lat: float, lng: float, level: int) -> tuple[int, int]:
    """The (row, column) of the level's cell holding a position."""
    return scaled(lat, lng, float(2**level))


def floor_sql(expression: str) -> str:
    """FLOOR of a non-negative float as an integer: SQLite truncates a cast (the same for
    values at or above zero; its FLOOR would call back into Python once per row)."""
    if connection.vendor == "sqlite":
        return f"CAST({expression} AS INTEGER)"
    return f"CAST(FLOOR({expression}) AS BIGINT)"


def scaled_sql(scale: float, lat: str = "lat", lng: str = "lng") -> tuple[str, str, list]:
    """SQL of ``scaled`` over two columns: the two expressions and their parameters."""
    return (
        floor_sql(f"(({lat} + %s) * %s)"),
        floor_sql(f"(({lng} + %s) * %s)"),
        [LAT_OFFSET, scale, LNG_OFFSET, scale],
    )


def _on_map(*changes: tuple[float, float, str, int]) -> None:
    """Add (sign 1) or take away (-1) requests, each (lat, lng, status, sign), from their cells
    at every level, in one statement; statuses the map does not show change nothing."""
    deltas: dict[tuple, list[int]] = {}
    for lat, lng, status, sign in changes:
        if status not in MAP_STATUSES:
            continue
        lat_micro, lng_micro = scaled(lat, lng, MICRO)
        for level in MAP_LEVELS:
            row = deltas.setdefault((level, *map_cell(lat, lng, level), status), [0, 0, 0])
            row[0] += sign
            row[1] += sign * lat_micro
            row[2] += sign * lng_micro
    _change(MAP_CELLS, MAP_KEY, MAP_SUMS, deltas)


def fill_map_cells(cursor) -> int:
    """Recompute ``MapCellStat`` from the open and full requests: one grouped read per level."""
    cursor.execute(f"DELETE FROM {MAP_CELLS}")  # noqa: S608 - _meta names only
    lat_micro, lng_micro, micro_params = scaled_sql(MICRO)
    written = 0
    for level in MAP_LEVELS:
        row, column, cell_params = scaled_sql(float(2**level))
        cursor.execute(
            f"INSERT INTO {MAP_CELLS} ({', '.join((*MAP_KEY, *MAP_SUMS))}) "  # noqa: S608 - _meta names and placeholders only
            f"SELECT %s, {row}, {column}, status, COUNT(*), SUM({lat_micro}), SUM({lng_micro}) "
            f"FROM {REQUESTS} WHERE status IN (%s, %s) GROUP BY {row}, {column}, status",
            [level, *cell_params, *micro_params, *MAP_STATUSES, *cell_params],
        )
        written += cursor.rowcount
    return written


# ---------------------------------------------------------------- rebuild


@dataclass(frozen=True)
class Rebuilt:
    """Rows written by ``rebuild``, per rollup, and the durations (re)stamped."""

    daily: int
    requests: int
    claim_times: int
    verify_times: int
    active_members: int
    stamped: int
    team_stats: int = 0
    member_stats: int = 0
    map_cells: int = 0


def stamp_durations() -> int:
    """Store every request's time to first claim and every verified record's time to
    verification where the stored value is missing or differs (rows written by other means
    than the workflow); returns how many rows changed."""
    changed = 0
    differs = _not_same_sql()
    with transaction.atomic(), connection.cursor() as cursor:
        for table, value, condition, params in (
            (
                REQUESTS,
                "claim",
                "first_claimed_at IS NOT NULL AND created_at IS NOT NULL",
                [],
            ),
            (
                RECORDS,
                "verify",
                "status = %s AND submitted_at IS NOT NULL AND verified_at IS NOT NULL",
                [VERIFIED],
            ),
        ):
            start, end = (
                ("created_at", "first_claimed_at")
                if value == "claim"
                else ("submitted_at", "verified_at")
            )
            seconds = f"(CASE WHEN {condition} THEN {seconds_sql(start, end)} END)"
            bucket, bucket_params = bucket_sql(seconds)
            cursor.execute(
                f"UPDATE {table} SET {value}_seconds = {seconds}, {value}_bucket = {bucket} "  # noqa: S608 - _meta names and placeholders only
                f"WHERE {value}_seconds {differs} {seconds} OR {value}_bucket {differs} {bucket}",
                [*params, *params, *bucket_params, *params, *params, *bucket_params],
            )
            changed += cursor.rowcount
    return changed


def _fill(
    cursor,
    table: str,
    dims: Sequence[str],
    blanks: Sequence,
    tail: Sequence[str],
    sums: Sequence[str],
    source: tuple[str, list],
) -> int:
    """Fill ``table`` from ``source`` (a SELECT of its day rows: period, dims, starts_on,
    tail..., sums[, shortest, longest]), then add its rows for "all" of some dimensions (from
    the day rows) and its months (from the days) and years (from the months)."""
    extremes = table in (CLAIM_TIMES, VERIFY_TIMES)
    columns = ["period", *dims, "starts_on", *tail, *sums]
    totals = [f"SUM({c})" for c in sums]
    if extremes:
        columns += ["shortest", "longest"]
        totals += ["MIN(shortest)", "MAX(longest)"]
    insert = f"INSERT INTO {table} ({', '.join(columns)}) "
    cursor.execute(insert + source[0], source[1])
    real = " AND ".join(f"{d} <> %s" for d in dims)
    for mask in _masks(len(dims)):
        if not any(mask):
            continue
        picked = [f"%s AS {d}" if skip else d for d, skip in zip(dims, mask, strict=True)]
        kept = [d for d, skip in zip(dims, mask, strict=True) if not skip]
        select = ", ".join(["period", *picked, "starts_on", *tail, *totals])
        group = ", ".join(["period", *kept, "starts_on", *tail])
        cursor.execute(
            f"{insert} SELECT {select} FROM {table} WHERE period = %s AND {real} "  # noqa: S608 - _meta names and placeholders only
            f"GROUP BY {group}",
            [*(b for b, skip in zip(blanks, mask, strict=True) if skip), DAY, *blanks],
        )
    for period, finer in ((MONTH, DAY), (YEAR, MONTH)):
        start = _trunc_sql(period, "starts_on")
        select = ", ".join(["%s", *dims, start, *tail, *totals])
        group = ", ".join([*dims, start, *tail])
        cursor.execute(
            f"{insert} SELECT {select} FROM {table} WHERE period = %s GROUP BY {group}",  # noqa: S608 - _meta names and placeholders only
            [period, finer],
        )
    cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - _meta names only
    return cursor.fetchone()[0]


def rebuild() -> Rebuilt:
    """Restamp the durations, then recompute every rollup from the requests and records.

    Long on purpose: one transaction that replaces the five rollups under one lock, read as the
    statements it runs, in order."""
    stamped = stamp_durations()
    tables = (
        TABLE,
        ACTIVE_MEMBERS,
        VERIFY_TIMES,
        REQUEST_STATS,
        CLAIM_TIMES,
        TEAM_STATS,
        MEMBER_STATS,
        MAP_CELLS,
    )
    columns = [*DIMENSIONS, *SUMS]
    sums = ", ".join("COUNT(*)" if s == "1" else f"SUM({s})" for s in SUMS.values())
    day = shanghai_day_sql("starts_at")
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Writers wait for the rebuild instead of adding to rows about to be replaced.
            cursor.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - _meta names only
        cursor.execute(
            f"INSERT INTO {TABLE} ({', '.join(columns)}) "  # noqa: S608 - _meta names and placeholders only
            f"SELECT {', '.join(DIMENSIONS)}, {sums} FROM {RECORDS} WHERE status = %s "
            f"GROUP BY {', '.join(DIMENSIONS)}",
            [VERIFIED],
        )
        daily = cursor.rowcount
        counts = ", ".join(
            "COUNT(*)"
            if statuses is None
            else f"SUM(CASE WHEN status IN ({', '.join(['%s'] * len(statuses))}) THEN 1 ELSE 0 END)"
            for statuses in REQUEST_COUNTS.values()
        )
        count_params = [s for statuses in REQUEST_COUNTS.values() for s in statuses or ()]
        by_day = f"station_id, campaign_id, {day}"
        requests = _fill(
            cursor,
            REQUEST_STATS,
            ("station_key", "campaign_key"),
            (0, 0),
            (),
            tuple(REQUEST_COUNTS),
            (
                f"SELECT %s, {by_day}, {counts} FROM {REQUESTS} GROUP BY {by_day}",  # noqa: S608 - _meta names and placeholders only
                [DAY, *count_params],
            ),
        )
        claim_times = _fill(
            cursor,
            CLAIM_TIMES,
            ("station_key", "campaign_key"),
            (0, 0),
            ("bucket",),
            ("requests",),
            (
                f"SELECT %s, {by_day}, claim_bucket, COUNT(*), MIN(claim_seconds), "  # noqa: S608 - _meta names and placeholders only
                f"MAX(claim_seconds) FROM {REQUESTS} WHERE claim_bucket IS NOT NULL "
                f"GROUP BY {by_day}, claim_bucket",
                [DAY],
            ),
        )
        verify_times = _fill(
            cursor,
            VERIFY_TIMES,
            ("town_key", "kind_key"),
            (0, ""),
            ("bucket",),
            ("records",),
            (
                "SELECT %s, town_id, campaign_kind, service_date, verify_bucket, COUNT(*), "  # noqa: S608 - _meta names and placeholders only
                f"MIN(verify_seconds), MAX(verify_seconds) FROM {RECORDS} "
                "WHERE status = %s AND verify_bucket IS NOT NULL "
                "GROUP BY town_id, campaign_kind, service_date, verify_bucket",
                [DAY, VERIFIED],
            ),
        )
        active_members = _fill(
            cursor,
            ACTIVE_MEMBERS,
            ("town_key", "kind_key"),
            (0, ""),
            ("member_id",),
            ("participations",),
            (
                "SELECT %s, r.town_id, r.campaign_kind, r.service_date, c.member_id, COUNT(*) "  # noqa: S608 - _meta names and placeholders only
                f"FROM {PARTICIPANTS} p JOIN {RECORDS} r ON r.id = p.servicerecord_id "
                f"JOIN {CLAIMS} c ON c.id = p.claim_id WHERE r.status = %s "
                "GROUP BY r.town_id, r.campaign_kind, r.service_date, c.member_id",
                [DAY, VERIFIED],
            ),
        )
        team_stats, member_stats = fill_people(cursor)
        map_cells = fill_map_cells(cursor)
    return Rebuilt(
        daily,
        requests,
        claim_times,
        verify_times,
        active_members,
        stamped,
        team_stats,
        member_stats,
        map_cells,
    )


def fill_people(cursor) -> tuple[int, int]:
    """Fill ``TeamStat`` and ``MemberStat`` from the counted hours entries (each participant's
    shares computed by the database as ``shares`` does: claim order, remainder to the first),
    the duty points ledger and the ratings of verified records."""
    share = " ".join(
        f"s.{c} / s.n + CASE WHEN s.pos <= s.{c} %% s.n THEN 1 ELSE 0 END AS {c}," for c in SHARED
    ).rstrip(",")
    entries = (
        "SELECT h.record_id, h.member_id, COALESCE(h.team_id, 0) AS team_key, h.minutes, "
        "r.town_id, r.campaign_kind, r.service_date, "
        + ", ".join(f"r.{c}" for c in SHARED)
        + ", ROW_NUMBER() OVER (PARTITION BY h.record_id ORDER BY h.claim_id, h.id) AS pos, "
        "COUNT(*) OVER (PARTITION BY h.record_id) AS n "
        f"FROM {HOURS} h JOIN {RECORDS} r ON r.id = h.record_id "
        "WHERE h.counted = %s AND r.status = %s"
    )
    per_entry = (
        "SELECT s.record_id, s.town_id, s.campaign_kind, s.service_date, s.member_id, "  # noqa: S608 - _meta names only
        f"s.team_key, s.minutes, {share} FROM ({entries}) s"
    )
    place = "town_id, campaign_kind, service_date"
    team_sums = ", ".join(f"SUM({c})" for c in TEAM_SUMS)
    shared_sums = ", ".join(f"SUM({c}) AS {c}" for c in SHARED)
    team_source = (
        f"SELECT %s, {place}, team_key, {team_sums} FROM ("  # noqa: S608 - _meta names and placeholders only
        f"SELECT {place}, team_key, 1 AS records, COUNT(*) AS participations, "
        f"SUM(minutes) AS service_minutes, {shared_sums}, "
        "0 AS ratings, 0 AS rating_score, 0 AS ratings_high "
        f"FROM ({per_entry}) e GROUP BY record_id, {place}, team_key "
        "UNION ALL SELECT r.town_id, r.campaign_kind, r.service_date, COALESCE(g.team_id, 0), "
        "0, 0, 0, 0, 0, 0, 1, g.score, CASE WHEN g.score >= %s THEN 1 ELSE 0 END "
        f"FROM {RATINGS} g JOIN {RECORDS} r ON r.id = g.record_id WHERE r.status = %s"
        f") u GROUP BY {place}, team_key"
    )
    member_sums = ", ".join(f"SUM({c})" for c in MEMBER_SUMS)
    member_source = (
        f"SELECT %s, {place}, member_id, team_key, {member_sums} FROM ("  # noqa: S608 - _meta names and placeholders only
        f"SELECT {place}, member_id, team_key, 1 AS records, 1 AS participations, "
        f"minutes AS service_minutes, {', '.join(SHARED)}, "
        f"0 AS points, 0 AS point_participations FROM ({per_entry}) e "
        # Every ledger line (awards and their reversals) on the line's own service day, as the
        # leaderboard always counted them: a revoked record's lines net to nothing.
        "UNION ALL SELECT r.town_id, r.campaign_kind, p.service_date, p.member_id, "
        "COALESCE(p.team_id, 0), 0, 0, 0, 0, 0, 0, p.points, "
        "CASE WHEN k.kind = %s THEN (CASE WHEN p.award = %s THEN 1 ELSE -1 END) ELSE 0 END "
        f"FROM {POINTS} p JOIN {RECORDS} r ON r.id = p.record_id "
        f"JOIN {RULES} k ON k.id = p.rule_id"
        f") u GROUP BY {place}, member_id, team_key "
        "HAVING SUM(records) <> 0 OR SUM(points) <> 0 OR SUM(point_participations) <> 0"
    )
    team_stats = _fill(
        cursor,
        TEAM_STATS,
        ("town_key", "kind_key"),
        (0, ""),
        ("team_key",),
        TEAM_SUMS,
        (team_source, [DAY, True, VERIFIED, HIGH_SCORE, VERIFIED]),
    )
    member_stats = _fill(
        cursor,
        MEMBER_STATS,
        ("town_key", "kind_key"),
        (0, ""),
        ("member_id", "team_key"),
        MEMBER_SUMS,
        (member_source, [DAY, True, VERIFIED, PARTICIPATION, True]),
    )
    return team_stats, member_stats
