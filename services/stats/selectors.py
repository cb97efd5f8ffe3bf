"""Statistics of verified service: every figure is an aggregate query run by the database.

Only records with status ``verified`` count. A record belongs to its ``service_date`` (the
Asia/Shanghai calendar day the service took place, copied from the request at submission); a
request belongs to the Asia/Shanghai day of its ``starts_at``. The summed figures (totals, per
kind, campaign progress, and the breakdowns by town, station, kind and month) read the daily
rollup ``DailyServiceStat``; the request counts read ``RequestStat`` and the two medians the
duration histograms ``ClaimTimeStat`` / ``VerifyTimeStat`` plus the rows of one bucket, active
members ``ActiveMemberStat`` — all kept by ``services.rollups`` inside the transaction of each
change, and exact. Hours are the verified minutes (services.records.hours); the team and
member breakdowns read ``TeamStat`` / ``MemberStat``, the same rollups kept from the counted
hours entries (one per participant of a verified record), the duty points and the ratings.

Scope: staff see everything; a station manager sees the towns of the stations they manage
(asking for another town is 403 ``town_out_of_scope``); everyone else is refused.

The API (``stats_views``), the exports (``exports``) and the staff dashboard
(``dashboard_views``) all call the functions here, so a figure is computed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, connections, router
from django.db.models import (
    CharField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from accounts.permissions import is_staff
from members.models import Member, Team
from services import errors, rollups
from services.intake import satisfaction
from services.models import (
    ActiveMemberStat,
    Campaign,
    ClaimTimeStat,
    DailyServiceStat,
    MemberStat,
    RequestStat,
    ServiceRecord,
    ServiceRequest,
    TeamStat,
    VerifyTimeStat,
)
from stations.models import Station, Town

# Dates in statistics are days in Asia/Shanghai, as the rollups keep them.
SHANGHAI = rollups.SHANGHAI
VERIFIED = ServiceRecord.Status.VERIFIED
KINDS = Campaign.Kind
RequestStatus = ServiceRequest.Status
STATIONS = Station._meta.db_table
CAMPAIGNS = Campaign._meta.db_table

# The breakdowns: GET stats/breakdown/?by=... and one export sheet each.
BY_TOWN = "town"
BY_STATION = "station"
BY_TEAM = "team"
BY_KIND = "campaign_kind"
BY_MONTH = "month"
BY_MEMBER = "member"
BREAKDOWNS: dict[str, str] = {
    BY_TOWN: "镇街",
    BY_STATION: "驿站",
    BY_TEAM: "团队",
    BY_KIND: "三暖",
    BY_MONTH: "月份",
    BY_MEMBER: "委员",
}
BREAKDOWN_CHOICES = [(key, f"按{label}") for key, label in BREAKDOWNS.items()]
NO_TEAM_KEY = "none"
NO_TEAM_LABEL = "未加入团队"


# ---------------------------------------------------------------- who sees what


def can_read_stats(user: User) -> bool:
    """Staff and station managers read statistics; members and liaisons do not."""
    return bool(user and user.is_authenticated and (is_staff(user) or user.is_station_manager))


def stats_scope(user: User) -> frozenset[int] | None:
    """The town ids ``user`` may see (``None``: all of them)."""
    if is_staff(user):
        return None
    if not can_read_stats(user):
        raise errors.StatsForbidden()
    return frozenset(
        Station.objects.filter(managers=user).values_list("town_id", flat=True).distinct()
    )


@dataclass(frozen=True)
class StatsFilter:
    """The period (inclusive Asia/Shanghai dates), optional town and 三暖 kind, and the scope."""

    date_from: date
    date_to: date
    town_id: int | None = None
    campaign_kind: str | None = None
    # Towns the reader may see; None for staff (everything).
    town_ids: frozenset[int] | None = None

    @property
    def starts(self) -> datetime:
        """The first instant of ``date_from`` in Asia/Shanghai."""
        return datetime.combine(self.date_from, time.min, tzinfo=SHANGHAI)

    @property
    def ends(self) -> datetime:
        """The first instant after ``date_to`` in Asia/Shanghai."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=SHANGHAI)


