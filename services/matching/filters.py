"""Query filters of ``GET requests/map/``: the request list's filters, plus the map's box."""

from __future__ import annotations

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_field

from services.models import ServiceRequest
from services.requests.filters import ServiceRequestFilter
from stations.errors import UnknownCoordType
from stations.geo import GCJ02, WGS84

MAP_STATUSES = [
    (ServiceRequest.Status.OPEN.value, ServiceRequest.Status.OPEN.label),
    (ServiceRequest.Status.FULL.value, ServiceRequest.Status.FULL.label),
]


@extend_schema_field({"type": "string", "enum": [WGS84, GCJ02]})
class CoordTypeFilter(filters.CharFilter):
    """``wgs84`` or ``gcj02``, exactly (MapFilter refuses anything else, ``?coord_type=`` too)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("strip", False)
        super().__init__(*args, **kwargs)


class MapFilter(ServiceRequestFilter):
    """The list filters (campaign, campaign_kind, town, station, village, specialty,
    starts_after, starts_before, search) on the requests inside ``bbox``."""

    # The map shows requests still taking members: open by default, full on request.
    status = filters.MultipleChoiceFilter(
        choices=MAP_STATUSES, help_text="状态，可重复（open、full）；默认只显示 open"
    )
    bbox = filters.CharFilter(
        method="filter_nothing",
        max_length=200,
        help_text=(
            "必填：最小经度,最小纬度,最大经度,最大纬度（GeoJSON 顺序）；最小值不大于最大值，"
            "面积上限见设置 MATCHING_MAP_MAX_BBOX_DEG2，否则 400 invalid_bbox"
        ),
    )
    coord_type = CoordTypeFilter(
        method="filter_nothing",
        help_text="bbox 与返回坐标的坐标系：wgs84（默认）或 gcj02（微信/腾讯地图）",
    )
    # The box replaces near/radius_km, and the order is the map's own (nearest the centre).
    near = None
    radius_km = None
    ordering = None

    def filter_queryset(self, queryset):
        coord_type = self.data.get("coord_type")
        if coord_type is not None and coord_type not in (WGS84, GCJ02):
            raise UnknownCoordType(fields={"coord_type": ["坐标类型只能是 wgs84 或 gcj02。"]})
        queryset = super().filter_queryset(queryset)
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.filter(status=ServiceRequest.Status.OPEN)
        return queryset


# What only frames the map: the rest of MapFilter's fields narrow which requests it shows.
FRAMING = frozenset({"bbox", "coord_type", "status"})


def narrowed(cleaned: dict) -> bool:
    """Whether a list filter (anything but the box, the coordinate system and the status)
    narrows the map: then its clusters are grouped from the rows, not read from the rollup."""
    return any(
        value not in (None, "", [], ()) for name, value in cleaned.items() if name not in FRAMING
    )
