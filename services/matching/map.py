"""Open requests in a bounding box as GeoJSON (``GET requests/map/``), in WGS-84 or GCJ-02.

A sparse box (at most ``MATCHING_MAP_MAX_FEATURES`` requests) answers every request as a point,
nearest the box's centre first. A denser one answers clusters instead: the box cut into
``MATCHING_MAP_CLUSTER_GRID`` × ``MATCHING_MAP_CLUSTER_GRID`` cells, one feature per cell that
holds requests — how many, their centroid and the box around them to zoom into — added up by the
database, so a town of thousands of pins costs one grouped scan of the box instead of a sort.
Both read the (status, grid, lat, lng) index through the matching grid cells the box touches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db.models import (
    Avg,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone

from services.matching.queries.member_side import grid_cells
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


class MapCluster(NamedTuple):
    """The requests of one grid cell of a dense box: how many, their centroid, and the box
    around them (coordinates in the client's coordinate system)."""

    row: int
    column: int
    count: int
    lat: float
    lng: float
    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float


@dataclass(frozen=True)
class MapResult:
    """Every request of the box as a point (``clusters`` empty), or, above
    MATCHING_MAP_MAX_FEATURES, one cluster per grid cell (``features`` empty)."""

    features: list[MapFeature]
    truncated: bool
    limit: int
    coord_type: str
    clusters: tuple[MapCluster, ...] = ()
    total: int = 0

    @property
    def clustered(self) -> bool:
        return bool(self.clusters)


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


class _Cell(Func):
    """The 0-based grid cell of ``(column - start) / size`` (non-negative inside the box):
    PostgreSQL's FLOOR; SQLite truncates a cast, the same for values at or above zero (its
    FLOOR would call back into Python once per row)."""

    function = "FLOOR"
    output_field = IntegerField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="CAST(%(expressions)s AS INTEGER)")


def map_features(
    *, queryset: QuerySet, box: BBox, coord_type: str, now: datetime | None = None
) -> MapResult:
    """Requests of ``queryset`` (already filtered by the list filters) inside ``box`` that
    have not ended: all of them as points, nearest the box's centre first, while there are at
    most MATCHING_MAP_MAX_FEATURES; above that, clusters per grid cell (``_clusters``)."""
    now = now or timezone.now()
    cap = settings.MATCHING_MAP_MAX_FEATURES
    inside = queryset.filter(
        Q(lat__gte=box.min_lat, lat__lte=box.max_lat)
        & Q(lng__gte=box.min_lng, lng__lte=box.max_lng),
        grid__in=grid_cells(box),
        ends_at__gt=now,
    ).order_by()
    # At most cap + 1 ids, unordered: enough to tell a sparse box from a dense one.
    found = inside[: cap + 1].count()
    if found > cap:
        clusters = _clusters(inside, box)
        if coord_type == GCJ02:
            clusters = [_cluster_in_gcj02(c) for c in clusters]
        return MapResult(
            features=[],
            truncated=False,
            limit=cap,
            coord_type=coord_type,
            clusters=tuple(clusters),
            total=sum(c.count for c in clusters),
        )
    centre = Point(lat=(box.min_lat + box.max_lat) / 2, lng=(box.min_lng + box.max_lng) / 2)
    rows = list(
        inside.annotate(_d2=_box_distance2(centre))
        .order_by("_d2", "id")
        .values_list(*FEATURE_COLUMNS)[:cap]
    )
    features = list(map(MapFeature._make, rows))
    if coord_type == GCJ02:
        features = [_in_gcj02(feature) for feature in features]
    return MapResult(
        features=features,
        truncated=False,
        limit=cap,
        coord_type=coord_type,
        total=len(features),
    )


def _clusters(inside: QuerySet, box: BBox) -> list[MapCluster]:
    """One cluster per cell of the box's grid that holds requests, largest first: counted,
    averaged and bounded by the database in one grouped query. A request on the box's upper
    edge falls in the last cell (its index is clamped here, the cells merged)."""
    n = settings.MATCHING_MAP_CLUSTER_GRID
    height = (box.max_lat - box.min_lat) / n or 1.0
    width = (box.max_lng - box.min_lng) / n or 1.0
    rows = (
        inside.annotate(
            _row=_Cell((F("lat") - Value(box.min_lat)) / Value(height)),
            _column=_Cell((F("lng") - Value(box.min_lng)) / Value(width)),
        )
        .values("_row", "_column")
        .annotate(
            n=Count("id"),
            avg_lat=Avg("lat"),
            avg_lng=Avg("lng"),
            lo_lat=Min("lat"),
            lo_lng=Min("lng"),
            hi_lat=Max("lat"),
            hi_lng=Max("lng"),
        )
        .order_by()
    )
    cells: dict[tuple[int, int], list] = {}
    for r in rows:
        key = (min(max(int(r["_row"]), 0), n - 1), min(max(int(r["_column"]), 0), n - 1))
        cell = cells.get(key)
        if cell is None:
            cells[key] = [
                r["n"],
                r["avg_lat"] * r["n"],
                r["avg_lng"] * r["n"],
                r["lo_lat"],
                r["lo_lng"],
                r["hi_lat"],
                r["hi_lng"],
            ]
            continue
        cell[0] += r["n"]
        cell[1] += r["avg_lat"] * r["n"]
        cell[2] += r["avg_lng"] * r["n"]
        cell[3:] = [
            min(cell[3], r["lo_lat"]),
            min(cell[4], r["lo_lng"]),
            max(cell[5], r["hi_lat"]),
            max(cell[6], r["hi_lng"]),
        ]
    clusters = [
        MapCluster(
            row=row,
            column=column,
            count=count,
            lat=round(lat / count, 6),
            lng=round(lng / count, 6),
            min_lat=lo_lat,
            min_lng=lo_lng,
            max_lat=hi_lat,
            max_lng=hi_lng,
        )
        for (row, column), (count, lat, lng, lo_lat, lo_lng, hi_lat, hi_lng) in cells.items()
    ]
    return sorted(clusters, key=lambda c: (-c.count, c.row, c.column))


def _cluster_in_gcj02(cluster: MapCluster) -> MapCluster:
    lat, lng = wgs84_to_gcj02(cluster.lat, cluster.lng)
    min_lat, min_lng = wgs84_to_gcj02(cluster.min_lat, cluster.min_lng)
    max_lat, max_lng = wgs84_to_gcj02(cluster.max_lat, cluster.max_lng)
    return cluster._replace(
        lat=round(lat, 6),
        lng=round(lng, 6),
        min_lat=round(min_lat, 6),
        min_lng=round(min_lng, 6),
        max_lat=round(max_lat, 6),
        max_lng=round(max_lng, 6),
    )


def _in_gcj02(feature: MapFeature) -> MapFeature:
    lat, lng = wgs84_to_gcj02(feature.lat, feature.lng)
    return feature._replace(lat=round(lat, 6), lng=round(lng, 6))