def default_period(today: date | None = None) -> tuple[date, date]:
    """This calendar year (Asia/Shanghai): what the dashboard and the API show by default."""
    today = today or timezone.localdate(timezone=SHANGHAI)
    return date(today.year, 1, 1), date(today.year, 12, 31)


def resolve_filters(
    *,
    user: User,
    date_from: date | None = None,
    date_to: date | None = None,
    town: Town | None = None,
    campaign_kind: str | None = None,
) -> StatsFilter:
    """Check the reader and the filters; fill in the default period (this year)."""
    scope = stats_scope(user)
    if date_from is None and date_to is None:
        date_from, date_to = default_period()
    elif date_from is None:
        date_from = date(date_to.year, 1, 1)
    elif date_to is None:
        date_to = max(default_period()[1], date_from)
    if date_from > date_to:
        raise errors.InvalidDateRange()
    if (date_to - date_from).days + 1 > settings.STATS_MAX_RANGE_DAYS:
        raise errors.DateRangeTooLong(
            f"统计区间最长 {settings.STATS_MAX_RANGE_DAYS} 天，请缩小起止日期。"
        )
    if town is not None and scope is not None and town.pk not in scope:
        raise errors.TownOutOfScope()
    return StatsFilter(
        date_from=date_from,
        date_to=date_to,
        town_id=town.pk if town else None,
        campaign_kind=campaign_kind or None,
        town_ids=scope,
    )


# ---------------------------------------------------------------- the rows that count


def verified_records(f: StatsFilter, prefix: str = "") -> Q:
    """The condition selecting the verified records ``f`` covers (``prefix`` for joins)."""
    return Q(**{f"{prefix}status": VERIFIED}) & _in_filters(f, prefix)


def _in_filters(f: StatsFilter, prefix: str = "") -> Q:
    """Period, town, scope and kind over a table carrying the records' denormalised columns."""
    q = Q(
        **{
            f"{prefix}service_date__gte": f.date_from,
            f"{prefix}service_date__lte": f.date_to,
        }
    )
    if f.town_id is not None:
        q &= Q(**{f"{prefix}town_id": f.town_id})
    if f.town_ids is not None:
        q &= Q(**{f"{prefix}town_id__in": f.town_ids})
    if f.campaign_kind:
        q &= Q(**{f"{prefix}campaign_kind": f.campaign_kind})
    return q


def daily(f: StatsFilter) -> QuerySet[DailyServiceStat]:
    """The daily rollup rows in the filters (``services.rollups`` keeps them equal to the
    verified records' sums), unordered."""
    return DailyServiceStat.objects.filter(_in_filters(f)).order_by()


def _zero(expression) -> Coalesce:
    return Coalesce(expression, Value(0), output_field=IntegerField())


# The summed figures every breakdown row and kind carries.
SERVED_FIELDS = (
    "records",
    "people_served",
    "enterprises_served",
    "households_visited",
    "participations",
    "service_minutes",
)


def _served(alias: str = "sum_") -> dict:
    """The summed figures over daily rollup rows as aggregate expressions, keyed
    ``alias + name`` (an alias may not shadow the model's own field names)."""
    return {f"{alias}{name}": _zero(Sum(name)) for name in SERVED_FIELDS}


def _figures(row: dict, alias: str = "sum_") -> dict:
    """``{name: value}`` of the figures ``_served(alias)`` computed in ``row``."""
    return {name: row[f"{alias}{name}"] for name in SERVED_FIELDS}


class MonthOf(Func):
    """``YYYY-MM`` of a date column, in each database's native spelling (Django's TruncMonth
    on SQLite calls back into Python once per row)."""

    output_field = CharField()
    template = "to_char(%(expressions)s, 'YYYY-MM')"

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="substr(%(expressions)s, 1, 7)")


