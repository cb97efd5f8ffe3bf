"""Reads of service records: who sees which, who may review them, the list's filters.

Writes (submit, verify, reject, revoke) live in ``services.records.writes``.
"""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django_filters import rest_framework as filters
from rest_framework.permissions import BasePermission

from accounts.models import User
from accounts.permissions import is_staff
from services import errors
from services.models import Campaign, Claim, IntakeRating, PointEntry, ServiceHours, ServiceRecord
from stations.filters import IdFilter, StrictFilterSet
from stations.models import Station
from stations.selectors import manages_station


def record_queryset() -> QuerySet[ServiceRecord]:
    """Records with what their serializer reads, and the net points each one earned."""
    points = (
        PointEntry.objects.filter(record_id=OuterRef("pk"))
        .order_by()
        .values("record_id")
        .annotate(total=Sum("points"))
        .values("total")
    )
    return (
        ServiceRecord.objects.select_related(
            "request", "station", "town", "campaign", "submitted_by", "verified_by"
        )
        .prefetch_related(
            Prefetch(
                "participants",
                queryset=Claim.objects.select_related("member", "team").order_by("id"),
            ),
            Prefetch(
                "hours",
                queryset=ServiceHours.objects.select_related("entered_by").order_by(
                    "claim_id", "id"
                ),
            ),
            # Residents' ratings of the service (评单, docs/intake.md).
            Prefetch("ratings", queryset=IntakeRating.objects.order_by("id")),
        )
        .annotate(points_awarded=Subquery(points))
        .order_by("-submitted_at", "-id")
    )


def visible_records(user: User) -> QuerySet[ServiceRecord]:
    """Staff: all. Managers: their stations'. Members: records of requests they hold (or held
    until done) a slot on. Anyone: records they submitted or of requests they posted."""
    records = record_queryset()
    if is_staff(user):
        return records
    scope = Q(submitted_by=user) | Q(request__created_by=user)
    if user.is_station_manager:
        scope |= Q(station_id__in=Station.objects.filter(managers=user).values("id"))
    if user.is_member:
        claimed = Claim.objects.filter(member__user=user, status__in=Claim.SLOT_HOLDING).values(
            "request_id"
        )
        scope |= Q(request_id__in=claimed)
    return records.filter(scope)


class IsRecordReviewer(BasePermission):
    """The record's station managers or staff, and never the record's submitter."""

    def has_object_permission(self, request, view, obj: ServiceRecord) -> bool:
        user = request.user
        # Checked first so a manager reviewing their own submission hears why, not just "no".
        if obj.submitted_by_id is not None and obj.submitted_by_id == user.pk:
            raise errors.CannotVerifyOwnRecord()
        if not (is_staff(user) or manages_station(user, obj.station_id)):
            raise errors.NotRecordVerifier()
        return True


class RecordFilter(StrictFilterSet):
    """Filters of ``GET records/``."""

    # A choice rather than BooleanFilter, which quietly ignores values it does not know.
    flagged = filters.ChoiceFilter(
        choices=[("1", "是"), ("true", "是"), ("0", "否"), ("false", "否")],
        method="filter_flagged",
        help_text="1/true：只看有异常标记的；0/false：只看无标记的",
    )
    status = filters.MultipleChoiceFilter(
        choices=ServiceRecord.Status.choices,
        help_text="状态，可重复：?status=submitted&status=verified",
    )
    station = IdFilter(field_name="station_id", help_text="驿站 ID")
    town = IdFilter(field_name="town_id", help_text="镇/街道 ID")
    request = IdFilter(field_name="request_id", help_text="需求 ID")
    campaign_kind = filters.ChoiceFilter(choices=Campaign.Kind.choices, help_text="三暖类型")

    class Meta:
        model = ServiceRecord
        fields: list[str] = []

    def filter_flagged(self, queryset, name, value):
        if value in ("1", "true"):
            return queryset.filter(flag_count__gt=0)
        return queryset.filter(flag_count=0)
