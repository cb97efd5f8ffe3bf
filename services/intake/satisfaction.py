"""Satisfaction (满意度) from the residents' ratings, for the statistics (docs/intake.md).

A rating counts while its record is verified and falls in the statistics' filters by the
record's own period, town and 三暖 kind (copied onto the rating). The figures of a set of
ratings: how many, the mean score (two decimals) and the share of 4 and 5 (four decimals).
People served by a verified record that a resident rated are the 群众确认 figure.
"""

from __future__ import annotations

from django.db.models import Avg, Count, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from services.models import IntakeRating, ServiceRecord

EMPTY = {"ratings": 0, "mean": None, "share_4_5": None}


def _ratings(f) -> QuerySet[IntakeRating]:
    q = Q(
        record__status=ServiceRecord.Status.VERIFIED,
        service_date__gte=f.date_from,
        service_date__lte=f.date_to,
    )
    if f.town_id is not None:
        q &= Q(town_id=f.town_id)
    if f.town_ids is not None:
        q &= Q(town_id__in=f.town_ids)
    if f.campaign_kind:
        q &= Q(campaign_kind=f.campaign_kind)
    return IntakeRating.objects.filter(q).order_by()


_AGGREGATES = {
    "n": Count("id"),
    "avg": Avg("score"),
    "high": Count("id", filter=Q(score__gte=4)),
}


def _figures(row: dict) -> dict:
    if not row["n"]:
        return dict(EMPTY)
    return {
        "ratings": row["n"],
        "mean": round(float(row["avg"]), 2),
        "share_4_5": round(row["high"] / row["n"], 4),
    }


def satisfaction(f) -> dict:
    """The period's satisfaction: ``{ratings, mean, share_4_5}``."""
    return _figures(_ratings(f).aggregate(**_AGGREGATES))


def satisfaction_by(f, column: str, *, month=None) -> dict[str, dict]:
    """Satisfaction per value of ``column`` (``station_id``, ``town_id``, ``team_id``,
    ``campaign_kind``, or ``month`` with ``month`` the statistics' YYYY-MM expression), keyed
    as the breakdown rows are (text; no team: "none")."""
    ratings = _ratings(f)
    if column == "month":
        ratings = ratings.annotate(month=month("service_date"))
    rows = ratings.values(column).annotate(**_AGGREGATES)
    return {("none" if row[column] is None else str(row[column])): _figures(row) for row in rows}


def people_served_confirmed(records: Q) -> int:
    """群众确认: people served by the verified records ``records`` selects that a resident
    rated."""
    rated = IntakeRating.objects.values("record_id")
    return ServiceRecord.objects.filter(records, pk__in=rated).aggregate(
        total=Coalesce(Sum("people_served"), Value(0), output_field=IntegerField())
    )["total"]