@dataclass(frozen=True)
class _Histogram:
    """Where a median reads: a duration histogram, the rows it counts, their filter."""

    table: str
    count: str
    keys: tuple[str, list]  # condition on the histogram's dimension keys
    rows: str
    value: str
    bucket: str
    where: tuple[str, list]  # condition on the rows (period and filters)


def _median_hours(h: _Histogram, f: StatsFilter) -> float | None:
    """The exact median of a stored duration over the rows in ``f``, in hours (None: no rows).

    One statement, so one snapshot: the histogram's rows of the period (``rollups.cover``) give
    the count per bucket, hence the bucket holding each middle rank and the rank inside it;
    when that bucket's shortest and longest agree, that is the value, else the bucket's rows are
    ordered and the one at that rank is read — the same one or two values ``percentile_cont``
    (PostgreSQL) or the middle-of-the-sorted-list query (SQLite) would find among all rows.
    """
    period, period_params = rollups.cover_sql(f.date_from, f.date_to)
    keys, key_params = h.keys
    where, where_params = h.where

    def pick(i: int) -> tuple[str, list]:
        raw = (
            f"SELECT {h.value} FROM {h.rows} "  # noqa: S608 - _meta names and placeholders only
            f"WHERE {h.bucket} = (SELECT bucket FROM p WHERE i = {i}) AND {where} "
            f"ORDER BY {h.value} LIMIT 1 OFFSET COALESCE((SELECT skip FROM p WHERE i = {i}), 0)"
        )
        same = f"(SELECT CASE WHEN lo = hi THEN lo END FROM p WHERE i = {i})"  # noqa: S608 - no input
        return f"COALESCE({same}, ({raw}))", where_params

    (first, first_params), (second, second_params) = pick(0), pick(1)
    sql = f"""
WITH h AS (SELECT bucket, CAST(SUM({h.count}) AS BIGINT) AS n, MIN(shortest) AS lo,
                  MAX(longest) AS hi
             FROM {h.table} WHERE {period} AND {keys} GROUP BY bucket),
c AS (SELECT bucket, n, lo, hi,
             CAST(SUM(n) OVER (ORDER BY bucket ROWS UNBOUNDED PRECEDING) AS BIGINT) AS upto
        FROM h),
t AS MATERIALIZED (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS total FROM h),
p AS MATERIALIZED (
    SELECT k.i, c.bucket, c.lo, c.hi, CAST(k.r - (c.upto - c.n) AS BIGINT) AS skip
      FROM (SELECT 0 AS i, (total - 1) / 2 AS r FROM t UNION ALL SELECT 1, total / 2 FROM t) k
      JOIN c ON c.upto - c.n <= k.r AND k.r < c.upto)
SELECT (SELECT total FROM t), {first}, {second}
"""  # noqa: S608 - _meta names and placeholders only
    with _cursor() as cursor:
        cursor.execute(sql, [*period_params, *key_params, *first_params, *second_params])
        total, low, high = cursor.fetchone()
    if not total or low is None or high is None:
        # No rows; or a rollup drifted from its rows (written around the workflow and not
        # rebuilt), where no exact figure can be read: none rather than a wrong one.
        return None
    if total % 2:
        value = low
    elif connection.vendor == "postgresql":
        value = low + (high - low) * 0.5  # percentile_cont's interpolation, as it computes it
    else:
        value = (low + high) / 2  # AVG of the middle two
    return round(value / 3600, 2)


def _cursor():
    """A cursor where the statistics read: the replica for a reporting request when one is
    configured (backend/routers.py), else the primary; the ORM's reads follow the same router."""
    return connections[router.db_for_read(RequestStat)].cursor()


def towns_in(f: StatsFilter) -> frozenset[int] | None:
    """The towns ``f`` narrows to, the town asked for within the reader's scope (None: all of
    them): what the dashboard's leaderboard and map follow."""
    return _towns(f)


