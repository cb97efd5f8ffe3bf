"""Statistics of verified service: every figure is an aggregate query run by the database.

Only records with status ``verified`` count. A record belongs to its ``service_date`` (the
Asia/Shanghai calendar day the service took place, copied from the request at submission); a
request belongs to the Asia/Shanghai day of its ``starts_at``. The summed figures (totals, per
kind, campaign progress, and the breakdowns by town, station, kind and month) read the daily
rollup ``DailyServiceStat``, which ``services.rollups`` keeps equal to the verified records' sums
inside the verifying transaction; the team breakdown, the active-member count and the two
medians still read the records and their participants (claims), exactly.

Scope: staff see everything; a station manager sees the towns of the stations they manage
(asking for another town is 403 ``town_out_of_scope``); everyone else is refused.

The API (``stats_views``), the exports (``exports``) and the staff dashboard
(``dashboard_views``) all call the functions here, so a figure is computed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    CharField,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf, Round
from django.utils import timezone

from accounts.models import User
from accounts.permissions import is_staff
from members.models import Member
from services import errors
from services.models import Campaign, DailyServiceStat, ServiceRecord, ServiceRequest
from stations.models import Station, Town

SHANGHAI = ZoneInfo("Asia/Shanghai")
VERIFIED = ServiceRecord.Status.VERIFIED
KINDS = Campaign.Kind
RequestStatus = ServiceRequest.Status
Participant = ServiceRecord.participants.through

# The breakdowns: GET stats/breakdown/?by=... and one export sheet each.
BY_TOWN = "town"
BY_STATION = "station"
BY_TEAM = "team"
BY_KIND = "campaign_kind"
BY_MONTH = "month"
BREAKDOWNS: dict[str, str] = {
    BY_TOWN: "镇街",
    BY_STATION: "驿站",
    BY_TEAM: "团队",
    BY_KIND: "三暖",
    BY_MONTH: "月份",
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


def records(f: StatsFilter) -> QuerySet[ServiceRecord]:
    """Verified records in the filters, unordered (ready to aggregate)."""
    return ServiceRecord.objects.filter(verified_records(f)).order_by()


def daily(f: StatsFilter) -> QuerySet[DailyServiceStat]:
    """The daily rollup rows in the filters (``services.rollups`` keeps them equal to the
    verified records' sums), unordered."""
    return DailyServiceStat.objects.filter(_in_filters(f)).order_by()


def requests(f: StatsFilter) -> QuerySet[ServiceRequest]:
    """Requests taking place in the period (starts_at's Asia/Shanghai day), in scope."""
    qs = ServiceRequest.objects.filter(starts_at__gte=f.starts, starts_at__lt=f.ends)
    if f.town_id is not None:
        qs = qs.filter(station__town_id=f.town_id)
    if f.town_ids is not None:
        qs = qs.filter(station__town_id__in=f.town_ids)
    if f.campaign_kind:
        qs = qs.filter(campaign__kind=f.campaign_kind)
    return qs.order_by()


def _zero(expression) -> Coalesce:
    return Coalesce(expression, Value(0), output_field=IntegerField())


# The summed figures every breakdown row and kind carries.
SERVED_FIELDS = (
    "records",
    "people_served",
    "enterprises_served",
    "households_visited",
    "participations",
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


class Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)``: the median, interpolated, computed in place."""

    function = "percentile_cont"
    name = "Median"
    output_field = FloatField()
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


class SecondsBetween(Func):
    """``end - start`` in seconds, as a float, natively in each database (Django's own
    datetime subtraction on SQLite calls back into Python once per row)."""

    output_field = FloatField()
    arity = 2

    def as_sql(self, compiler, connection, **extra_context):
        (start, start_params), (end, end_params) = (
            compiler.compile(e) for e in self.get_source_expressions()
        )
        if connection.vendor == "sqlite":
            sql = f"((julianday({end}) - julianday({start})) * 86400.0)"
        else:
            sql = f"date_part('epoch', {end} - {start})"
        return sql, [*end_params, *start_params]


def _median_hours(qs: QuerySet, start: str, end: str) -> float | None:
    """Median of ``end - start`` over ``qs`` in hours; None when there are no rows.

    PostgreSQL computes it with percentile_cont; elsewhere (SQLite) a portable query orders
    the durations and averages the middle one or two, read with LIMIT/OFFSET.
    """
    seconds = SecondsBetween(F(start), F(end))
    qs = qs.filter(**{f"{start}__isnull": False, f"{end}__isnull": False})
    if connection.vendor == "postgresql":
        value = qs.aggregate(m=Median(seconds))["m"]
    else:
        count = qs.count()
        if not count:
            return None
        middle = qs.annotate(d=seconds).order_by("d").values("d")[(count - 1) // 2 : count // 2 + 1]
        value = middle.aggregate(m=Avg("d"))["m"]
    return None if value is None else round(value / 3600, 2)


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


def stats_summary(*, filters: StatsFilter) -> Summary:
    """The headline figures in five aggregate queries: the daily rollup grouped by campaign,
    active members, requests, and the two medians (plus the tiny campaign list).

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

    # Members with at least one participation: an EXISTS per member (stops at the first match
    # on the claim_member_status index) instead of a DISTINCT over every participant row.
    active = Member.objects.filter(
        Exists(
            Participant.objects.filter(
                verified_records(f, "servicerecord__"), claim__member_id=OuterRef("pk")
            )
        )
    ).count()

    done = Q(status__in=[RequestStatus.COMPLETED, RequestStatus.VERIFIED])
    cancelled = Q(status=RequestStatus.CANCELLED)
    req = requests(f).aggregate(
        posted=Count("id"),
        completed=Count("id", filter=done),
        verified=Count("id", filter=Q(status=RequestStatus.VERIFIED)),
        cancelled=Count("id", filter=cancelled),
        expired=Count("id", filter=Q(status=RequestStatus.EXPIRED)),
        # Cancelled needs do not count against the rate; every other need posted does.
        rate=Cast(Count("id", filter=done), FloatField())
        / NullIf(Count("id") - Count("id", filter=cancelled), 0),
    )

    return Summary(
        filters=f,
        people_served=totals["people_served"],
        enterprises_served=totals["enterprises_served"],
        households_visited=totals["households_visited"],
        records_verified=totals["records"],
        participations=totals["participations"],
        active_members=active,
        requests_posted=req["posted"],
        requests_completed=req["completed"],
        requests_verified=req["verified"],
        requests_cancelled=req["cancelled"],
        requests_expired=req["expired"],
        completion_rate=None if req["rate"] is None else round(req["rate"], 4),
        median_hours_to_claim=_median_hours(requests(f), "created_at", "first_claimed_at"),
        median_hours_to_verify=_median_hours(records(f), "submitted_at", "verified_at"),
        by_kind=[
            {"kind": kind, "label": KINDS(kind).label, **figures}
            for kind, figures in by_kind.items()
        ],
        campaigns=_campaign_progress(f, {s["campaign_id"]: s for s in subtotals}),
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
    participations}`` of one breakdown, largest first (months in calendar order).

    ``limit`` caps the rows fetched (the exports ask for one more than they allow).
    """
    if by == BY_TEAM:
        return _by_team(filters, limit)
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
    """Per team, through the participating claims' team snapshot (the member's team when
    they claimed). Participations are exact. A record's people, enterprises and households are
    shared among its participants, so each team gets its participants' share (rounded) and
    the teams add up to the total instead of counting a joint trip once per team."""
    record = "servicerecord__"
    share = F(f"{record}participants_count")

    def portion(field: str):
        return Cast(
            Round(
                Coalesce(
                    Sum(
                        Cast(F(f"{record}{field}"), FloatField())
                        / Cast(NullIf(share, 0), FloatField())
                    ),
                    Value(0.0),
                )
            ),
            IntegerField(),
        )

    rows = (
        Participant.objects.filter(verified_records(f, record))
        .values("claim__team_id", "claim__team__name")
        .annotate(
            sum_records=Count(f"{record}id", distinct=True),
            sum_people_served=portion("people_served"),
            sum_enterprises_served=portion("enterprises_served"),
            sum_households_visited=portion("households_visited"),
            sum_participations=Count("id"),
        )
        .order_by("-sum_participations", "claim__team_id")
    )
    if limit is not None:
        rows = rows[:limit]
    return [
        {
            "key": str(row["claim__team_id"]) if row["claim__team_id"] else NO_TEAM_KEY,
            "label": row["claim__team__name"] or NO_TEAM_LABEL,
            **_figures(row),
        }
        for row in rows
    ]


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
