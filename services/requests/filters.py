"""Query filters of the request and claim lists (django-filter, documented in the schema)."""

from __future__ import annotations

import math

from django.conf import settings
from django.db.models import ExpressionWrapper, F, FloatField, Q
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field

from accounts.errors import InvalidInput
from services.models import Campaign, Claim, ServiceRequest
from stations.errors import InvalidCoordinates, InvalidRadius
from stations.filters import (
    NEAR_PATTERN,
    IdFilter,
    NearFilter,
    StrictFilterSet,
    full_match,
    text_filter,
)
from stations.geo import Point, bounding_box, fast_distance_km, parse_near


# The limit is read per request; the schema states the configured one.
@extend_schema_field(
    {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": settings.SERVICES_MAX_RADIUS_KM,
    }
)
class RadiusFilter(filters.NumberFilter):
    """A radius in km, 0 < r ≤ SERVICES_MAX_RADIUS_KM (judged with ``near``)."""


class ServiceRequestFilter(StrictFilterSet):
    """Filters of ``GET requests/``; ``near`` + ``radius_km`` order by distance."""

    status = filters.MultipleChoiceFilter(
        choices=ServiceRequest.Status.choices, help_text="状态，可重复：?status=open&status=full"
    )
    campaign = IdFilter(field_name="campaign_id", help_text="活动 ID")
    campaign_kind = filters.ChoiceFilter(
        field_name="campaign__kind", choices=Campaign.Kind.choices, help_text="三暖类型"
    )
    town = IdFilter(field_name="station__town_id", help_text="镇/街道 ID")
    station = IdFilter(field_name="station_id", help_text="驿站 ID")
    village = IdFilter(field_name="village_id", help_text="村/社区 ID")
    specialty = IdFilter(field_name="specialties__id", help_text="所需专长 ID")
    starts_after = filters.IsoDateTimeFilter(
        field_name="starts_at", lookup_expr="gte", help_text="开始时间不早于（ISO 8601）"
    )
    starts_before = filters.IsoDateTimeFilter(
        field_name="starts_at", lookup_expr="lte", help_text="开始时间不晚于（ISO 8601）"
    )
    search = text_filter(
        method="filter_search", max_length=100, help_text="在标题、说明、地址中搜索"
    )
    near = NearFilter(
        method="filter_nothing",
        max_length=60,
        help_text=(
            "“纬度,经度”（WGS-84，纬度 -90～90，经度 -180～180，否则 400 invalid_coordinates）："
            "只返回 radius_km 内的需求，按距离排序"
        ),
    )
    radius_km = RadiusFilter(
        method="filter_nothing",
        help_text=(
            "搜索半径（公里，须与 near 同时使用，否则 400），默认 10，"
            "最大见设置 SERVICES_MAX_RADIUS_KM"
        ),
    )
    ordering = filters.OrderingFilter(
        fields=(("starts_at", "starts_at"), ("created_at", "created_at")),
        help_text=(
            "排序：starts_at、-starts_at、created_at、-created_at；"
            "默认按开始时间（有 near 时按距离）"
        ),
    )

    class Meta:
        model = ServiceRequest
        fields: list[str] = []

    # Set by filter_queryset when near= was given, for the view to show distances.
    near_point: Point | None = None

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(title__icontains=value)
            | Q(description__icontains=value)
            | Q(address__icontains=value)
        )

    def filter_nothing(self, queryset, name, value):
        # near and radius_km act together, in filter_queryset.
        return queryset

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        near = self.form.cleaned_data.get("near")
        radius = self.form.cleaned_data.get("radius_km")
        # The whole value, unstripped, as the schema's pattern reads it ("?near=" included).
        raw_near = self.data.get("near") if "near" in self.filters else None
        if raw_near is not None and not full_match(NEAR_PATTERN, raw_near):
            message = "near 必须是“纬度,经度”格式，例如 30.0,122.1。"
            raise InvalidCoordinates(message, fields={"near": [message]})
        if not near:
            if radius is not None:
                message = "radius_km 需与 near 一起使用。"
                raise InvalidInput(message, fields={"radius_km": [message]})
            return queryset
        point = parse_near(near)
        radius_km = settings.SERVICES_DEFAULT_RADIUS_KM if radius is None else float(radius)
        limit = settings.SERVICES_MAX_RADIUS_KM
        if not (math.isfinite(radius_km) and 0 < radius_km <= limit):
            message = f"搜索半径必须大于 0 且不超过 {limit:g} 公里。"
            raise InvalidRadius(message, fields={"radius_km": [message]})
        self.near_point = point
        box = bounding_box(point, radius_km=radius_km)
        # The box uses the indexes; the circle is an equirectangular distance computed by the
        # database from local km-per-degree factors (within 0.1% at this scale), so the page
        # and the count stay right without loading rows into Python.
        ky = fast_distance_km(point.lat - 0.5, point.lng, point.lat + 0.5, point.lng)
        kx = fast_distance_km(point.lat, point.lng - 0.5, point.lat, point.lng + 0.5)
        dy = (F("lat") - point.lat) * ky
        dx = (F("lng") - point.lng) * kx
        queryset = (
            queryset.filter(
                lat__gte=box.min_lat,
                lat__lte=box.max_lat,
                lng__gte=box.min_lng,
                lng__lte=box.max_lng,
            )
            .annotate(_distance2=ExpressionWrapper(dy * dy + dx * dx, output_field=FloatField()))
            .filter(_distance2__lte=radius_km * radius_km)
        )
        if not self.form.cleaned_data.get("ordering"):
            queryset = queryset.order_by("_distance2", "id")
        return queryset


class CampaignFilter(StrictFilterSet):
    """Filters of ``GET campaigns/``."""

    kind = filters.ChoiceFilter(choices=Campaign.Kind.choices, help_text="三暖类型")

    class Meta:
        model = Campaign
        fields = ["kind"]


class ClaimFilter(StrictFilterSet):
    """Filters of ``GET claims/``."""

    status = filters.MultipleChoiceFilter(
        choices=Claim.Status.choices, help_text="状态，可重复：?status=claimed&status=checked_in"
    )
    request = IdFilter(field_name="request_id", help_text="需求 ID")
    member = IdFilter(field_name="member_id", help_text="委员 ID")

    class Meta:
        model = Claim
        fields: list[str] = []