def _towns(f: StatsFilter) -> frozenset[int] | None:
    """The towns ``f`` narrows to (None: all of them)."""
    if f.town_id is None:
        return f.town_ids
    return frozenset({f.town_id}) if f.town_ids is None else frozenset({f.town_id}) & f.town_ids


def _in(column: str, values: frozenset) -> tuple[str, list]:
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join(['%s'] * len(values))})", sorted(values)


def _request_keys(f: StatsFilter) -> tuple[str, list]:
    """Condition on a request rollup's station/campaign keys: the stations now in the towns
    ``f`` asks for and the campaigns now of its kind, or the "all" key (0)."""
    towns = _towns(f)
    sql, params = [], []
    if towns is None:
        sql.append("station_key = 0")
    else:
        town_sql, town_params = _in("town_id", towns)
        sql.append(f"station_key IN (SELECT id FROM {STATIONS} WHERE {town_sql})")  # noqa: S608 - _meta names and placeholders only
        params += town_params
    if f.campaign_kind:
        sql.append(f"campaign_key IN (SELECT id FROM {CAMPAIGNS} WHERE kind = %s)")  # noqa: S608 - _meta names and placeholders only
        params.append(f.campaign_kind)
    else:
        sql.append("campaign_key = 0")
    return " AND ".join(sql), params


def _scoped(f: StatsFilter, rows: list[str], params: list, *, town: str, kind: str):
    """``rows`` AND the town and 三暖 conditions of ``f``: ``town`` holds the ``town_id IN``
    condition at ``{}``, ``kind`` compares with the campaign kind."""
    towns = _towns(f)
    if towns is not None:
        town_sql, town_params = _in("town_id", towns)
        rows = [*rows, town.format(town_sql)]
        params = [*params, *town_params]
    if f.campaign_kind:
        rows = [*rows, kind]
        params = [*params, f.campaign_kind]
    return " AND ".join(rows), params


def _claim_times(f: StatsFilter) -> _Histogram:
    """Time to first claim of the requests taking place in ``f``."""
    # As the ORM would pass them (SQLite stores UTC text: an aware value must be converted).
    adapt = connection.ops.adapt_datetimefield_value
    return _Histogram(
        table=ClaimTimeStat._meta.db_table,
        count="requests",
        keys=_request_keys(f),
        rows=ServiceRequest._meta.db_table,
        value="claim_seconds",
        bucket="claim_bucket",
        where=_scoped(
            f,
            ["starts_at >= %s", "starts_at < %s"],
            [adapt(f.starts), adapt(f.ends)],
            town=f"station_id IN (SELECT id FROM {STATIONS} WHERE {{}})",  # noqa: S608 - _meta names and placeholders only
            kind=f"campaign_id IN (SELECT id FROM {CAMPAIGNS} WHERE kind = %s)",  # noqa: S608 - _meta names and placeholders only
        ),
    )


def _verify_times(f: StatsFilter) -> _Histogram:
    """Time to verification of the verified records in ``f``."""
    return _Histogram(
        table=VerifyTimeStat._meta.db_table,
        count="records",
        keys=_town_kind_keys(f),
        rows=ServiceRecord._meta.db_table,
        value="verify_seconds",
        bucket="verify_bucket",
        where=_scoped(
            f,
            ["status = %s", "service_date BETWEEN %s AND %s"],
            [VERIFIED, f.date_from, f.date_to],
            town="{}",
            kind="campaign_kind = %s",
        ),
    )


def _town_kind_keys(f: StatsFilter) -> tuple[str, list]:
    """Condition on a records rollup's town/kind keys (the records' own town and kind)."""
    towns = _towns(f)
    sql, params = _in("town_key", towns) if towns is not None else ("town_key = 0", [])
    return f"{sql} AND kind_key = %s", [*params, f.campaign_kind or ""]


