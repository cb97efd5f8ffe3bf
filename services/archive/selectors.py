"""Reads of the service archive: a member's verified services and their totals, who may read
them, and every member's year for the annual export (docs/certificates-and-archive.md).

Everything is read from the counted hours entries (``ServiceHours.counted``: one per
participant of a verified record, carrying the member, the service day and the 三暖 kind),
joined to their records. A page of services is one query; the totals are two aggregate
queries (the entries grouped by year and kind, the points ledger grouped the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, ExtractYear
from django.http import Http404

from accounts.permissions import is_staff
from members.models import Member
from services import errors
from services.models import Campaign, PointEntry, ServiceHours, ServiceRecord

KINDS = [kind for kind, _ in Campaign.Kind.choices]


@dataclass(frozen=True)
class Period:
    """Service days from ``date_from`` to ``date_to`` (inclusive; None: unbounded)."""

    date_from: date | None = None
    date_to: date | None = None
    year: int | None = None


def resolve_period(
    *, year: int | None = None, date_from: date | None = None, date_to: date | None = None
) -> Period:
    """``?year=`` or ``?from=&to=`` (either end may be left open); both → 400, from > to → 400."""
    if year is not None:
        if date_from is not None or date_to is not None:
            raise errors.InvalidPeriod(
                "year 与 from/to 不能同时使用。", fields={"year": ["与 from/to 二选一。"]}
            )
        return Period(date_from=date(year, 1, 1), date_to=date(year, 12, 31), year=year)
    if date_from is not None and date_to is not None and date_from > date_to:
        raise errors.InvalidPeriod(fields={"from": ["开始日期不能晚于结束日期。"]})
    return Period(date_from=date_from, date_to=date_to)


def _in_period(period: Period, prefix: str = "") -> Q:
    q = Q()
    if period.date_from is not None:
        q &= Q(**{f"{prefix}service_date__gte": period.date_from})
    if period.date_to is not None:
        q &= Q(**{f"{prefix}service_date__lte": period.date_to})
    return q


def counted_entries(member_id: int, period: Period) -> QuerySet[ServiceHours]:
    """The member's counted hours entries in the period (one per verified record served)."""
    return ServiceHours.objects.filter(_in_period(period), member_id=member_id, counted=True)


def service_rows(member_id: int, period: Period) -> QuerySet[ServiceHours]:
    """The member's verified services, newest first, each with its record, request, place and
    the points the member earned on that record (one query per page)."""
    earned = (
        PointEntry.objects.filter(member_id=OuterRef("member_id"), record_id=OuterRef("record_id"))
        .order_by()
        .values("record_id")
        .annotate(total=Sum("points"))
        .values("total")
    )
    return (
        counted_entries(member_id, period)
        .select_related("record", "record__request", "record__request__village", "station", "town")
        .annotate(points=Coalesce(Subquery(earned, output_field=IntegerField()), Value(0)))
        .order_by("-service_date", "-record_id", "-id")
    )


def _zero() -> dict:
    return {"services": 0, "service_minutes": 0, "people_served": 0, "points": 0}


def _add(into: dict, figures: dict) -> None:
    for key in into:
        into[key] += figures.get(key) or 0


def totals(member_id: int, period: Period) -> dict:
    """``{total, by_year, by_kind}``: services, minutes, people served and points of the
    period, from two grouped queries (a handful of rows, added up here)."""
    groups = (
        counted_entries(member_id, period)
        .annotate(year=ExtractYear("service_date"))
        .order_by()
        .values("year", "campaign_kind")
        .annotate(
            services=Count("id"),
            service_minutes=Sum("minutes"),
            people_served=Sum("record__people_served"),
        )
    )
    # Net points (awards less reversals) of verified records, by the service day as the
    # leaderboard counts them: a revoked record's award and reversal cancel out.
    point_groups = (
        PointEntry.objects.filter(
            _in_period(period), member_id=member_id, record__status=ServiceRecord.Status.VERIFIED
        )
        .annotate(year=ExtractYear("service_date"))
        .order_by()
        .values("year", "record__campaign_kind")
        .annotate(points=Sum("points"))
    )
    total = _zero()
    by_year: dict[int, dict] = {}
    by_kind: dict[str, dict] = {kind: _zero() for kind in KINDS}
    for row in groups:
        for bucket in (
            total,
            by_year.setdefault(row["year"], _zero()),
            by_kind[row["campaign_kind"]],
        ):
            _add(bucket, {**row, "points": 0})
    for row in point_groups:
        figures = {"points": row["points"]}
        _add(total, figures)
        _add(by_year.setdefault(row["year"], _zero()), figures)
        _add(by_kind[row["record__campaign_kind"]], figures)
    return {
        "total": total,
        "by_year": [{"year": year, **by_year[year]} for year in sorted(by_year, reverse=True)],
        "by_kind": [
            {"campaign_kind": kind, "label": Campaign.Kind(kind).label, **by_kind[kind]}
            for kind in KINDS
        ],
    }


def can_read_history(user, member: Member) -> bool:
    """The member themself, the leader of the member's team, and staff."""
    if is_staff(user):
        return True
    if member.user_id == user.pk:
        return True
    return member.team_id is not None and member.team.leader_id == user.pk


def history_member(user, member_id: int) -> Member:
    """The member whose history ``user`` asks for: 404 when there is none, 403 when ``user``
    may not read it (members are listed to everyone, so their existence is no secret)."""
    member = Member.objects.select_related("team").filter(pk=member_id).first()
    if member is None:
        raise Http404
    if not can_read_history(user, member):
        raise errors.NotHistoryViewer()
    return member


# ---------------------------------------------------------------- annual export


def year_figures(year: int) -> tuple[list[Member], dict[tuple[int, str], dict], dict[int, int]]:
    """Every member (in the roster or with a service that year), their figures per 三暖 kind
    and their net points of the year: three queries."""
    period = Period(date_from=date(year, 1, 1), date_to=date(year, 12, 31))
    served = ServiceHours.objects.filter(_in_period(period), counted=True)
    by_kind = {
        (row["member_id"], row["campaign_kind"]): row
        for row in served.order_by()
        .values("member_id", "campaign_kind")
        .annotate(
            services=Count("id"),
            service_minutes=Sum("minutes"),
            people_served=Sum("record__people_served"),
        )
    }
    points = dict(
        PointEntry.objects.filter(_in_period(period), record__status=ServiceRecord.Status.VERIFIED)
        .order_by()
        .values("member_id")
        .annotate(points=Sum("points"))
        .values_list("member_id", "points")
    )
    with_service = {member_id for member_id, _ in by_kind} | set(points)
    members = list(
        Member.objects.filter(Q(active=True) | Q(pk__in=with_service))
        .select_related("team")
        .order_by("team__name", "name", "pk")
    )
    return members, by_kind, points
