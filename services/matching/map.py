"""Open requests in a bounding box as GeoJSON (``GET requests/map/``), nearest the box's centre
first, in WGS-84 or GCJ-02.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db.models import ExpressionWrapper, F, FloatField, Q, QuerySet, Value
from django.utils import timezone

from stations.errors import InvalidBBox, UnknownCoordType
from stations.geo import (
    COORD_TYPES,
    GCJ02,
    WGS84,
    BBox,
    Point,
    fast_distance_km,
    gcj02_to_wgs84,
    parse_bbox,
    wgs84_to_gcj02,
)


class MapFeature(NamedTuple):
    """One request on the map (coordinates in the client's coordinate system)."""

    id: int
    lat: float
    lng: float
    title: str
    status: str
    campaign_kind: str
    starts_at: datetime
    ends_at: datetime
    slots: int
    claimed: int
    station_id: int
    station_name: str


# The ORM's names of MapFeature's fields, in their order: a row of these is a MapFeature.
FEATURE_COLUMNS = tuple(
    {"campaign_kind": "campaign__kind", "station_name": "station__name"}.get(name, name)
    for name in MapFeature._fields
)


@dataclass(frozen=True)
class MapResult:
    """Features nearest the box's centre, at most MATCHING_MAP_MAX_FEATURES of them."""

    features: list[MapFeature]
    truncated: bool
    limit: int
    coord_type: str


def check_coord_type(value: str | None) -> str:
    """``wgs84`` (the default) or ``gcj02``; 400 ``unknown_coord_type`` otherwise."""
    if value is None or not value.strip():
        return WGS84
    name = value.strip().lower()
    if name not in COORD_TYPES:
        raise UnknownCoordType(fields={"coord_type": ["坐标类型只能是 wgs84 或 gcj02。"]})
    return name


def map_box(text: str | None, *, coord_type: str) -> BBox:
    """The WGS-84 box of ``bbox`` (given in ``coord_type``); 400 ``invalid_bbox`` if bad."""
    if text is None or not text.strip():
        message = "请提供 bbox：最小经度,最小纬度,最大经度,最大纬度。"
        raise InvalidBBox(message, fields={"bbox": [message]})
    box = parse_bbox(text, max_area_deg2=settings.MATCHING_MAP_MAX_BBOX_DEG2)
    if coord_type != GCJ02:
        return box
    # The GCJ-02 offset changes by metres across a town, so converting the corners is enough.
    min_lat, min_lng = gcj02_to_wgs84(box.min_lat, box.min_lng)
    max_lat, max_lng = gcj02_to_wgs84(box.max_lat, box.max_lng)
    return BBox(min_lat=min_lat, min_lng=min_lng, max_lat=max_lat, max_lng=max_lng)


def _box_distance2(point: Point) -> ExpressionWrapper:
    """Squared equirectangular km from ``point``, as an ORM expression."""
    ky = fast_distance_km(point.lat - 0.5, point.lng, point.lat + 0.5, point.lng)
    kx = fast_distance_km(point.lat, point.lng - 0.5, point.lat, point.lng + 0.5)
    dy = F("lat") - Value(point.lat)
    dx = F("lng") - Value(point.lng)
    return ExpressionWrapper(dy * dy * (ky * ky) + dx * dx * (kx * kx), output_field=FloatField())


def map_features(
    *, queryset: QuerySet, box: BBox, coord_type: str, now: datetime | None = None
) -> MapResult:
    """Requests of ``queryset`` (already filtered by the list filters) inside ``box`` that
    have not ended. When more than the cap match, the ones nearest the box's centre are kept
    and ``truncated`` is set: the client zooms in for the rest."""
    now = now or timezone.now()
    cap = settings.MATCHING_MAP_MAX_FEATURES
    centre = Point(lat=(box.min_lat + box.max_lat) / 2, lng=(box.min_lng + box.max_lng) / 2)
    rows = list(
        queryset.filter(
            Q(lat__gte=box.min_lat, lat__lte=box.max_lat)
            & Q(lng__gte=box.min_lng, lng__lte=box.max_lng),
            ends_at__gt=now,
        )
        .annotate(_d2=_box_distance2(centre))
        .order_by("_d2", "id")
        .values_list(*FEATURE_COLUMNS)[: cap + 1]
    )
    features = list(map(MapFeature._make, rows[:cap]))
    if coord_type == GCJ02:
        features = [_in_gcj02(feature) for feature in features]
    return MapResult(features=features, truncated=len(rows) > cap, limit=cap, coord_type=coord_type)


def _in_gcj02(feature: MapFeature) -> MapFeature:
    lat, lng = wgs84_to_gcj02(feature.lat, feature.lng)
    return feature._replace(lat=round(lat, 6), lng=round(lng, 6))