def _active_members(f: StatsFilter) -> int:
    """Members with at least one participation in the verified records of ``f``: the distinct
    members among the participation rollup's rows of the period (a few thousand rows for a
    year or a month, instead of the two million participant rows of a busy year)."""
    period, period_params = rollups.cover_sql(f.date_from, f.date_to)
    keys, key_params = _town_kind_keys(f)
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(DISTINCT member_id) FROM {ActiveMemberStat._meta.db_table} "  # noqa: S608 - _meta names and placeholders only
            f"WHERE {period} AND {keys}",
            [*period_params, *key_params],
        )
        return cursor.fetchone()[0]


def _request_counts(f: StatsFilter) -> dict[str, int]:
    """Requests taking place in ``f``: posted, completed (or verified), verified, cancelled,
    expired — added up from the request rollup's rows of the period."""
    period, period_params = rollups.cover_sql(f.date_from, f.date_to)
    keys, key_params = _request_keys(f)
    names = list(rollups.REQUEST_COUNTS)
    with _cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(f'COALESCE(SUM({n}), 0)' for n in names)} "  # noqa: S608 - _meta names and placeholders only
            f"FROM {RequestStat._meta.db_table} WHERE {period} AND {keys}",
            [*period_params, *key_params],
        )
        return dict(zip(names, (int(v) for v in cursor.fetchone()), strict=True))


# ---------------------------------------------------------------- summary


@dataclass
class Summary:
    """GET stats/summary/: the headline figures of one period."""

    filters: StatsFilter
    people_served: int
    enterprises_served: int
    households_visited: int
    records_verified: int
    participations: int
    service_minutes: int
    active_members: int
    requests_posted: int
    requests_completed: int
    requests_verified: int
    requests_cancelled: int
    requests_expired: int
    completion_rate: float | None
    median_hours_to_claim: float | None
    median_hours_to_verify: float | None
    by_kind: list[dict]
    campaigns: list[dict]
    # Residents' ratings (services/intake/satisfaction.py): {ratings, mean, share_4_5}, and the
    # people served by rated records (群众确认).
    satisfaction: dict
    people_served_confirmed: int


def stats_summary(*, filters: StatsFilter) -> Summary:
    """The headline figures in seven queries: the daily rollup grouped by campaign, active
    members, the request rollup, the two medians, the residents' ratings and the people
    served by rated records (plus the tiny campaign list).

    The rollup is read once, grouped by campaign: the campaigns' progress reads those
    subtotals, and the per-kind figures and the totals add up those few subtotal rows.
    """
    f = filters
    subtotals = [
        {"campaign_id": row["campaign_id"], "kind": row["campaign_kind"], **_figures(row)}
        for row in daily(f).values("campaign_id", "campaign_kind").annotate(**_served())
    ]
    kinds = [kind for kind in KINDS.values if not f.campaign_kind or kind == f.campaign_kind]
    by_kind = {
        kind: {name: sum(s[name] for s in subtotals if s["kind"] == kind) for name in SERVED_FIELDS}
        for kind in kinds
    }
    totals = {name: sum(s[name] for s in subtotals) for name in SERVED_FIELDS}

    active = _active_members(f)

    req = _request_counts(f)
    # Cancelled needs do not count against the rate; every other need posted does.
    counted = req["posted"] - req["cancelled"]
    rate = req["completed"] / counted if counted else None

    return Summary(
        filters=f,
        people_served=totals["people_served"],
        enterprises_served=totals["enterprises_served"],
        households_visited=totals["households_visited"],
        records_verified=totals["records"],
        participations=totals["participations"],
        service_minutes=totals["service_minutes"],
        active_members=active,
        requests_posted=req["posted"],
        requests_completed=req["completed"],
        requests_verified=req["verified"],
        requests_cancelled=req["cancelled"],
        requests_expired=req["expired"],
        completion_rate=None if rate is None else round(rate, 4),
        median_hours_to_claim=_median_hours(_claim_times(f), f),
        median_hours_to_verify=_median_hours(_verify_times(f), f),
        by_kind=[
            {"kind": kind, "label": KINDS(kind).label, **figures}
            for kind, figures in by_kind.items()
        ],
        campaigns=_campaign_progress(f, {s["campaign_id"]: s for s in subtotals}),
        satisfaction=satisfaction.satisfaction(f),
        people_served_confirmed=satisfaction.people_served_confirmed(verified_records(f)),
    )


def _campaign_progress(f: StatsFilter, subtotals: dict[int, dict]) -> list[dict]:
    """Campaigns running in the period (of the kind asked for), each with the people served
    by its verified records in the filters against its target_served."""
    campaigns = Campaign.objects.filter(starts_on__lte=f.date_to, ends_on__gte=f.date_from)
    if f.campaign_kind:
        campaigns = campaigns.filter(kind=f.campaign_kind)
    rows = []
    for campaign in campaigns.order_by("kind", "starts_on", "id"):
        served = subtotals.get(campaign.pk, {}).get("people_served", 0)
        target = campaign.target_served
        rows.append(
            {
                "id": campaign.pk,
                "name": campaign.name,
                "kind": campaign.kind,
                "starts_on": campaign.starts_on,
                "ends_on": campaign.ends_on,
                "target_served": target,
                "people_served": served,
                "progress": round(served / target, 4) if target else None,
            }
        )
    return rows


# ---------------------------------------------------------------- breakdowns


def stats_breakdown(*, filters: StatsFilter, by: str, limit: int | None = None) -> list[dict]:
    """Rows ``{key, label, records, people_served, enterprises_served, households_visited,
    participations, satisfaction}`` of one breakdown, largest first (months in calendar
    order); ``satisfaction`` is the residents' ratings of the group (null per member).

    ``limit`` caps the rows fetched (the exports ask for one more than they allow).
    """
    rows = _breakdown_rows(filters, by, limit)
    if by == BY_TEAM:
        return rows  # the team rollup carries the team's ratings
    column = _RATING_COLUMNS.get(by)
    rated = satisfaction.satisfaction_by(filters, column, month=MonthOf) if column else {}
    for row in rows:
        # Ratings are per record, so a member has none of their own (null there).
        row["satisfaction"] = dict(rated.get(row["key"], satisfaction.EMPTY)) if column else None
    return rows


# The rating column that matches each breakdown's key (teams: their rollup).
_RATING_COLUMNS = {
    BY_TOWN: "town_id",
    BY_STATION: "station_id",
    BY_KIND: "campaign_kind",
    BY_MONTH: "month",
}


def _breakdown_rows(filters: StatsFilter, by: str, limit: int | None) -> list[dict]:
    if by == BY_TEAM:
        return _by_team(filters, limit)
    if by == BY_MEMBER:
        return _by_member(filters, limit)
    if by == BY_MONTH:
        return _by_month(filters, limit)
    key, label = {
        BY_TOWN: ("town_id", "town__name"),
        BY_STATION: ("station_id", "station__name"),
        BY_KIND: ("campaign_kind", None),
    }[by]
    names = [key, label] if label else [key]
    rows = daily(filters).values(*names).annotate(**_served()).order_by("-sum_people_served", key)
    if limit is not None:
        rows = rows[:limit]
    return [
        {
            "key": str(row[key]),
            "label": row[label] if label else KINDS(row[key]).label,
            **_figures(row),
        }
        for row in rows
    ]


def _by_month(f: StatsFilter, limit: int | None) -> list[dict]:
    """Per calendar month; months of the period without records are listed with zeros."""
    found = {
        row["month"]: row
        for row in daily(f)
        .annotate(month=MonthOf("service_date"))
        .values("month")
        .annotate(**_served())
        .order_by("month")
    }
    rows = []
    month = f.date_from.replace(day=1)
    while month <= f.date_to and (limit is None or len(rows) < limit):
        row = found.get(f"{month:%Y-%m}")
        rows.append(
            {
                "key": f"{month:%Y-%m}",
                "label": f"{month.year}年{month.month}月",
                **(_figures(row) if row else dict.fromkeys(SERVED_FIELDS, 0)),
            }
        )
        month = (month + timedelta(days=32)).replace(day=1)
    return rows


def _by_team(f: StatsFilter, limit: int | None) -> list[dict]:
    """Per team, through the participants' team snapshot (the member's team when they
    claimed), with the residents' ratings of the team."""
    rows = _by_participant(f, limit, TeamStat, "team_key", rated=True)
    names = dict(Team.objects.filter(pk__in=[row["key"] for row in rows]).values_list("id", "name"))
    return [
        {
            **row,
            "key": str(row["key"]) if row["key"] else NO_TEAM_KEY,
            "label": names.get(row["key"]) or NO_TEAM_LABEL,
        }
        for row in rows
    ]


def _by_member(f: StatsFilter, limit: int | None) -> list[dict]:
    """Per member: their verified services, hours and share of the people served."""
    rows = _by_participant(f, limit, MemberStat, "member_id", rated=False)
    names = dict(
        Member.objects.filter(pk__in=[row["key"] for row in rows]).values_list("id", "name")
    )
    return [{**row, "key": str(row["key"]), "label": names.get(row["key"], "")} for row in rows]


def _by_participant(f: StatsFilter, limit: int | None, model, key: str, *, rated: bool):
    """Breakdown rows per participant group from its rollup (``TeamStat`` / ``MemberStat``,
    kept by ``services.rollups`` with the counted hours entries, the records' shares and the
    ratings): the rows of the period (``rollups.cover``), town and kind, added up per group in
    one query. A record's people, enterprises and households are shared among its participants
    in whole numbers (``rollups.shares``), so the groups add up to the total instead of
    counting a joint trip once per group."""
    period, period_params = rollups.cover_sql(f.date_from, f.date_to)
    keys, key_params = _town_kind_keys(f)
    sums = list(SERVED_FIELDS) + (["ratings", "rating_score", "ratings_high"] if rated else [])
    sql = (
        f"SELECT {key}, {', '.join(f'SUM({c})' for c in sums)} "  # noqa: S608 - _meta names and placeholders only
        f"FROM {model._meta.db_table} WHERE {period} AND {keys} GROUP BY {key} "
        "HAVING SUM(participations) > 0 "
        f"ORDER BY SUM(participations) DESC, SUM(service_minutes) DESC, {key}"
    )
    params = [*period_params, *key_params]
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    with _cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    rows = []
    for group, *values in found:
        figures = dict(zip(sums, (int(v) for v in values), strict=True))
        row = {"key": group, **{name: figures[name] for name in SERVED_FIELDS}}
        if rated:
            n = figures["ratings"]
            row["satisfaction"] = (
                {
                    "ratings": n,
                    "mean": round(figures["rating_score"] / n, 2),
                    "share_4_5": round(figures["ratings_high"] / n, 4),
                }
                if n
                else dict(satisfaction.EMPTY)
            )
        rows.append(row)
    return rows


# ---------------------------------------------------------------- follow-up list


def unclaimed_requests(
    *,
    user: User,
    hours: int,
    town: Town | None = None,
    campaign_kind: str | None = None,
    now: datetime | None = None,
) -> QuerySet[ServiceRequest]:
    """Open requests nobody holds a place on, posted more than ``hours`` ago and not yet over:
    the follow-up list, oldest first."""
    scope = stats_scope(user)
    if town is not None and scope is not None and town.pk not in scope:
        raise errors.TownOutOfScope()
    now = now or timezone.now()
    qs = ServiceRequest.objects.filter(
        status=RequestStatus.OPEN,
        claimed=0,
        created_at__lte=now - timedelta(hours=hours),
        ends_at__gt=now,
    )
    if scope is not None:
        qs = qs.filter(station__town_id__in=scope)
    if town is not None:
        qs = qs.filter(station__town_id=town.pk)
    if campaign_kind:
        qs = qs.filter(campaign__kind=campaign_kind)
    return qs.select_related("station__town", "village", "campaign").order_by("created_at", "id")
